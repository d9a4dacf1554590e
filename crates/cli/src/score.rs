//! `picket score`: the scoring protocol of `shared/formats/README.md`.
//!
//! GOSPA is evaluated once a second, t = 0, 1, 2, ... up to the last truth
//! time. At each evaluation time the estimate set is every track's latest
//! state no later than t and younger than the maximum age (1 s), moved to t
//! with its own velocity; a track silent for longer counts as ended. The
//! truth set is every target whose rows span t, taken from its latest row no
//! later than t the same way, so that truth logged at other instants than
//! the evaluation grid is still scored fairly.

use crate::formats::{TrackRecord, TruthRecord};
use picket_track::gospa::{Gospa, GospaError, GospaParams, GospaScore};
use std::collections::BTreeMap;

/// The scoring protocol's parameters.
#[derive(Debug, Clone, Copy)]
pub struct ScoringProtocol {
    /// GOSPA parameters (p = 1, c = 50 m, alpha = 2 by protocol).
    pub gospa: GospaParams,
    /// A track not reported for this long (seconds) counts as ended.
    pub max_track_age: f64,
    /// Seconds between evaluation times.
    pub interval: f64,
}

impl Default for ScoringProtocol {
    fn default() -> Self {
        Self {
            gospa: GospaParams::scoring_protocol(),
            max_track_age: 1.0,
            interval: 1.0,
        }
    }
}

/// GOSPA at one evaluation time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreAtTime {
    /// Evaluation time, seconds.
    pub t: f64,
    /// Number of live true targets.
    pub truths: usize,
    /// Number of live tracks.
    pub tracks: usize,
    /// The score and its parts.
    pub score: GospaScore,
}

/// Means over all evaluation times.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoreSummary {
    /// Evaluation times scored.
    pub times: usize,
    /// Mean GOSPA, metres.
    pub gospa: f64,
    /// Mean localisation part (sum of matched distances for p = 1), metres.
    pub localisation: f64,
    /// Mean missed targets per time.
    pub missed: f64,
    /// Mean false tracks per time.
    pub false_tracks: f64,
    /// Every evaluation time, in order.
    pub per_time: Vec<ScoreAtTime>,
}

/// One object's timeline: (t, x, y, vx, vy) sorted by t.
type Timeline = Vec<[f64; 5]>;

fn timelines(rows: impl Iterator<Item = (u64, [f64; 5])>) -> BTreeMap<u64, Timeline> {
    let mut by_id: BTreeMap<u64, Timeline> = BTreeMap::new();
    for (id, state) in rows {
        by_id.entry(id).or_default().push(state);
    }
    for timeline in by_id.values_mut() {
        // Stable, so a repeated time keeps file order and the later line wins.
        timeline.sort_by(|a, b| a[0].total_cmp(&b[0]));
    }
    by_id
}

/// Adds each object's position, extrapolated from the state in force, to
/// the bucket of every evaluation time it covers. A state covers
/// `[t_i, min(t_next, t_i + max_age))`, and the last state of a truth
/// timeline covers only its own instant, so this sweeps each timeline once.
fn fill_buckets(
    by_id: &BTreeMap<u64, Timeline>,
    interval: f64,
    max_age: Option<f64>,
    buckets: &mut [Vec<[f64; 2]>],
) {
    for timeline in by_id.values() {
        for (i, s) in timeline.iter().enumerate() {
            let next = timeline.get(i + 1).map(|n| n[0]);
            let (end, inclusive) = match (next, max_age) {
                (Some(n), Some(age)) => (n.min(s[0] + age), false),
                (None, Some(age)) => (s[0] + age, false),
                (Some(n), None) => (n, false),
                (None, None) => (s[0], true),
            };
            let mut k = (s[0] / interval).ceil().max(0.0);
            loop {
                let t = k * interval;
                let covered = if inclusive { t <= end } else { t < end };
                let Some(bucket) = buckets.get_mut(k as usize) else {
                    break;
                };
                if !covered {
                    break;
                }
                let dt = t - s[0];
                bucket.push([s[1] + s[3] * dt, s[2] + s[4] * dt]);
                k += 1.0;
            }
        }
    }
}

/// Scores `tracks` against `truth` by the protocol.
pub fn score(
    truth: &[TruthRecord],
    tracks: &[TrackRecord],
    protocol: &ScoringProtocol,
) -> Result<ScoreSummary, GospaError> {
    let Some(last_truth) = truth.iter().map(|r| r.t).reduce(f64::max) else {
        return Ok(ScoreSummary::default());
    };
    let times = (last_truth / protocol.interval).floor().max(0.0) as usize + 1;
    let mut truth_at = vec![Vec::new(); times];
    let mut tracks_at = vec![Vec::new(); times];
    fill_buckets(
        &timelines(truth.iter().map(|r| (r.id, [r.t, r.x, r.y, r.vx, r.vy]))),
        protocol.interval,
        None,
        &mut truth_at,
    );
    fill_buckets(
        &timelines(
            tracks
                .iter()
                .map(|r| (r.track_id, [r.t, r.x, r.y, r.vx, r.vy])),
        ),
        protocol.interval,
        Some(protocol.max_track_age),
        &mut tracks_at,
    );

    let mut gospa = Gospa::new();
    let mut summary = ScoreSummary {
        times,
        ..ScoreSummary::default()
    };
    for (k, (truths, estimates)) in truth_at.iter().zip(&tracks_at).enumerate() {
        let score = gospa.score(protocol.gospa, truths, estimates)?;
        summary.gospa += score.gospa;
        summary.localisation += score.localisation;
        summary.missed += score.missed as f64;
        summary.false_tracks += score.false_tracks as f64;
        summary.per_time.push(ScoreAtTime {
            t: k as f64 * protocol.interval,
            truths: truths.len(),
            tracks: estimates.len(),
            score,
        });
    }
    let n = times as f64;
    summary.gospa /= n;
    summary.localisation /= n;
    summary.missed /= n;
    summary.false_tracks /= n;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(t: f64, id: u64, x: f64, vx: f64) -> TruthRecord {
        TruthRecord {
            t,
            id,
            x,
            y: 0.0,
            vx,
            vy: 0.0,
        }
    }

    fn track(t: f64, track_id: u64, x: f64, vx: f64) -> TrackRecord {
        TrackRecord {
            t,
            track_id,
            x,
            y: 0.0,
            vx,
            vy: 0.0,
        }
    }

    #[test]
    fn perfect_tracks_score_zero_and_late_start_counts_as_missed() {
        let truth: Vec<_> = (0..=4).map(|t| truth(t as f64, 1, t as f64, 1.0)).collect();
        // The track starts at t = 2 and is reported at half-second offsets:
        // extrapolation by its velocity puts it exactly on the truth.
        let tracks: Vec<_> = [1.5, 2.5, 3.5]
            .iter()
            .map(|&t| track(t, 7, t, 1.0))
            .collect();
        let s = score(&truth, &tracks, &ScoringProtocol::default()).unwrap();
        assert_eq!(s.times, 5);
        let per: Vec<_> = s.per_time.iter().map(|p| p.score.gospa).collect();
        // t = 0, 1: missed (25 each). t = 2, 3, 4: tracked; the state at 3.5
        // is 0.5 s old at t = 4.
        assert_eq!(per, vec![25.0, 25.0, 0.0, 0.0, 0.0]);
        assert_eq!(s.gospa, 10.0);
        assert_eq!(s.missed, 0.4);
    }

    #[test]
    fn stale_tracks_are_ended() {
        let truth = vec![truth(0.0, 1, 0.0, 0.0), truth(2.0, 1, 0.0, 0.0)];
        // Reported at t = 0 only: counts at t = 0 and not at t = 1 (age 1 s).
        let tracks = vec![track(0.0, 1, 3.0, 0.0)];
        let s = score(&truth, &tracks, &ScoringProtocol::default()).unwrap();
        let per: Vec<_> = s.per_time.iter().map(|p| (p.truths, p.tracks)).collect();
        assert_eq!(per, vec![(1, 1), (1, 0), (1, 0)]);
        assert_eq!(s.per_time[0].score.localisation, 3.0);
    }

    #[test]
    fn truth_ends_at_its_last_row_and_false_tracks_count() {
        let short = vec![truth(0.0, 1, 0.0, 0.0), truth(1.0, 1, 0.0, 0.0)];
        let tracks = vec![
            track(0.0, 1, 0.0, 0.0),
            track(0.9, 1, 0.0, 0.0),
            track(1.9, 1, 0.0, 0.0),
            track(1.9, 2, 500.0, 0.0),
        ];
        let s = score(&short, &tracks, &ScoringProtocol::default()).unwrap();
        assert_eq!(s.times, 2);
        assert_eq!(s.false_tracks, 0.0);
        let s = score(
            &[truth(0.0, 1, 0.0, 0.0), truth(2.0, 1, 0.0, 0.0)],
            &tracks,
            &ScoringProtocol::default(),
        )
        .unwrap();
        assert_eq!(s.per_time[2].tracks, 2);
        assert_eq!(s.per_time[2].score.false_tracks, 1);
    }

    #[test]
    fn no_truth_means_nothing_to_score() {
        let s = score(&[], &[track(0.0, 1, 0.0, 0.0)], &ScoringProtocol::default()).unwrap();
        assert_eq!(s.times, 0);
    }
}
