//! Virtual sensors into picketd over a real pty per serial sensor and a
//! real Mosquitto: the tracks picketd publishes score against the
//! simulator's truth, every mover is tracked, and each radiation carrier's
//! track is named by a radiation alert and flagged. Then picketd's own
//! recording of that run, played back by `picket-sim play` onto fresh ptys
//! and another broker, drives a second picketd to the same result.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use picket_cli::score::ScoringProtocol;
use picket_sim::demo::neutral;
use picket_sim::evaluate::{Evaluation, evaluate};
use picket_sim::live::{
    DRAIN_BOUND, Publisher, SendReport, drain, open_ports, play_events, port_paths,
};
use picket_sim::play::{PlayOptions, play};
use picket_sim::scenario::{Scenario, ScenarioConfig, generate};
use picket_sim::scenario_file;
use picket_sim::sensors::{Clock, DaemonSetup, Encoder, daemon_config};
use picket_sim::watch::{Seen, Watcher};
use picket_system_tests::mosquitto::Mosquitto;
use picketd::RunReport;
use tokio::sync::Mutex;

const SPEED: f64 = 10.0;
const SITE: &str = "checkpoint";

/// The runs are timed against the wall clock: one at a time on 2 cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn checkpoint() -> (ScenarioConfig, Scenario) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../simulators/scenarios/checkpoint.toml");
    let config = scenario_file::load(&path).unwrap();
    let scenario = generate(&config);
    (config, scenario)
}

struct Daemon {
    task: tokio::task::JoinHandle<Result<RunReport, picketd::DaemonError>>,
    stop: tokio::sync::oneshot::Sender<()>,
    watcher: Watcher,
}

async fn start_daemon(
    config: &ScenarioConfig,
    broker: u16,
    serial: &BTreeMap<String, String>,
    state: &Path,
    name: &str,
) -> Daemon {
    let text = daemon_config(
        config,
        &DaemonSetup {
            broker_host: "127.0.0.1",
            broker_port: broker,
            client_id: &format!("picketd-{name}"),
            serial_paths: serial,
            state_dir: state,
            speed: SPEED,
        },
    );
    let daemon_config = picketd::Config::parse(&text, Path::new("sim.toml"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let watcher = Watcher::connect("127.0.0.1", broker, &format!("watch-{name}"), SITE);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(picketd::run_with(
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
        "picketd {name} online"
    );
    Daemon {
        task,
        stop,
        watcher,
    }
}

impl Daemon {
    async fn stop(self) -> (RunReport, Seen) {
        // The last reports pass the reorder lag and coasting tracks
        // publish (the callers have waited for the ptys to be read), with
        // room for a loaded 2-core machine.
        tokio::time::sleep(Duration::from_millis(2000)).await;
        self.stop.send(()).unwrap();
        let report = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        (report, self.watcher.close().await)
    }
}

fn score(scenario: &Scenario, seen: &Seen, clock: Clock) -> Evaluation {
    let (tracks, alerts) = neutral(seen, clock);
    let e = evaluate(
        &scenario.truth,
        &tracks,
        &alerts,
        &scenario.carriers,
        &ScoringProtocol::default(),
    )
    .unwrap();
    eprint!("{}", e.render());
    e
}

/// The checks both runs must pass.
fn check(e: &Evaluation, seen: &Seen, clock: Clock) {
    assert!(e.gospa.gospa < 35.0, "{}", e.render());
    assert_eq!(e.truths_tracked, e.truths, "{}", e.render());
    assert!(e.breaks <= 3 && e.swaps <= 1, "{}", e.render());
    // Each carrier's track got the radiation alert, and nothing else did.
    assert_eq!(e.attribution.carriers, 2);
    assert_eq!(e.attribution.recall(), Some(1.0), "{}", e.render());
    assert_eq!(e.attribution.precision(), Some(1.0), "{}", e.render());
    // The named tracks are flagged in their own messages too.
    let (_, alerts) = neutral(seen, clock);
    assert!(alerts.iter().all(|a| a.detector == "rpm-01"));
    let named: BTreeSet<u64> = alerts.iter().flat_map(|a| a.track_ids.clone()).collect();
    for id in &named {
        assert!(
            seen.tracks
                .iter()
                .any(|t| t.track_id == *id && t.radiation.flagged),
            "track {id} flagged"
        );
    }
    assert_eq!(seen.unparsed, 0);
}

struct Live {
    seen: Seen,
    report: RunReport,
    sent: SendReport,
    clock: Clock,
    paths: BTreeMap<String, String>,
}

async fn live_run(config: &ScenarioConfig, scenario: &Scenario, broker: u16, dir: &Path) -> Live {
    let mut ports = open_ports(config, Some(dir)).unwrap();
    assert!(ports.len() >= 10, "one pty per serial sensor");
    let paths = port_paths(&ports);
    let daemon = start_daemon(config, broker, &paths, &dir.join("state"), "live").await;
    let mut publisher = Publisher::connect("127.0.0.1", broker, "sim-sensors-pub");
    let clock = Clock {
        start_us: picketd::now().as_unix_micros() + 300_000,
        speed: SPEED,
    };
    let mut encoder = Encoder::new(config, clock);
    let (_keep, no_stop) = tokio::sync::watch::channel(false);
    let sent = play_events(
        config,
        &scenario.events,
        &mut encoder,
        &mut ports,
        &mut publisher,
        no_stop,
    )
    .await
    .unwrap();
    assert_eq!(drain(&ports, DRAIN_BOUND).await.unwrap(), 0);
    let (report, seen) = daemon.stop().await;
    let _ = publisher.close(DRAIN_BOUND).await;
    // picketd read (and recorded) the slave ends through links named by
    // sensor id.
    Live {
        seen,
        report,
        sent,
        clock,
        paths,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_sensors_through_ptys_and_mosquitto_give_scored_tracks_and_attributed_alarms() {
    let _one = ONE_AT_A_TIME.lock().await;
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (config, scenario) = checkpoint();
    assert_eq!(scenario.carriers.len(), 2);
    let live = live_run(&config, &scenario, broker.port(), dir.path()).await;

    assert!(
        live.sent.serial_frames > 100 && live.sent.mqtt_messages > 100,
        "{:?}",
        live.sent
    );
    assert_eq!(
        live.report.engine.dropped.total(),
        0,
        "{:?}",
        live.report.engine
    );
    // Every frame written to a pty and every JSON report reached the
    // engine as a message.
    assert_eq!(
        live.report.engine.messages,
        live.sent.serial_frames + live.sent.mqtt_messages,
        "{:?}",
        live.report.engine
    );
    let e = score(&scenario, &live.seen, live.clock);
    check(&e, &live.seen, live.clock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_played_back_onto_ptys_and_mqtt_drives_picketd_to_the_same_result() {
    let _one = ONE_AT_A_TIME.lock().await;
    let (config, scenario) = checkpoint();
    let dir = tempfile::tempdir().unwrap();
    let live = {
        let broker = Mosquitto::start().unwrap();
        live_run(&config, &scenario, broker.port(), dir.path()).await
    };
    let recording = dir.path().join("state/recording");
    assert!(recording.exists(), "picketd recorded the run");

    // A second picketd on a fresh broker, its serial ports the playback's
    // links (named after the recorded ports' file names).
    let broker = Mosquitto::start().unwrap();
    let play_dir = dir.path().join("play");
    let serial: BTreeMap<String, String> = live
        .paths
        .iter()
        .map(|(sensor, port)| {
            let name = Path::new(port).file_name().unwrap();
            (sensor.clone(), play_dir.join(name).display().to_string())
        })
        .collect();
    let daemon = start_daemon(
        &config,
        broker.port(),
        &serial,
        &dir.path().join("state-2"),
        "replayed",
    )
    .await;
    let played = play(
        &recording,
        &PlayOptions {
            host: "127.0.0.1".into(),
            port: broker.port(),
            serial_dir: play_dir,
            speed: Some(1.0),
            retime: true,
            // picketd retries the links until they appear.
            wait: Duration::from_millis(1500),
        },
    )
    .await
    .unwrap();
    let (report, seen) = daemon.stop().await;
    eprintln!("{played}");
    assert_eq!(played.serial_frames, live.sent.serial_frames);
    assert_eq!(played.serial_undecodable, 0);
    assert_eq!(played.mqtt_messages, live.sent.mqtt_messages);
    assert_eq!(report.engine.dropped.total(), 0, "{:?}", report.engine);
    // Every frame and message was sent again (above) and arrived: play
    // waits for picketd to read the last pty bytes (closing a pty discards
    // what is unread) and for the broker to acknowledge the last MQTT
    // messages (disconnecting at once lost them): 741 of 743 before.
    assert_eq!(played.serial_unread_bytes, 0);
    assert_eq!(played.mqtt_unacked, 0);
    assert_eq!(
        report.engine.messages, live.report.engine.messages,
        "live {:#?}\nplayed {:#?}",
        live.report, report
    );

    // Played at the recorded pace, sensor time s was stamped
    // start_wall + (s - first_record): the same clock, shifted.
    let shift = played.start_wall_us.unwrap() - played.first_record_us.unwrap();
    let clock = Clock {
        start_us: live.clock.start_us + shift,
        speed: SPEED,
    };
    let first = score(&scenario, &live.seen, live.clock);
    let again = score(&scenario, &seen, clock);
    check(&again, &seen, clock);
    assert!(
        (again.gospa.gospa - first.gospa.gospa).abs() < 5.0,
        "live {} vs played {}",
        first.render(),
        again.render()
    );
}
