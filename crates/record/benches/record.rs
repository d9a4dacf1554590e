//! Recording throughput: reading a recording back (what `picket replay
//! --max` does before the engine), and appending with group commit.
//!
//! The recording mimics picketd's: serial reads of 64 bytes, MQTT JSON
//! payloads of 180 bytes, and ticks (no payload), in the proportion of a
//! busy site (2:1:1).
//!
//! Run: `CARGO_TARGET_DIR=target-record cargo bench -p picket-record --bench record`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use picket_record::{Entry, FsyncPolicy, Reader, RecordKind, Recorder, RecorderConfig, Retention};

const RECORDS: u64 = 1_000_000;
const T0_US: i64 = 1_767_225_600_000_000;

fn entry<'a>(i: u64, serial: &'a [u8], json: &'a [u8]) -> Entry<'a> {
    let time_us = T0_US + i as i64 * 100;
    match i % 4 {
        0 | 1 => Entry {
            time_us,
            kind: RecordKind::Serial,
            source: "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1GN1-if00-port0",
            payload: serial,
        },
        2 => Entry {
            time_us,
            kind: RecordKind::Mqtt,
            source: "picket/tower-07/sensors/radar-01/reports",
            payload: json,
        },
        _ => Entry {
            time_us,
            kind: RecordKind::Tick,
            source: "",
            payload: &[],
        },
    }
}

fn config(fsync: FsyncPolicy) -> RecorderConfig {
    RecorderConfig {
        fsync,
        max_segment_bytes: 64 * 1024 * 1024,
        retention: Retention {
            max_total_bytes: 1 << 40,
            max_age: None,
        },
        write_buffer_bytes: 64 * 1024,
    }
}

fn write_recording(dir: &Path) {
    let serial = [0x5Au8; 64];
    let json = [b'x'; 180];
    let (mut recorder, _) =
        Recorder::open(dir, config(FsyncPolicy::EveryRecords(100_000)), T0_US).unwrap();
    for i in 0..RECORDS {
        recorder.append(&entry(i, &serial, &json)).unwrap();
    }
    recorder.close().unwrap();
}

fn read(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    write_recording(dir.path());
    let mut group = c.benchmark_group("read");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(RECORDS));
    // What `picket replay` pays before the engine: the open (every record's
    // CRC checked) and a cursor pass (CRC checked again, no allocation).
    group.bench_function("open_and_iterate_1M", |b| {
        b.iter(|| {
            let reader = Reader::open_read_only(dir.path()).unwrap();
            let mut cursor = reader.cursor();
            let mut bytes = 0usize;
            while let Some(record) = cursor.next().unwrap() {
                bytes += record.entry.payload.len();
            }
            black_box(bytes)
        });
    });
    let reader = Reader::open_read_only(dir.path()).unwrap();
    assert_eq!(reader.report().records(), RECORDS);
    group.bench_function("iterate_1M", |b| {
        b.iter(|| {
            let mut cursor = reader.cursor();
            let mut bytes = 0usize;
            while let Some(record) = cursor.next().unwrap() {
                bytes += record.entry.payload.len();
            }
            black_box(bytes)
        });
    });
    group.finish();
}

fn append(c: &mut Criterion) {
    let serial = [0x5Au8; 64];
    let json = [b'x'; 180];
    let mut group = c.benchmark_group("append");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for (name, fsync, n) in [
        // Group commit every 100 ms of record time: 1000 records apart here.
        (
            "interval_100ms_x100k",
            FsyncPolicy::Interval(Duration::from_millis(100)),
            100_000u64,
        ),
        (
            "every_1000_records_x100k",
            FsyncPolicy::EveryRecords(1000),
            100_000,
        ),
        ("every_record_x200", FsyncPolicy::EveryRecord, 200),
    ] {
        group.throughput(Throughput::Elements(n));
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let dir = tempfile::tempdir().unwrap();
                    let (recorder, _) = Recorder::open(dir.path(), config(fsync), T0_US).unwrap();
                    (dir, recorder)
                },
                |(dir, mut recorder)| {
                    for i in 0..n {
                        recorder.append(&entry(i, &serial, &json)).unwrap();
                    }
                    recorder.close().unwrap();
                    dir
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, read, append);
criterion_main!(benches);
