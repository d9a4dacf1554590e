//! Decoder and encoder throughput over a realistic mixed stream.
//!
//! `cargo bench -p picket-wire --bench decode`; the target is at least
//! 200 MB/s of frames decoded on one core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{SplitMix64, frame_bytes, sample_message};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use picket_wire::*;

const FRAMES: u32 = 10_000;
/// A typical serial driver read size.
const READ_LEN: usize = 4096;

fn mixed_messages() -> Vec<Message> {
    let mut rng = SplitMix64(0xBE7C_4A11);
    (0..FRAMES).map(|i| sample_message(&mut rng, i)).collect()
}

fn decode(c: &mut Criterion) {
    let messages = mixed_messages();
    let stream: Vec<u8> = messages.iter().flat_map(frame_bytes).collect();
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("mixed_stream_4k_reads", |b| {
        b.iter(|| {
            let mut decoder: FrameDecoder = FrameDecoder::new();
            let mut frames = 0u32;
            for read in black_box(&stream).chunks(READ_LEN) {
                let mut input = read;
                loop {
                    match decoder.feed(input) {
                        FeedResult::Consumed => break,
                        FeedResult::Frame { message, remaining } => {
                            black_box(&message);
                            frames += 1;
                            input = remaining;
                        }
                        FeedResult::Error { remaining, .. } => input = remaining,
                    }
                }
            }
            assert_eq!(frames, FRAMES);
        });
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let messages = mixed_messages();
    let encoded_len: usize = messages.iter().map(|m| frame_bytes(m).len()).sum();
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(encoded_len as u64));
    group.bench_function("mixed_stream", |b| {
        let mut wire = [0u8; MAX_ENCODED_FRAME_LEN];
        b.iter(|| {
            for message in black_box(&messages) {
                black_box(encode_frame(message, &mut wire).unwrap());
            }
        });
    });
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
