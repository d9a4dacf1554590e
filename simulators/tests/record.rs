//! `picket-sim record`: the demo's checkpoint scenario recorded without a
//! daemon, then replayed into the neutral tracks and alerts files `picket
//! replay --out --alerts` writes, scores as the live demo does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

use picket_cli::formats::{AlertRecord, TrackRecord, read_file};
use picket_cli::replay::{AlertsWriter, Pace, TracksWriter, parse_engine_config, replay};
use picket_cli::score::ScoringProtocol;
use picket_engine::Engine;
use picket_record::{Reader, RecordKind, RecorderConfig};
use picket_sim::evaluate::evaluate;
use picket_sim::record::{RecordScenarioError, RecordSetup, raw_inputs, record};
use picket_sim::scenario::{Transport, generate};
use picket_sim::scenario_file;
use picket_sim::sensors::{DaemonSetup, TICK_INTERVAL_MS, daemon_config, report_topic, sensors};

const START_US: i64 = 1_767_225_600_000_000;

fn scenario_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/checkpoint.toml")
}

#[test]
fn a_recorded_scenario_replays_to_tracks_that_score_like_the_demo() {
    let config = scenario_file::load(&scenario_path()).unwrap();
    let scenario = generate(&config);
    let serial_paths: BTreeMap<String, String> = sensors(&config, 1.0)
        .into_iter()
        .filter(|s| s.transport == Transport::Serial)
        .map(|s| (s.id.clone(), format!("/dev/serial/by-id/{}", s.id)))
        .collect();
    let setup = RecordSetup {
        start_us: START_US,
        serial_paths: serial_paths.clone(),
        tick_interval_ms: TICK_INTERVAL_MS,
    };
    let inputs = raw_inputs(&config, &scenario, &setup).unwrap();
    // A hello from every serial sensor, then one input per sensor event.
    assert_eq!(inputs.len(), serial_paths.len() + scenario.events.len());
    assert!(
        inputs
            .windows(2)
            .all(|w| w[0].received_at <= w[1].received_at)
    );
    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("recording");
    let summary = record(&recording, &inputs, &setup, RecorderConfig::default()).unwrap();
    assert_eq!(
        summary.serial_inputs + summary.mqtt_inputs,
        inputs.len() as u64
    );
    assert!(summary.serial_inputs > 0 && summary.mqtt_inputs > 0);

    // Ticks every 50 ms, inputs between them, one flush at the end.
    let reader = Reader::open_read_only(&recording).unwrap();
    let mut cursor = reader.cursor();
    let mut ticks = Vec::new();
    let mut kinds = Vec::new();
    let mut mqtt_sources = std::collections::BTreeSet::new();
    while let Some(record) = cursor.next().unwrap() {
        let entry = record.entry;
        kinds.push(entry.kind);
        match entry.kind {
            RecordKind::Tick => ticks.push(entry.time_us),
            RecordKind::Mqtt => {
                mqtt_sources.insert(entry.source.to_owned());
            }
            _ => {}
        }
    }
    assert_eq!(ticks.len() as u64, summary.ticks);
    assert!(ticks.windows(2).all(|w| w[1] - w[0] == 50_000));
    assert_eq!(kinds.last(), Some(&RecordKind::Flush));
    assert_eq!(kinds.iter().filter(|k| **k == RecordKind::Flush).count(), 1);
    assert!(mqtt_sources.contains(&report_topic("checkpoint", "radar-01")));

    // Replayed with the configuration `picket-sim config` writes.
    let toml = daemon_config(
        &config,
        &DaemonSetup {
            broker_host: "127.0.0.1",
            broker_port: 1883,
            client_id: "picketd-sim",
            serial_paths: &serial_paths,
            state_dir: dir.path(),
            speed: 1.0,
        },
    );
    let mut engine = Engine::new(parse_engine_config(&toml).unwrap()).unwrap();
    // What `picket replay --t0 <start> --out --alerts` writes.
    let (tracks_path, alerts_path) = (
        dir.path().join("tracks.jsonl"),
        dir.path().join("alerts.jsonl"),
    );
    let mut tracks = TracksWriter::create(&tracks_path, START_US).unwrap();
    let mut alerts = AlertsWriter::create(&alerts_path, START_US).unwrap();
    let stats = replay(
        &reader,
        &mut engine,
        Pace::Max,
        |output| {
            tracks.write(output)?;
            alerts.write(output)
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(alerts.rows(), 2);
    tracks.finish().unwrap();
    alerts.finish().unwrap();
    assert_eq!(stats.inputs, inputs.len() as u64);
    let counters = engine.counters();
    assert_eq!(counters.dropped.total(), 0, "{counters:?}");
    assert_eq!(counters.messages, inputs.len() as u64, "{counters:?}");

    // The demo's thresholds (README), scored as `picket-sim score` does.
    let tracks: Vec<TrackRecord> = read_file(&tracks_path, false).unwrap();
    let alerts: Vec<AlertRecord> = read_file(&alerts_path, false).unwrap();
    let e = evaluate(
        &scenario.truth,
        &tracks,
        &alerts,
        &scenario.carriers,
        &ScoringProtocol::default(),
    )
    .unwrap();
    eprint!("{}", e.render());
    assert_eq!(e.truths_tracked, e.truths, "{}", e.render());
    assert!(e.gospa.gospa <= 35.0, "{}", e.render());
    assert!(e.breaks <= 3 && e.swaps <= 1, "{}", e.render());
    assert_eq!(e.attribution.carriers, 2);
    assert_eq!(e.attribution.recall(), Some(1.0), "{}", e.render());
    assert!(e.attribution.precision() >= Some(0.5), "{}", e.render());
}

#[test]
fn record_refuses_a_directory_that_holds_a_recording() {
    let config = scenario_file::load(&scenario_path()).unwrap();
    let mut short = config.clone();
    short.duration = 2.0;
    let scenario = generate(&short);
    let setup = RecordSetup {
        start_us: START_US,
        serial_paths: sensors(&short, 1.0)
            .into_iter()
            .map(|s| (s.id.clone(), format!("/dev/{}", s.id)))
            .collect(),
        tick_interval_ms: TICK_INTERVAL_MS,
    };
    let inputs = raw_inputs(&short, &scenario, &setup).unwrap();
    let dir = tempfile::tempdir().unwrap();
    record(dir.path(), &inputs, &setup, RecorderConfig::default()).unwrap();
    let again = record(dir.path(), &inputs, &setup, RecorderConfig::default());
    assert!(
        matches!(again, Err(RecordScenarioError::NotEmpty(_))),
        "{again:?}"
    );
    let no_ticks = RecordSetup {
        tick_interval_ms: 0,
        ..setup.clone()
    };
    let other = tempfile::tempdir().unwrap();
    assert!(matches!(
        record(other.path(), &inputs, &no_ticks, RecorderConfig::default()),
        Err(RecordScenarioError::NoTicks)
    ));
    let missing = RecordSetup {
        serial_paths: BTreeMap::new(),
        ..setup
    };
    assert!(matches!(
        raw_inputs(&short, &scenario, &missing),
        Err(RecordScenarioError::NoSerialPath(_))
    ));
}

#[test]
fn the_record_command_writes_a_recording_truth_and_carriers_and_refuses_to_append() {
    let dir = tempfile::tempdir().unwrap();
    let (recording, truth) = (dir.path().join("recording"), dir.path().join("truth"));
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_picket-sim"))
            .arg("record")
            .arg(scenario_path())
            .args(["--duration", "5", "--out"])
            .arg(&recording)
            .arg("--truth")
            .arg(&truth)
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{first:?}");
    let summary = String::from_utf8(first.stdout).unwrap();
    assert!(summary.starts_with("recorded "), "{summary}");
    let reader = Reader::open_read_only(&recording).unwrap();
    assert!(reader.report().records() > 100 && reader.report().damage.is_empty());
    let carriers: Vec<u64> =
        serde_json::from_str(&std::fs::read_to_string(truth.join("carriers.json")).unwrap())
            .unwrap();
    assert_eq!(carriers.len(), 2);
    assert!(std::fs::metadata(truth.join("truth.jsonl")).unwrap().len() > 0);
    let again = run();
    assert!(!again.status.success());
    let error = String::from_utf8(again.stderr).unwrap();
    assert!(error.contains("already holds a recording"), "{error}");
}
