//! Engine configuration: the `[site]`, `[[sensors]]`, `[radiation]`,
//! `[[zones]]`, `[tracker]` and `[health]` sections of `picketd.toml`.
//!
//! Every type denies unknown keys, so a misspelt setting is an error at
//! `picketd --check-config` rather than a silently ignored default. Every
//! default lives in [`defaults`]. [`EngineConfig::validate`] checks what
//! serde cannot (ranges, unique ids, unique bindings) and names the offending
//! key in TOML path form, e.g. `sensors[2].detection_radius_m`.

use serde::Deserialize;

use picket_schema::{IdError, SensorId, SiteId};
use picket_track::TrackerConfig;
use picket_wire::TimeBase;

/// Every default of the engine configuration, in one place.
pub mod defaults {
    /// Radius around the site origin beyond which reports are rejected as
    /// out of area, metres. 20 km: the reach of a tower's sensors, and the
    /// range over which the ENU frame is checked to the centimetre.
    pub const AREA_RADIUS_M: f64 = 20_000.0;
    /// How far a Unix-time sensor's timestamp may lead the host clock, ms.
    /// Two seconds absorbs NTP/GNSS disagreement without letting a sensor
    /// with a broken clock hold the reorder buffer hostage.
    pub const MAX_CLOCK_SKEW_MS: u64 = 2_000;
    /// Reorder lag, ms: how long a report may be late and still be fused in
    /// time order. Half a second covers serial buffering and MQTT jitter on
    /// a tower LAN; every report is delayed by this much.
    pub const REORDER_LAG_MS: u64 = 500;
    /// Reports held in the reorder buffer at most; beyond it the oldest is
    /// released early. 65 536 is over a minute at 1 000 reports/s.
    pub const REORDER_CAPACITY: usize = 65_536;
    /// Sequence numbers remembered per sensor for duplicate detection. A
    /// retransmission older than this many newer reports is not caught, but
    /// by then it is also too late for the reorder buffer.
    pub const DEDUP_WINDOW: usize = 256;
    /// Assumed transport latency of a boot-clock sensor, ms.
    pub const LATENCY_MS: u64 = 0;
    /// Expected interval between messages of a sensor, seconds: a typical
    /// heartbeat period.
    pub const EXPECTED_INTERVAL_S: f64 = 60.0;
    /// Full horizontal field of view, degrees: all around.
    pub const FIELD_OF_VIEW_DEG: f64 = 360.0;
    /// Detection radius of a sensor, metres: a typical seismic node on foot
    /// traffic.
    pub const DETECTION_RADIUS_M: f64 = 15.0;
    /// Bearing noise floor, degrees (1 sigma).
    pub const BEARING_SIGMA_DEG: f64 = 2.0;
    /// Range noise floor, metres (1 sigma).
    pub const RANGE_SIGMA_M: f64 = 5.0;
    /// Position noise floor, metres (1 sigma per axis).
    pub const POSITION_SIGMA_M: f64 = 5.0;
    /// How much a class hint from a non-camera sensor is trusted (the
    /// probability it names the true class).
    pub const CLASS_CONFIDENCE: f64 = 0.6;
    /// Alarm threshold in standard deviations of the Poisson background.
    /// Five sigma keeps the false-alarm rate per detector-second below one
    /// in three million, so a tower sees about one false alarm a month.
    pub const SIGMA_THRESHOLD: f64 = 5.0;
    /// Time constant of the exponentially weighted background, seconds.
    pub const BACKGROUND_TIME_CONSTANT_S: f64 = 120.0;
    /// Samples needed before picket's own alarm test runs.
    pub const WARMUP_SAMPLES: u32 = 10;
    /// Expected counts below this are raised to it in the sigma test, so a
    /// near-zero neutron background does not turn one count into an alarm.
    pub const MIN_EXPECTED_COUNTS: f64 = 1.0;
    /// Slack added to a detector's radius when attributing an alarm, metres.
    pub const ATTRIBUTION_MARGIN_M: f64 = 5.0;
    /// Most radiation evidence records kept per track.
    pub const MAX_EVIDENCE_PER_TRACK: usize = 16;
    /// Republish period of a coasting track, seconds.
    pub const REPUBLISH_INTERVAL_S: f64 = 1.0;
    /// Shortest period between two published updates of one track,
    /// seconds: 10 Hz, above any display's need and below what a 10 Hz
    /// sensor set saturates. Slower tracks publish every update.
    pub const MIN_UPDATE_INTERVAL_S: f64 = 0.1;
    /// Posterior below which a track's class is published as unknown.
    pub const MIN_CLASS_PROBABILITY: f64 = 0.5;
    /// A sensor is silent after this many expected intervals without a
    /// message.
    pub const SILENCE_FACTOR: f64 = 2.5;
    /// Periodic health republish, seconds; 0 means only on change.
    pub const HEALTH_PUBLISH_INTERVAL_S: f64 = 0.0;
}

/// The whole engine configuration. Every key below except `site.id`,
/// `site.origin` and each sensor's `id`, `kind` and `position` is optional
/// and shown at its default.
///
/// ```toml
/// [site]
/// id = "tower-07"                     # topic level: A-Z a-z 0-9 - _ .
/// origin = { lat = 31.3300, lon = -110.9400, alt_m = 1200.0 }  # alt above WGS84 ellipsoid
/// area_radius_m = 20000.0             # farther reports: out_of_area
/// max_clock_skew_ms = 2000            # Unix-time sensors ahead of host: too_far_future
/// reorder_lag_ms = 500                # later than this: too_late
/// reorder_capacity = 65536            # full: oldest released early
/// dedup_window = 256                  # sequence numbers remembered per sensor
///
/// [[sensors]]
/// id = "gn-01"
/// kind = "ground_node"                # radiation_detector, camera, radar, geolocated_detector
/// position = { lat = 31.3301, lon = -110.9400, alt_m = 1200.0 }
/// heading_deg = 0.0                   # clockwise from true north
/// field_of_view_deg = 360.0
/// detection_radius_m = 15.0           # presence disc; radiation attribution radius
/// bearing_sigma_deg = 2.0             # noise floors (1 sigma)
/// range_sigma_m = 5.0
/// position_sigma_m = 5.0
/// expected_interval_s = 60.0          # silent after health.silence_factor x this
/// class_confidence = 0.6              # trust in class hints (cameras send their own)
/// serial_port = "/dev/ttyUSB0"        # optional: bind the port before the Hello
/// mqtt_topic = "vendor/gn-01/out"     # optional: instead of sensors/<id>/reports
/// mqtt_binary = false                 # MQTT payloads are wire frames, not JSON
/// clock = "unix_epoch"                # or "since_boot", until the sensor's Hello
/// latency_ms = 0                      # subtracted from receive time (boot clocks)
/// # camera = { horizontal_fov_deg = 60.0, principal_x_px = 960.0 }  # cameras with image boxes
///
/// [radiation]
/// sigma_threshold = 5.0
/// background_time_constant_s = 120.0
/// warmup_samples = 10
/// min_expected_counts = 1.0
/// attribution_margin_m = 5.0
/// max_evidence_per_track = 16
///
/// [[zones]]
/// name = "lane"
/// enu = [[-10.0, 50.0], [10.0, 50.0], [10.0, 70.0], [-10.0, 70.0]]  # or wgs84 = [[lat, lon], ...]
///
/// [tracker]                           # unset keys keep picket-track's tuned defaults
/// confirm_hits = 3
/// republish_interval_s = 1.0
/// min_update_interval_s = 0.1        # 0: publish every update
/// min_class_probability = 0.5
///
/// [health]
/// silence_factor = 2.5
/// publish_interval_s = 0.0            # 0: only on change
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// The site: identity, origin of the local frame, input timing limits.
    pub site: SiteConfig,
    /// Every sensor the engine accepts reports from.
    #[serde(default)]
    pub sensors: Vec<SensorConfig>,
    /// Radiation alarm settings.
    #[serde(default)]
    pub radiation: RadiationConfig,
    /// Intrusion zones; a confirmed track entering one raises an alert.
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    /// Tracker settings.
    #[serde(default)]
    pub tracker: TrackerSettings,
    /// Sensor health settings.
    #[serde(default)]
    pub health: HealthConfig,
}

/// A WGS84 position in degrees and metres.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeodeticPosition {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
    /// Height above the WGS84 ellipsoid (not above sea level), metres.
    #[serde(default)]
    pub alt_m: f64,
}

/// `[site]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Site id, the second level of every published topic.
    pub id: String,
    /// Origin of the local East-North-Up frame; put it near the middle of
    /// the sensor field.
    pub origin: GeodeticPosition,
    /// Reports placing a target farther than this from the origin are
    /// rejected as out of area, metres.
    #[serde(default = "area_radius_m")]
    pub area_radius_m: f64,
    /// How far a Unix-time sensor's timestamp may lead the receive time
    /// before the report is rejected as too far in the future, ms.
    #[serde(default = "max_clock_skew_ms")]
    pub max_clock_skew_ms: u64,
    /// Reorder lag, ms: reports are fused in time order once older than the
    /// latest receive time minus this; later ones are dropped as too late.
    #[serde(default = "reorder_lag_ms")]
    pub reorder_lag_ms: u64,
    /// Most reports held in the reorder buffer; when full, the oldest is
    /// released early (counted as `released_early`).
    #[serde(default = "reorder_capacity")]
    pub reorder_capacity: usize,
    /// Sequence numbers remembered per sensor to drop duplicates.
    #[serde(default = "dedup_window")]
    pub dedup_window: usize,
}

/// Kinds of sensor, as in picket-wire's `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

impl SensorKind {
    /// The same kind in picket-wire's terms.
    pub fn to_wire(self) -> picket_wire::SensorKind {
        match self {
            SensorKind::GroundNode => picket_wire::SensorKind::GroundNode,
            SensorKind::RadiationDetector => picket_wire::SensorKind::RadiationDetector,
            SensorKind::Camera => picket_wire::SensorKind::Camera,
            SensorKind::Radar => picket_wire::SensorKind::Radar,
            SensorKind::GeolocatedDetector => picket_wire::SensorKind::GeolocatedDetector,
        }
    }

    /// The same kind in picket-schema's terms.
    pub fn to_schema(self) -> picket_schema::SensorKind {
        match self {
            SensorKind::GroundNode => picket_schema::SensorKind::GroundNode,
            SensorKind::RadiationDetector => picket_schema::SensorKind::RadiationDetector,
            SensorKind::Camera => picket_schema::SensorKind::Camera,
            SensorKind::Radar => picket_schema::SensorKind::Radar,
            SensorKind::GeolocatedDetector => picket_schema::SensorKind::GeolocatedDetector,
        }
    }
}

/// The clock of a sensor's timestamps until its `Hello` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockConfig {
    /// GNSS or NTP time, microseconds since the Unix epoch.
    UnixEpoch,
    /// Time since boot: the receive time stands in for the report time.
    SinceBoot,
}

impl ClockConfig {
    /// The same clock in picket-wire's terms.
    pub fn to_wire(self) -> TimeBase {
        match self {
            ClockConfig::UnixEpoch => TimeBase::UnixEpoch,
            ClockConfig::SinceBoot => TimeBase::SinceBoot,
        }
    }
}

/// `[sensors.camera]`: what turns an image box into a bearing.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraCalibration {
    /// Horizontal field of view of the lens across the full image width,
    /// degrees; the optical axis points along the sensor's `heading_deg`.
    pub horizontal_fov_deg: f64,
    /// Column of the optical axis in pixels; the image centre if omitted.
    #[serde(default)]
    pub principal_x_px: Option<f64>,
}

/// One `[[sensors]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    /// Site-unique sensor id, as the sensor sends it in `Hello` and as it
    /// appears in `sensors/<id>/reports`.
    pub id: String,
    /// What the sensor is; decides which messages it may send.
    pub kind: SensorKind,
    /// Where the sensor stands.
    pub position: GeodeticPosition,
    /// Direction the sensor faces, degrees clockwise from true north.
    #[serde(default)]
    pub heading_deg: f64,
    /// Full horizontal field of view, degrees, centred on `heading_deg`;
    /// reported directions outside it (plus three bearing sigmas) are
    /// rejected as invalid. Radar and camera azimuths are true-north
    /// referenced, so `heading_deg` matters only with a narrower view or an
    /// image-box camera.
    #[serde(default = "field_of_view_deg")]
    pub field_of_view_deg: f64,
    /// Detection radius, metres: the presence disc of a ground node, the
    /// attribution radius of a radiation detector.
    #[serde(default = "detection_radius_m")]
    pub detection_radius_m: f64,
    /// Bearing noise, degrees (1 sigma): used when a report has no variance
    /// and as a floor when it has one.
    #[serde(default = "bearing_sigma_deg")]
    pub bearing_sigma_deg: f64,
    /// Range noise, metres (1 sigma), used as for `bearing_sigma_deg`.
    #[serde(default = "range_sigma_m")]
    pub range_sigma_m: f64,
    /// Position noise per axis, metres (1 sigma), used as for
    /// `bearing_sigma_deg`.
    #[serde(default = "position_sigma_m")]
    pub position_sigma_m: f64,
    /// Longest expected gap between two messages (heartbeats included),
    /// seconds; silence beyond `health.silence_factor` times this is
    /// reported.
    #[serde(default = "expected_interval_s")]
    pub expected_interval_s: f64,
    /// Probability that this sensor's class hint names the true class
    /// (cameras send their own confidence instead).
    #[serde(default = "class_confidence")]
    pub class_confidence: f64,
    /// Serial port the sensor is wired to (e.g. `/dev/ttyUSB0`); binds the
    /// port to this sensor even before its `Hello`.
    #[serde(default)]
    pub serial_port: Option<String>,
    /// MQTT topic the sensor publishes on, if not `sensors/<id>/reports`.
    #[serde(default)]
    pub mqtt_topic: Option<String>,
    /// Whether the sensor's MQTT payloads are picket-wire frames (postcard)
    /// rather than JSON.
    #[serde(default)]
    pub mqtt_binary: bool,
    /// The sensor's clock until it sends a `Hello`; MQTT sensors that never
    /// send one rely on it.
    #[serde(default = "clock")]
    pub clock: ClockConfig,
    /// Typical delay from measurement to receipt for a boot-clock sensor,
    /// ms, subtracted from the receive time.
    #[serde(default = "latency_ms")]
    pub latency_ms: u64,
    /// Image-box calibration; cameras that send image boxes need it.
    #[serde(default)]
    pub camera: Option<CameraCalibration>,
}

/// `[radiation]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RadiationConfig {
    /// Alarm threshold in standard deviations above background.
    pub sigma_threshold: f64,
    /// Time constant of the exponentially weighted background, seconds.
    pub background_time_constant_s: f64,
    /// Samples before picket's own test may alarm; detector alarms count
    /// from the first sample.
    pub warmup_samples: u32,
    /// Floor of the expected counts in the sigma test.
    pub min_expected_counts: f64,
    /// Slack added to the detector radius when attributing, metres.
    pub attribution_margin_m: f64,
    /// Most evidence records a track carries (the oldest are dropped).
    pub max_evidence_per_track: usize,
}

impl Default for RadiationConfig {
    fn default() -> Self {
        Self {
            sigma_threshold: defaults::SIGMA_THRESHOLD,
            background_time_constant_s: defaults::BACKGROUND_TIME_CONSTANT_S,
            warmup_samples: defaults::WARMUP_SAMPLES,
            min_expected_counts: defaults::MIN_EXPECTED_COUNTS,
            attribution_margin_m: defaults::ATTRIBUTION_MARGIN_M,
            max_evidence_per_track: defaults::MAX_EVIDENCE_PER_TRACK,
        }
    }
}

/// One `[[zones]]` entry: a named polygon given either in WGS84 or in the
/// site's ENU frame (exactly one of `wgs84` and `enu`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Zone name, quoted in intrusion alerts.
    pub name: String,
    /// Vertices as `[lat, lon]` degree pairs.
    #[serde(default)]
    pub wgs84: Option<Vec<[f64; 2]>>,
    /// Vertices as `[east_m, north_m]` pairs in the site frame.
    #[serde(default)]
    pub enu: Option<Vec<[f64; 2]>>,
}

/// `[tracker]`: overrides of picket-track's tuned defaults (an unset key
/// keeps the tracker's default), plus how often tracks are published.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerSettings {
    /// `TrackerConfig::process_noise`, m²/s³.
    pub process_noise: Option<f64>,
    /// `TrackerConfig::manoeuvre_turn_noise`, 1/s.
    pub manoeuvre_turn_noise: Option<f64>,
    /// `TrackerConfig::detection_probability`.
    pub detection_probability: Option<f64>,
    /// `TrackerConfig::clutter_density`, 1/m² per scan.
    pub clutter_density: Option<f64>,
    /// `TrackerConfig::gate_probability`.
    pub gate_probability: Option<f64>,
    /// `TrackerConfig::confirm_hits` (M of M-of-N).
    pub confirm_hits: Option<u32>,
    /// `TrackerConfig::confirm_window` (N of M-of-N).
    pub confirm_window: Option<u32>,
    /// `TrackerConfig::initial_speed_sigma`, m/s.
    pub initial_speed_sigma: Option<f64>,
    /// `TrackerConfig::max_coast_time`, seconds.
    pub max_coast_time: Option<f64>,
    /// `TrackerConfig::tentative_timeout`, seconds.
    pub tentative_timeout: Option<f64>,
    /// `TrackerConfig::max_position_variance`, m².
    pub max_position_variance: Option<f64>,
    /// `TrackerConfig::max_tracks`.
    pub max_tracks: Option<usize>,
    /// A coasting track is republished at most this often, seconds
    /// (default 1); updates are always published.
    pub republish_interval_s: Option<f64>,
    /// Updates of one track closer together than this are coalesced,
    /// seconds (default 0.1; 0 publishes every update): the newer state
    /// replaces the unpublished one and goes out once the interval has
    /// passed (by the next update or tick). Status, class, zone and sensor
    /// changes are always published at once. A track updated four or more
    /// times per interval publishes once per interval at its own phase, so
    /// tracks sharing scans do not all publish at once (two messages then
    /// at most a gap and a half of updates closer than the interval).
    pub min_update_interval_s: Option<f64>,
    /// Posterior below which the class is published as `unknown`
    /// (default 0.5).
    pub min_class_probability: Option<f64>,
}

impl TrackerSettings {
    /// picket-track's configuration with these overrides applied.
    pub fn tracker_config(&self) -> TrackerConfig {
        let base = TrackerConfig::default();
        TrackerConfig {
            process_noise: self.process_noise.unwrap_or(base.process_noise),
            manoeuvre_turn_noise: self
                .manoeuvre_turn_noise
                .unwrap_or(base.manoeuvre_turn_noise),
            detection_probability: self
                .detection_probability
                .unwrap_or(base.detection_probability),
            clutter_density: self.clutter_density.unwrap_or(base.clutter_density),
            gate_probability: self.gate_probability.unwrap_or(base.gate_probability),
            confirm_hits: self.confirm_hits.unwrap_or(base.confirm_hits),
            confirm_window: self.confirm_window.unwrap_or(base.confirm_window),
            initial_speed_sigma: self.initial_speed_sigma.unwrap_or(base.initial_speed_sigma),
            max_coast_time: self.max_coast_time.unwrap_or(base.max_coast_time),
            tentative_timeout: self.tentative_timeout.unwrap_or(base.tentative_timeout),
            max_position_variance: self
                .max_position_variance
                .unwrap_or(base.max_position_variance),
            max_tracks: self.max_tracks.unwrap_or(base.max_tracks),
            ..base
        }
    }

    /// The coasting republish period in effect, seconds.
    pub fn republish_interval_s(&self) -> f64 {
        self.republish_interval_s
            .unwrap_or(defaults::REPUBLISH_INTERVAL_S)
    }

    /// The per-track update coalescing period in effect, seconds.
    pub fn min_update_interval_s(&self) -> f64 {
        self.min_update_interval_s
            .unwrap_or(defaults::MIN_UPDATE_INTERVAL_S)
    }

    /// The class publication threshold in effect.
    pub fn min_class_probability(&self) -> f64 {
        self.min_class_probability
            .unwrap_or(defaults::MIN_CLASS_PROBABILITY)
    }
}

/// `[health]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// A sensor is reported silent after this many of its expected
    /// intervals without a message.
    pub silence_factor: f64,
    /// Every sensor's health is republished at least this often on
    /// `handle_tick`, seconds; 0 publishes only on change.
    pub publish_interval_s: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            silence_factor: defaults::SILENCE_FACTOR,
            publish_interval_s: defaults::HEALTH_PUBLISH_INTERVAL_S,
        }
    }
}

// serde's `default = "..."` needs functions; each forwards to `defaults`.
fn area_radius_m() -> f64 {
    defaults::AREA_RADIUS_M
}
fn max_clock_skew_ms() -> u64 {
    defaults::MAX_CLOCK_SKEW_MS
}
fn reorder_lag_ms() -> u64 {
    defaults::REORDER_LAG_MS
}
fn reorder_capacity() -> usize {
    defaults::REORDER_CAPACITY
}
fn dedup_window() -> usize {
    defaults::DEDUP_WINDOW
}
fn field_of_view_deg() -> f64 {
    defaults::FIELD_OF_VIEW_DEG
}
fn detection_radius_m() -> f64 {
    defaults::DETECTION_RADIUS_M
}
fn bearing_sigma_deg() -> f64 {
    defaults::BEARING_SIGMA_DEG
}
fn range_sigma_m() -> f64 {
    defaults::RANGE_SIGMA_M
}
fn position_sigma_m() -> f64 {
    defaults::POSITION_SIGMA_M
}
fn expected_interval_s() -> f64 {
    defaults::EXPECTED_INTERVAL_S
}
fn class_confidence() -> f64 {
    defaults::CLASS_CONFIDENCE
}
fn clock() -> ClockConfig {
    ClockConfig::UnixEpoch
}
fn latency_ms() -> u64 {
    defaults::LATENCY_MS
}

impl SiteConfig {
    /// A site with the given id and origin and every other key at its
    /// default.
    pub fn new(id: impl Into<String>, origin: GeodeticPosition) -> Self {
        Self {
            id: id.into(),
            origin,
            area_radius_m: defaults::AREA_RADIUS_M,
            max_clock_skew_ms: defaults::MAX_CLOCK_SKEW_MS,
            reorder_lag_ms: defaults::REORDER_LAG_MS,
            reorder_capacity: defaults::REORDER_CAPACITY,
            dedup_window: defaults::DEDUP_WINDOW,
        }
    }
}

impl SensorConfig {
    /// A sensor with the given id, kind and position and every other key at
    /// its default.
    pub fn new(id: impl Into<String>, kind: SensorKind, position: GeodeticPosition) -> Self {
        Self {
            id: id.into(),
            kind,
            position,
            heading_deg: 0.0,
            field_of_view_deg: defaults::FIELD_OF_VIEW_DEG,
            detection_radius_m: defaults::DETECTION_RADIUS_M,
            bearing_sigma_deg: defaults::BEARING_SIGMA_DEG,
            range_sigma_m: defaults::RANGE_SIGMA_M,
            position_sigma_m: defaults::POSITION_SIGMA_M,
            expected_interval_s: defaults::EXPECTED_INTERVAL_S,
            class_confidence: defaults::CLASS_CONFIDENCE,
            serial_port: None,
            mqtt_topic: None,
            mqtt_binary: false,
            clock: ClockConfig::UnixEpoch,
            latency_ms: defaults::LATENCY_MS,
            camera: None,
        }
    }
}

/// A configuration value that cannot be used. `key` is the TOML path of the
/// offending setting, e.g. `sensors[2].detection_radius_m`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A number is outside its allowed range (or not finite).
    #[error("{key}: {rule}")]
    OutOfRange {
        /// The offending key.
        key: String,
        /// What the value must satisfy.
        rule: &'static str,
    },
    /// An id does not follow the topic-safe id rules.
    #[error("{key}: {source}")]
    InvalidId {
        /// The offending key.
        key: String,
        /// Which rule it breaks.
        source: IdError,
    },
    /// A value that must be unique (sensor id, serial port, MQTT topic, zone
    /// name) appears twice.
    #[error("{key}: {value:?} is already used by another entry")]
    Duplicate {
        /// The key of the second occurrence.
        key: String,
        /// The repeated value.
        value: String,
    },
    /// A setting required by another one is missing, or two exclusive ones
    /// are both given.
    #[error("{key}: {rule}")]
    Inconsistent {
        /// The offending key.
        key: String,
        /// What is expected.
        rule: &'static str,
    },
    /// picket-track rejected the tracker settings.
    #[error("tracker.{field}: {source}")]
    Tracker {
        /// The tracker field, as picket-track names it.
        field: String,
        /// The tracker's reason.
        source: picket_track::ConfigError,
    },
}

/// Checks `value` is finite and within `min..=max`.
fn check_range(
    key: impl FnOnce() -> String,
    value: f64,
    min: f64,
    max: f64,
    rule: &'static str,
) -> Result<(), ConfigError> {
    if value.is_finite() && value >= min && value <= max {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange { key: key(), rule })
    }
}

/// Checks `value` is finite and strictly positive.
fn check_positive(key: impl FnOnce() -> String, value: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            key: key(),
            rule: "must be finite and > 0",
        })
    }
}

/// Checks a WGS84 position; `key` is the position's own key.
fn check_geodetic(key: &str, position: &GeodeticPosition) -> Result<(), ConfigError> {
    check_range(
        || format!("{key}.lat"),
        position.lat,
        -90.0,
        90.0,
        "must be within -90..=90 degrees",
    )?;
    check_range(
        || format!("{key}.lon"),
        position.lon,
        -180.0,
        180.0,
        "must be within -180..=180 degrees",
    )?;
    check_range(
        || format!("{key}.alt_m"),
        position.alt_m,
        -11_000.0,
        100_000.0,
        "must be within -11000..=100000 m",
    )
}

impl EngineConfig {
    /// A configuration with only a site and every section at its default.
    pub fn new(site: SiteConfig) -> Self {
        Self {
            site,
            sensors: Vec::new(),
            radiation: RadiationConfig::default(),
            zones: Vec::new(),
            tracker: TrackerSettings::default(),
            health: HealthConfig::default(),
        }
    }

    /// Parses the site id (checked by [`EngineConfig::validate`]).
    pub fn site_id(&self) -> Result<SiteId, ConfigError> {
        SiteId::new(self.site.id.as_str()).map_err(|source| ConfigError::InvalidId {
            key: "site.id".into(),
            source,
        })
    }

    /// Checks everything serde cannot; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.site_id()?;
        let site = &self.site;
        check_geodetic("site.origin", &site.origin)?;
        check_positive(|| "site.area_radius_m".into(), site.area_radius_m)?;
        if site.reorder_capacity == 0 {
            return Err(ConfigError::OutOfRange {
                key: "site.reorder_capacity".into(),
                rule: "must be > 0",
            });
        }
        if site.dedup_window == 0 {
            return Err(ConfigError::OutOfRange {
                key: "site.dedup_window".into(),
                rule: "must be > 0",
            });
        }
        // Lags and skews beyond an hour are certainly a unit mistake (s vs ms).
        for (key, value) in [
            ("site.reorder_lag_ms", site.reorder_lag_ms),
            ("site.max_clock_skew_ms", site.max_clock_skew_ms),
        ] {
            if value > 3_600_000 {
                return Err(ConfigError::OutOfRange {
                    key: key.into(),
                    rule: "must be at most 3600000 ms (one hour)",
                });
            }
        }
        self.validate_sensors()?;
        self.validate_radiation()?;
        self.validate_zones()?;
        self.validate_tracker()?;
        check_positive(
            || "health.silence_factor".into(),
            self.health.silence_factor,
        )?;
        check_range(
            || "health.publish_interval_s".into(),
            self.health.publish_interval_s,
            0.0,
            f64::MAX,
            "must be finite and >= 0",
        )
    }

    /// Per-sensor ranges, and ids, ports and topics unique across sensors.
    fn validate_sensors(&self) -> Result<(), ConfigError> {
        let mut ids: Vec<&str> = Vec::new();
        let mut ports: Vec<&str> = Vec::new();
        let mut topics: Vec<&str> = Vec::new();
        for (index, sensor) in self.sensors.iter().enumerate() {
            let key = |field: &str| format!("sensors[{index}].{field}");
            SensorId::new(sensor.id.as_str()).map_err(|source| ConfigError::InvalidId {
                key: key("id"),
                source,
            })?;
            if sensor.id.len() > picket_wire::MAX_SENSOR_ID_LEN {
                return Err(ConfigError::OutOfRange {
                    key: key("id"),
                    rule: "must fit picket-wire's 32-byte sensor id",
                });
            }
            if ids.contains(&sensor.id.as_str()) {
                return Err(ConfigError::Duplicate {
                    key: key("id"),
                    value: sensor.id.clone(),
                });
            }
            ids.push(&sensor.id);
            check_geodetic(&key("position"), &sensor.position)?;
            check_range(
                || key("heading_deg"),
                sensor.heading_deg,
                -360.0,
                360.0,
                "must be within -360..=360 degrees",
            )?;
            check_range(
                || key("field_of_view_deg"),
                sensor.field_of_view_deg,
                f64::MIN_POSITIVE,
                360.0,
                "must be within 0 (exclusive)..=360 degrees",
            )?;
            check_positive(|| key("detection_radius_m"), sensor.detection_radius_m)?;
            check_positive(|| key("bearing_sigma_deg"), sensor.bearing_sigma_deg)?;
            check_positive(|| key("range_sigma_m"), sensor.range_sigma_m)?;
            check_positive(|| key("position_sigma_m"), sensor.position_sigma_m)?;
            check_positive(|| key("expected_interval_s"), sensor.expected_interval_s)?;
            check_range(
                || key("class_confidence"),
                sensor.class_confidence,
                0.0,
                1.0,
                "must be within 0..=1",
            )?;
            if let Some(port) = &sensor.serial_port {
                if ports.contains(&port.as_str()) {
                    return Err(ConfigError::Duplicate {
                        key: key("serial_port"),
                        value: port.clone(),
                    });
                }
                ports.push(port);
            }
            if let Some(topic) = &sensor.mqtt_topic {
                if topics.contains(&topic.as_str()) {
                    return Err(ConfigError::Duplicate {
                        key: key("mqtt_topic"),
                        value: topic.clone(),
                    });
                }
                topics.push(topic);
            }
            if let Some(camera) = &sensor.camera {
                if sensor.kind != SensorKind::Camera {
                    return Err(ConfigError::Inconsistent {
                        key: key("camera"),
                        rule: "only sensors of kind \"camera\" take a camera calibration",
                    });
                }
                check_range(
                    || key("camera.horizontal_fov_deg"),
                    camera.horizontal_fov_deg,
                    f64::MIN_POSITIVE,
                    179.0,
                    "must be within 0 (exclusive)..=179 degrees",
                )?;
                if let Some(principal) = camera.principal_x_px {
                    check_range(
                        || key("camera.principal_x_px"),
                        principal,
                        0.0,
                        65_535.0,
                        "must be within 0..=65535 px",
                    )?;
                }
            }
        }
        Ok(())
    }

    /// The `[radiation]` section.
    fn validate_radiation(&self) -> Result<(), ConfigError> {
        let radiation = &self.radiation;
        check_positive(
            || "radiation.sigma_threshold".into(),
            radiation.sigma_threshold,
        )?;
        check_positive(
            || "radiation.background_time_constant_s".into(),
            radiation.background_time_constant_s,
        )?;
        check_positive(
            || "radiation.min_expected_counts".into(),
            radiation.min_expected_counts,
        )?;
        check_range(
            || "radiation.attribution_margin_m".into(),
            radiation.attribution_margin_m,
            0.0,
            f64::MAX,
            "must be finite and >= 0",
        )?;
        if radiation.max_evidence_per_track == 0 {
            return Err(ConfigError::OutOfRange {
                key: "radiation.max_evidence_per_track".into(),
                rule: "must be > 0",
            });
        }
        Ok(())
    }

    /// Unique names, exactly one vertex list each, at least a triangle.
    fn validate_zones(&self) -> Result<(), ConfigError> {
        let mut names: Vec<&str> = Vec::new();
        for (index, zone) in self.zones.iter().enumerate() {
            let key = |field: &str| format!("zones[{index}].{field}");
            if zone.name.is_empty() {
                return Err(ConfigError::OutOfRange {
                    key: key("name"),
                    rule: "must not be empty",
                });
            }
            if names.contains(&zone.name.as_str()) {
                return Err(ConfigError::Duplicate {
                    key: key("name"),
                    value: zone.name.clone(),
                });
            }
            names.push(&zone.name);
            let (field, vertices) = match (&zone.wgs84, &zone.enu) {
                (Some(vertices), None) => ("wgs84", vertices),
                (None, Some(vertices)) => ("enu", vertices),
                _ => {
                    return Err(ConfigError::Inconsistent {
                        key: key("wgs84"),
                        rule: "give exactly one of wgs84 and enu",
                    });
                }
            };
            if vertices.len() < 3 {
                return Err(ConfigError::OutOfRange {
                    key: key(field),
                    rule: "a polygon needs at least 3 vertices",
                });
            }
            for (vertex_index, [first, second]) in vertices.iter().enumerate() {
                let vertex_key = || format!("zones[{index}].{field}[{vertex_index}]");
                if field == "wgs84" {
                    check_range(
                        vertex_key,
                        *first,
                        -90.0,
                        90.0,
                        "latitude must be within -90..=90",
                    )?;
                    check_range(
                        vertex_key,
                        *second,
                        -180.0,
                        180.0,
                        "longitude must be within -180..=180",
                    )?;
                } else if !(first.is_finite() && second.is_finite()) {
                    return Err(ConfigError::OutOfRange {
                        key: vertex_key(),
                        rule: "must be finite",
                    });
                }
            }
        }
        Ok(())
    }

    /// picket-track's own checks, with its field names, plus ours.
    fn validate_tracker(&self) -> Result<(), ConfigError> {
        let tracker = &self.tracker;
        tracker
            .tracker_config()
            .validate()
            .map_err(|source| ConfigError::Tracker {
                field: tracker_field(&source),
                source,
            })?;
        check_positive(
            || "tracker.republish_interval_s".into(),
            tracker.republish_interval_s(),
        )?;
        check_range(
            || "tracker.min_update_interval_s".into(),
            tracker.min_update_interval_s(),
            0.0,
            60.0,
            "must be within 0..=60",
        )?;
        check_range(
            || "tracker.min_class_probability".into(),
            tracker.min_class_probability(),
            0.0,
            1.0,
            "must be within 0..=1",
        )
    }
}

/// The tracker field a picket-track configuration error is about.
fn tracker_field(error: &picket_track::ConfigError) -> String {
    match error {
        picket_track::ConfigError::Probability(field)
        | picket_track::ConfigError::NotPositive(field) => (*field).to_owned(),
        picket_track::ConfigError::ConfirmationRule => "confirm_hits".to_owned(),
        picket_track::ConfigError::Model(_) => "process_noise".to_owned(),
    }
}
