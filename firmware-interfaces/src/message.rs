//! Message types sent by sensors to picketd.
//!
//! Units are chosen for small MCUs: times and counts are integers, positions are
//! WGS84 degrees scaled by 1e7 in `i32` (about 1.1 cm resolution, the GNSS
//! receiver convention), and quantities that come with a variance are `f32`,
//! which Cortex-M4F class parts handle in hardware. Every field name carries its
//! unit so a C author never has to guess.
//!
//! The postcard encoding depends on the *order* of fields and enum variants:
//! reordering, inserting or removing any of them is a wire-format change and
//! requires a new [`crate::PROTOCOL_VERSION`].

use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// Longest sensor id, in UTF-8 bytes.
pub const MAX_SENSOR_ID_LEN: usize = 32;

/// Most bins a coarse gamma spectrum may carry.
///
/// 64 bins is enough to separate the usual isotope regions on a NaI or CsI
/// detector while keeping the worst-case frame under [`crate::MAX_FRAME_LEN`].
pub const MAX_SPECTRUM_BINS: usize = 64;

/// A sensor's site-unique name, e.g. `"gn-north-07"`.
pub type SensorId = String<MAX_SENSOR_ID_LEN>;

/// Every message a sensor can send. One frame carries exactly one message.
///
/// JSON form (MQTT) is externally tagged with snake_case variant names:
/// `{"heartbeat": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
// Variants differ in size (a radiation spectrum is ~260 bytes) but there is no
// heap to box into, and a decoder holds only one message at a time.
#[allow(clippy::large_enum_variant)]
pub enum Message {
    /// Sent at boot and periodically (e.g. every 10 minutes) so picketd can
    /// learn a sensor that it started after.
    Hello(Hello),
    /// Health report, typically every 10 to 60 seconds.
    Heartbeat(Heartbeat),
    /// A detection by an unattended ground node.
    GroundEvent(GroundEvent),
    /// Counts from a radiation detector over one integration interval.
    RadiationSample(RadiationSample),
    /// A camera's (usually AI-classified) detection.
    CameraTrigger(CameraTrigger),
    /// A geolocated target from a radar or other locating sensor.
    PositionReport(PositionReport),
    /// A target in sensor-polar coordinates from a radar.
    RangeBearingReport(RangeBearingReport),
}

impl Message {
    /// The sequence number of a detection, `None` for `Hello` and `Heartbeat`.
    ///
    /// picketd deduplicates detections by `(sensor id, sequence)`, so a sensor
    /// that retransmits must resend the same sequence number.
    pub fn sequence(&self) -> Option<u32> {
        match self {
            Message::Hello(_) | Message::Heartbeat(_) => None,
            Message::GroundEvent(event) => Some(event.sequence),
            Message::RadiationSample(sample) => Some(sample.sequence),
            Message::CameraTrigger(trigger) => Some(trigger.sequence),
            Message::PositionReport(report) => Some(report.sequence),
            Message::RangeBearingReport(report) => Some(report.sequence),
        }
    }
}

/// Registration: who the sensor is and how to read its timestamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Site-unique sensor name, at most [`MAX_SENSOR_ID_LEN`] UTF-8 bytes.
    pub sensor_id: SensorId,
    /// What kind of sensor this is.
    pub kind: SensorKind,
    /// Firmware release running on the sensor.
    pub firmware: FirmwareVersion,
    /// The protocol version the firmware implements; equal to the frame's
    /// version byte for current firmware, repeated here so it reaches logs.
    pub protocol_version: u8,
    /// Which clock every `*_time_us` field of this sensor refers to.
    pub time_base: TimeBase,
}

/// Kinds of sensor, as declared in [`Hello`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorKind {
    /// Unattended ground node (seismic, acoustic, magnetic and/or PIR).
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

/// Firmware release, semantic-versioning style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareVersion {
    /// Incompatible changes.
    pub major: u16,
    /// Compatible additions.
    pub minor: u16,
    /// Fixes.
    pub patch: u16,
}

/// The clock behind a sensor's timestamps.
///
/// All times are `u64` microseconds. A sensor with GNSS or NTP time reports
/// Unix time; one without reports time since its boot, and picketd maps that
/// onto its own clock using arrival times. Mixing the two within one sensor is
/// not allowed: a sensor that acquires GNSS time later must send a new
/// [`Hello`] before switching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBase {
    /// Microseconds since 1970-01-01T00:00:00Z, UTC, without leap seconds.
    UnixEpoch,
    /// Microseconds since the sensor's last boot (monotonic).
    SinceBoot,
}

/// Periodic health report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Sensor time when the report was made, microseconds (see [`TimeBase`]).
    pub sensor_time_us: u64,
    /// Seconds since boot; a decrease means the sensor rebooted.
    pub uptime_s: u32,
    /// Battery voltage in millivolts; `None` for mains-powered sensors.
    pub battery_mv: Option<u16>,
    /// Board temperature in tenths of a degree Celsius (-40.5 C is -405).
    pub temperature_decicelsius: i16,
    /// True while the enclosure or anti-tamper switch is open.
    pub tamper: bool,
    /// Currently active faults.
    pub faults: FaultFlags,
}

/// Fault bits of a [`Heartbeat`]; unknown bits must be preserved and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultFlags(pub u32);

impl FaultFlags {
    /// The time source (GNSS/NTP) is lost; timestamps are free-running.
    pub const CLOCK_UNSYNCED: u32 = 1 << 0;
    /// The primary transducer (geophone, microphone, tube, imager) failed.
    pub const SENSOR_FAILURE: u32 = 1 << 1;
    /// Battery below the firmware's low-voltage threshold.
    pub const LOW_BATTERY: u32 = 1 << 2;
    /// Temperature outside the rated range.
    pub const OVER_TEMPERATURE: u32 = 1 << 3;
    /// Local storage (log or image buffer) full or failing.
    pub const STORAGE: u32 = 1 << 4;
    /// Calibration missing or out of date.
    pub const CALIBRATION: u32 = 1 << 5;
    /// Messages were dropped on the sensor (queue overflow).
    pub const MESSAGES_DROPPED: u32 = 1 << 6;

    /// True if every bit of `mask` is set.
    pub fn contains(self, mask: u32) -> bool {
        self.0 & mask == mask
    }
}

/// The physical principle of a ground-node detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroundModality {
    /// Geophone: footsteps, vehicles.
    Seismic,
    /// Microphone array: engines, voices.
    Acoustic,
    /// Magnetometer: vehicles, weapons.
    Magnetic,
    /// Passive infrared: warm bodies crossing the field of view.
    PassiveInfrared,
}

/// Coarse target class, shared by every detecting sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetClass {
    /// The sensor does not classify, or could not.
    Unknown,
    /// A person on foot.
    Person,
    /// A land vehicle.
    Vehicle,
    /// An animal.
    Animal,
    /// A manned or unmanned aircraft.
    Aircraft,
    /// A boat.
    Vessel,
}

/// A horizontal direction with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bearing {
    /// Degrees clockwise from true north, in `[0, 360)`.
    pub azimuth_deg: f32,
    /// Variance of the azimuth, square degrees.
    pub variance_deg2: f32,
}

/// A vertical angle with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Elevation {
    /// Degrees above the local horizontal, in `[-90, 90]`.
    pub elevation_deg: f32,
    /// Variance of the elevation, square degrees.
    pub variance_deg2: f32,
}

/// A detection by an unattended ground node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundEvent {
    /// Per-sensor detection counter, wrapping at `u32::MAX`.
    pub sequence: u32,
    /// Sensor time of the event, microseconds (see [`TimeBase`]).
    pub sensor_time_us: u64,
    /// Which transducer fired.
    pub modality: GroundModality,
    /// Signal-to-noise ratio in decibels.
    pub snr_db: f32,
    /// Raw signal energy in sensor-specific units; only comparable between
    /// events of the same sensor.
    pub energy: u32,
    /// The node's guess at what caused the event.
    pub class_hint: TargetClass,
    /// Direction of arrival, from nodes with a sensor array.
    pub bearing: Option<Bearing>,
}

/// Counts from a radiation detector over one interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RadiationSample {
    /// Per-sensor sample counter, wrapping at `u32::MAX`.
    pub sequence: u32,
    /// Sensor time at the start of the interval, microseconds.
    pub interval_start_us: u64,
    /// Length of the interval in milliseconds.
    pub interval_ms: u32,
    /// Gamma counts in the interval (all energies).
    pub gamma_counts: u32,
    /// Neutron counts in the interval; 0 for gamma-only detectors.
    pub neutron_counts: u32,
    /// Coarse gamma spectrum, from detectors that measure energy.
    pub spectrum: Option<GammaSpectrum>,
    /// Alarms raised by the detector's own algorithm.
    pub alarms: AlarmFlags,
}

/// A coarse gamma spectrum with a linear energy calibration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GammaSpectrum {
    /// Lower edge of the first bin, keV.
    pub start_kev: u16,
    /// Width of every bin, keV.
    pub bin_width_kev: u16,
    /// Counts per bin, lowest energy first.
    pub bins: Vec<u32, MAX_SPECTRUM_BINS>,
}

/// Alarm bits of a [`RadiationSample`]; unknown bits must be preserved and
/// ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlarmFlags(pub u16);

impl AlarmFlags {
    /// Gamma count rate above the detector's alarm threshold.
    pub const GAMMA: u16 = 1 << 0;
    /// Neutron count rate above the detector's alarm threshold.
    pub const NEUTRON: u16 = 1 << 1;
    /// Count rate implausibly low: detector fault or shielding.
    pub const LOW_COUNT: u16 = 1 << 2;
    /// Portal occupancy sensor says something is in the portal.
    pub const OCCUPIED: u16 = 1 << 3;
    /// The detector's spectral analysis identified a threat isotope.
    pub const ISOTOPE: u16 = 1 << 4;

    /// True if every bit of `mask` is set.
    pub fn contains(self, mask: u16) -> bool {
        self.0 & mask == mask
    }
}

/// A camera's detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraTrigger {
    /// Per-sensor detection counter, wrapping at `u32::MAX`.
    pub sequence: u32,
    /// Sensor time of the image, microseconds.
    pub sensor_time_us: u64,
    /// Where the target is, in the form the camera can provide.
    pub target: CameraTarget,
    /// Classifier output.
    pub class: TargetClass,
    /// Classifier confidence, percent (0 to 100).
    pub confidence_pct: u8,
    /// Where the target stands, from cameras that geolocate (e.g. with a
    /// terrain model).
    pub ground_position: Option<GeoPosition>,
}

/// Target location in a camera's own terms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraTarget {
    /// The camera knows its pointing and has converted the box to angles.
    Direction {
        /// Horizontal direction to the target.
        azimuth: Bearing,
        /// Vertical direction to the target.
        elevation: Elevation,
    },
    /// Only the image box is known; picketd converts it with the configured
    /// camera calibration.
    ImageBox(ImageBox),
}

/// A detection box in image pixels, origin at the top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBox {
    /// Left edge, pixels.
    pub x: u16,
    /// Top edge, pixels.
    pub y: u16,
    /// Box width, pixels.
    pub width: u16,
    /// Box height, pixels.
    pub height: u16,
    /// Width of the full image, pixels.
    pub image_width: u16,
    /// Height of the full image, pixels.
    pub image_height: u16,
}

/// A WGS84 horizontal position with its covariance in the local East-North
/// plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPosition {
    /// Latitude in degrees times 1e7 (north positive).
    pub latitude_e7: i32,
    /// Longitude in degrees times 1e7 (east positive).
    pub longitude_e7: i32,
    /// Variance along east, square metres.
    pub variance_east_m2: f32,
    /// Variance along north, square metres.
    pub variance_north_m2: f32,
    /// East-north covariance, square metres.
    pub covariance_east_north_m2: f32,
}

/// A velocity in the local East-North plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroundVelocity {
    /// Eastward speed, metres per second.
    pub east_mps: f32,
    /// Northward speed, metres per second.
    pub north_mps: f32,
    /// Variance of each component (assumed equal and uncorrelated),
    /// square metres per square second.
    pub variance_m2ps2: f32,
}

/// A geolocated target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionReport {
    /// Per-sensor detection counter, wrapping at `u32::MAX`.
    pub sequence: u32,
    /// Sensor time of the measurement, microseconds.
    pub sensor_time_us: u64,
    /// Where the target is.
    pub position: GeoPosition,
    /// Height above the WGS84 ellipsoid, metres, if measured.
    pub altitude_m: Option<f32>,
    /// Target velocity, from sensors that estimate it.
    pub velocity: Option<GroundVelocity>,
    /// The sensor's own track number, which picketd may use as a hint.
    pub sensor_track_id: Option<u32>,
    /// Sensor's classification.
    pub class: TargetClass,
}

/// A radial velocity (Doppler) with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RadialVelocity {
    /// Metres per second, positive when the target moves away.
    pub velocity_mps: f32,
    /// Variance, square metres per square second.
    pub variance_m2ps2: f32,
}

/// A target in sensor-polar coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeBearingReport {
    /// Per-sensor detection counter, wrapping at `u32::MAX`.
    pub sequence: u32,
    /// Sensor time of the measurement, microseconds.
    pub sensor_time_us: u64,
    /// Slant range to the target, metres.
    pub range_m: f32,
    /// Variance of the range, square metres.
    pub range_variance_m2: f32,
    /// Horizontal direction to the target.
    pub azimuth: Bearing,
    /// Vertical direction, from 3-D radars.
    pub elevation: Option<Elevation>,
    /// Doppler velocity, from radars that measure it.
    pub radial_velocity: Option<RadialVelocity>,
    /// The sensor's own track number, which picketd may use as a hint.
    pub sensor_track_id: Option<u32>,
    /// Sensor's classification.
    pub class: TargetClass,
}
