//! `picket replay --max` throughput: records read back and fed through the
//! engine (the library loop the command runs, without writing files), next
//! to the reader alone on the same recording, and with every output
//! JSON-encoded and written as `--outputs FILE` does (to a file in the
//! bench's temporary directory).
//!
//! `tracker_only` times picket-track alone on the scans the engine hands it
//! for the same recording (built directly, checked against the engine's
//! scan and detection counts): the part of the replay that must run in
//! order on one thread, a floor under the whole loop.
//!
//! The recording is tests/support/recording.rs's site: two radars (serial
//! frames in 64-byte reads, MQTT JSON), 20 targets, a tick every 100 ms,
//! one hour: about 100,000 records, recorded as picketd records.
//!
//! Run: `CARGO_TARGET_DIR=target-record cargo bench -p picket-cli --bench replay`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/support/recording.rs"]
mod recording;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use picket_cli::replay::{OutputsWriter, Pace, replay};
use picket_engine::Engine;
use picket_record::Reader;
use picket_track::Tracker;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let events = recording::events(3600, 20);
    recording::record_live(dir.path(), &events);
    let reader = Reader::open_read_only(dir.path()).unwrap();
    let records = reader.report().records();
    assert_eq!(records, events.len() as u64);
    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(records));
    group.bench_function("reader_only", |b| {
        b.iter(|| {
            let reader = Reader::open_read_only(dir.path()).unwrap();
            let mut cursor = reader.cursor();
            let mut n = 0u64;
            while let Some(record) = cursor.next().unwrap() {
                n += record.entry.payload.len() as u64;
            }
            black_box(n)
        });
    });
    group.bench_function("reader_and_engine", |b| {
        b.iter_batched(
            || Engine::new(recording::config()).unwrap(),
            |mut engine| black_box(recording::replay_max(dir.path(), &mut engine)),
            BatchSize::PerIteration,
        );
    });
    let scans = recording::tracker_scans(3600, 20);
    let mut engine = Engine::new(recording::config()).unwrap();
    recording::replay_max(dir.path(), &mut engine);
    let detections: usize = scans.iter().map(|(_, scan)| scan.len()).sum();
    assert_eq!(engine.counters().scans, scans.len() as u64);
    assert_eq!(engine.counters().detections, detections as u64);
    let tracker_config = recording::config().tracker.tracker_config();
    group.bench_function("tracker_only", |b| {
        b.iter_batched(
            || Tracker::new(tracker_config.clone()).unwrap(),
            |mut tracker| {
                let mut events = 0usize;
                for (time, scan) in &scans {
                    events += tracker.handle_scan(*time, scan).unwrap().len();
                }
                black_box(events)
            },
            BatchSize::PerIteration,
        );
    });
    // Outside the recording's directory, which holds only segments.
    let out_dir = tempfile::tempdir().unwrap();
    let outputs_path = out_dir.path().join("outputs.jsonl");
    group.bench_function("reader_engine_and_outputs_file", |b| {
        b.iter_batched(
            || Engine::new(recording::config()).unwrap(),
            |mut engine| {
                let reader = Reader::open_read_only(dir.path()).unwrap();
                let mut writer = OutputsWriter::create(&outputs_path).unwrap();
                let stats = replay(
                    &reader,
                    &mut engine,
                    Pace::Max,
                    |output| writer.write(output),
                    |_| {},
                )
                .unwrap();
                writer.finish().unwrap();
                black_box(stats)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
