//! Consistent Overhead Byte Stuffing.
//!
//! Our own ~60 lines rather than the `cobs` crate postcard pulls in: the
//! decoder needs to work in place inside the accumulator's buffer with our own
//! error classification, and the encoder's exact output is pinned by the test
//! vectors and `SPEC.md`, so it must not change under a dependency update.
//!
//! The encoder is the classic one (it emits a final `0x01` code when the input
//! ends right after a 254-byte run); the decoder accepts that and the shorter
//! variant without it.

/// Most bytes that encoding `raw_len` bytes can produce, excluding the
/// trailing delimiter: one code byte per started 254-byte run, plus one.
pub const fn max_encoded_len(raw_len: usize) -> usize {
    raw_len + raw_len / 254 + 1
}

use core::ops::Range;

/// The COBS input violates the encoding: a code byte is zero or points past
/// the end of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CobsError;

/// Encodes `raw` into `out` and returns the number of bytes written, or `None`
/// if `out` is too small. No delimiter is written.
pub fn encode(raw: &[u8], out: &mut [u8]) -> Option<usize> {
    // Checking the worst case once up front keeps bounds checks out of the
    // loop's decisions: every later index is below it.
    if out.len() < max_encoded_len(raw.len()) {
        return None;
    }
    let mut code_at = 0;
    let mut write_at = 1;
    let mut code: u8 = 1;
    for &byte in raw {
        if byte == 0 {
            *out.get_mut(code_at)? = code;
            code_at = write_at;
            write_at += 1;
            code = 1;
        } else {
            *out.get_mut(write_at)? = byte;
            write_at += 1;
            code += 1;
            if code == 0xFF {
                *out.get_mut(code_at)? = code;
                code_at = write_at;
                write_at += 1;
                code = 1;
            }
        }
    }
    *out.get_mut(code_at)? = code;
    Some(write_at)
}

/// Decodes `frame` (without its delimiter) in place and returns where the
/// decoded bytes now are: `frame[range]`.
///
/// Every code byte after the first sits exactly where its block's implied
/// zero belongs, one position after the decoded data starts. So decoding is
/// mostly overwriting code bytes with zeros and leaving the data where it is;
/// data only moves after a full 254-byte block (whose next code byte stands
/// for no zero and must be squeezed out), which real messages rarely have.
///
/// Zero bytes inside `frame` are not detected here: the stream decoder never
/// produces them, and [`crate::decode_frame`] checks for them up front.
pub fn decode_in_place(frame: &mut [u8]) -> Result<Range<usize>, CobsError> {
    let len = frame.len();
    let mut code_at = 0;
    let mut code = *frame.first().ok_or(CobsError)?;
    // Code bytes squeezed out so far; data at index i belongs at i - removed.
    let mut removed = 0;
    loop {
        if code == 0 {
            return Err(CobsError);
        }
        let run_start = code_at + 1;
        let run_end = code_at + usize::from(code);
        if run_end > len {
            return Err(CobsError);
        }
        if removed > 0 {
            frame.copy_within(run_start..run_end, run_start - removed);
        }
        // The zero implied after the last block is the delimiter itself.
        let Some(&next_code) = frame.get(run_end) else {
            return Ok(1..run_end - removed);
        };
        if code == 0xFF {
            removed += 1;
        } else {
            // Read `next_code` first: with nothing removed this overwrites it.
            frame[run_end - removed] = 0;
        }
        code_at = run_end;
        code = next_code;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(raw: &[u8]) {
        let mut encoded = [0u8; 1024];
        let len = encode(raw, &mut encoded).unwrap();
        assert!(len <= max_encoded_len(raw.len()));
        assert!(!encoded[..len].contains(&0), "encoded contains a zero");
        let decoded = decode_in_place(&mut encoded[..len]).unwrap();
        assert_eq!(&encoded[decoded], raw);
    }

    #[test]
    fn known_encodings_from_the_cobs_paper() {
        let mut out = [0u8; 16];
        let cases: [(&[u8], &[u8]); 5] = [
            (&[], &[0x01]),
            (&[0x00], &[0x01, 0x01]),
            (&[0x00, 0x00], &[0x01, 0x01, 0x01]),
            (&[0x11, 0x22, 0x00, 0x33], &[0x03, 0x11, 0x22, 0x02, 0x33]),
            (&[0x11, 0x00, 0x00, 0x00], &[0x02, 0x11, 0x01, 0x01, 0x01]),
        ];
        for (raw, expected) in cases {
            let len = encode(raw, &mut out).unwrap();
            assert_eq!(&out[..len], expected, "encoding {raw:02x?}");
        }
    }

    #[test]
    fn round_trips_around_run_length_boundaries() {
        for len in [0, 1, 253, 254, 255, 256, 507, 508, 509, 900] {
            let nonzero: std::vec::Vec<u8> = (0..len).map(|i| (i % 255 + 1) as u8).collect();
            round_trip(&nonzero);
            let mut with_zeros = nonzero.clone();
            for i in (0..len).step_by(97) {
                with_zeros[i] = 0;
            }
            round_trip(&with_zeros);
        }
    }

    #[test]
    fn decoder_accepts_the_short_form_after_a_full_run() {
        let mut frame = [0u8; 255];
        frame[0] = 0xFF;
        frame[1..].fill(7);
        assert_eq!(decode_in_place(&mut frame), Ok(1..255));
    }

    #[test]
    fn rejects_code_past_end_and_zero_code() {
        assert_eq!(decode_in_place(&mut [0x05, 1, 2]), Err(CobsError));
        assert_eq!(decode_in_place(&mut [0x02, 1, 0x00]), Err(CobsError));
        assert_eq!(decode_in_place(&mut [0x00]), Err(CobsError));
        assert_eq!(decode_in_place(&mut []), Err(CobsError));
    }

    #[test]
    fn encode_refuses_small_buffer() {
        assert_eq!(encode(&[1, 2, 3], &mut [0u8; 3]), None);
    }
}
