//! The four published messages and their parts.
//!
//! Field order matters: postcard encodes fields positionally, so reordering,
//! inserting or removing a field (or an enum variant) changes the binary
//! layout and needs a new [`SCHEMA_VERSION`](crate::SCHEMA_VERSION). Optional
//! fields are always written (`null` in JSON) for the same reason: a skipped
//! field would shift every later one in postcard. They are required on input
//! too (`deserialize_with = "Option::deserialize"` turns off serde's
//! missing-means-`None`), so the decoder accepts exactly what the JSON
//! Schema accepts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::id::{SensorId, SiteId};
use crate::time::Timestamp;

/// The state of a track, mirroring the tracker's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackStatus {
    /// Seen, not yet confirmed by enough detections; may be clutter.
    Tentative,
    /// Confirmed and being updated.
    Confirmed,
    /// Confirmed but missed recently; the position is a prediction.
    Coasting,
    /// Ended; the last message of the track before its topic is cleared.
    Deleted,
}

/// A WGS84 position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPosition {
    /// Latitude, degrees north, -90..=90.
    pub lat: f64,
    /// Longitude, degrees east, -180..=180.
    pub lon: f64,
    /// Height above the WGS84 ellipsoid, metres; `None` when unknown (ground
    /// tracks are 2-D).
    #[serde(deserialize_with = "Option::deserialize")]
    pub alt_m: Option<f64>,
}

/// A position in the site's local East-North-Up frame, metres from the site
/// origin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnuPosition {
    /// Metres east of the site origin.
    pub east_m: f64,
    /// Metres north of the site origin.
    pub north_m: f64,
}

/// A ground velocity in the site frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnuVelocity {
    /// East component, m/s.
    pub east_mps: f64,
    /// North component, m/s.
    pub north_mps: f64,
}

/// The horizontal position covariance in the site frame, m².
///
/// Only the 2x2 position block of the tracker's 4x4 state covariance is
/// published: it is what a display needs for an uncertainty ellipse and for
/// CoT's circular error, and the velocity terms mean nothing to an operator.
/// A regional fuser that needs the full state fuses from raw tracks anyway.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PositionCovariance {
    /// Variance of east, m², >= 0.
    pub var_e: f64,
    /// Covariance of east and north, m².
    pub cov_en: f64,
    /// Variance of north, m², >= 0.
    pub var_n: f64,
}

impl PositionCovariance {
    /// The 1-sigma semi-major axis of the error ellipse, metres: the square
    /// root of the larger eigenvalue. A circle of this radius contains the
    /// 1-sigma ellipse, so it never understates the error in any direction.
    pub fn semi_major_sigma_m(&self) -> f64 {
        let mean = (self.var_e + self.var_n) / 2.0;
        let half_difference = (self.var_e - self.var_n) / 2.0;
        let spread = half_difference.hypot(self.cov_en);
        (mean + spread).max(0.0).sqrt()
    }
}

/// What kind of target a track is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetClass {
    /// A person on foot.
    Person,
    /// A land vehicle.
    Vehicle,
    /// An animal.
    Animal,
    /// Not classified, or no class is likely enough.
    Unknown,
}

/// A track's class and how sure the fusion is of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classification {
    /// The most likely class.
    pub class: TargetClass,
    /// Probability of that class, 0..=1.
    pub confidence: f64,
}

/// Who raised a radiation alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmSource {
    /// The detector's own algorithm.
    Detector,
    /// picket's background-and-sigma test on the detector's counts.
    Picket,
}

/// One radiation alarm attributed to a track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiationEvidence {
    /// The detector that counted.
    pub detector: SensorId,
    /// Start of the counting interval that alarmed.
    pub time: Timestamp,
    /// Gamma counts in the interval.
    pub gamma_counts: u64,
    /// Neutron counts in the interval; 0 for gamma-only detectors.
    pub neutron_counts: u64,
    /// Expected gamma counts for the interval from the background estimate,
    /// >= 0.
    pub background: f64,
    /// Excess over background in standard deviations; `None` when the
    /// detector alarmed without reporting a score.
    #[serde(deserialize_with = "Option::deserialize")]
    pub sigma: Option<f64>,
    /// Who raised the alarm.
    pub source: AlarmSource,
}

/// Whether a track carries a radiation source, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Radiation {
    /// True once any alarm has been attributed to the track; it stays set.
    pub flagged: bool,
    /// The attributed alarms, oldest first.
    pub evidence: Vec<RadiationEvidence>,
}

/// One track's state: published retained on `picket/<site>/tracks/<id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackMessage {
    /// Always [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    pub schema: u32,
    /// Per-publisher sequence number, assigned by the daemon.
    pub seq: u64,
    /// The publishing site.
    pub site: SiteId,
    /// Site-unique track id, never reused while the daemon runs.
    pub track_id: u64,
    /// Lifecycle state.
    pub status: TrackStatus,
    /// Time of the estimate.
    pub time: Timestamp,
    /// Estimated position, WGS84.
    pub position: GeoPosition,
    /// The same position in the site frame.
    pub enu: EnuPosition,
    /// Estimated velocity in the site frame.
    pub velocity: EnuVelocity,
    /// Direction of travel, degrees clockwise from true north, 0..360.
    pub course_deg: f64,
    /// Ground speed, m/s, >= 0.
    pub speed_mps: f64,
    /// Uncertainty of `enu` (and so of `position`).
    pub position_covariance: PositionCovariance,
    /// Fused class.
    pub classification: Classification,
    /// Radiation flag and evidence.
    pub radiation: Radiation,
    /// Sensors whose detections updated the track, sorted, without repeats.
    pub sensors: Vec<SensorId>,
    /// Time of the track's first detection.
    pub first_seen: Timestamp,
    /// Time of the track's latest detection (earlier than `time` while
    /// coasting).
    pub last_seen: Timestamp,
}

/// How urgently an alert needs a human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the log.
    Info,
    /// Needs a look.
    Warning,
    /// Needs action now.
    Critical,
}

/// A sensor fault, from the sensor's heartbeat fault bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorFault {
    /// The time source (GNSS/NTP) is lost; timestamps are free-running.
    ClockUnsynced,
    /// The primary transducer failed.
    SensorFailure,
    /// Battery below the firmware's low-voltage threshold.
    LowBattery,
    /// Temperature outside the rated range.
    OverTemperature,
    /// Local storage full or failing.
    Storage,
    /// Calibration missing or out of date.
    Calibration,
    /// The sensor dropped messages.
    MessagesDropped,
    /// A fault bit this version does not know; newer firmware.
    Unrecognised,
}

/// What an alert is about.
///
/// JSON form is externally tagged, like picket-wire's messages:
/// `{"radiation": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertKind {
    /// A radiation alarm at a detector.
    Radiation {
        /// The detector that alarmed.
        detector: SensorId,
        /// Tracks at the detector at the time; empty means "no track": the
        /// alarm could not be tied to anyone seen.
        track_ids: Vec<u64>,
        /// Gamma counts in the alarming interval.
        gamma_counts: u64,
        /// Neutron counts in the alarming interval.
        neutron_counts: u64,
        /// Expected gamma counts from the background estimate, >= 0.
        background: f64,
        /// Excess over background in standard deviations; `None` for a
        /// detector alarm without a score.
        #[serde(deserialize_with = "Option::deserialize")]
        sigma: Option<f64>,
        /// Who raised the alarm.
        source: AlarmSource,
    },
    /// A track entered a configured zone.
    Intrusion {
        /// The zone, as named in the configuration.
        zone: String,
        /// The track that entered it.
        track_id: u64,
    },
    /// A sensor reports its enclosure or anti-tamper switch open.
    SensorTamper {
        /// The sensor.
        sensor: SensorId,
    },
    /// A sensor reports faults.
    SensorFault {
        /// The sensor.
        sensor: SensorId,
        /// Its active faults.
        faults: Vec<SensorFault>,
    },
}

/// An event for operators: published (not retained) on
/// `picket/<site>/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertMessage {
    /// Always [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    pub schema: u32,
    /// Per-publisher sequence number, assigned by the daemon.
    pub seq: u64,
    /// The publishing site.
    pub site: SiteId,
    /// Site-unique alert id; operators acknowledge alerts by it.
    pub alert_id: u64,
    /// When the alerting condition was observed.
    pub time: Timestamp,
    /// How urgent it is.
    pub severity: Severity,
    /// What happened.
    pub kind: AlertKind,
}

/// Whether the daemon is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DaemonState {
    /// The birth message, published on every connect.
    Online,
    /// The last will, or a clean shutdown.
    Offline,
}

/// The daemon's liveness: published retained on `picket/<site>/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusMessage {
    /// Always [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    pub schema: u32,
    /// Per-publisher sequence number, assigned by the daemon.
    pub seq: u64,
    /// The publishing site.
    pub site: SiteId,
    /// When the message was made (for a last will: when it was registered).
    pub time: Timestamp,
    /// Online or offline.
    pub state: DaemonState,
    /// The daemon's version, e.g. `"0.1.0"`.
    pub version: String,
    /// When the daemon process started.
    pub started_at: Timestamp,
    /// Seconds since `started_at` at `time`.
    pub uptime_s: u64,
    /// Named counters (inputs, drops by reason, publishes...). A map, so a
    /// new counter needs no schema change; a `BTreeMap`, so the JSON is in a
    /// stable order.
    pub counters: BTreeMap<String, u64>,
}

impl StatusMessage {
    /// The last-will payload to register when connecting.
    ///
    /// The broker publishes it only after the connection is lost, so it is
    /// built at connect time: `time` is then, `counters` are empty rather
    /// than stale, and `seq` is one the daemon sets aside for it.
    pub fn offline(
        site: SiteId,
        seq: u64,
        version: impl Into<String>,
        registered_at: Timestamp,
        started_at: Timestamp,
    ) -> Self {
        let uptime_us = registered_at.as_unix_micros() - started_at.as_unix_micros();
        StatusMessage {
            schema: crate::SCHEMA_VERSION,
            seq,
            site,
            time: registered_at,
            state: DaemonState::Offline,
            version: version.into(),
            started_at,
            uptime_s: u64::try_from(uptime_us / 1_000_000).unwrap_or(0),
            counters: BTreeMap::new(),
        }
    }
}

/// Kinds of sensor, as in picket-wire's `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// Unattended ground node (seismic, acoustic, magnetic, PIR).
    GroundNode,
    /// Gamma and/or neutron detector, including portal monitors.
    RadiationDetector,
    /// Camera with on-board detection.
    Camera,
    /// Ground surveillance radar.
    Radar,
    /// Any other sensor that reports geolocated targets.
    GeolocatedDetector,
}

/// A sensor's overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Heard recently, no faults.
    Ok,
    /// Heard recently, with faults that leave it working (low battery,
    /// clock unsynced) or with tamper set.
    Degraded,
    /// Not heard within its expected interval.
    Silent,
    /// Reports a fault that stops it detecting.
    Fault,
}

/// What the daemon received from a sensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorCounters {
    /// Messages received from the sensor, accepted or not.
    pub received: u64,
    /// Messages dropped, by reason (e.g. `"duplicate"`, `"too_late"`,
    /// `"non_finite"`); reasons never seen are absent.
    pub dropped: BTreeMap<String, u64>,
}

/// One sensor's health: published retained on
/// `picket/<site>/sensors/<sensor>/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorHealthMessage {
    /// Always [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
    pub schema: u32,
    /// Per-publisher sequence number, assigned by the daemon.
    pub seq: u64,
    /// The publishing site.
    pub site: SiteId,
    /// When the health was assessed.
    pub time: Timestamp,
    /// The sensor.
    pub sensor: SensorId,
    /// What kind of sensor it is.
    pub kind: SensorKind,
    /// Overall health.
    pub state: HealthState,
    /// When anything was last received from it; `None` if never.
    #[serde(deserialize_with = "Option::deserialize")]
    pub last_heard: Option<Timestamp>,
    /// Battery voltage, volts; `None` for mains power or not reported.
    ///
    /// Volts, not percent: firmware reports millivolts, and a percentage
    /// needs the cell chemistry, which the daemon does not know.
    #[serde(deserialize_with = "Option::deserialize")]
    pub battery_v: Option<f64>,
    /// Board temperature, °C; `None` if not reported.
    #[serde(deserialize_with = "Option::deserialize")]
    pub temperature_c: Option<f64>,
    /// True while the enclosure or anti-tamper switch is open.
    pub tamper: bool,
    /// Active faults, sorted, without repeats.
    pub faults: Vec<SensorFault>,
    /// Message counters.
    pub counters: SensorCounters,
}
