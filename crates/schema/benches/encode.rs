//! Encode and decode cost of a typical track message, JSON vs postcard.
//!
//! `cargo bench -p picket-schema --bench encode`; the payload sizes are
//! printed first, as they matter as much as the time on a radio link.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use picket_schema::{TrackMessage, from_json, from_postcard, to_json, to_postcard};

fn track_encoding(c: &mut Criterion) {
    // The golden track: confirmed, one radiation evidence, three sensors.
    let track = common::track();
    let json = to_json(&track).unwrap();
    let postcard = to_postcard(&track).unwrap();
    println!(
        "track message size: json {} bytes, postcard {} bytes",
        json.len(),
        postcard.len()
    );

    let mut group = c.benchmark_group("track");
    group.bench_function("json_encode", |b| {
        b.iter(|| to_json(black_box(&track)).unwrap())
    });
    group.bench_function("json_decode", |b| {
        b.iter(|| from_json::<TrackMessage>(black_box(&json)).unwrap())
    });
    group.bench_function("postcard_encode", |b| {
        b.iter(|| to_postcard(black_box(&track)).unwrap())
    });
    group.bench_function("postcard_decode", |b| {
        b.iter(|| from_postcard::<TrackMessage>(black_box(&postcard)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, track_encoding);
criterion_main!(benches);
