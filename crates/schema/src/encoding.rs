//! JSON and postcard encodings, with the checks that keep both inside the
//! JSON Schema.
//!
//! # Postcard layout
//!
//! Postcard is not self-describing, so a payload says up front what it is:
//!
//! | bytes | content |
//! |---|---|
//! | 1 | [`SCHEMA_VERSION`] as one byte |
//! | 1 (varint) | [`Message`] variant: 0 track, 1 alert, 2 status, 3 sensor health |
//! | rest | the message's fields in declaration order, postcard-encoded; times as zigzag-varint `i64` microseconds |
//!
//! The version byte comes first so that a decoder can refuse a payload from a
//! newer publisher before misreading it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::SCHEMA_VERSION;
use crate::message::{
    AlertKind, AlertMessage, RadiationEvidence, SensorHealthMessage, StatusMessage, TrackMessage,
};

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The JSON is malformed or does not match the message type.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The postcard bytes are malformed or do not match the message type.
    #[error("postcard: {0}")]
    Postcard(#[from] postcard::Error),
    /// The message claims a schema version this crate does not speak.
    #[error("schema version {found}, expected {expected}")]
    UnsupportedVersion {
        /// The version in the payload.
        found: u32,
        /// [`SCHEMA_VERSION`].
        expected: u32,
    },
    /// A postcard payload is empty: not even a version byte.
    #[error("empty postcard payload")]
    Empty,
    /// A postcard payload has bytes after the message.
    #[error("{count} bytes after the postcard message")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A postcard payload holds a different kind of message than asked for.
    #[error("expected a {expected} message, found a {found} message")]
    WrongKind {
        /// The kind asked for.
        expected: &'static str,
        /// The kind in the payload.
        found: &'static str,
    },
    /// A list that must hold distinct items repeats one.
    #[error("{field} repeats an item")]
    Repeated {
        /// Dotted path of the list.
        field: &'static str,
    },
    /// A field is outside its documented range (or not finite), so the
    /// message would fail the JSON Schema.
    #[error("{field} is {value}, {rule}")]
    OutOfRange {
        /// Dotted path of the field, e.g. `"position.lat"`.
        field: &'static str,
        /// The offending value.
        value: f64,
        /// The rule it breaks, e.g. `"must be within -90..=90"`.
        rule: &'static str,
    },
}

/// Any published message, for payloads whose kind is not known from the
/// topic (postcard over a thin link carries several kinds on one channel).
///
/// Variant order is part of the postcard layout.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// A [`TrackMessage`].
    Track(TrackMessage),
    /// An [`AlertMessage`].
    Alert(AlertMessage),
    /// A [`StatusMessage`].
    Status(StatusMessage),
    /// A [`SensorHealthMessage`].
    SensorHealth(SensorHealthMessage),
}

impl Message {
    /// The kind's name, for errors.
    pub const fn kind_name(&self) -> &'static str {
        match self {
            Message::Track(_) => TrackMessage::KIND,
            Message::Alert(_) => AlertMessage::KIND,
            Message::Status(_) => StatusMessage::KIND,
            Message::SensorHealth(_) => SensorHealthMessage::KIND,
        }
    }
}

/// [`Message`] by reference, so encoding one kind needs no clone; serializes
/// identically to [`Message`].
#[derive(Serialize)]
#[serde(rename = "Message", rename_all = "snake_case")]
enum MessageRef<'a> {
    Track(&'a TrackMessage),
    Alert(&'a AlertMessage),
    Status(&'a StatusMessage),
    SensorHealth(&'a SensorHealthMessage),
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::TrackMessage {}
    impl Sealed for super::AlertMessage {}
    impl Sealed for super::StatusMessage {}
    impl Sealed for super::SensorHealthMessage {}
    impl Sealed for super::Message {}
}

/// A message that [`to_json`], [`from_json`], [`to_postcard`] and
/// [`from_postcard`] accept: the four kinds and [`Message`].
pub trait Published: Serialize + DeserializeOwned + sealed::Sealed {
    /// The kind's name, for errors.
    const KIND: &'static str;

    /// Checks the version and every numeric range the JSON Schema states
    /// (ids are already checked by their types).
    fn validate(&self) -> Result<(), CodecError>;

    /// Wraps for the postcard layout.
    #[doc(hidden)]
    fn as_message_ref(&self) -> MessageRefHidden<'_>;

    /// Unwraps from the postcard layout, or names the kind found instead.
    #[doc(hidden)]
    fn from_message(message: Message) -> Result<Self, &'static str>;
}

/// Opaque wrapper so the trait can name [`MessageRef`] without exposing it.
#[doc(hidden)]
pub struct MessageRefHidden<'a>(MessageRef<'a>);

fn check_version(schema: u32) -> Result<(), CodecError> {
    if schema == SCHEMA_VERSION {
        Ok(())
    } else {
        Err(CodecError::UnsupportedVersion {
            found: schema,
            expected: SCHEMA_VERSION,
        })
    }
}

/// Fails unless `min <= value <= max` (NaN fails every comparison).
fn within(field: &'static str, value: f64, min: f64, max: f64) -> Result<(), CodecError> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(CodecError::OutOfRange {
            field,
            value,
            rule: "must be finite and within the documented range",
        })
    }
}

fn finite(field: &'static str, value: f64) -> Result<(), CodecError> {
    within(field, value, f64::MIN, f64::MAX)
}

fn non_negative(field: &'static str, value: f64) -> Result<(), CodecError> {
    within(field, value, 0.0, f64::MAX)
}

/// Fails if `items` repeats one, as the schemas' `uniqueItems` would.
fn distinct<T: Ord>(field: &'static str, items: &[T]) -> Result<(), CodecError> {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_unstable();
    if sorted.windows(2).any(|pair| pair[0] == pair[1]) {
        Err(CodecError::Repeated { field })
    } else {
        Ok(())
    }
}

fn check_evidence(evidence: &RadiationEvidence) -> Result<(), CodecError> {
    non_negative("radiation.evidence.background", evidence.background)?;
    evidence
        .sigma
        .map_or(Ok(()), |sigma| finite("radiation.evidence.sigma", sigma))
}

impl Published for TrackMessage {
    const KIND: &'static str = "track";

    fn validate(&self) -> Result<(), CodecError> {
        check_version(self.schema)?;
        within("position.lat", self.position.lat, -90.0, 90.0)?;
        within("position.lon", self.position.lon, -180.0, 180.0)?;
        if let Some(alt) = self.position.alt_m {
            finite("position.alt_m", alt)?;
        }
        finite("enu.east_m", self.enu.east_m)?;
        finite("enu.north_m", self.enu.north_m)?;
        finite("velocity.east_mps", self.velocity.east_mps)?;
        finite("velocity.north_mps", self.velocity.north_mps)?;
        // 360 itself is north again; publishers wrap it to 0.
        within("course_deg", self.course_deg, 0.0, 360.0)?;
        if self.course_deg == 360.0 {
            return Err(CodecError::OutOfRange {
                field: "course_deg",
                value: self.course_deg,
                rule: "must be below 360",
            });
        }
        non_negative("speed_mps", self.speed_mps)?;
        let covariance = &self.position_covariance;
        non_negative("position_covariance.var_e", covariance.var_e)?;
        finite("position_covariance.cov_en", covariance.cov_en)?;
        non_negative("position_covariance.var_n", covariance.var_n)?;
        within(
            "classification.confidence",
            self.classification.confidence,
            0.0,
            1.0,
        )?;
        distinct("sensors", &self.sensors)?;
        self.radiation.evidence.iter().try_for_each(check_evidence)
    }

    fn as_message_ref(&self) -> MessageRefHidden<'_> {
        MessageRefHidden(MessageRef::Track(self))
    }

    fn from_message(message: Message) -> Result<Self, &'static str> {
        match message {
            Message::Track(track) => Ok(track),
            other => Err(other.kind_name()),
        }
    }
}

impl Published for AlertMessage {
    const KIND: &'static str = "alert";

    fn validate(&self) -> Result<(), CodecError> {
        check_version(self.schema)?;
        match &self.kind {
            AlertKind::Radiation {
                background, sigma, ..
            } => {
                non_negative("kind.radiation.background", *background)?;
                sigma.map_or(Ok(()), |sigma| finite("kind.radiation.sigma", sigma))
            }
            AlertKind::SensorFault { faults, .. } => distinct("kind.sensor_fault.faults", faults),
            AlertKind::Intrusion { .. } | AlertKind::SensorTamper { .. } => Ok(()),
        }
    }

    fn as_message_ref(&self) -> MessageRefHidden<'_> {
        MessageRefHidden(MessageRef::Alert(self))
    }

    fn from_message(message: Message) -> Result<Self, &'static str> {
        match message {
            Message::Alert(alert) => Ok(alert),
            other => Err(other.kind_name()),
        }
    }
}

impl Published for StatusMessage {
    const KIND: &'static str = "status";

    fn validate(&self) -> Result<(), CodecError> {
        check_version(self.schema)
    }

    fn as_message_ref(&self) -> MessageRefHidden<'_> {
        MessageRefHidden(MessageRef::Status(self))
    }

    fn from_message(message: Message) -> Result<Self, &'static str> {
        match message {
            Message::Status(status) => Ok(status),
            other => Err(other.kind_name()),
        }
    }
}

impl Published for SensorHealthMessage {
    const KIND: &'static str = "sensor_health";

    fn validate(&self) -> Result<(), CodecError> {
        check_version(self.schema)?;
        if let Some(volts) = self.battery_v {
            non_negative("battery_v", volts)?;
        }
        if let Some(celsius) = self.temperature_c {
            // Absolute zero is the one bound physics gives.
            within("temperature_c", celsius, -273.15, f64::MAX)?;
        }
        distinct("faults", &self.faults)
    }

    fn as_message_ref(&self) -> MessageRefHidden<'_> {
        MessageRefHidden(MessageRef::SensorHealth(self))
    }

    fn from_message(message: Message) -> Result<Self, &'static str> {
        match message {
            Message::SensorHealth(health) => Ok(health),
            other => Err(other.kind_name()),
        }
    }
}

impl Published for Message {
    const KIND: &'static str = "any";

    fn validate(&self) -> Result<(), CodecError> {
        match self {
            Message::Track(track) => track.validate(),
            Message::Alert(alert) => alert.validate(),
            Message::Status(status) => status.validate(),
            Message::SensorHealth(health) => health.validate(),
        }
    }

    fn as_message_ref(&self) -> MessageRefHidden<'_> {
        match self {
            Message::Track(track) => track.as_message_ref(),
            Message::Alert(alert) => alert.as_message_ref(),
            Message::Status(status) => status.as_message_ref(),
            Message::SensorHealth(health) => health.as_message_ref(),
        }
    }

    fn from_message(message: Message) -> Result<Self, &'static str> {
        Ok(message)
    }
}

/// Encodes as compact JSON, after [`Published::validate`]: nothing that
/// fails the JSON Schema is published (serde_json would write NaN as `null`).
pub fn to_json<M: Published>(message: &M) -> Result<Vec<u8>, CodecError> {
    message.validate()?;
    // A track message is 700 to 900 bytes: starting there saves the three
    // or four reallocations (and copies) of `to_vec`'s 128-byte start.
    let mut json = Vec::with_capacity(JSON_CAPACITY);
    serde_json::to_writer(&mut json, message)?;
    Ok(json)
}

/// The buffer [`to_json`] starts with.
const JSON_CAPACITY: usize = 1024;

/// Decodes JSON and checks it with [`Published::validate`]; unknown fields
/// are rejected.
pub fn from_json<M: Published>(payload: &[u8]) -> Result<M, CodecError> {
    let message: M = json_from_slice(payload)?;
    message.validate()?;
    Ok(message)
}

/// `serde_json::from_slice`, with the same results, faster: the payload
/// is checked as UTF-8 in one pass and parsed as `str`, where
/// `from_slice` checks every string and key on its own (a fifth of
/// decoding a sensor report). JSON outside strings is ASCII, so invalid
/// UTF-8 anywhere fails either way; it is then parsed as bytes to get
/// serde_json's own error and position.
pub fn json_from_slice<T: DeserializeOwned>(payload: &[u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(payload) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(payload),
    }
}

/// Encodes in the postcard layout described in the [module docs](self),
/// after [`Published::validate`].
pub fn to_postcard<M: Published>(message: &M) -> Result<Vec<u8>, CodecError> {
    message.validate()?;
    // A version above 255 would need a wider header; the test
    // `schema_version_fits_the_postcard_header` keeps this lossless.
    let header = vec![SCHEMA_VERSION as u8];
    Ok(postcard::to_extend(&message.as_message_ref().0, header)?)
}

/// Decodes the postcard layout; asking for [`Message`] accepts every kind.
pub fn from_postcard<M: Published>(payload: &[u8]) -> Result<M, CodecError> {
    let (&version, body) = payload.split_first().ok_or(CodecError::Empty)?;
    check_version(u32::from(version))?;
    let (message, rest) = postcard::take_from_bytes::<Message>(body)?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes { count: rest.len() });
    }
    message.validate()?;
    M::from_message(message).map_err(|found| CodecError::WrongKind {
        expected: M::KIND,
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_fits_the_postcard_header() {
        assert!(u8::try_from(SCHEMA_VERSION).is_ok());
    }

    #[test]
    fn json_from_slice_gives_from_slices_results() {
        let payloads: [&[u8]; 7] = [
            br#"{"a":"\u00e9 plain","b":[1,2.5,null]}"#,
            "{\"a\":\"é ∑\"}".as_bytes(),
            b"{\"a\":\"\xff\"}",
            b"{\"\xc3\":1}",
            b"\xff{}",
            b"{\"a\":1,}",
            b"",
        ];
        for payload in payloads {
            let ours = json_from_slice::<serde_json::Value>(payload);
            let theirs = serde_json::from_slice::<serde_json::Value>(payload);
            match (ours, theirs) {
                (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs),
                (Err(ours), Err(theirs)) => assert_eq!(ours.to_string(), theirs.to_string()),
                (ours, theirs) => panic!("{payload:?}: {ours:?} vs {theirs:?}"),
            }
        }
    }

    #[test]
    fn within_rejects_non_finite_values() {
        assert!(within("x", f64::NAN, 0.0, 1.0).is_err());
        assert!(finite("x", f64::INFINITY).is_err());
        assert!(non_negative("x", -0.1).is_err());
        assert!(within("x", 1.0, 0.0, 1.0).is_ok());
    }
}
