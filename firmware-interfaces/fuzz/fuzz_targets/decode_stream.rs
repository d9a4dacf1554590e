//! Arbitrary bytes, fed in arbitrary chunks, must never panic the decoder,
//! must be accounted for byte by byte, and anything it accepts must survive a
//! re-encode unchanged (otherwise the decoder accepted something the encoder
//! would never produce, i.e. a mis-decode).
#![no_main]

use libfuzzer_sys::fuzz_target;
use picket_wire::{FeedResult, FrameDecoder, MAX_ENCODED_FRAME_LEN, decode_frame, encode_frame};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size so the fuzzer explores frames
    // split at every possible point.
    let Some((&chunk_selector, stream)) = data.split_first() else {
        return;
    };
    let chunk_len = usize::from(chunk_selector).max(1);

    let mut decoder: FrameDecoder = FrameDecoder::new();
    let mut frames_seen = 0u64;
    let mut errors_seen = 0u64;
    for chunk in stream.chunks(chunk_len) {
        let mut input = chunk;
        loop {
            match decoder.feed(input) {
                FeedResult::Consumed => break,
                FeedResult::Frame { message, remaining } => {
                    frames_seen += 1;
                    let mut wire = [0u8; MAX_ENCODED_FRAME_LEN];
                    let frame =
                        encode_frame(&message, &mut wire).expect("accepted message re-encodes");
                    let (_delimiter, body) = frame.split_last_mut().expect("frame has a delimiter");
                    assert_eq!(
                        decode_frame(body),
                        Ok(message),
                        "re-encoded message decodes identically"
                    );
                    input = remaining;
                }
                FeedResult::Error { remaining, .. } => {
                    errors_seen += 1;
                    input = remaining;
                }
            }
        }
    }

    let stats = decoder.stats();
    assert_eq!(stats.bytes, stream.len() as u64);
    assert_eq!(stats.frames, frames_seen);
    assert_eq!(stats.rejected(), errors_seen);
    let delimiters = stream.iter().filter(|&&b| b == 0).count() as u64;
    assert_eq!(
        frames_seen + errors_seen,
        delimiters,
        "one outcome per delimiter"
    );
});
