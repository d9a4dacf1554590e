//! What the I/O shell hands the engine.

use picket_schema::Timestamp;

/// Where a raw input came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InputSource {
    /// A serial port, by the name it has in the configuration (e.g.
    /// `/dev/ttyUSB0`). The bytes are one raw read: any number of frames,
    /// possibly cut mid-frame. The engine keeps one frame decoder per port,
    /// so replaying the recorded chunks reproduces the live decoding,
    /// decoder error counts included.
    Serial(String),
    /// An MQTT topic; the bytes are one message's payload: picket-wire JSON,
    /// or one picket-wire frame if the sensor is configured `mqtt_binary`.
    Mqtt(String),
}

/// One unit of input: bytes from a source, stamped with the host clock when
/// they were read. This is exactly what picketd records, so a recording
/// replays through [`Engine::handle_input`](crate::Engine::handle_input) to
/// the same outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInput {
    /// Where the bytes came from.
    pub source: InputSource,
    /// Host time at which they were read.
    pub received_at: Timestamp,
    /// The bytes.
    pub bytes: Vec<u8>,
}
