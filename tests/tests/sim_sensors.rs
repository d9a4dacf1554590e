//! Virtual sensors into picketd over a real pty per serial sensor and a
//! real Mosquitto: the tracks picketd publishes score against the
//! simulator's truth, every mover is tracked, and each radiation carrier's
//! track is named by a radiation alert and flagged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use picket_cli::score::ScoringProtocol;
use picket_sim::demo::neutral;
use picket_sim::evaluate::evaluate;
use picket_sim::live::{Publisher, open_ports, play_events, port_paths};
use picket_sim::scenario::generate;
use picket_sim::scenario_file;
use picket_sim::sensors::{Clock, DaemonSetup, Encoder, daemon_config};
use picket_sim::watch::{Seen, Watcher};
use picket_system_tests::mosquitto::Mosquitto;

const SPEED: f64 = 10.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_sensors_through_ptys_and_mosquitto_give_scored_tracks_and_attributed_alarms() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../simulators/scenarios/checkpoint.toml");
    let config = scenario_file::load(&path).unwrap();
    let scenario = generate(&config);
    assert_eq!(scenario.carriers.len(), 2);

    let mut ports = open_ports(&config, Some(dir.path())).unwrap();
    assert!(ports.len() >= 10, "one pty per serial sensor");
    let paths = port_paths(&ports);
    let text = daemon_config(
        &config,
        &DaemonSetup {
            broker_host: "127.0.0.1",
            broker_port: broker.port(),
            client_id: "picketd-sim-sensors",
            serial_paths: &paths,
            state_dir: &dir.path().join("state"),
            speed: SPEED,
        },
    );
    let daemon_config = picketd::Config::parse(&text, Path::new("sim.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let watcher = Watcher::connect(
        "127.0.0.1",
        broker.port(),
        "sim-sensors-watch",
        "checkpoint",
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(picketd::run_with(
        daemon_config,
        picketd::RunOptions::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    assert!(
        watcher
            .wait_for(Duration::from_secs(20), Seen::online)
            .await,
        "picketd online"
    );

    let publisher = Publisher::connect("127.0.0.1", broker.port(), "sim-sensors-pub");
    let clock = Clock {
        start_us: picketd::now().as_unix_micros() + 300_000,
        speed: SPEED,
    };
    let mut encoder = Encoder::new(&config, clock);
    let (_keep, no_stop) = tokio::sync::watch::channel(false);
    let sent = play_events(
        &config,
        &scenario.events,
        &mut encoder,
        &mut ports,
        &publisher,
        no_stop,
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    stop.send(()).unwrap();
    let report = tokio::time::timeout(Duration::from_secs(20), daemon)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    publisher.close().await;
    let seen = watcher.close().await;

    assert!(
        sent.serial_frames > 100 && sent.mqtt_messages > 100,
        "{sent:?}"
    );
    assert_eq!(report.engine.dropped.total(), 0, "{:?}", report.engine);
    assert_eq!(seen.unparsed, 0);
    // Every frame written to a pty and every JSON report reached the
    // engine as a message.
    assert_eq!(
        report.engine.messages,
        sent.serial_frames + sent.mqtt_messages,
        "{:?}",
        report.engine
    );

    let (tracks, alerts) = neutral(&seen, clock);
    let e = evaluate(
        &scenario.truth,
        &tracks,
        &alerts,
        &scenario.carriers,
        &ScoringProtocol::default(),
    )
    .unwrap();
    eprint!("{}", e.render());
    assert!(e.gospa.gospa < 35.0, "{}", e.render());
    assert_eq!(e.truths_tracked, e.truths, "{}", e.render());
    assert!(e.breaks <= 3 && e.swaps <= 1, "{}", e.render());
    // Each carrier's track got the radiation alert, and nothing else did.
    assert_eq!(e.attribution.recall(), Some(1.0), "{}", e.render());
    assert_eq!(e.attribution.precision(), Some(1.0), "{}", e.render());
    // The named tracks are flagged in their own messages too.
    let named: BTreeSet<u64> = alerts.iter().flat_map(|a| a.track_ids.clone()).collect();
    for id in &named {
        assert!(
            seen.tracks
                .iter()
                .any(|t| t.track_id == *id && t.radiation.flagged),
            "track {id} flagged"
        );
    }
    assert!(alerts.iter().all(|a| a.detector == "rpm-01"));
}
