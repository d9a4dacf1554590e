//! What the engine asks the publisher to send.

use picket_schema::{
    AlertMessage, CodecError, SensorHealthMessage, TrackMessage, to_json, track_clear_payload,
};

/// A message for the publisher.
///
/// Every message is built with `seq: 0`: sequence numbers belong to the
/// daemon's durable outbox, which stamps them with [`Output::set_seq`] as it
/// enqueues. Keeping them out of the engine keeps its output a pure function
/// of its input, so replay compares byte for byte.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Full MQTT topic, from [`picket_schema::Topics`].
    pub topic: String,
    /// Whether to publish retained (tracks, sensor health, track clears).
    pub retained: bool,
    /// The message.
    pub message: OutputMessage,
}

/// The payload of an [`Output`].
#[derive(Debug, Clone, PartialEq)]
pub enum OutputMessage {
    /// A track's new state.
    Track(TrackMessage),
    /// The empty retained payload that clears a deleted track's topic; it
    /// always follows that track's final `deleted` message.
    TrackCleared,
    /// An alert.
    Alert(AlertMessage),
    /// A sensor's health.
    SensorHealth(SensorHealthMessage),
}

impl Output {
    /// Sets the publisher's sequence number (no-op for a track clear, which
    /// has no body).
    pub fn set_seq(&mut self, seq: u64) {
        match &mut self.message {
            OutputMessage::Track(track) => track.seq = seq,
            OutputMessage::Alert(alert) => alert.seq = seq,
            OutputMessage::SensorHealth(health) => health.seq = seq,
            OutputMessage::TrackCleared => {}
        }
    }

    /// The JSON payload to publish (empty for a track clear).
    pub fn to_json(&self) -> Result<Vec<u8>, CodecError> {
        match &self.message {
            OutputMessage::Track(track) => to_json(track),
            OutputMessage::Alert(alert) => to_json(alert),
            OutputMessage::SensorHealth(health) => to_json(health),
            OutputMessage::TrackCleared => Ok(track_clear_payload().to_vec()),
        }
    }
}
