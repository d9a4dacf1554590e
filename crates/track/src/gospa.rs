//! The generalised optimal sub-pattern assignment (GOSPA) metric.
//!
//! GOSPA (Rahmathullah, García-Fernández and Svensson, FUSION 2017) scores a
//! set of estimated positions against a set of true positions in one number
//! that, for `alpha = 2`, splits into localisation error, missed targets and
//! false tracks. picket scores every tracker, its own and others', with it.

use crate::assign::{AssignError, AssignmentSolver};
use thiserror::Error;

/// Why GOSPA parameters were rejected.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum GospaError {
    /// `p` must be at least 1 for GOSPA to be a metric.
    #[error("GOSPA order p = {0} must be a finite number >= 1")]
    Order(f64),
    /// The cut-off distance must be positive and finite.
    #[error("GOSPA cut-off c = {0} must be a finite number > 0")]
    CutOff(f64),
    /// `alpha` must lie in (0, 2].
    #[error("GOSPA alpha = {0} must lie in (0, 2]")]
    Alpha(f64),
    /// A position was NaN or infinite.
    #[error("a position is not finite")]
    NonFinitePosition,
    /// The assignment solver rejected the problem.
    #[error(transparent)]
    Assign(#[from] AssignError),
}

/// GOSPA parameters: order `p`, cut-off distance `c` (metres) and `alpha`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GospaParams {
    p: f64,
    c: f64,
    alpha: f64,
}

impl GospaParams {
    /// Validated parameters.
    pub fn new(p: f64, c: f64, alpha: f64) -> Result<Self, GospaError> {
        if !(p.is_finite() && p >= 1.0) {
            return Err(GospaError::Order(p));
        }
        if !(c.is_finite() && c > 0.0) {
            return Err(GospaError::CutOff(c));
        }
        if !(alpha.is_finite() && alpha > 0.0 && alpha <= 2.0) {
            return Err(GospaError::Alpha(alpha));
        }
        Ok(Self { p, c, alpha })
    }

    /// The parameters of picket's scoring protocol: p = 1, c = 50 m,
    /// alpha = 2 (`shared/formats/README.md`).
    pub fn scoring_protocol() -> Self {
        Self {
            p: 1.0,
            c: 50.0,
            alpha: 2.0,
        }
    }

    /// Order p.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// Cut-off distance c.
    pub fn c(&self) -> f64 {
        self.c
    }

    /// Alpha.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }
}

/// The GOSPA distance between two position sets at one time, with its parts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GospaScore {
    /// The GOSPA distance.
    pub gospa: f64,
    /// Sum of `d^p` over matched pairs (closer than `c`); for `p = 1` the
    /// summed localisation error in metres.
    pub localisation: f64,
    /// True positions with no estimate within `c`.
    pub missed: usize,
    /// Estimates with no true position within `c`.
    pub false_tracks: usize,
}

/// Computes GOSPA between sets of 2-D positions, reusing its buffers.
#[derive(Debug, Default, Clone)]
pub struct Gospa {
    solver: AssignmentSolver,
    costs: Vec<f64>,
}

impl Gospa {
    /// A calculator with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// GOSPA between `truth` and `estimates` (x, y in metres).
    ///
    /// The distance is `(min over assignments of sum min(d, c)^p +
    /// c^p / alpha * (|X| + |Y| - 2 * assigned))^(1/p)`. Pairs that the
    /// optimal assignment leaves at distance `>= c` cost the same as leaving
    /// both unassigned, so they are reported as one miss and one false
    /// track; for `alpha = 2` this split is exactly the metric's own.
    pub fn score(
        &mut self,
        params: GospaParams,
        truth: &[[f64; 2]],
        estimates: &[[f64; 2]],
    ) -> Result<GospaScore, GospaError> {
        if truth
            .iter()
            .chain(estimates)
            .flatten()
            .any(|v| !v.is_finite())
        {
            return Err(GospaError::NonFinitePosition);
        }
        let c_p = params.c.powf(params.p);
        self.costs.clear();
        self.costs.extend(truth.iter().flat_map(|t| {
            estimates.iter().map(move |e| {
                (t[0] - e[0])
                    .hypot(t[1] - e[1])
                    .min(params.c)
                    .powf(params.p)
            })
        }));
        let assignment = self
            .solver
            .solve(&self.costs, truth.len(), estimates.len())?;

        let mut localisation = 0.0;
        let mut matched = 0;
        for (row, col) in assignment.iter().enumerate() {
            if let Some(col) = *col {
                let cost = self.costs[row * estimates.len() + col];
                if cost < c_p {
                    localisation += cost;
                    matched += 1;
                }
            }
        }
        let missed = truth.len() - matched;
        let false_tracks = estimates.len() - matched;
        // Cut-off pairs count c^p in the assignment sum; for alpha = 2 that
        // equals the unassigned penalty of both sides, for other alphas
        // the cardinality term below keeps the metric's own definition.
        let assigned = truth.len().min(estimates.len());
        let cut_off_pairs = assigned - matched;
        let unassigned = truth.len().abs_diff(estimates.len());
        let sum =
            localisation + c_p * cut_off_pairs as f64 + c_p / params.alpha * unassigned as f64;
        Ok(GospaScore {
            gospa: sum.powf(1.0 / params.p),
            localisation,
            missed,
            false_tracks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocol() -> GospaParams {
        GospaParams::scoring_protocol()
    }

    #[test]
    fn identical_sets_score_zero() {
        let xs = [[0.0, 0.0], [100.0, 5.0]];
        let s = Gospa::new().score(protocol(), &xs, &xs).unwrap();
        assert_eq!(s, GospaScore::default());
    }

    #[test]
    fn empty_estimates_cost_half_c_per_missed_target() {
        let s = Gospa::new()
            .score(protocol(), &[[0.0, 0.0], [1.0, 1.0]], &[])
            .unwrap();
        assert_eq!(s.gospa, 50.0);
        assert_eq!((s.missed, s.false_tracks), (2, 0));
    }

    #[test]
    fn far_pair_is_a_miss_and_a_false_track() {
        // 3-4-5 triangle: matched at 5 m; the far estimate is both a miss and
        // a false track, 25 + 25.
        let truth = [[0.0, 0.0], [1000.0, 0.0]];
        let est = [[3.0, 4.0], [0.0, 1000.0]];
        let s = Gospa::new().score(protocol(), &truth, &est).unwrap();
        assert_eq!((s.localisation, s.missed, s.false_tracks), (5.0, 1, 1));
        assert_eq!(s.gospa, 55.0);
    }

    #[test]
    fn optimal_not_greedy_matching() {
        // Greedy takes the closest pair (3 m to 2 m, 1 m) and is left with
        // 0 m to 5 m: 6 m in all. The optimum pairs 0-2 and 3-5: 4 m.
        let truth = [[0.0, 0.0], [3.0, 0.0]];
        let est = [[2.0, 0.0], [5.0, 0.0]];
        let s = Gospa::new().score(protocol(), &truth, &est).unwrap();
        assert_eq!(s.gospa, 4.0);
    }

    #[test]
    fn order_two_and_alpha_one() {
        let params = GospaParams::new(2.0, 10.0, 1.0).unwrap();
        // One pair at 3 m and one extra estimate: sqrt(9 + 100 / 1).
        let s = Gospa::new()
            .score(params, &[[0.0, 0.0]], &[[3.0, 0.0], [50.0, 50.0]])
            .unwrap();
        assert!((s.gospa - 109.0f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn rejects_bad_parameters_and_positions() {
        assert_eq!(
            GospaParams::new(0.5, 50.0, 2.0),
            Err(GospaError::Order(0.5))
        );
        assert_eq!(
            GospaParams::new(1.0, 0.0, 2.0),
            Err(GospaError::CutOff(0.0))
        );
        assert_eq!(
            GospaParams::new(1.0, 50.0, 3.0),
            Err(GospaError::Alpha(3.0))
        );
        assert_eq!(
            Gospa::new().score(protocol(), &[[f64::NAN, 0.0]], &[]),
            Err(GospaError::NonFinitePosition)
        );
    }
}
