//! Gating: the chi-square validation gate and the coarse spatial index that
//! keeps gating near-linear in the number of tracks.
//!
//! The index is a uniform grid built by sorting, not hashing: every
//! detection gets a cell key, the `(key, detection)` pairs are sorted once
//! per scan, and a track looks up each row of cells its gate box covers with
//! one binary search (the key layout makes a row of cells one contiguous key
//! range). Sorting avoids a hash map's per-scan allocations and its
//! iteration-order randomness, so the tracker stays deterministic, and the
//! buffers are reused from scan to scan.

/// The chi-square quantile with `dimension` (1 or 2) degrees of freedom:
/// the squared Mahalanobis distance below which a true measurement falls
/// with probability `probability`. `None` for other dimensions or a
/// probability outside (0, 1).
pub fn chi_square_quantile(dimension: usize, probability: f64) -> Option<f64> {
    if !(probability > 0.0 && probability < 1.0) {
        return None;
    }
    match dimension {
        // Two degrees of freedom: the CDF is 1 - exp(-x/2), invertible.
        2 => Some(-2.0 * (1.0 - probability).ln()),
        // One degree of freedom: CDF = erf(sqrt(x/2)); bisect, it is monotone.
        1 => {
            let (mut low, mut high) = (0.0_f64, 200.0_f64);
            for _ in 0..200 {
                let mid = 0.5 * (low + high);
                if erf((mid / 2.0).sqrt()) < probability {
                    low = mid;
                } else {
                    high = mid;
                }
            }
            Some(0.5 * (low + high))
        }
        _ => None,
    }
}

/// The error function, to about 1e-7 absolute (Abramowitz & Stegun 7.1.26
/// refined with the Numerical Recipes `erfc` Chebyshev fit); ample for gate
/// thresholds.
fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }
}

/// Uniform grid over detection positions, rebuilt every scan with reused
/// buffers.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpatialGrid {
    cell_size: f64,
    /// `(cell key, detection index)`, sorted by key then index.
    entries: Vec<(u64, u32)>,
}

/// Packs a cell's column and row into one key so that, for a fixed column,
/// consecutive rows are consecutive keys. The row is offset into unsigned
/// order so negative coordinates sort correctly.
fn cell_key(column: i32, row: i32) -> u64 {
    (u64::from(column.cast_unsigned()) << 32) | u64::from(row.cast_unsigned() ^ 0x8000_0000)
}

impl SpatialGrid {
    /// Cell index of a coordinate; saturates far outside the i32 range
    /// (such coordinates are rejected earlier as out of any sane area).
    fn cell_of(&self, coordinate: f64) -> i32 {
        // `as` saturates for out-of-range floats and maps NaN to 0: the
        // index can be wrong for absurd input but never panics.
        (coordinate / self.cell_size).floor() as i32
    }

    /// Replaces the grid contents with `points` (index, east, north).
    pub(crate) fn rebuild(
        &mut self,
        cell_size: f64,
        points: impl Iterator<Item = (u32, f64, f64)>,
    ) {
        self.cell_size = cell_size;
        self.entries.clear();
        for (index, x, y) in points {
            let key = cell_key(self.cell_of(x), self.cell_of(y));
            self.entries.push((key, index));
        }
        self.entries.sort_unstable();
    }

    /// How many cells the box `[min, max]` spans; lets a caller fall back to
    /// a linear scan when a track's gate is huge.
    pub(crate) fn cells_in_box(&self, min: (f64, f64), max: (f64, f64)) -> u64 {
        let columns = i64::from(self.cell_of(max.0)) - i64::from(self.cell_of(min.0)) + 1;
        let rows = i64::from(self.cell_of(max.1)) - i64::from(self.cell_of(min.1)) + 1;
        columns.max(0).unsigned_abs() * rows.max(0).unsigned_abs()
    }

    /// Calls `visit` with every detection index whose cell intersects the
    /// axis-aligned box `[min, max]`.
    pub(crate) fn for_each_in_box(
        &self,
        min: (f64, f64),
        max: (f64, f64),
        mut visit: impl FnMut(u32),
    ) {
        let (row_low, row_high) = (self.cell_of(min.1), self.cell_of(max.1));
        for column in self.cell_of(min.0)..=self.cell_of(max.0) {
            let (key_low, key_high) = (cell_key(column, row_low), cell_key(column, row_high));
            let start = self.entries.partition_point(|&(key, _)| key < key_low);
            for &(key, index) in self.entries.get(start..).unwrap_or_default() {
                if key > key_high {
                    break;
                }
                visit(index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi_square_quantiles_match_tables() {
        assert!((chi_square_quantile(2, 0.99).unwrap() - 9.210_340).abs() < 1e-5);
        assert!((chi_square_quantile(1, 0.99).unwrap() - 6.634_897).abs() < 1e-4);
        assert!((chi_square_quantile(1, 0.95).unwrap() - 3.841_459).abs() < 1e-4);
        assert_eq!(chi_square_quantile(3, 0.99), None);
        assert_eq!(chi_square_quantile(2, 1.0), None);
    }

    #[test]
    fn grid_finds_exactly_the_points_in_covered_cells() {
        let mut grid = SpatialGrid::default();
        let points = [
            (0, -5.0, -5.0),
            (1, 5.0, 5.0),
            (2, 25.0, 5.0),
            (3, -15.0, 0.0),
        ];
        grid.rebuild(10.0, points.iter().copied());
        let mut found = Vec::new();
        grid.for_each_in_box((-1.0, -1.0), (1.0, 1.0), |i| found.push(i));
        found.sort_unstable();
        assert_eq!(found, vec![0, 1]);
        found.clear();
        grid.for_each_in_box((-20.0, -20.0), (30.0, 30.0), |i| found.push(i));
        found.sort_unstable();
        assert_eq!(found, vec![0, 1, 2, 3]);
        assert_eq!(grid.cells_in_box((-20.0, -20.0), (30.0, 30.0)), 36);
    }
}
