//! Why inputs were dropped, and the engine's monitoring counters.

use std::collections::BTreeMap;

use picket_wire::FrameError;

/// Why a report (or a whole input) was dropped. Each has one counter in
/// [`DropCounters`] and a stable snake_case name for the status message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// The (sensor, sequence) pair was already accepted.
    Duplicate,
    /// A value is NaN or infinite.
    NonFinite,
    /// A value is finite but unusable: a non-positive variance, an image box
    /// outside its image, a latitude beyond 90°.
    InvalidMeasurement,
    /// The report puts the target beyond the site's area radius.
    OutOfArea,
    /// A Unix-time report leads the receive time by more than the allowed
    /// clock skew.
    TooFarFuture,
    /// The report is older than what the reorder buffer has already
    /// released.
    TooLate,
    /// The sender is not a configured sensor (or an unbound serial port sent
    /// a report before its `Hello`).
    UnknownSensor,
    /// The sensor's kind does not send this message (e.g. a radiation sample
    /// from a camera), or a `Hello` declares a different kind than
    /// configured.
    UnsupportedMessage,
    /// A camera image box arrived for a camera without a calibration.
    Uncalibrated,
    /// A serial or binary MQTT frame was rejected by the wire decoder; the
    /// decoder's classification is kept.
    Frame(FrameErrorKind),
    /// An MQTT JSON payload is not a picket-wire message.
    Json,
}

/// [`FrameError`] without its payload, as a counter key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrameErrorKind {
    /// Two delimiters in a row.
    Empty,
    /// Longer than the decoder's buffer.
    TooLong,
    /// Invalid COBS.
    Cobs,
    /// Too short for version and CRC.
    TooShort,
    /// CRC-32C mismatch.
    Crc,
    /// Protocol version not spoken.
    UnknownVersion,
    /// Intact frame, undecodable payload.
    Payload,
}

impl From<FrameError> for FrameErrorKind {
    fn from(error: FrameError) -> Self {
        match error {
            FrameError::Empty => FrameErrorKind::Empty,
            FrameError::TooLong => FrameErrorKind::TooLong,
            FrameError::Cobs => FrameErrorKind::Cobs,
            FrameError::TooShort => FrameErrorKind::TooShort,
            FrameError::Crc => FrameErrorKind::Crc,
            FrameError::UnknownVersion(_) => FrameErrorKind::UnknownVersion,
            FrameError::Payload => FrameErrorKind::Payload,
        }
    }
}

impl DropReason {
    /// Stable snake_case name, used as a counter key.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Duplicate => "duplicate",
            DropReason::NonFinite => "non_finite",
            DropReason::InvalidMeasurement => "invalid_measurement",
            DropReason::OutOfArea => "out_of_area",
            DropReason::TooFarFuture => "too_far_future",
            DropReason::TooLate => "too_late",
            DropReason::UnknownSensor => "unknown_sensor",
            DropReason::UnsupportedMessage => "unsupported_message",
            DropReason::Uncalibrated => "uncalibrated",
            DropReason::Frame(FrameErrorKind::Empty) => "frame_empty",
            DropReason::Frame(FrameErrorKind::TooLong) => "frame_too_long",
            DropReason::Frame(FrameErrorKind::Cobs) => "frame_cobs",
            DropReason::Frame(FrameErrorKind::TooShort) => "frame_too_short",
            DropReason::Frame(FrameErrorKind::Crc) => "frame_crc",
            DropReason::Frame(FrameErrorKind::UnknownVersion) => "frame_unknown_version",
            DropReason::Frame(FrameErrorKind::Payload) => "frame_payload",
            DropReason::Json => "json",
        }
    }
}

/// One counter per [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// [`DropReason::Duplicate`].
    pub duplicate: u64,
    /// [`DropReason::NonFinite`].
    pub non_finite: u64,
    /// [`DropReason::InvalidMeasurement`].
    pub invalid_measurement: u64,
    /// [`DropReason::OutOfArea`].
    pub out_of_area: u64,
    /// [`DropReason::TooFarFuture`].
    pub too_far_future: u64,
    /// [`DropReason::TooLate`].
    pub too_late: u64,
    /// [`DropReason::UnknownSensor`].
    pub unknown_sensor: u64,
    /// [`DropReason::UnsupportedMessage`].
    pub unsupported_message: u64,
    /// [`DropReason::Uncalibrated`].
    pub uncalibrated: u64,
    /// [`FrameErrorKind::Empty`].
    pub frame_empty: u64,
    /// [`FrameErrorKind::TooLong`].
    pub frame_too_long: u64,
    /// [`FrameErrorKind::Cobs`].
    pub frame_cobs: u64,
    /// [`FrameErrorKind::TooShort`].
    pub frame_too_short: u64,
    /// [`FrameErrorKind::Crc`].
    pub frame_crc: u64,
    /// [`FrameErrorKind::UnknownVersion`].
    pub frame_unknown_version: u64,
    /// [`FrameErrorKind::Payload`].
    pub frame_payload: u64,
    /// [`DropReason::Json`].
    pub json: u64,
}

impl DropCounters {
    /// The counter of `reason`.
    pub fn get_mut(&mut self, reason: DropReason) -> &mut u64 {
        match reason {
            DropReason::Duplicate => &mut self.duplicate,
            DropReason::NonFinite => &mut self.non_finite,
            DropReason::InvalidMeasurement => &mut self.invalid_measurement,
            DropReason::OutOfArea => &mut self.out_of_area,
            DropReason::TooFarFuture => &mut self.too_far_future,
            DropReason::TooLate => &mut self.too_late,
            DropReason::UnknownSensor => &mut self.unknown_sensor,
            DropReason::UnsupportedMessage => &mut self.unsupported_message,
            DropReason::Uncalibrated => &mut self.uncalibrated,
            DropReason::Frame(FrameErrorKind::Empty) => &mut self.frame_empty,
            DropReason::Frame(FrameErrorKind::TooLong) => &mut self.frame_too_long,
            DropReason::Frame(FrameErrorKind::Cobs) => &mut self.frame_cobs,
            DropReason::Frame(FrameErrorKind::TooShort) => &mut self.frame_too_short,
            DropReason::Frame(FrameErrorKind::Crc) => &mut self.frame_crc,
            DropReason::Frame(FrameErrorKind::UnknownVersion) => &mut self.frame_unknown_version,
            DropReason::Frame(FrameErrorKind::Payload) => &mut self.frame_payload,
            DropReason::Json => &mut self.json,
        }
    }

    /// Every reason with its count, in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        const ALL: [DropReason; 17] = [
            DropReason::Duplicate,
            DropReason::NonFinite,
            DropReason::InvalidMeasurement,
            DropReason::OutOfArea,
            DropReason::TooFarFuture,
            DropReason::TooLate,
            DropReason::UnknownSensor,
            DropReason::UnsupportedMessage,
            DropReason::Uncalibrated,
            DropReason::Frame(FrameErrorKind::Empty),
            DropReason::Frame(FrameErrorKind::TooLong),
            DropReason::Frame(FrameErrorKind::Cobs),
            DropReason::Frame(FrameErrorKind::TooShort),
            DropReason::Frame(FrameErrorKind::Crc),
            DropReason::Frame(FrameErrorKind::UnknownVersion),
            DropReason::Frame(FrameErrorKind::Payload),
            DropReason::Json,
        ];
        let mut copy = *self;
        ALL.into_iter()
            .map(move |reason| (reason, *copy.get_mut(reason)))
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.iter().map(|(_, count)| count).sum()
    }
}

/// The engine's counters; they only ever grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Raw inputs handled.
    pub inputs: u64,
    /// Sensor messages decoded (frames and payloads).
    pub messages: u64,
    /// Detections handed to the tracker.
    pub detections: u64,
    /// Scans handed to the tracker.
    pub scans: u64,
    /// Radiation samples evaluated.
    pub radiation_samples: u64,
    /// Radiation alarms (alarming samples).
    pub radiation_alarms: u64,
    /// Alerts emitted.
    pub alerts: u64,
    /// Reports released from a full reorder buffer before their time.
    pub released_early: u64,
    /// Detections the tracker refused (its own validation).
    pub tracker_rejected: u64,
    /// Dropped reports, by reason.
    pub dropped: DropCounters,
}

impl EngineCounters {
    /// The counters as the status message's string-keyed map: `engine.<name>`
    /// and `engine.dropped.<reason>`. Zero drop counters are left out, as the
    /// schema suggests for reasons never seen.
    pub fn to_status_counters(&self) -> BTreeMap<String, u64> {
        let mut map = BTreeMap::new();
        for (name, value) in [
            ("inputs", self.inputs),
            ("messages", self.messages),
            ("detections", self.detections),
            ("scans", self.scans),
            ("radiation_samples", self.radiation_samples),
            ("radiation_alarms", self.radiation_alarms),
            ("alerts", self.alerts),
            ("released_early", self.released_early),
            ("tracker_rejected", self.tracker_rejected),
        ] {
            map.insert(format!("engine.{name}"), value);
        }
        for (reason, count) in self.dropped.iter() {
            if count > 0 {
                map.insert(format!("engine.dropped.{}", reason.name()), count);
            }
        }
        map
    }
}
