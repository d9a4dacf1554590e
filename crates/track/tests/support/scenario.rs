//! Seeded synthetic scenarios shared by the scenario tests and the benches
//! (included with `#[path]`): walkers and vehicles with occasional turns,
//! a whole-area radar with Pd < 1 and Poisson clutter.

use picket_track::{Detection, Measurement, SensorId};

/// splitmix64: tiny, seedable, and identical on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.uniform()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Poisson by inversion (fine for the small means used here) or a normal
    /// approximation for large means.
    pub fn poisson(&mut self, mean: f64) -> usize {
        if mean > 50.0 {
            return (mean + mean.sqrt() * self.normal()).round().max(0.0) as usize;
        }
        let limit = (-mean).exp();
        let mut product = self.uniform();
        let mut count = 0;
        while product > limit {
            product *= self.uniform();
            count += 1;
        }
        count
    }
}

/// Scenario parameters.
#[derive(Clone, Debug)]
pub struct ScenarioConfig {
    pub seed: u64,
    pub targets: usize,
    /// Square area side in metres.
    pub side: f64,
    pub scans: usize,
    pub scan_interval: f64,
    pub detection_probability: f64,
    pub clutter_per_scan: f64,
    pub sigma: f64,
    /// Fraction of targets that are vehicles (5-15 m/s, turning); the rest
    /// walk at 1-2 m/s.
    pub vehicle_fraction: f64,
}

impl ScenarioConfig {
    /// Targets spread over an area proportional to their number, at about
    /// one target per 0.1 km², like a busy sector.
    pub fn dense(targets: usize, seed: u64) -> Self {
        Self {
            seed,
            targets,
            side: (targets as f64 * 100_000.0).sqrt(),
            scans: 60,
            scan_interval: 1.0,
            detection_probability: 0.9,
            clutter_per_scan: 0.2 * targets as f64,
            sigma: 5.0,
            vehicle_fraction: 0.3,
        }
    }
}

/// True state of one target at one scan.
#[derive(Clone, Copy, Debug)]
pub struct TruthState {
    pub id: u64,
    pub position: [f64; 2],
}

/// A generated scenario: scans of detections and, per scan, the truth.
pub struct Scenario {
    pub scans: Vec<(f64, Vec<Detection>)>,
    pub truth: Vec<Vec<TruthState>>,
}

pub fn generate(config: &ScenarioConfig) -> Scenario {
    let mut rng = Rng::new(config.seed);
    struct Mover {
        position: [f64; 2],
        speed: f64,
        heading: f64,
        turn_rate: f64,
        turn_left: f64,
        vehicle: bool,
    }
    let mut movers: Vec<Mover> = (0..config.targets)
        .map(|_| {
            let vehicle = rng.uniform() < config.vehicle_fraction;
            Mover {
                position: [rng.range(0.0, config.side), rng.range(0.0, config.side)],
                speed: if vehicle {
                    rng.range(5.0, 15.0)
                } else {
                    rng.range(1.0, 2.0)
                },
                heading: rng.range(0.0, std::f64::consts::TAU),
                turn_rate: 0.0,
                turn_left: 0.0,
                vehicle,
            }
        })
        .collect();
    let mut scans = Vec::with_capacity(config.scans);
    let mut truth = Vec::with_capacity(config.scans);
    for scan in 0..config.scans {
        let time = scan as f64 * config.scan_interval;
        if scan > 0 {
            for mover in &mut movers {
                // Occasional turns of 30-90 degrees over a few seconds.
                if mover.turn_left <= 0.0 && rng.uniform() < 0.02 {
                    let angle = rng.range(30.0, 90.0).to_radians()
                        * if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
                    let duration = if mover.vehicle { 4.0 } else { 6.0 };
                    mover.turn_rate = angle / duration;
                    mover.turn_left = duration;
                }
                let dt = config.scan_interval;
                if mover.turn_left > 0.0 {
                    mover.heading += mover.turn_rate * dt;
                    mover.turn_left -= dt;
                }
                mover.position[0] += mover.speed * mover.heading.sin() * dt;
                mover.position[1] += mover.speed * mover.heading.cos() * dt;
            }
        }
        let mut detections = Vec::new();
        for mover in &movers {
            if rng.uniform() < config.detection_probability {
                detections.push(position(
                    mover.position[0] + config.sigma * rng.normal(),
                    mover.position[1] + config.sigma * rng.normal(),
                    config.sigma,
                ));
            }
        }
        for _ in 0..rng.poisson(config.clutter_per_scan) {
            detections.push(position(
                rng.range(0.0, config.side),
                rng.range(0.0, config.side),
                config.sigma,
            ));
        }
        // Sensors report in arbitrary order; shuffle so the tracker cannot
        // rely on detection order.
        for i in (1..detections.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            detections.swap(i, j);
        }
        truth.push(
            movers
                .iter()
                .enumerate()
                .map(|(id, mover)| TruthState {
                    id: id as u64,
                    position: mover.position,
                })
                .collect(),
        );
        scans.push((time, detections));
    }
    Scenario { scans, truth }
}

pub fn position(x: f64, y: f64, sigma: f64) -> Detection {
    Detection {
        sensor: SensorId(0),
        measurement: Measurement::position(x, y, sigma * sigma, sigma * sigma),
    }
}
