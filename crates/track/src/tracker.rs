//! The multi-target tracker: gating, clustering, GNN association, track
//! lifecycle. Sans-IO: the caller hands in scans with their times and gets
//! events back; nothing here reads a clock, touches I/O or draws random
//! numbers, so the same input always gives bit-identical output.
//!
//! # Association
//! Each scan is associated by global nearest neighbour within independent
//! clusters. The cost of giving detection `j` to track `i` is the negative
//! log of the likelihood ratio "target-originated vs clutter":
//! `−ln(Pd · N(y; 0, S) / λ)`, i.e. `(d² + ln det 2πS)/2 − ln Pd + ln λ`;
//! leaving track `i` undetected costs `−ln(1 − Pd)`. Including `ln det S`
//! matters when tracks of different quality compete for one detection: a
//! well-established track with a tight `S` should win over a fresh one whose
//! wide `S` makes every detection look close in Mahalanobis terms.
//!
//! # Lifecycle
//! A detection that gates with no track starts a *tentative* track with the
//! detection's position and a wide zero-mean velocity prior. It becomes
//! *confirmed* (a `Born` event) after M hits in its last N detection
//! opportunities, where an opportunity is a scan by a scanning sensor that
//! has already seen the track: a radar whose coverage ends short of the
//! track, or a ground node reporting someone else, is no evidence against
//! it. Confirmed tracks not updated in a scan *coast* on prediction; they are
//! deleted after `max_coast_time` without an update or when their position
//! variance passes `max_position_variance`.
//!
//! # Prediction
//! Tracks are predicted when a scan needs them: every track goes from the
//! previous scan's time to the new one in a single IMM step, and
//! [`Tracker::advance_to`] only *reports* the prediction to its time (the
//! combined Gaussian, which needs no mixing: see
//! [`ImmEstimate::predicted_combined`]) without applying it. So an estimate
//! depends on the detections and their times alone, not on how often the
//! caller lets time pass (predicting on every call ran the IMM's mode
//! mixing once per call, so a 10 Hz timer and a 1 Hz one gave different
//! tracks from the same scans), and a time advance costs a few scalar
//! operations per track instead of two 4×4 mode predictions and three
//! mixtures.

use nalgebra::{Matrix2, Matrix4, Vector2, Vector4};

use crate::assign::AssignmentSolver;
use crate::cluster::DisjointSets;
use crate::config::TrackerConfig;
use crate::filter::StateEstimate;
use crate::gating::{SpatialGrid, chi_square_quantile};
use crate::imm::{ImmEstimate, ImmModel};
use crate::measurement::Measurement;
use crate::motion::{ConstantVelocity, StateVector};
use crate::{ConfigError, TrackerError};

/// A sensor handle chosen by the caller (who maps names to numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SensorId(pub u32);

/// A track's identity: unique over the tracker's lifetime, assigned in
/// increasing order, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackId(pub u64);

/// One report handed to the tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Which sensor made it.
    pub sensor: SensorId,
    /// What it measured.
    pub measurement: Measurement,
}

/// Where a track is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackStatus {
    /// Not yet confirmed; never reported in events.
    Tentative,
    /// Confirmed and updated in the latest scan it had a chance to be.
    Confirmed,
    /// Confirmed but not updated in the latest scan; running on prediction.
    Coasting,
}

/// Why a confirmed track ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionReason {
    /// No update for longer than `max_coast_time`.
    NotUpdated,
    /// Position variance grew beyond `max_position_variance`.
    Uncertain,
}

/// What happened to a confirmed track in a scan or time advance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackEventKind {
    /// The track was just confirmed (and updated in this scan).
    Born,
    /// The track was updated with a detection.
    Updated,
    /// The track was not updated and runs on prediction.
    Coasted,
    /// The track ended; this is its last event.
    Deleted(DeletionReason),
}

/// A change to a confirmed track. Every confirmed track gets exactly one
/// event per [`Tracker::handle_scan`] or [`Tracker::advance_to`] call
/// ([`Tracker::advance_to_reporting`] leaves out unwanted coasting ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackEvent {
    /// The track concerned.
    pub track_id: TrackId,
    /// What happened.
    pub kind: TrackEventKind,
    /// Time of the state below, seconds on the caller's epoch.
    pub time: f64,
    /// State `[x, y, vx, vy]` at `time`.
    pub state: StateVector,
    /// Covariance of the position `[x, y]` at `time`, m².
    pub position_covariance: Matrix2<f64>,
    /// Index, in the scan's detection slice, of the detection that updated
    /// the track (for `Born` and `Updated`), so the caller can carry
    /// attributes such as a class hint or a radiation alarm over to it.
    pub detection: Option<usize>,
}

/// Counters for monitoring; they only ever grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Scans handled.
    pub scans: u64,
    /// Detections received.
    pub detections: u64,
    /// Detections rejected as invalid (non-finite, bad noise).
    pub rejected_detections: u64,
    /// Detections that would have started a track beyond `max_tracks`.
    pub refused_initiations: u64,
}

/// How many distinct contributing sensors a track remembers.
pub const MAX_TRACK_SENSORS: usize = 4;

/// One target hypothesis and its history.
#[derive(Debug, Clone)]
pub struct Track {
    id: TrackId,
    status: TrackStatus,
    estimate: ImmEstimate,
    last_update: f64,
    /// Detection opportunities, newest in bit 0: 1 = hit, 0 = miss.
    history: u32,
    /// How many bits of `history` are meaningful (saturates at 32).
    opportunities: u32,
    /// The scan (time, sensor) behind the newest bit of `history`.
    last_opportunity: Option<(f64, SensorId)>,
    /// Most recent contributing sensors first.
    sensors: [SensorId; MAX_TRACK_SENSORS],
    sensor_count: usize,
    /// A time before which a time advance cannot delete the track: its
    /// share of [`Tracker::next_deletion_time`], kept with the bound.
    deletion_bound: f64,
}

impl Track {
    /// The track's identity.
    pub fn id(&self) -> TrackId {
        self.id
    }

    /// Tentative, confirmed or coasting.
    pub fn status(&self) -> TrackStatus {
        self.status
    }

    /// Whether the track has been confirmed (and is reported in events).
    pub fn is_confirmed(&self) -> bool {
        self.status != TrackStatus::Tentative
    }

    /// The state estimate (the IMM's moment-matched Gaussian) at
    /// [`Tracker::estimate_time`], the latest scan; [`Tracker::estimate_at`]
    /// predicts it to a later time.
    pub fn estimate(&self) -> &StateEstimate {
        self.estimate.combined()
    }

    /// Probability that the target is manoeuvring (the IMM's high-noise
    /// mode), in [0, 1].
    pub fn manoeuvre_probability(&self) -> f64 {
        self.estimate.manoeuvre_probability()
    }

    /// Time of the latest update with a detection.
    pub fn last_update(&self) -> f64 {
        self.last_update
    }

    /// Sensors that updated the track, most recent first (at most
    /// [`MAX_TRACK_SENSORS`]).
    pub fn sensors(&self) -> &[SensorId] {
        self.sensors.get(..self.sensor_count).unwrap_or_default()
    }

    /// Fraction of the last (up to 32) detection opportunities that gave an
    /// update, in [0, 1]: 1 is a target every sensor sees every time.
    pub fn quality(&self) -> f64 {
        let window = self.opportunities.min(32);
        if window == 0 {
            return 0.0;
        }
        f64::from((self.history & low_bits(window)).count_ones()) / f64::from(window)
    }

    fn hits_in(&self, window: u32) -> u32 {
        (self.history & low_bits(window.min(self.opportunities))).count_ones()
    }

    fn misses_in(&self, window: u32) -> u32 {
        window.min(self.opportunities) - self.hits_in(window)
    }

    /// Records one detection opportunity: `sensor`'s scan at `time`.
    ///
    /// A sensor's scan that reaches the tracker in parts at one time (a
    /// sweep split across serial reads and released before its last read
    /// arrived, as with no reorder lag) is still one opportunity: a later
    /// part's hit replaces an earlier part's miss, and a later miss is not
    /// counted again. Counted per part, every target in the other part
    /// took a miss each sweep, and tentative tracks died before their
    /// confirmation.
    fn record_opportunity(&mut self, time: f64, sensor: SensorId, hit: bool) {
        if self.last_opportunity == Some((time, sensor)) {
            self.history |= u32::from(hit);
            return;
        }
        self.history = (self.history << 1) | u32::from(hit);
        self.opportunities = self.opportunities.saturating_add(1).min(32);
        self.last_opportunity = Some((time, sensor));
    }

    fn record_sensor(&mut self, sensor: SensorId) {
        let known = self.sensors().iter().position(|s| *s == sensor);
        // Move (or insert) the sensor to the front, shifting the others back
        // and dropping the oldest when full.
        let end = known.unwrap_or(self.sensor_count.min(MAX_TRACK_SENSORS - 1));
        if let Some(slots) = self.sensors.get_mut(..=end) {
            slots.rotate_right(1);
            if let Some(first) = slots.first_mut() {
                *first = sensor;
            }
        }
        if known.is_none() {
            self.sensor_count = (self.sensor_count + 1).min(MAX_TRACK_SENSORS);
        }
    }
}

/// Trace of the position block: the deletion test's variance.
fn position_variance(estimate: &StateEstimate) -> f64 {
    estimate.covariance[(0, 0)] + estimate.covariance[(1, 1)]
}

/// A time step, at most `horizon`, before which the position variance of
/// `estimate`'s predictions stays within `limit`, or `None` if it stays
/// within it for the whole horizon.
///
/// The predicted trace of the position block is
/// `a + b·dt + c·dt² + ⅔ q dt³` (`a`, `b/2`, `c` the traces of the
/// position, cross and velocity blocks, `q` the prediction's noise
/// density); with `|b|` and the noisiest mode's `q` it is bounded above by
/// an increasing function, whose crossing, bracketed by bisection from
/// below, is a lower bound of the true one.
fn variance_crossing_lower_bound(
    estimate: &StateEstimate,
    max_noise_density: f64,
    limit: f64,
    horizon: f64,
) -> Option<f64> {
    let p = &estimate.covariance;
    let a = p[(0, 0)] + p[(1, 1)];
    let b = 2.0 * (p[(0, 2)] + p[(1, 3)]).abs();
    let c = p[(2, 2)] + p[(3, 3)];
    let q = 2.0 / 3.0 * max_noise_density;
    let bound = |dt: f64| a + dt * (b + dt * (c + dt * q));
    // A horizon already past means the timeout comes first.
    if !(horizon > 0.0 && bound(horizon) > limit) {
        return None;
    }
    // Twelve halvings bracket the crossing to 1/4096 of the horizon (under
    // a millisecond for the default 3.5 s coast); `low` stays below it.
    let (mut low, mut high) = (0.0, horizon);
    for _ in 0..12 {
        let middle = 0.5 * (low + high);
        if bound(middle) > limit {
            high = middle;
        } else {
            low = middle;
        }
    }
    Some(low)
}

/// A mask of the `n` lowest bits (`n <= 32`).
fn low_bits(n: u32) -> u32 {
    if n >= 32 { u32::MAX } else { (1 << n) - 1 }
}

/// A gated (track, detection) pair and its association cost.
#[derive(Debug, Clone, Copy)]
struct Edge {
    track: u32,
    detection: u32,
    cost: f64,
}

/// A cost that no real pairing reaches; marks a pair the assignment must not
/// use. Finite, because the solver rejects infinities.
const FORBIDDEN: f64 = 1e9;

/// Beyond this many grid cells a track's gate is checked against every
/// detection directly: cheaper than visiting mostly empty cells.
const MAX_GATE_CELLS: u64 = 256;

/// Sentinel in the per-scan index maps.
const UNSET: u32 = u32::MAX;

/// Buffers reused from scan to scan so the hot path does not allocate once
/// warmed up.
#[derive(Debug, Default)]
struct Scratch {
    grid: SpatialGrid,
    /// Per detection: validated and usable.
    valid: Vec<bool>,
    /// Per detection: position estimate (anchor) for the grid and initiation.
    anchors: Vec<Option<(Vector2<f64>, Matrix2<f64>)>>,
    /// Detections without an anchor (bearing only), gated against all tracks.
    unanchored: Vec<u32>,
    /// Sensors that scanned in this scan, sorted, deduplicated.
    scanning_sensors: Vec<SensorId>,
    edges: Vec<Edge>,
    track_degree: Vec<u32>,
    detection_degree: Vec<u32>,
    sets: DisjointSets,
    /// Counting-sort buckets of edges by cluster root.
    bucket_start: Vec<u32>,
    clustered_edges: Vec<Edge>,
    /// Per track: assigned detection index or `UNSET`.
    assigned: Vec<u32>,
    /// Per detection: used by an update, or gated to a track (so it must not
    /// start a new one).
    detection_taken: Vec<bool>,
    local_track: Vec<u32>,
    local_detection: Vec<u32>,
    cluster_tracks: Vec<u32>,
    cluster_detections: Vec<u32>,
    costs: Vec<f64>,
    half_widths: Vec<f64>,
    solver: AssignmentSolver,
}

/// The multi-target tracker. See the [module docs](self) for the method.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    motion: ImmModel,
    /// Gate thresholds on d² for 1-D and 2-D measurements.
    gate_scalar: f64,
    gate_planar: f64,
    /// `−ln Pd + ln λ`, added to every pair's negative log-likelihood.
    pair_cost_offset: f64,
    /// `−ln(1 − Pd)`.
    miss_cost: f64,
    time: Option<f64>,
    /// The time every track's estimate refers to: the latest scan.
    estimate_time: Option<f64>,
    /// See [`Tracker::next_deletion_time`].
    next_deletion_time: f64,
    next_id: u64,
    tracks: Vec<Track>,
    events: Vec<TrackEvent>,
    stats: TrackerStats,
    scratch: Scratch,
}

impl Tracker {
    /// A tracker with no tracks, after validating `config`.
    pub fn new(config: TrackerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let motion = ImmModel::new(
            ConstantVelocity::new(config.process_noise)?,
            config.manoeuvre_turn_noise,
            [config.quiet_sojourn, config.manoeuvre_sojourn],
        );
        let gate = |dimension| {
            chi_square_quantile(dimension, config.gate_probability)
                .ok_or(ConfigError::Probability("gate_probability"))
        };
        Ok(Self {
            gate_scalar: gate(1)?,
            gate_planar: gate(2)?,
            pair_cost_offset: -config.detection_probability.ln() + config.clutter_density.ln(),
            miss_cost: -(1.0 - config.detection_probability).ln(),
            motion,
            config,
            time: None,
            estimate_time: None,
            next_deletion_time: f64::INFINITY,
            next_id: 1,
            tracks: Vec::new(),
            events: Vec::new(),
            stats: TrackerStats::default(),
            scratch: Scratch::default(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// Live tracks, tentative included, in increasing id order.
    pub fn tracks(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter()
    }

    /// Monitoring counters.
    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// The latest time handled, if any.
    pub fn time(&self) -> Option<f64> {
        self.time
    }

    /// The time of the tracks' [`Track::estimate`]s: the latest scan (not
    /// moved by [`advance_to`](Self::advance_to)).
    pub fn estimate_time(&self) -> Option<f64> {
        self.estimate_time
    }

    /// A time before which [`advance_to`](Self::advance_to) deletes no
    /// track (`f64::INFINITY` with none): the earliest of every track's
    /// coast or tentative timeout and a lower bound of the time its
    /// position variance could pass `max_position_variance`. Until then a
    /// time advance only reports coasting tracks, so a caller with nothing
    /// to do for those (see picket-engine's ticks) can skip it and get the
    /// same tracks.
    pub fn next_deletion_time(&self) -> f64 {
        self.next_deletion_time
    }

    /// Every track's deletion bound and their minimum,
    /// [`next_deletion_time`](Self::next_deletion_time), computed when the
    /// tracks change (a scan or a deletion) rather than on every call: the
    /// daemon asks on every tick.
    fn update_deletion_bounds(&mut self) {
        let config = &self.config;
        let motion = &self.motion;
        let estimate_time = self.estimate_time;
        let mut next = f64::INFINITY;
        for track in &mut self.tracks {
            let Some(estimate_time) = estimate_time else {
                track.deletion_bound = f64::NEG_INFINITY;
                continue;
            };
            let timeout = if track.is_confirmed() {
                config.max_coast_time
            } else {
                config.tentative_timeout
            };
            let timed_out = track.last_update + timeout;
            let noise = track.estimate.noisiest_mode(motion);
            let uncertain_after = variance_crossing_lower_bound(
                track.estimate.combined(),
                noise.acceleration_psd(),
                config.max_position_variance,
                timed_out - estimate_time,
            );
            track.deletion_bound =
                uncertain_after.map_or(timed_out, |dt| timed_out.min(estimate_time + dt));
            next = next.min(track.deletion_bound);
        }
        self.next_deletion_time = next;
    }

    /// `track`'s estimate predicted to `time`, as a scan at `time` would
    /// see it before its update, without changing the track. A time before
    /// [`estimate_time`](Self::estimate_time) gives the estimate itself.
    pub fn estimate_at(&self, track: &Track, time: f64) -> StateEstimate {
        let dt = self.estimate_time.map_or(0.0, |from| time - from);
        if dt > 0.0 {
            track
                .estimate
                .predicted_combined(&self.motion, &self.motion.transition(dt))
        } else {
            *track.estimate.combined()
        }
    }

    /// Processes one scan: the detections one sensor (or several) made at
    /// `time`. Returns one event per confirmed track, valid until the next
    /// call. Invalid detections are skipped and counted in
    /// [`TrackerStats::rejected_detections`].
    pub fn handle_scan(
        &mut self,
        time: f64,
        detections: &[Detection],
    ) -> Result<&[TrackEvent], TrackerError> {
        self.advance_clock(time)?;
        self.predict_tracks(time);
        self.stats.scans += 1;
        self.stats.detections += detections.len() as u64;
        self.prepare_detections(detections);
        self.gate(detections);
        self.associate();
        self.apply_updates(time, detections, |_| true);
        self.initiate(time, detections);
        self.update_deletion_bounds();
        Ok(&self.events)
    }

    /// Advances to `time` without detections: deletes the tracks that have
    /// run out of time or certainty by then, and reports the rest of the
    /// confirmed ones as coasting, with their predictions to `time` (which
    /// the tracks do not keep: see the [module docs](self#prediction)).
    pub fn advance_to(&mut self, time: f64) -> Result<&[TrackEvent], TrackerError> {
        self.advance_to_reporting(time, |_| true)
    }

    /// [`advance_to`](Self::advance_to), reporting a coasting track only
    /// when `wanted(id)` says so. Births and deletions are always reported.
    /// A track that can be neither deleted nor confirmed by `time` and is
    /// not wanted is not even predicted: a caller that publishes a few
    /// tracks per tick (picket-engine republishing coasting tracks once a
    /// second each) no longer pays for predicting all of them. The tracks
    /// come out the same as with `advance_to`.
    pub fn advance_to_reporting(
        &mut self,
        time: f64,
        wanted: impl FnMut(TrackId) -> bool,
    ) -> Result<&[TrackEvent], TrackerError> {
        self.advance_clock(time)?;
        let tracks_before = self.tracks.len();
        self.scratch.assigned.clear();
        self.scratch.assigned.resize(self.tracks.len(), UNSET);
        self.scratch.scanning_sensors.clear();
        self.apply_updates(time, &[], wanted);
        // Deletions only raise the bound; recomputed, it lets the caller
        // skip again. A confirmation changes a track's timeout, so its
        // bound with it.
        let born = self
            .events
            .iter()
            .any(|event| event.kind == TrackEventKind::Born);
        if born || self.tracks.len() != tracks_before {
            self.update_deletion_bounds();
        }
        Ok(&self.events)
    }

    /// Moves the clock to `time`, which must not go back.
    fn advance_clock(&mut self, time: f64) -> Result<(), TrackerError> {
        let current = self.time.unwrap_or(time);
        if !time.is_finite() || time < current {
            return Err(TrackerError::TimeWentBackwards { time, current });
        }
        self.time = Some(time);
        self.events.clear();
        Ok(())
    }

    /// Predicts every track from the previous scan to this one's `time`, in
    /// one step (all tracks share the step, so its mode transitions are
    /// computed once).
    fn predict_tracks(&mut self, time: f64) {
        let dt = self.estimate_time.map_or(0.0, |from| time - from);
        if dt > 0.0 {
            let transition = self.motion.transition(dt);
            for track in &mut self.tracks {
                track.estimate.predict_with(&self.motion, &transition);
            }
        }
        self.estimate_time = Some(time);
    }

    /// Validates detections, computes their anchors and the set of sensors
    /// that scanned, and builds the spatial grid.
    fn prepare_detections(&mut self, detections: &[Detection]) {
        let s = &mut self.scratch;
        s.valid.clear();
        s.anchors.clear();
        s.unanchored.clear();
        s.scanning_sensors.clear();
        let mut max_variance = (0.0_f64, 0.0_f64);
        for (index, detection) in detections.iter().enumerate() {
            let valid = detection.measurement.validate().is_ok();
            let anchor = if valid {
                detection.measurement.position_estimate()
            } else {
                None
            };
            if !valid {
                self.stats.rejected_detections += 1;
            } else if let Some((_, covariance)) = anchor {
                max_variance.0 = max_variance.0.max(covariance[(0, 0)]);
                max_variance.1 = max_variance.1.max(covariance[(1, 1)]);
            } else {
                s.unanchored.push(index as u32);
            }
            if valid && detection.measurement.is_scanning() {
                s.scanning_sensors.push(detection.sensor);
            }
            s.valid.push(valid);
            s.anchors.push(anchor);
        }
        s.scanning_sensors.sort_unstable();
        s.scanning_sensors.dedup();

        // Gate half-width per track, sqrt(γ (P + R_max)) on the wider axis;
        // the grid cell is twice the median half-width so a typical gate
        // spans about 2×2 cells.
        s.costs.clear();
        for track in &self.tracks {
            let p = &track.estimate.combined().covariance;
            let variance = (p[(0, 0)] + max_variance.0).max(p[(1, 1)] + max_variance.1);
            s.costs.push((self.gate_planar * variance).sqrt());
        }
        let cell_size = median(&mut s.costs).map_or(1.0, |half_width| (2.0 * half_width).max(1.0));
        s.grid.rebuild(
            cell_size,
            s.anchors.iter().enumerate().filter_map(|(index, anchor)| {
                anchor.map(|(position, _)| (index as u32, position[0], position[1]))
            }),
        );
        // Keep the per-axis extents for the gate boxes.
        s.half_widths.clear();
        for track in &self.tracks {
            let p = &track.estimate.combined().covariance;
            s.half_widths
                .push((self.gate_planar * (p[(0, 0)] + max_variance.0)).sqrt());
            s.half_widths
                .push((self.gate_planar * (p[(1, 1)] + max_variance.1)).sqrt());
        }
    }

    /// Finds every (track, detection) pair inside the chi-square gate, with
    /// its association cost.
    fn gate(&mut self, detections: &[Detection]) {
        let s = &mut self.scratch;
        s.edges.clear();
        let gate_planar = self.gate_planar;
        let gate_scalar = self.gate_scalar;
        let offset = self.pair_cost_offset;
        for (track_index, track) in self.tracks.iter().enumerate() {
            let estimate = track.estimate.combined();
            let consider = |detection_index: u32, edges: &mut Vec<Edge>| {
                let Some(detection) = detections.get(detection_index as usize) else {
                    return;
                };
                let Ok(innovation) = estimate.innovation(&detection.measurement) else {
                    return;
                };
                let gate = if innovation.dimension == 1 {
                    gate_scalar
                } else {
                    gate_planar
                };
                if innovation.mahalanobis_squared <= gate {
                    edges.push(Edge {
                        track: track_index as u32,
                        detection: detection_index,
                        cost: innovation.negative_log_likelihood() + offset,
                    });
                }
            };
            let center = (estimate.mean[0], estimate.mean[1]);
            let half_x = s.half_widths.get(2 * track_index).copied().unwrap_or(0.0);
            let half_y = s
                .half_widths
                .get(2 * track_index + 1)
                .copied()
                .unwrap_or(0.0);
            let min = (center.0 - half_x, center.1 - half_y);
            let max = (center.0 + half_x, center.1 + half_y);
            if s.grid.cells_in_box(min, max) > MAX_GATE_CELLS {
                for (index, anchor) in s.anchors.iter().enumerate() {
                    if anchor.is_some() {
                        consider(index as u32, &mut s.edges);
                    }
                }
            } else {
                s.grid
                    .for_each_in_box(min, max, |index| consider(index, &mut s.edges));
            }
            for &index in &s.unanchored {
                consider(index, &mut s.edges);
            }
        }
    }

    /// Solves the association: singleton pairs directly, every other
    /// cluster with the optimal assignment. Fills `scratch.assigned`.
    fn associate(&mut self) {
        let track_count = self.tracks.len();
        let s = &mut self.scratch;
        let detection_count = s.valid.len();
        s.assigned.clear();
        s.assigned.resize(track_count, UNSET);
        s.detection_taken.clear();
        s.detection_taken.resize(detection_count, false);
        s.track_degree.clear();
        s.track_degree.resize(track_count, 0);
        s.detection_degree.clear();
        s.detection_degree.resize(detection_count, 0);
        for edge in &s.edges {
            if let Some(d) = s.track_degree.get_mut(edge.track as usize) {
                *d += 1;
            }
            if let Some(d) = s.detection_degree.get_mut(edge.detection as usize) {
                *d += 1;
            }
            // A detection inside any track's gate must not start a new
            // track, even if the assignment gives it to no one: it is most
            // likely a second return from, or clutter next to, that target.
            if let Some(taken) = s.detection_taken.get_mut(edge.detection as usize) {
                *taken = true;
            }
        }

        // Nodes: tracks are 0..T, detections T..T+D.
        let node_count = (track_count + detection_count) as u32;
        s.sets.reset(node_count);
        let degree =
            |degrees: &[u32], index: u32| degrees.get(index as usize).copied().unwrap_or(0);
        let mut clustered = 0_usize;
        for edge in &s.edges {
            let singleton = degree(&s.track_degree, edge.track) == 1
                && degree(&s.detection_degree, edge.detection) == 1;
            if singleton {
                // One track, one detection, nothing else in reach: take it if
                // it beats calling the track missed.
                if edge.cost < self.miss_cost
                    && let Some(slot) = s.assigned.get_mut(edge.track as usize)
                {
                    *slot = edge.detection;
                }
            } else {
                s.sets
                    .union(edge.track, track_count as u32 + edge.detection);
                clustered += 1;
            }
        }
        if clustered == 0 {
            return;
        }

        // Counting sort of the clustered edges by cluster root.
        s.bucket_start.clear();
        s.bucket_start.resize(node_count as usize + 1, 0);
        for edge in &s.edges {
            if degree(&s.track_degree, edge.track) == 1
                && degree(&s.detection_degree, edge.detection) == 1
            {
                continue;
            }
            let root = s.sets.find(edge.track) as usize;
            if let Some(count) = s.bucket_start.get_mut(root + 1) {
                *count += 1;
            }
        }
        for i in 1..s.bucket_start.len() {
            let previous = s.bucket_start.get(i - 1).copied().unwrap_or(0);
            if let Some(slot) = s.bucket_start.get_mut(i) {
                *slot += previous;
            }
        }
        s.clustered_edges.clear();
        s.clustered_edges.resize(
            clustered,
            Edge {
                track: 0,
                detection: 0,
                cost: 0.0,
            },
        );
        // bucket_start[root] is the next free slot of that bucket while
        // scattering; afterwards it is the end of the bucket.
        for edge in &s.edges {
            if degree(&s.track_degree, edge.track) == 1
                && degree(&s.detection_degree, edge.detection) == 1
            {
                continue;
            }
            let root = s.sets.find(edge.track) as usize;
            if let Some(next) = s.bucket_start.get_mut(root) {
                if let Some(slot) = s.clustered_edges.get_mut(*next as usize) {
                    *slot = *edge;
                }
                *next += 1;
            }
        }

        s.local_track.clear();
        s.local_track.resize(track_count, UNSET);
        s.local_detection.clear();
        s.local_detection.resize(detection_count, UNSET);
        let mut start = 0_usize;
        while start < s.clustered_edges.len() {
            let root = s
                .clustered_edges
                .get(start)
                .map_or(0, |edge| s.sets.find(edge.track));
            let mut end = start;
            while end < s.clustered_edges.len()
                && s.clustered_edges
                    .get(end)
                    .is_some_and(|edge| s.sets.find(edge.track) == root)
            {
                end += 1;
            }
            solve_cluster(s, start, end, self.miss_cost);
            start = end;
        }
    }

    /// Applies the association: updates, misses, confirmation, deletion and
    /// the events for confirmed tracks (coasting ones only if `wanted`).
    fn apply_updates(
        &mut self,
        time: f64,
        detections: &[Detection],
        mut wanted: impl FnMut(TrackId) -> bool,
    ) {
        let config = &self.config;
        let s = &mut self.scratch;
        let events = &mut self.events;
        let motion = &self.motion;
        // A scan has predicted the tracks to its time; a time advance
        // reports predictions it does not apply.
        let unapplied_step = self
            .estimate_time
            .map(|from| time - from)
            .filter(|dt| *dt > 0.0)
            .map(|dt| motion.transition(dt));
        let predict = |track: &Track| match &unapplied_step {
            Some(transition) => track.estimate.predicted_combined(motion, transition),
            None => *track.estimate.combined(),
        };
        let event = |track: &Track, estimate: Option<StateEstimate>, kind, detection| {
            let estimate = estimate.unwrap_or_else(|| predict(track));
            TrackEvent {
                track_id: track.id,
                kind,
                time,
                state: estimate.mean,
                position_covariance: estimate.position_covariance(),
                detection,
            }
        };
        let mut index = 0_usize;
        self.tracks.retain_mut(|track| {
            let assigned = s.assigned.get(index).copied().unwrap_or(UNSET);
            index += 1;
            let detection = detections.get(assigned as usize);
            let updated = detection.is_some_and(|d| track.estimate.update(&d.measurement).is_ok());
            if let (true, Some(detection)) = (updated, detection) {
                track.last_update = time;
                track.record_opportunity(time, detection.sensor, true);
                track.record_sensor(detection.sensor);
            } else if let Some(&sensor) = track
                .sensors()
                .iter()
                .find(|sensor| s.scanning_sensors.binary_search(sensor).is_ok())
            {
                track.record_opportunity(time, sensor, false);
            }

            let stale = time - track.last_update;
            // Before its deletion bound a track passes both tests below,
            // so a time advance predicts it only for an event.
            let undeletable = unapplied_step.is_some() && time < track.deletion_bound;
            let mut estimate = None;
            let deletion = if undeletable {
                None
            } else {
                let predicted = *estimate.insert(predict(track));
                if position_variance(&predicted) > config.max_position_variance {
                    Some(DeletionReason::Uncertain)
                } else if track.is_confirmed() && stale > config.max_coast_time {
                    Some(DeletionReason::NotUpdated)
                } else {
                    None
                }
            };
            let detection_index = updated.then_some(assigned as usize);
            match (track.status, deletion) {
                (TrackStatus::Tentative, Some(_)) => false,
                (TrackStatus::Tentative, None) => {
                    let window = config.confirm_window;
                    if track.hits_in(window) >= config.confirm_hits {
                        track.status = TrackStatus::Confirmed;
                        events.push(event(
                            track,
                            estimate,
                            TrackEventKind::Born,
                            detection_index,
                        ));
                        true
                    } else {
                        // Drop it once M hits in N can no longer happen, or
                        // when it has gone quiet.
                        track.misses_in(window) <= window - config.confirm_hits
                            && stale <= config.tentative_timeout
                    }
                }
                (_, Some(reason)) => {
                    let kind = TrackEventKind::Deleted(reason);
                    events.push(event(track, estimate, kind, detection_index));
                    false
                }
                (_, None) => {
                    if updated {
                        track.status = TrackStatus::Confirmed;
                        let kind = TrackEventKind::Updated;
                        events.push(event(track, estimate, kind, detection_index));
                    } else {
                        track.status = TrackStatus::Coasting;
                        if wanted(track.id) {
                            let kind = TrackEventKind::Coasted;
                            events.push(event(track, estimate, kind, detection_index));
                        }
                    }
                    true
                }
            }
        });
    }

    /// Starts tentative tracks from detections that no track could claim.
    fn initiate(&mut self, time: f64, detections: &[Detection]) {
        let s = &self.scratch;
        let velocity_variance = self.config.initial_speed_sigma * self.config.initial_speed_sigma;
        for (index, detection) in detections.iter().enumerate() {
            let taken = s.detection_taken.get(index).copied().unwrap_or(true);
            let Some(Some((position, covariance))) = s.anchors.get(index) else {
                continue;
            };
            if taken {
                continue;
            }
            if self.tracks.len() >= self.config.max_tracks {
                self.stats.refused_initiations += 1;
                continue;
            }
            let mut initial = Matrix4::from_diagonal(&Vector4::new(
                0.0,
                0.0,
                velocity_variance,
                velocity_variance,
            ));
            initial.fixed_view_mut::<2, 2>(0, 0).copy_from(covariance);
            let mut track = Track {
                id: TrackId(self.next_id),
                status: TrackStatus::Tentative,
                estimate: ImmEstimate::new(
                    StateEstimate {
                        mean: Vector4::new(position[0], position[1], 0.0, 0.0),
                        covariance: initial,
                    },
                    self.config.initial_quiet_probability,
                ),
                last_update: time,
                history: 0,
                opportunities: 0,
                last_opportunity: None,
                deletion_bound: f64::NEG_INFINITY,
                sensors: [detection.sensor; MAX_TRACK_SENSORS],
                sensor_count: 0,
            };
            self.next_id += 1;
            track.record_opportunity(time, detection.sensor, true);
            track.record_sensor(detection.sensor);
            if track.hits_in(self.config.confirm_window) >= self.config.confirm_hits {
                track.status = TrackStatus::Confirmed;
                self.events.push(TrackEvent {
                    track_id: track.id,
                    kind: TrackEventKind::Born,
                    time,
                    state: track.estimate.combined().mean,
                    position_covariance: track.estimate.combined().position_covariance(),
                    detection: Some(index),
                });
            }
            self.tracks.push(track);
        }
    }
}

/// Solves one cluster, whose edges are `clustered_edges[start..end]`, with
/// the optimal assignment on a tracks × (detections + one dummy per track)
/// matrix: the dummy column of a track is "missed", costing `miss_cost`.
fn solve_cluster(s: &mut Scratch, start: usize, end: usize, miss_cost: f64) {
    s.cluster_tracks.clear();
    s.cluster_detections.clear();
    let edges = s.clustered_edges.get(start..end).unwrap_or_default();
    for edge in edges {
        if let Some(local) = s.local_track.get_mut(edge.track as usize)
            && *local == UNSET
        {
            *local = s.cluster_tracks.len() as u32;
            s.cluster_tracks.push(edge.track);
        }
        if let Some(local) = s.local_detection.get_mut(edge.detection as usize)
            && *local == UNSET
        {
            *local = s.cluster_detections.len() as u32;
            s.cluster_detections.push(edge.detection);
        }
    }
    let rows = s.cluster_tracks.len();
    let detection_columns = s.cluster_detections.len();
    let columns = detection_columns + rows;
    s.costs.clear();
    s.costs.resize(rows * columns, FORBIDDEN);
    for row in 0..rows {
        if let Some(cost) = s.costs.get_mut(row * columns + detection_columns + row) {
            *cost = miss_cost;
        }
    }
    for edge in edges {
        let row = s
            .local_track
            .get(edge.track as usize)
            .copied()
            .unwrap_or(UNSET) as usize;
        let column = s
            .local_detection
            .get(edge.detection as usize)
            .copied()
            .unwrap_or(UNSET) as usize;
        if let Some(cost) = s.costs.get_mut(row * columns + column) {
            *cost = edge.cost.min(FORBIDDEN);
        }
    }
    // Costs are finite by construction (likelihoods of validated, gated
    // pairs), so the solver cannot fail; if it ever did, every track of the
    // cluster is simply treated as missed for this scan.
    if let Ok(solution) = s.solver.solve(&s.costs, rows, columns) {
        for (row, column) in solution.iter().enumerate() {
            let Some(column) = *column else { continue };
            let usable = column < detection_columns
                && s.costs
                    .get(row * columns + column)
                    .is_some_and(|c| *c < FORBIDDEN);
            if !usable {
                continue;
            }
            let track = s.cluster_tracks.get(row).copied().unwrap_or(UNSET);
            let detection = s.cluster_detections.get(column).copied().unwrap_or(UNSET);
            if let Some(slot) = s.assigned.get_mut(track as usize) {
                *slot = detection;
            }
        }
    }
    // Reset the local maps for the next cluster.
    for &track in &s.cluster_tracks {
        if let Some(local) = s.local_track.get_mut(track as usize) {
            *local = UNSET;
        }
    }
    for &detection in &s.cluster_detections {
        if let Some(local) = s.local_detection.get_mut(detection as usize) {
            *local = UNSET;
        }
    }
}

/// Median of `values` (reordered in place); `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let middle = values.len() / 2;
    let (_, value, _) = values.select_nth_unstable_by(middle, f64::total_cmp);
    Some(*value)
}
