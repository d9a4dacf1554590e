//! A small seeded random number generator.
//!
//! Scenarios must be bit-identical for a seed on every machine and every
//! future build, so the generator is written down here (xoshiro256**, seeded
//! through splitmix64, as its authors recommend) rather than taken from a
//! crate whose stream may change between major versions.

/// xoshiro256** (Blackman and Vigna), 2^256 - 1 period.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform integer in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: usize) -> usize {
        // Multiply-shift: the bias is below 2^-32 for any n a scenario uses.
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Standard normal, by the Box-Muller transform.
    pub fn normal(&mut self) -> f64 {
        // 1 - unit() lies in (0, 1], so the logarithm is finite.
        let r = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        r * (std::f64::consts::TAU * self.unit()).cos()
    }

    /// Poisson-distributed count with mean `mean` (Knuth's product method;
    /// scenario clutter means are small, so its O(mean) cost is fine).
    pub fn poisson(&mut self, mean: f64) -> usize {
        if mean.is_nan() || mean <= 0.0 {
            return 0;
        }
        // exp(-mean) underflows past ~700 and the product method costs
        // O(mean): radiation counts (hundreds a second) take the normal
        // approximation, whose error at such means is far below the
        // detector's own Poisson spread. Clutter means stay on the exact
        // path, so existing scenarios keep their streams.
        if mean > 50.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as usize;
        }
        let limit = (-mean).exp();
        let mut product = self.unit();
        let mut count = 0;
        while product > limit {
            product *= self.unit();
            count += 1;
        }
        count
    }

    /// A point uniform in a disc of radius `r` around the origin.
    pub fn in_disc(&mut self, r: f64) -> (f64, f64) {
        let radius = r * self.unit().sqrt();
        let angle = std::f64::consts::TAU * self.unit();
        (radius * angle.cos(), radius * angle.sin())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_known_first_value() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert!(xs.iter().all(|&x| x == b.next_u64()));
        assert_ne!(Rng::new(43).next_u64(), xs[0]);
    }

    #[test]
    fn moments_are_right() {
        let mut rng = Rng::new(7);
        let n = 200_000;
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "{mean} {var}"
        );
        let counts: f64 = (0..n).map(|_| rng.poisson(3.5) as f64).sum::<f64>() / n as f64;
        assert!((counts - 3.5).abs() < 0.02, "{counts}");
        let units: Vec<f64> = (0..n).map(|_| rng.unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(rng.below(0) == 0 && (0..1000).all(|_| rng.below(10) < 10));
    }
}
