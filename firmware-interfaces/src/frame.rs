//! One frame: `COBS(version ‖ postcard(Message) ‖ CRC-32C-LE(version ‖ payload)) ‖ 0x00`.
//!
//! The envelope (version byte first, CRC-32C last) is fixed for all protocol
//! versions, so a receiver can always tell "corrupted" from "newer firmware".

use core::fmt;

use serde::Deserialize;

use crate::cobs;
use crate::message::Message;

/// The protocol version this crate speaks, sent as the first byte of every
/// frame. Bump it on any change to the message encoding.
pub const PROTOCOL_VERSION: u8 = 1;

/// Longest decoded frame (version byte, payload, CRC), in bytes.
///
/// The largest v1 message, a radiation sample with a full spectrum of
/// `u32::MAX` bins and every integer at its maximum, takes 367; the rest is headroom for compatible growth.
pub const MAX_FRAME_LEN: usize = 512;

/// Longest frame on the wire, including COBS overhead and the delimiter.
/// A buffer this long always suffices for [`encode_frame`].
pub const MAX_ENCODED_FRAME_LEN: usize = cobs::max_encoded_len(MAX_FRAME_LEN) + 1;

/// The byte that ends every frame.
pub const DELIMITER: u8 = 0x00;

const VERSION_LEN: usize = 1;
const CRC_LEN: usize = 4;
/// Version byte plus CRC: a frame shorter than this cannot be valid.
const MIN_FRAME_LEN: usize = VERSION_LEN + CRC_LEN;

/// CRC-32C (Castagnoli): better error detection than CRC-32/ISO-HDLC at the
/// same cost, and hardware-accelerated on many MCUs and CPUs.
const CRC32C_ALGORITHM: &crc::Algorithm<u32> = &crc::CRC_32_ISCSI;

// Microcontrollers keep the 1 KiB byte-at-a-time table in flash.
#[cfg(not(feature = "std"))]
static CRC32C: crc::Crc<u32, crc::Table<1>> = crc::Crc::<u32, crc::Table<1>>::new(CRC32C_ALGORITHM);

/// CRC-32C of `bytes`, as used in the frame trailer.
#[cfg(not(feature = "std"))]
pub fn crc32c(bytes: &[u8]) -> u32 {
    CRC32C.checksum(bytes)
}

// Hosts use the crc crate's 16 KiB of slice-by-16 tables with their own loop:
// the crate's `checksum` goes 16 bytes at a time and then byte by byte, and
// frames are short (30-40 bytes typically), so most of its time would go to
// the slow byte-wise tail. An 8-byte step before the tail halves the CRC's
// share of decoding time.
#[cfg(feature = "std")]
static CRC32C_TABLES: crc::Crc<u32, crc::Table<16>> =
    crc::Crc::<u32, crc::Table<16>>::new(CRC32C_ALGORITHM);

/// CRC-32C of `bytes`, as used in the frame trailer.
#[cfg(feature = "std")]
pub fn crc32c(bytes: &[u8]) -> u32 {
    // Entry k of the tables is the CRC contribution of a byte followed by k
    // zero bytes (reflected form), the usual slice-by-N layout, so a block of
    // N bytes is folded in with tables N-1 down to 0.
    let tables = CRC32C_TABLES.table();
    let fold = |crc: u32, block: &[u8]| {
        let mut folded = 0;
        for (position, &byte) in block.iter().enumerate() {
            let crc_byte = if position < 4 {
                (crc >> (8 * position)) as u8
            } else {
                0
            };
            folded ^= tables[block.len() - 1 - position][usize::from(byte ^ crc_byte)];
        }
        folded
    };
    let mut crc = !0u32;
    let (blocks, rest) = bytes.as_chunks::<16>();
    for block in blocks {
        crc = fold(crc, block);
    }
    let (blocks, tail) = rest.as_chunks::<8>();
    for block in blocks {
        crc = fold(crc, block);
    }
    for &byte in tail {
        crc = tables[0][usize::from(byte ^ crc as u8)] ^ (crc >> 8);
    }
    !crc
}

/// Why [`encode_frame`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is shorter than the encoded frame needs;
    /// [`MAX_ENCODED_FRAME_LEN`] is always enough.
    BufferTooSmall,
    /// The message does not fit in [`MAX_FRAME_LEN`]. Cannot happen for
    /// messages built from this crate's bounded types; kept so the encoder
    /// never has to panic.
    MessageTooLarge,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall => f.write_str("output buffer too small for the frame"),
            EncodeError::MessageTooLarge => f.write_str("message exceeds the maximum frame length"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Why a received frame was rejected. Each rejected frame has exactly one
/// cause, checked in this order: length, COBS, CRC, version, payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Two delimiters in a row. Harmless: senders may emit a leading 0x00 to
    /// terminate line noise before their first frame.
    Empty,
    /// More bytes than the decoder's buffer before a delimiter. The decoder
    /// discards up to the next delimiter and resynchronises there.
    TooLong,
    /// The bytes are not valid COBS.
    Cobs,
    /// Decoded to fewer bytes than a version byte and a CRC.
    TooShort,
    /// The CRC-32C trailer does not match: the frame was corrupted.
    Crc,
    /// The CRC is good but the version byte is one this crate does not speak.
    UnknownVersion(u8),
    /// The CRC and version are good but the payload is not a valid message
    /// (or has trailing bytes): the sender has a bug.
    Payload,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Empty => f.write_str("empty frame"),
            FrameError::TooLong => f.write_str("frame longer than the receive buffer"),
            FrameError::Cobs => f.write_str("invalid COBS encoding"),
            FrameError::TooShort => f.write_str("frame too short for version and CRC"),
            FrameError::Crc => f.write_str("CRC-32C mismatch"),
            FrameError::UnknownVersion(version) => {
                write!(f, "unknown protocol version {version}")
            }
            FrameError::Payload => f.write_str("payload is not a valid message"),
        }
    }
}

impl core::error::Error for FrameError {}

/// Encodes `message` as one complete frame, trailing delimiter included, into
/// `out`, and returns the part of `out` that was used.
///
/// ```
/// # use picket_wire::*;
/// let message = Message::Heartbeat(Heartbeat {
///     sensor_time_us: 1_700_000_000_000_000,
///     uptime_s: 3600,
///     battery_mv: Some(3700),
///     temperature_decicelsius: -45,
///     tamper: false,
///     faults: FaultFlags(0),
/// });
/// let mut buf = [0u8; MAX_ENCODED_FRAME_LEN];
/// let frame = encode_frame(&message, &mut buf)?;
/// assert_eq!(frame.last(), Some(&DELIMITER));
/// # Ok::<(), EncodeError>(())
/// ```
pub fn encode_frame<'out>(
    message: &Message,
    out: &'out mut [u8],
) -> Result<&'out mut [u8], EncodeError> {
    // Serialising straight into `out` would need the COBS pass to run in place
    // backwards; a stack scratch of MAX_FRAME_LEN is cheap even on an MCU.
    let mut raw = [0u8; MAX_FRAME_LEN];
    raw[0] = PROTOCOL_VERSION;
    let payload_len = postcard::to_slice(message, &mut raw[VERSION_LEN..MAX_FRAME_LEN - CRC_LEN])
        .map_err(|_| EncodeError::MessageTooLarge)?
        .len();
    // postcard wrote at most the slice it was given, so the CRC slot fits.
    let crc_at = VERSION_LEN + payload_len;
    let crc = crc32c(&raw[..crc_at]);
    raw[crc_at..crc_at + CRC_LEN].copy_from_slice(&crc.to_le_bytes());
    let raw = &raw[..crc_at + CRC_LEN];

    let encoded_len = cobs::encode(raw, out).ok_or(EncodeError::BufferTooSmall)?;
    *out.get_mut(encoded_len)
        .ok_or(EncodeError::BufferTooSmall)? = DELIMITER;
    out.get_mut(..=encoded_len)
        .ok_or(EncodeError::BufferTooSmall)
}

/// Decodes one COBS-encoded frame (without its delimiter) in place and checks
/// it. `encoded` is left holding scratch bytes.
///
/// Use [`crate::FrameDecoder`] for a byte stream; this is for transports that
/// already deliver whole frames.
pub fn decode_frame(encoded: &mut [u8]) -> Result<Message, FrameError> {
    // A delimiter inside the frame would mean the caller split the stream
    // wrongly; the stream decoder never gets here with one.
    if encoded.contains(&DELIMITER) {
        return Err(FrameError::Cobs);
    }
    decode_delimited_frame(encoded)
}

/// [`decode_frame`] for bytes already known to be free of delimiters.
#[inline]
pub(crate) fn decode_delimited_frame(encoded: &mut [u8]) -> Result<Message, FrameError> {
    if encoded.is_empty() {
        return Err(FrameError::Empty);
    }
    let decoded_range = cobs::decode_in_place(encoded).map_err(|_| FrameError::Cobs)?;
    let decoded = encoded.get(decoded_range).ok_or(FrameError::Cobs)?;
    if decoded.len() < MIN_FRAME_LEN {
        return Err(FrameError::TooShort);
    }
    let (checked, crc_bytes) = decoded.split_at(decoded.len() - CRC_LEN);
    let received_crc = u32::from_le_bytes(crc_bytes.try_into().map_err(|_| FrameError::TooShort)?);
    if crc32c(checked) != received_crc {
        return Err(FrameError::Crc);
    }
    let (version, payload) = checked.split_first().ok_or(FrameError::TooShort)?;
    if *version != PROTOCOL_VERSION {
        return Err(FrameError::UnknownVersion(*version));
    }
    // Driving the deserializer directly rather than through
    // `postcard::take_from_bytes` saves a move of the 312-byte message.
    let mut deserializer = postcard::Deserializer::from_bytes(payload);
    let message = Message::deserialize(&mut deserializer).map_err(|_| FrameError::Payload)?;
    match deserializer.finalize() {
        Ok([]) => Ok(message),
        // Trailing bytes mean sender and receiver disagree about the layout;
        // accepting the prefix could silently misread a field.
        Ok(_) | Err(_) => Err(FrameError::Payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_crc_crate_at_every_length() {
        let reference = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
        let bytes: std::vec::Vec<u8> = (0..200u32).map(|i| (i * 151 + 7) as u8).collect();
        for len in 0..bytes.len() {
            assert_eq!(
                crc32c(&bytes[..len]),
                reference.checksum(&bytes[..len]),
                "length {len}"
            );
        }
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }
}
