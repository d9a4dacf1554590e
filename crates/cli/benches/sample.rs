//! The tracking loop on the public sample, the figure compared with Stone
//! Soup's 816 detections/s in `tests/data/sample/REFERENCE.md`.
//!
//! `cargo bench -p picket-cli --bench sample`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use picket_cli::formats::{DetectionRecord, read_file};
use picket_cli::track::track;
use picket_track::TrackerConfig;
use std::hint::black_box;
use std::path::Path;

fn bench(c: &mut Criterion) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/sample/detections.jsonl");
    let records: Vec<DetectionRecord> = read_file(&path, true).unwrap();
    let config = TrackerConfig::default();
    let mut group = c.benchmark_group("sample");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("track", |b| {
        b.iter(|| track(black_box(&records), &config).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
