//! The demo: picket end to end on a simulated checkpoint, then the offline
//! checks on a seeded scenario and the public sample.
//!
//! The end-to-end part starts an MQTT broker (embedded rumqttd, feature
//! `demo-broker`, or one given with `--broker`), virtual sensors on real
//! ptys (picket-wire frames) and MQTT (JSON) playing the seeded
//! `scenarios/checkpoint.toml` at N× speed, and the real picketd pipeline
//! in-process; a subscriber on picketd's topics draws a live view, and at
//! the end the tracks and alerts it received are scored against the truth.
//!
//! It is the first thing a newcomer runs, so it needs nothing beyond Rust,
//! finishes in well under a minute, and fails loudly (non-zero exit) if a
//! score misses its threshold ([`THRESHOLDS`]) or picket no longer beats the
//! Stone Soup reference on the sample: a demo that quietly shows a
//! regression would be worse than none.

use crate::evaluate::{Evaluation, evaluate};
use crate::live::{
    DRAIN_BOUND, LiveError, Publisher, SendReport, drain, open_ports, play_events, port_paths,
};
use crate::plot::tracks_svg;
use crate::scenario::{ScenarioConfig, generate};
use crate::scenario_file::{self, ScenarioFileError};
use crate::sensors::{Clock, DaemonSetup, Encoder, daemon_config, default_site};
use crate::watch::{Seen, Watcher};
use picket_cli::formats::AlertRecord;
use picket_cli::formats::{
    DetectionRecord, FileError, TrackRecord, TruthRecord, read_file, write_file,
};
use picket_cli::score::{ScoreSummary, ScoringProtocol, score};
use picket_cli::track::{Summary, TrackError, track};
use picket_schema::{AlertKind, TrackStatus};
use picket_track::TrackerConfig;
use picket_track::gospa::GospaError;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// The demo's scenario, built in so that the binary runs from anywhere.
pub const CHECKPOINT_SCENARIO: &str = include_str!("../scenarios/checkpoint.toml");

/// What the end-to-end run must achieve on the checkpoint scenario (at the
/// default 5× speed); the demo exits non-zero otherwise.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Highest mean GOSPA, metres.
    pub max_gospa: f64,
    /// Most track breaks.
    pub max_breaks: usize,
    /// Most identity swaps.
    pub max_swaps: usize,
    /// Lowest share of carriers whose track a radiation alert named.
    pub min_recall: f64,
    /// Lowest share of alert-named tracks that followed a carrier.
    pub min_precision: f64,
}

/// The thresholds the demo and its CI test hold picket to.
///
/// Measured on a 2-core machine: GOSPA 27.2 m, 1 break, 0 swaps, both
/// carriers named and nothing else. The margins allow for scheduling
/// jitter on a loaded machine (a report delayed past the reorder lag is
/// dropped), not for a worse tracker: a carrier whose track is not named
/// fails the demo outright.
pub const THRESHOLDS: Thresholds = Thresholds {
    max_gospa: 35.0,
    max_breaks: 3,
    max_swaps: 1,
    min_recall: 1.0,
    min_precision: 0.5,
};

/// Mean GOSPA (m) of Stone Soup 1.9.1's stock GNN tracker on the public
/// sample (`tests/data/sample/REFERENCE.md`), the figure picket must beat.
pub const STONE_SOUP_GNN_GOSPA: f64 = 27.10;

/// Stone Soup GNN's tracking-loop throughput on the sample, detections/s
/// (CPython, one core of a 2-core machine).
pub const STONE_SOUP_GNN_RATE: f64 = 816.0;

/// Why the demo failed.
#[derive(Debug, Error)]
pub enum DemoError {
    /// An input could not be read or an output written.
    #[error(transparent)]
    File(#[from] FileError),
    /// Creating the output directory or writing a picture failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Tracking failed.
    #[error(transparent)]
    Track(#[from] TrackError),
    /// Scoring failed.
    #[error(transparent)]
    Score(#[from] GospaError),
    /// The scenario file is unusable.
    #[error(transparent)]
    Scenario(#[from] ScenarioFileError),
    /// The virtual sensors failed.
    #[error(transparent)]
    Live(#[from] LiveError),
    /// The embedded broker did not start.
    #[cfg(feature = "demo-broker")]
    #[error(transparent)]
    Broker(#[from] crate::broker::BrokerError),
    /// No broker: built without `demo-broker` and none given.
    #[error("no MQTT broker: build with the demo-broker feature or pass --broker HOST:PORT")]
    NoBroker,
    /// The generated picketd configuration was refused.
    #[error("picketd configuration: {0}")]
    Config(String),
    /// picketd failed or did not come up.
    #[error("picketd: {0}")]
    Daemon(String),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seed of the generated scenario.
    pub seed: u64,
    /// Folder holding the public sample's detections.jsonl and truth.jsonl.
    pub sample: PathBuf,
    /// Where to write tracks, truth and pictures.
    pub out: PathBuf,
    /// Scenario file of the end-to-end run; the built-in checkpoint if
    /// `None`.
    pub scenario: Option<PathBuf>,
    /// Scenario seconds per wall second in the end-to-end run.
    pub speed: f64,
    /// An external broker `(host, port)`; the embedded one if `None`.
    pub broker: Option<(String, u16)>,
    /// Draw the live view on stdout.
    pub live_view: bool,
}

impl DemoOptions {
    /// The demo as README runs it, writing to `out`.
    pub fn new(out: PathBuf) -> Self {
        Self {
            seed: 1,
            sample: Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/sample"),
            out,
            scenario: None,
            speed: 5.0,
            broker: None,
            live_view: false,
        }
    }
}

/// The end-to-end run.
#[derive(Debug, Clone)]
pub struct LiveRun {
    /// Scenario name (file stem).
    pub scenario: String,
    /// Site id: picketd publishes on `picket/<site>/...`.
    pub site: String,
    /// Scenario length, seconds.
    pub duration: f64,
    /// Scenario seconds per wall second.
    pub speed: f64,
    /// Broker address.
    pub broker: (String, u16),
    /// Wall time of the run, from broker start to picketd stopped.
    pub wall: Duration,
    /// What the virtual sensors sent.
    pub sent: SendReport,
    /// Track messages received.
    pub track_messages: usize,
    /// Scores.
    pub evaluation: Evaluation,
    /// picketd's own inputs and drops.
    pub daemon: String,
    /// The picture.
    pub svg: PathBuf,
}

/// One tracked-and-scored scenario.
#[derive(Debug, Clone)]
pub struct DemoRun {
    /// Name shown in the report.
    pub name: String,
    /// Tracking figures.
    pub tracking: Summary,
    /// Scores against truth.
    pub score: ScoreSummary,
    /// The picture.
    pub svg: PathBuf,
}

/// The demo's results, in report order.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// The end-to-end run.
    pub live: LiveRun,
    /// The seeded scenario, then the public sample, tracked offline.
    pub runs: Vec<DemoRun>,
}

fn run_one(
    name: &str,
    stem: &str,
    detections: &[DetectionRecord],
    truth: &[TruthRecord],
    out: &Path,
) -> Result<DemoRun, DemoError> {
    let (tracks, tracking) = track(detections, &TrackerConfig::default())?;
    let score = score(truth, &tracks, &ScoringProtocol::default())?;
    write_file(&out.join(format!("{stem}-tracks.jsonl")), &tracks)?;
    let svg = out.join(format!("{stem}.svg"));
    std::fs::write(&svg, tracks_svg(truth, &tracks, 1200.0)).map_err(|source| DemoError::Io {
        path: svg.clone(),
        source,
    })?;
    Ok(DemoRun {
        name: name.to_owned(),
        tracking,
        score,
        svg,
    })
}

/// Runs the demo and returns its report; [`DemoReport::failures`] says
/// which thresholds it missed.
pub fn run(options: &DemoOptions) -> Result<DemoReport, DemoError> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|source| DemoError::Io {
        path: out.clone(),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DemoError::Runtime)?;
    let live = runtime.block_on(run_live(options))?;
    // The embedded broker's thread has no shutdown; the runtime's tasks
    // (clients already disconnected) are dropped here.
    runtime.shutdown_timeout(Duration::from_secs(1));

    let scenario = generate(&ScenarioConfig::sample_like(options.seed));
    write_file(&out.join("scenario-detections.jsonl"), &scenario.detections)?;
    write_file(&out.join("scenario-truth.jsonl"), &scenario.truth)?;
    let generated = run_one(
        &format!("seeded scenario (seed {})", options.seed),
        "scenario",
        &scenario.detections,
        &scenario.truth,
        out,
    )?;

    let detections: Vec<DetectionRecord> =
        read_file(&options.sample.join("detections.jsonl"), true)?;
    let truth: Vec<TruthRecord> = read_file(&options.sample.join("truth.jsonl"), true)?;
    let sample = run_one("public sample", "sample", &detections, &truth, out)?;
    Ok(DemoReport {
        live,
        runs: vec![generated, sample],
    })
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The end-to-end run: broker, virtual sensors, picketd, subscriber.
async fn run_live(options: &DemoOptions) -> Result<LiveRun, DemoError> {
    let started = Instant::now();
    let out = &options.out;
    let (config, name) = match &options.scenario {
        Some(path) => (
            scenario_file::load(path)?,
            path.file_stem()
                .map_or("scenario".into(), |s| s.to_string_lossy().into_owned()),
        ),
        None => (
            scenario_file::parse(
                CHECKPOINT_SCENARIO,
                Path::new("simulators/scenarios/checkpoint.toml"),
            )?,
            "checkpoint".to_owned(),
        ),
    };
    let speed = options.speed;
    if !(speed.is_finite() && speed > 0.0) {
        return Err(DemoError::Config(format!("speed {speed} is not positive")));
    }
    let site = config.site.clone().unwrap_or_else(default_site);
    let scenario = generate(&config);
    let (host, port) = match &options.broker {
        Some((host, port)) => (host.clone(), *port),
        None => ("127.0.0.1".to_owned(), embedded_broker()?),
    };

    let mut ports = open_ports(&config, None)?;
    let state = out.join("picketd-state");
    // A previous run's outbox would be re-sent: start clean.
    if state.exists() {
        std::fs::remove_dir_all(&state).map_err(io_error(&state))?;
    }
    let paths = port_paths(&ports);
    let client_id = format!("picketd-demo-{}", std::process::id());
    let text = daemon_config(
        &config,
        &DaemonSetup {
            broker_host: &host,
            broker_port: port,
            client_id: &client_id,
            serial_paths: &paths,
            state_dir: &state,
            speed,
        },
    );
    let config_path = out.join("picketd.toml");
    std::fs::write(&config_path, &text).map_err(io_error(&config_path))?;
    let daemon_config = picketd::Config::parse(&text, &config_path)
        .map_err(|e| DemoError::Config(e.to_string()))?;

    let watcher = Watcher::connect(
        &host,
        port,
        &format!("picket-sim-watch-{}", std::process::id()),
        &site.id,
    );
    let (stop_daemon, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(picketd::run_with(
        daemon_config,
        picketd::RunOptions::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    if !watcher
        .wait_for(Duration::from_secs(15), Seen::online)
        .await
    {
        let _ = stop_daemon.send(());
        let detail = match tokio::time::timeout(Duration::from_secs(5), daemon).await {
            Ok(Ok(Err(e))) => e.to_string(),
            _ => "no online status within 15 s".to_owned(),
        };
        return Err(DemoError::Daemon(detail));
    }

    let mut publisher = Publisher::connect(
        &host,
        port,
        &format!("picket-sim-sensors-{}", std::process::id()),
    );
    // Scenario time 0 a little ahead, so the first events are not late.
    let clock = Clock {
        start_us: picketd::now().as_unix_micros() + 300_000,
        speed,
    };
    let mut encoder = Encoder::new(&config, clock);
    let (stop_view, view_stopped) = tokio::sync::watch::channel(false);
    let view = options.live_view.then(|| {
        let watcher_seen = watcher_handle(&watcher);
        let header = format!(
            "picket demo: {name} scenario, {:.0} s at {speed}x; sensors on {} ptys and MQTT 127.0.0.1:{port}",
            config.duration,
            ports.len()
        );
        tokio::spawn(live_view(watcher_seen, clock, header, view_stopped.clone()))
    });
    let (_never_stop, no_stop) = tokio::sync::watch::channel(false);
    let sent = play_events(
        &config,
        &scenario.events,
        &mut encoder,
        &mut ports,
        &mut publisher,
        no_stop,
    )
    .await?;
    let unread = drain(&ports, DRAIN_BOUND).await?;
    if unread > 0 {
        return Err(DemoError::Daemon(format!(
            "picketd did not read the last {unread} bytes written to its ptys"
        )));
    }
    // Let the last reports through the reorder lag and the tracker's
    // coasting publish before stopping.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let _ = stop_view.send(true);
    if let Some(view) = view {
        let _ = view.await;
    }
    let _ = stop_daemon.send(());
    let report = tokio::time::timeout(Duration::from_secs(20), daemon)
        .await
        .map_err(|_| DemoError::Daemon("did not stop within 20 s".into()))?
        .map_err(|e| DemoError::Daemon(e.to_string()))?
        .map_err(|e| DemoError::Daemon(e.to_string()))?;
    // picketd has stopped: what the broker still holds is moot.
    let _ = publisher.close(DRAIN_BOUND).await;
    // Outputs published during the final flush are on their way.
    let _ = watcher
        .wait_for(Duration::from_secs(2), |s| {
            s.status
                .as_ref()
                .is_some_and(|s| s.state != picket_schema::DaemonState::Online)
        })
        .await;
    let seen = watcher.close().await;
    drop(ports);

    let (tracks, alerts) = neutral(&seen, clock);
    let evaluation = evaluate(
        &scenario.truth,
        &tracks,
        &alerts,
        &scenario.carriers,
        &ScoringProtocol::default(),
    )?;
    write_file(&out.join("live-truth.jsonl"), &scenario.truth)?;
    write_file(&out.join("live-tracks.jsonl"), &tracks)?;
    let alerts_path = out.join("live-alerts.jsonl");
    let mut alerts_text = String::new();
    for alert in &alerts {
        if let Ok(line) = serde_json::to_string(alert) {
            alerts_text.push_str(&line);
            alerts_text.push('\n');
        }
    }
    std::fs::write(&alerts_path, alerts_text).map_err(io_error(&alerts_path))?;
    let carriers_path = out.join("live-carriers.json");
    let carriers_text = serde_json::to_string(&scenario.carriers).unwrap_or_default();
    std::fs::write(&carriers_path, carriers_text).map_err(io_error(&carriers_path))?;
    let svg = out.join("live.svg");
    std::fs::write(&svg, tracks_svg(&scenario.truth, &tracks, 1200.0)).map_err(io_error(&svg))?;
    Ok(LiveRun {
        scenario: name,
        site: site.id,
        duration: config.duration,
        speed,
        broker: (host, port),
        wall: started.elapsed(),
        sent,
        track_messages: seen.tracks.len(),
        evaluation,
        daemon: format!(
            "picketd: {} inputs, {} messages, {} detections, {} radiation samples, {} dropped, {} outputs, clean stop {}",
            report.engine.inputs,
            report.engine.messages,
            report.engine.detections,
            report.engine.radiation_samples,
            report.engine.dropped.total(),
            report.outputs_enqueued,
            report.clean
        ),
        svg,
    })
}

#[cfg(feature = "demo-broker")]
fn embedded_broker() -> Result<u16, DemoError> {
    Ok(crate::broker::start()?)
}

#[cfg(not(feature = "demo-broker"))]
fn embedded_broker() -> Result<u16, DemoError> {
    Err(DemoError::NoBroker)
}

/// Tracks (confirmed and coasting) and radiation alerts in the neutral
/// formats, on scenario time and speed.
pub fn neutral(seen: &Seen, clock: Clock) -> (Vec<TrackRecord>, Vec<AlertRecord>) {
    let tracks = seen
        .tracks
        .iter()
        .filter(|t| matches!(t.status, TrackStatus::Confirmed | TrackStatus::Coasting))
        .map(|t| TrackRecord {
            t: clock.scenario_time(t.time.as_unix_micros()),
            track_id: t.track_id,
            x: t.enu.east_m,
            y: t.enu.north_m,
            vx: t.velocity.east_mps / clock.speed,
            vy: t.velocity.north_mps / clock.speed,
        })
        .collect::<Vec<_>>();
    let mut tracks = tracks;
    // Arrival order is publish order per track; scoring wants time order.
    tracks.sort_by(|a, b| a.t.total_cmp(&b.t).then(a.track_id.cmp(&b.track_id)));
    let alerts = seen
        .alerts
        .iter()
        .filter_map(|a| match &a.kind {
            AlertKind::Radiation {
                detector,
                track_ids,
                ..
            } => Some(AlertRecord {
                t: clock.scenario_time(a.time.as_unix_micros()),
                detector: detector.to_string(),
                track_ids: track_ids.clone(),
            }),
            _ => None,
        })
        .collect();
    (tracks, alerts)
}

/// A shared view of what the watcher has seen (it is owned by the run).
type SeenHandle = std::sync::Arc<dyn Fn() -> Seen + Send + Sync>;

fn watcher_handle(watcher: &Watcher) -> SeenHandle {
    watcher.shared()
}

/// Redraws a few lines a few times a second: scenario time, live tracks
/// with class and radiation flag, the latest alerts.
async fn live_view(
    seen: SeenHandle,
    clock: Clock,
    header: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use std::io::{IsTerminal, Write as _};
    let tty = std::io::stdout().is_terminal();
    let mut drawn = 0usize;
    loop {
        let now = clock
            .scenario_time(picketd::now().as_unix_micros())
            .max(0.0);
        // A terminal gets one frame redrawn in place; a log gets the
        // header once and a frame every two seconds.
        let title = if tty || drawn == 0 {
            header.as_str()
        } else {
            ""
        };
        let text = render_view(&seen(), clock, now, title);
        {
            let mut stdout = std::io::stdout().lock();
            if tty && drawn > 0 {
                // Back to the top of the previous frame, clear to the end.
                let _ = write!(stdout, "\x1b[{drawn}A\x1b[J");
            }
            let _ = stdout.write_all(text.as_bytes());
            let _ = stdout.flush();
        }
        drawn = text.lines().count();
        let pause = if tty { 250 } else { 2000 };
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(pause)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One frame of the live view.
pub fn render_view(seen: &Seen, clock: Clock, now: f64, header: &str) -> String {
    let mut s = String::new();
    let live = seen.live_tracks();
    if !header.is_empty() {
        let _ = writeln!(s, "{header}");
    }
    let _ = writeln!(
        s,
        "t = {now:6.1} s   tracks {:3}   alerts {:2}   messages received {}",
        live.len(),
        seen.alerts.len(),
        seen.messages
    );
    let _ = writeln!(
        s,
        "  {:>5} {:<8} {:>5} {:>8} {:>8} {:>6}  radiation",
        "track", "class", "conf", "east m", "north m", "m/s"
    );
    for t in live.iter().take(12) {
        let class = format!("{:?}", t.classification.class).to_lowercase();
        let _ = writeln!(
            s,
            "  {:>5} {:<8} {:>5.2} {:>8.1} {:>8.1} {:>6.1}  {}",
            t.track_id,
            class,
            t.classification.confidence,
            t.enu.east_m,
            t.enu.north_m,
            t.speed_mps / clock.speed,
            if t.radiation.flagged { "FLAGGED" } else { "" }
        );
    }
    if live.len() > 12 {
        let _ = writeln!(s, "  ... and {} more", live.len() - 12);
    }
    for a in seen.alerts.iter().rev().take(3) {
        let what = match &a.kind {
            AlertKind::Radiation {
                detector,
                track_ids,
                sigma,
                ..
            } => format!(
                "radiation at {detector}, tracks {track_ids:?}, {:.1} sigma",
                sigma.unwrap_or(0.0)
            ),
            other => format!("{other:?}"),
        };
        let _ = writeln!(
            s,
            "  alert t = {:6.1} s: {what}",
            clock.scenario_time(a.time.as_unix_micros())
        );
    }
    s
}

/// Sample GOSPA the Stone Soup reference scored; picket must beat it.
fn sample_gospa(report: &DemoReport) -> Option<f64> {
    report
        .runs
        .iter()
        .find(|r| r.name == "public sample")
        .map(|r| r.score.gospa)
}

impl DemoReport {
    /// Thresholds missed, one line each; empty when the demo passed.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let e = &self.live.evaluation;
        let t = THRESHOLDS;
        // A NaN GOSPA fails too.
        if e.gospa.gospa.is_nan() || e.gospa.gospa > t.max_gospa {
            failures.push(format!(
                "end-to-end GOSPA {:.2} m is above {:.2} m",
                e.gospa.gospa, t.max_gospa
            ));
        }
        if e.breaks > t.max_breaks {
            failures.push(format!(
                "{} track breaks, more than {}",
                e.breaks, t.max_breaks
            ));
        }
        if e.swaps > t.max_swaps {
            failures.push(format!(
                "{} identity swaps, more than {}",
                e.swaps, t.max_swaps
            ));
        }
        let recall = e.attribution.recall().unwrap_or(1.0);
        if recall < t.min_recall {
            failures.push(format!(
                "radiation recall {:.2} is below {:.2}",
                recall, t.min_recall
            ));
        }
        let precision = e.attribution.precision().unwrap_or(0.0);
        if precision < t.min_precision {
            failures.push(format!(
                "radiation precision {:.2} is below {:.2}",
                precision, t.min_precision
            ));
        }
        match sample_gospa(self) {
            Some(g) if g < STONE_SOUP_GNN_GOSPA => {}
            Some(g) => failures.push(format!(
                "mean GOSPA {g:.2} m on the public sample is not better than Stone Soup GNN's {STONE_SOUP_GNN_GOSPA:.2} m"
            )),
            None => failures.push("the public sample was not scored".into()),
        }
        failures
    }

    /// The report as a table, with the reference row and where the
    /// pictures are.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let live = &self.live;
        let _ = writeln!(
            s,
            "end to end: {} scenario, {:.0} s at {}x in {:.1} s wall; {} serial frames, {} MQTT messages in; {} track messages out",
            live.scenario,
            live.duration,
            live.speed,
            live.wall.as_secs_f64(),
            live.sent.serial_frames,
            live.sent.mqtt_messages,
            live.track_messages
        );
        let _ = writeln!(s, "{}", live.daemon);
        s.push_str(&live.evaluation.render());
        let t = THRESHOLDS;
        let _ = writeln!(
            s,
            "thresholds: GOSPA <= {} m, breaks <= {}, swaps <= {}, radiation recall >= {}, precision >= {}",
            t.max_gospa, t.max_breaks, t.max_swaps, t.min_recall, t.min_precision
        );
        let _ = writeln!(s, "picture of the end-to-end run: {}", live.svg.display());
        let _ = writeln!(
            s,
            "watch the same topics on a live run: mosquitto_sub -h {} -p {} -t 'picket/{}/#' -v\n",
            live.broker.0, live.broker.1, live.site
        );
        let _ = writeln!(
            s,
            "{:<28} {:>10} {:>7} {:>8} {:>8} {:>7} {:>7} {:>12}",
            "scenario",
            "detections",
            "tracks",
            "GOSPA m",
            "loc m",
            "missed",
            "false",
            "detections/s"
        );
        for run in &self.runs {
            let _ = writeln!(
                s,
                "{:<28} {:>10} {:>7} {:>8.2} {:>8.2} {:>7.3} {:>7.3} {:>12.0}",
                run.name,
                run.tracking.detections,
                run.tracking.confirmed_tracks,
                run.score.gospa,
                run.score.localisation,
                run.score.missed,
                run.score.false_tracks,
                run.tracking.detections_per_second()
            );
        }
        let _ = writeln!(
            s,
            "{:<28} {:>10} {:>7} {:>8.2} {:>8.2} {:>7.3} {:>7.3} {:>12.0}",
            "Stone Soup GNN on sample",
            3985,
            "",
            STONE_SOUP_GNN_GOSPA,
            23.77,
            0.07,
            0.07,
            STONE_SOUP_GNN_RATE
        );
        let _ = writeln!(
            s,
            "(GOSPA p = 1, c = 50 m, alpha = 2, mean over t = 0, 1, 2, ... s)"
        );
        for run in &self.runs {
            let _ = writeln!(s, "picture of {}: {}", run.name, run.svg.display());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::Seen;

    #[test]
    fn live_view_lists_tracks_and_alerts() {
        let seen = Seen::default();
        let clock = Clock {
            start_us: 0,
            speed: 5.0,
        };
        let text = render_view(&seen, clock, 12.0, "demo");
        assert!(
            text.starts_with("demo\nt =   12.0 s   tracks   0"),
            "{text}"
        );
    }
}
