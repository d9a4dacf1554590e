//! picket-wire: the serial wire protocol between sensors and picketd.
//!
//! Sensors send [`Message`]s in frames (see `SPEC.md` next to this crate for
//! the byte-level definition, written for C firmware authors):
//!
//! ```text
//! COBS( version:u8 ‖ postcard(Message) ‖ CRC-32C(version ‖ payload):u32 LE ) ‖ 0x00
//! ```
//!
//! * [`encode_frame`] writes one frame into a caller's buffer, no allocation.
//! * [`FrameDecoder`] accepts arbitrary chunks of a noisy byte stream and yields
//!   one [`FeedResult`] per frame; a corrupted byte costs the frame it is in,
//!   never the stream. Rejections are counted in [`DecoderStats`].
//!
//! The same types serialise to JSON (externally tagged, snake_case) for
//! sensors that publish over MQTT instead.
//!
//! # Features
//!
//! * `std` (default): links std and computes CRC-32C with 16 KiB of
//!   slice-by-16 tables, about twice as fast as byte-at-a-time on short frames.
//!   Without it the crate is `no_std`, allocation-free, and uses a 1 KiB table
//!   that fits sensor firmware written in Rust. Error types implement
//!   `core::error::Error` either way.
#![cfg_attr(not(any(feature = "std", test)), no_std)]

mod cobs;
mod decoder;
mod frame;
mod message;

pub use decoder::{DecoderStats, FeedResult, FrameDecoder};
pub use frame::{
    DELIMITER, EncodeError, FrameError, MAX_ENCODED_FRAME_LEN, MAX_FRAME_LEN, PROTOCOL_VERSION,
    crc32c, decode_frame, encode_frame,
};
pub use message::*;
