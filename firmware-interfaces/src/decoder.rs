//! Stream decoder: turns arbitrary chunks of serial bytes into messages.

use crate::frame::{DELIMITER, FrameError, MAX_ENCODED_FRAME_LEN, decode_delimited_frame};
use crate::message::Message;

/// What one call to [`FrameDecoder::feed`] produced.
///
/// `remaining` is the unread tail of the input: feed it again until the
/// decoder answers [`FeedResult::Consumed`].
#[derive(Debug, Clone, PartialEq)]
// Same trade-off as `Message`: no heap to box into, and the result is consumed
// immediately by the caller's loop.
#[allow(clippy::large_enum_variant)]
pub enum FeedResult<'input> {
    /// All input was consumed without completing a frame.
    Consumed,
    /// A frame was completed and decoded.
    Frame {
        /// The decoded message.
        message: Message,
        /// Input after the frame's delimiter.
        remaining: &'input [u8],
    },
    /// A frame was completed and rejected; the decoder is already
    /// resynchronised on the next frame.
    Error {
        /// Why the frame was rejected.
        error: FrameError,
        /// Input after the frame's delimiter.
        remaining: &'input [u8],
    },
}

/// Counts of everything a [`FrameDecoder`] has seen, for health telemetry.
///
/// Plain integers: the decoder is owned by one task, so no atomics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderStats {
    /// Bytes consumed, delimiters included.
    pub bytes: u64,
    /// Frames decoded successfully.
    pub frames: u64,
    /// Empty frames (consecutive delimiters).
    pub empty: u64,
    /// Frames discarded for exceeding the buffer.
    pub too_long: u64,
    /// Frames with invalid COBS.
    pub cobs: u64,
    /// Frames too short to hold a version and CRC.
    pub too_short: u64,
    /// Frames with a CRC mismatch.
    pub crc: u64,
    /// Intact frames of a protocol version we do not speak.
    pub unknown_version: u64,
    /// Intact frames whose payload did not decode.
    pub payload: u64,
}

impl DecoderStats {
    /// All rejected frames, empty ones included.
    pub fn rejected(&self) -> u64 {
        self.empty
            + self.too_long
            + self.cobs
            + self.too_short
            + self.crc
            + self.unknown_version
            + self.payload
    }

    fn count_rejection(&mut self, error: FrameError) {
        let counter = match error {
            FrameError::Empty => &mut self.empty,
            FrameError::TooLong => &mut self.too_long,
            FrameError::Cobs => &mut self.cobs,
            FrameError::TooShort => &mut self.too_short,
            FrameError::Crc => &mut self.crc,
            FrameError::UnknownVersion(_) => &mut self.unknown_version,
            FrameError::Payload => &mut self.payload,
        };
        *counter += 1;
    }
}

/// Accumulates a byte stream and yields one result per delimiter-terminated
/// frame, modelled on postcard's `CobsAccumulator`.
///
/// `CAPACITY` bounds the encoded frame (without delimiter) it can hold; the
/// default fits every valid frame. A frame that overflows it is skipped up to
/// the next delimiter and reported as [`FrameError::TooLong`], so a lost
/// delimiter costs the two frames it joined, never the stream.
///
/// ```
/// # use picket_wire::*;
/// fn pump(decoder: &mut FrameDecoder, mut input: &[u8], mut on_message: impl FnMut(Message)) {
///     loop {
///         match decoder.feed(input) {
///             FeedResult::Consumed => return,
///             FeedResult::Frame { message, remaining } => {
///                 on_message(message);
///                 input = remaining;
///             }
///             // Already counted in decoder.stats(); log if wanted.
///             FeedResult::Error { remaining, .. } => input = remaining,
///         }
///     }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder<const CAPACITY: usize = { MAX_ENCODED_FRAME_LEN - 1 }> {
    buffer: [u8; CAPACITY],
    buffered: usize,
    /// Set when the current frame overflowed: drop bytes until a delimiter.
    discarding: bool,
    stats: DecoderStats,
}

impl<const CAPACITY: usize> Default for FrameDecoder<CAPACITY> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAPACITY: usize> FrameDecoder<CAPACITY> {
    /// An empty decoder with zeroed counters.
    pub const fn new() -> Self {
        Self {
            buffer: [0; CAPACITY],
            buffered: 0,
            discarding: false,
            stats: DecoderStats {
                bytes: 0,
                frames: 0,
                empty: 0,
                too_long: 0,
                cobs: 0,
                too_short: 0,
                crc: 0,
                unknown_version: 0,
                payload: 0,
            },
        }
    }

    /// Counters since construction.
    pub fn stats(&self) -> &DecoderStats {
        &self.stats
    }

    /// Drops any partial frame, e.g. after the serial port was reopened, so
    /// stale bytes are not glued onto the first new frame.
    pub fn reset(&mut self) {
        self.buffered = 0;
        self.discarding = false;
    }

    /// Consumes `input` up to and including the first delimiter and returns
    /// that frame's outcome, or [`FeedResult::Consumed`] if there was no
    /// delimiter (the bytes are kept for the next call).
    pub fn feed<'input>(&mut self, input: &'input [u8]) -> FeedResult<'input> {
        let Some(delimiter_at) = find_delimiter(input) else {
            self.stats.bytes += input.len() as u64;
            self.buffer_frame_bytes(input);
            return FeedResult::Consumed;
        };
        let (frame_tail, delimiter_and_rest) = input.split_at(delimiter_at);
        let remaining = delimiter_and_rest.get(1..).unwrap_or_default();
        self.stats.bytes += delimiter_at as u64 + 1;
        self.buffer_frame_bytes(frame_tail);

        let outcome = if self.discarding {
            Err(FrameError::TooLong)
        } else {
            decode_delimited_frame(&mut self.buffer[..self.buffered])
        };
        self.reset();
        // Count inside the match rather than before it: each move of a
        // 312-byte `Message` costs as much as decoding its COBS.
        match outcome {
            Ok(message) => {
                self.stats.frames += 1;
                FeedResult::Frame { message, remaining }
            }
            Err(error) => {
                self.stats.count_rejection(error);
                FeedResult::Error { error, remaining }
            }
        }
    }

    /// Appends delimiter-free bytes to the current frame, or starts
    /// discarding if they do not fit. One check per chunk, not per byte.
    fn buffer_frame_bytes(&mut self, bytes: &[u8]) {
        if self.discarding {
            return;
        }
        match self
            .buffer
            .get_mut(self.buffered..self.buffered + bytes.len())
        {
            Some(slot) => {
                slot.copy_from_slice(bytes);
                self.buffered += bytes.len();
            }
            None => {
                self.buffered = 0;
                self.discarding = true;
            }
        }
    }
}

/// Index of the first delimiter in `bytes`.
///
/// Scans eight bytes per step with the classic "has zero byte" bit trick:
/// `(w - 0x01..01) & !w & 0x80..80` is non-zero iff `w` has a zero byte, and
/// its lowest set bit marks the first one (borrows only propagate upwards, so
/// false positives appear only above a real zero).
fn find_delimiter(bytes: &[u8]) -> Option<usize> {
    const LOW_BITS: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // The trick finds zero bytes; the delimiter is zero, so no XOR is needed.
    const _: () = assert!(DELIMITER == 0);

    let (words, tail) = bytes.as_chunks::<8>();
    for (index, word) in words.iter().enumerate() {
        let word = u64::from_le_bytes(*word);
        let zero_bytes = word.wrapping_sub(LOW_BITS) & !word & HIGH_BITS;
        if zero_bytes != 0 {
            return Some(index * 8 + (zero_bytes.trailing_zeros() / 8) as usize);
        }
    }
    tail.iter()
        .position(|&byte| byte == DELIMITER)
        .map(|position| words.len() * 8 + position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_delimiter_matches_naive_search() {
        let mut bytes = [0x5Au8; 40];
        assert_eq!(find_delimiter(&bytes), None);
        for zero_at in 0..bytes.len() {
            bytes[zero_at] = 0;
            for start in 0..=zero_at {
                let slice = &bytes[start..];
                let naive = slice.iter().position(|&b| b == 0);
                assert_eq!(find_delimiter(slice), naive);
            }
            // Bytes that borrow in the bit trick (0x01, 0x80, 0xFF) must not
            // create false hits before the real zero.
            bytes[zero_at] = [0x01, 0x80, 0xFF][zero_at % 3];
        }
    }

    #[test]
    fn overlong_frame_is_skipped_and_next_frame_survives() {
        let mut decoder = FrameDecoder::<8>::new();
        let stream = [1u8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
        let FeedResult::Error { error, remaining } = decoder.feed(&stream) else {
            panic!("expected an error");
        };
        assert_eq!(error, FrameError::TooLong);
        assert_eq!(remaining, &[0]);
        assert!(matches!(
            decoder.feed(remaining),
            FeedResult::Error {
                error: FrameError::Empty,
                remaining: []
            }
        ));
        assert_eq!(decoder.stats().too_long, 1);
        assert_eq!(decoder.stats().empty, 1);
        assert_eq!(decoder.stats().bytes, 12);
    }
}
