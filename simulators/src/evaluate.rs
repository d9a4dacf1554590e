//! Scoring a tracker against simulator truth: GOSPA (picket-cli's scoring
//! protocol, reused as is), track breaks, identity swaps and radiation
//! attribution.
//!
//! Breaks and swaps come from the assignment GOSPA makes: at every
//! evaluation time (once a second) truths and tracks are paired by the
//! optimal assignment of distances cut off at c = 50 m, and pairs at c or
//! beyond are unpaired. As in the CLEAR MOT metrics, the pairing of the
//! previous time is preferred: its distance counts [`KEEP_BONUS_M`] less,
//! so that two movers a few metres apart (a walker beside a vehicle in a
//! lane) do not make the pairing flicker between them and count as swaps
//! when no track changed what it follows.
//! * A **break**: a truth paired with track A is later paired with track
//!   B ≠ A (however long it was unpaired in between).
//! * An **identity swap**: a break onto a track that was last paired with
//!   another truth, i.e. two truths exchanged (or one took the other's)
//!   track; every swap is also a break.
//!
//! Radiation attribution: every track an alert names is looked up in the
//! pairing (the truth it was paired with most often over its life). A named
//! track is correct if that truth carried a source; precision is correct
//! over named tracks, recall is carriers named by at least one alert over
//! carriers.

use std::collections::{BTreeMap, BTreeSet};

use picket_cli::formats::{AlertRecord, TrackRecord, TruthRecord};
use picket_cli::score::{ScoreSummary, ScoringProtocol, score};
use picket_track::assign::AssignmentSolver;
use picket_track::gospa::GospaError;

/// How much closer (metres) the previous pairing of a truth and a track is
/// taken to be: about twice the position noise of the sensors, so noise
/// alone does not re-pair, while a track that moved to another mover does.
pub const KEEP_BONUS_M: f64 = 5.0;

/// Radiation attribution figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Attribution {
    /// Radiation alerts.
    pub alerts: usize,
    /// Distinct tracks named by alerts.
    pub named_tracks: usize,
    /// Named tracks that followed a carrier.
    pub correct_tracks: usize,
    /// Carriers in the truth.
    pub carriers: usize,
    /// Carriers named (through their track) by at least one alert.
    pub carriers_named: usize,
}

impl Attribution {
    /// correct / named; `None` when nothing was named.
    pub fn precision(&self) -> Option<f64> {
        (self.named_tracks > 0).then(|| self.correct_tracks as f64 / self.named_tracks as f64)
    }

    /// named carriers / carriers; `None` without carriers.
    pub fn recall(&self) -> Option<f64> {
        (self.carriers > 0).then(|| self.carriers_named as f64 / self.carriers as f64)
    }
}

/// Everything the simulator scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// GOSPA and its parts (picket-cli's protocol).
    pub gospa: ScoreSummary,
    /// Track breaks.
    pub breaks: usize,
    /// Identity swaps (a subset of breaks).
    pub swaps: usize,
    /// Truths paired with a track at least once.
    pub truths_tracked: usize,
    /// Truths in all.
    pub truths: usize,
    /// Radiation attribution.
    pub attribution: Attribution,
}

/// Positions of objects at evaluation time `t`: each object's latest state
/// no later than `t` (and younger than `max_age` if given), extrapolated.
fn states_at(
    timelines: &BTreeMap<u64, Vec<[f64; 5]>>,
    t: f64,
    max_age: Option<f64>,
    last_only_at_own_time: bool,
) -> Vec<(u64, [f64; 2])> {
    let mut out = Vec::new();
    for (&id, rows) in timelines {
        let after = rows.partition_point(|r| r[0] <= t);
        let Some(state) = after.checked_sub(1).and_then(|i| rows.get(i)) else {
            continue;
        };
        let age = t - state[0];
        if max_age.is_some_and(|m| age >= m) {
            continue;
        }
        // A truth ends at its last row (it left the scene).
        if last_only_at_own_time && after == rows.len() && age > 1e-9 {
            continue;
        }
        out.push((id, [state[1] + state[3] * age, state[2] + state[4] * age]));
    }
    out
}

fn timelines(rows: impl Iterator<Item = (u64, [f64; 5])>) -> BTreeMap<u64, Vec<[f64; 5]>> {
    let mut by_id: BTreeMap<u64, Vec<[f64; 5]>> = BTreeMap::new();
    for (id, state) in rows {
        by_id.entry(id).or_default().push(state);
    }
    for rows in by_id.values_mut() {
        rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
    }
    by_id
}

/// Scores `tracks` and `alerts` against `truth` and the truth ids of the
/// radiation `carriers`.
pub fn evaluate(
    truth: &[TruthRecord],
    tracks: &[TrackRecord],
    alerts: &[AlertRecord],
    carriers: &[u64],
    protocol: &ScoringProtocol,
) -> Result<Evaluation, GospaError> {
    let gospa = score(truth, tracks, protocol)?;
    let truth_lines = timelines(truth.iter().map(|r| (r.id, [r.t, r.x, r.y, r.vx, r.vy])));
    let track_lines = timelines(
        tracks
            .iter()
            .map(|r| (r.track_id, [r.t, r.x, r.y, r.vx, r.vy])),
    );
    let cutoff = protocol.gospa.c();
    let last = truth.iter().map(|r| r.t).fold(0.0, f64::max);
    let mut solver = AssignmentSolver::new();
    let mut track_of: BTreeMap<u64, u64> = BTreeMap::new();
    let mut truth_of: BTreeMap<u64, u64> = BTreeMap::new();
    let mut pair_counts: BTreeMap<u64, BTreeMap<u64, usize>> = BTreeMap::new();
    let mut tracked: BTreeSet<u64> = BTreeSet::new();
    let (mut breaks, mut swaps) = (0, 0);
    let mut k = 0u64;
    loop {
        let t = k as f64 * protocol.interval;
        if t > last + 1e-9 {
            break;
        }
        k += 1;
        let truths = states_at(&truth_lines, t, None, true);
        let estimates = states_at(&track_lines, t, Some(protocol.max_track_age), false);
        if truths.is_empty() || estimates.is_empty() {
            continue;
        }
        let mut costs = Vec::with_capacity(truths.len() * estimates.len());
        let mut distances = Vec::with_capacity(truths.len() * estimates.len());
        for (truth_id, a) in &truths {
            for (track_id, b) in &estimates {
                let d = (a[0] - b[0]).hypot(a[1] - b[1]);
                let kept = track_of.get(truth_id) == Some(track_id);
                let bonus = if kept { KEEP_BONUS_M } else { 0.0 };
                distances.push(d);
                costs.push((d - bonus).max(0.0).min(cutoff));
            }
        }
        let Ok(assignment) = solver.solve(&costs, truths.len(), estimates.len()) else {
            continue;
        };
        for (row, col) in assignment.iter().enumerate() {
            let Some(col) = *col else { continue };
            let (Some((truth_id, _)), Some((track_id, _)), Some(cost)) = (
                truths.get(row),
                estimates.get(col),
                distances.get(row * estimates.len() + col),
            ) else {
                continue;
            };
            if *cost >= cutoff {
                continue;
            }
            tracked.insert(*truth_id);
            *pair_counts
                .entry(*track_id)
                .or_default()
                .entry(*truth_id)
                .or_default() += 1;
            if let Some(previous) = track_of.insert(*truth_id, *track_id)
                && previous != *track_id
            {
                breaks += 1;
                if truth_of
                    .get(track_id)
                    .is_some_and(|other| other != truth_id)
                {
                    swaps += 1;
                }
            }
            truth_of.insert(*track_id, *truth_id);
        }
    }

    // Each track's truth: the one it was paired with most often (ties to
    // the lower id, for determinism).
    let track_truth: BTreeMap<u64, u64> = pair_counts
        .iter()
        .filter_map(|(track, counts)| {
            counts
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(truth, _)| (*track, *truth))
        })
        .collect();
    let carrier_set: BTreeSet<u64> = carriers.iter().copied().collect();
    let named: BTreeSet<u64> = alerts
        .iter()
        .flat_map(|a| a.track_ids.iter().copied())
        .collect();
    let correct = named
        .iter()
        .filter(|id| track_truth.get(id).is_some_and(|t| carrier_set.contains(t)))
        .count();
    let carriers_named = carrier_set
        .iter()
        .filter(|carrier| named.iter().any(|id| track_truth.get(id) == Some(*carrier)))
        .count();
    Ok(Evaluation {
        gospa,
        breaks,
        swaps,
        truths_tracked: tracked.len(),
        truths: truth_lines.len(),
        attribution: Attribution {
            alerts: alerts.len(),
            named_tracks: named.len(),
            correct_tracks: correct,
            carriers: carrier_set.len(),
            carriers_named,
        },
    })
}

impl Evaluation {
    /// A few lines for a terminal.
    pub fn render(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{:.0}%", v * 100.0));
        format!(
            "GOSPA {:.2} m (localisation {:.2} m, missed {:.3}, false {:.3} per second)\n\
             truths tracked {}/{}, track breaks {}, identity swaps {}\n\
             radiation: {} alerts named {} tracks, {} right; carriers named {}/{} \
             (precision {}, recall {})\n",
            self.gospa.gospa,
            self.gospa.localisation,
            self.gospa.missed,
            self.gospa.false_tracks,
            self.truths_tracked,
            self.truths,
            self.breaks,
            self.swaps,
            self.attribution.alerts,
            self.attribution.named_tracks,
            self.attribution.correct_tracks,
            self.attribution.carriers_named,
            self.attribution.carriers,
            pct(self.attribution.precision()),
            pct(self.attribution.recall()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth_row(t: f64, id: u64, x: f64) -> TruthRecord {
        TruthRecord {
            t,
            id,
            x,
            y: 0.0,
            vx: 1.0,
            vy: 0.0,
        }
    }

    fn track_row(t: f64, track_id: u64, x: f64) -> TrackRecord {
        TrackRecord {
            t,
            track_id,
            x,
            y: 0.0,
            vx: 1.0,
            vy: 0.0,
        }
    }

    #[test]
    fn a_steady_track_has_no_break_and_a_named_carrier_is_attributed() {
        let truth: Vec<_> = (0..10).map(|t| truth_row(t as f64, 1, t as f64)).collect();
        let tracks: Vec<_> = (0..10)
            .map(|t| track_row(t as f64, 5, t as f64 + 1.0))
            .collect();
        let alerts = [AlertRecord {
            t: 4.0,
            detector: "rpm".into(),
            track_ids: vec![5],
        }];
        let e = evaluate(&truth, &tracks, &alerts, &[1], &ScoringProtocol::default()).unwrap();
        assert_eq!((e.breaks, e.swaps), (0, 0));
        assert!((e.gospa.gospa - 1.0).abs() < 1e-9, "{}", e.gospa.gospa);
        assert_eq!(e.attribution.precision(), Some(1.0));
        assert_eq!(e.attribution.recall(), Some(1.0));
    }

    #[test]
    fn a_new_track_is_a_break_and_exchanged_tracks_are_swaps() {
        // Truth 1 at x = t, truth 2 at x = 200 + t. Tracks 7 and 8 follow
        // them, then exchange at t = 5; truth 1 also breaks onto a fresh
        // track 9 at t = 8.
        let mut truth = Vec::new();
        let mut tracks = Vec::new();
        for t in 0..12 {
            let t = t as f64;
            truth.push(truth_row(t, 1, t));
            truth.push(truth_row(t, 2, 200.0 + t));
            let (a, b) = if t < 5.0 { (7, 8) } else { (8, 7) };
            let a = if t >= 8.0 { 9 } else { a };
            tracks.push(track_row(t, a, t));
            tracks.push(track_row(t, b, 200.0 + t));
        }
        let e = evaluate(&truth, &tracks, &[], &[2], &ScoringProtocol::default()).unwrap();
        // Breaks: 1 (7 -> 8), 2 (8 -> 7), 1 (8 -> 9); swaps: the first two.
        assert_eq!(e.breaks, 3);
        assert_eq!(e.swaps, 2);
        assert_eq!(e.attribution.recall(), Some(0.0));
        assert_eq!(e.attribution.precision(), None);
    }

    #[test]
    fn an_alert_on_the_wrong_track_lowers_precision() {
        let mut truth = Vec::new();
        let mut tracks = Vec::new();
        for t in 0..5 {
            let t = t as f64;
            truth.push(truth_row(t, 1, t));
            truth.push(truth_row(t, 2, 100.0 + t));
            tracks.push(track_row(t, 3, t));
            tracks.push(track_row(t, 4, 100.0 + t));
        }
        let alerts = [AlertRecord {
            t: 2.0,
            detector: "rpm".into(),
            track_ids: vec![3, 4],
        }];
        let e = evaluate(&truth, &tracks, &alerts, &[1], &ScoringProtocol::default()).unwrap();
        assert_eq!(e.attribution.precision(), Some(0.5));
        assert_eq!(e.attribution.recall(), Some(1.0));
    }
}
