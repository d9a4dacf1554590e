//! `picket replay --max` on a realistic site: the border-segment scenario
//! (40 seismic and 10 acoustic nodes, PIR and magnetic lane sensors, a
//! radiation portal, three cameras, two radars, nine movers, sensor
//! faults; five minutes) recorded by `picket-sim record` and replayed with
//! the configuration `picket-sim config` writes (ticks every 50 ms).
//! crates/cli/benches/replay.rs measures the same loop on a two-radar
//! recording.
//!
//! Run: `CARGO_TARGET_DIR=target-record cargo bench -p picket-sim --bench replay_site`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

// The two-radar bench's support: its `replay_max` loop, measured here too.
#[path = "../../crates/cli/tests/support/recording.rs"]
mod recording;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use picket_cli::replay::parse_engine_config;
use picket_engine::Engine;
use picket_record::{Reader, RecorderConfig};
use picket_sim::record::{RecordSetup, raw_inputs, record};
use picket_sim::scenario::{Transport, generate};
use picket_sim::scenario_file;
use picket_sim::sensors::{DaemonSetup, TICK_INTERVAL_MS, daemon_config, sensors};

fn bench(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/border-segment.toml");
    let config = scenario_file::load(&path).unwrap();
    let scenario = generate(&config);
    let serial_paths = sensors(&config, 1.0)
        .into_iter()
        .filter(|s| s.transport == Transport::Serial)
        .map(|s| (s.id.clone(), format!("/dev/serial/by-id/{}", s.id)))
        .collect();
    let setup = RecordSetup {
        start_us: 1_767_225_600_000_000,
        serial_paths,
        tick_interval_ms: TICK_INTERVAL_MS,
    };
    let dir = tempfile::tempdir().unwrap();
    let inputs = raw_inputs(&config, &scenario, &setup).unwrap();
    let summary = record(dir.path(), &inputs, &setup, RecorderConfig::default()).unwrap();
    let engine_config = parse_engine_config(&daemon_config(
        &config,
        &DaemonSetup {
            broker_host: "127.0.0.1",
            broker_port: 1883,
            client_id: "picketd-sim",
            serial_paths: &setup.serial_paths,
            state_dir: dir.path(),
            speed: 1.0,
        },
    ))
    .unwrap();
    let reader = Reader::open_read_only(dir.path()).unwrap();
    let records = reader.report().records();
    eprintln!(
        "{records} records: {} raw inputs, {} ticks, 1 flush",
        summary.serial_inputs + summary.mqtt_inputs,
        summary.ticks
    );
    let mut group = c.benchmark_group("replay_site");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(records));
    group.bench_function("reader_and_engine", |b| {
        b.iter_batched(
            || Engine::new(engine_config.clone()).unwrap(),
            |mut engine| black_box(recording::replay_max(dir.path(), &mut engine)),
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
