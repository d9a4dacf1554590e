//! `picket-sim`: seeded scenarios, virtual sensors, recording playback,
//! scoring and the demo.
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use picket_cli::formats::{AlertRecord, TrackRecord, TruthRecord, read_file, write_file};
use picket_cli::score::ScoringProtocol;
use picket_record::{FsyncPolicy, RecorderConfig, Retention};
use picket_sim::demo::{self, DemoOptions};
use picket_sim::evaluate::evaluate;
use picket_sim::live::{DRAIN_BOUND, Publisher, drain, open_ports, play_events, port_paths};
use picket_sim::play::{PlayOptions, play};
use picket_sim::plot::tracks_svg;
use picket_sim::record::{RecordSetup, raw_inputs, record};
use picket_sim::scenario::{Scenario, ScenarioConfig, generate};
use picket_sim::scenario_file;
use picket_sim::sensors::{Clock, DaemonSetup, Encoder, TICK_INTERVAL_MS, daemon_config};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "picket-sim", version, about = "picket scenario simulator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write DIR/detections.jsonl, DIR/truth.jsonl and DIR/carriers.json for a seeded
    /// scenario: a scenario file, or one shaped like the public sample
    /// (10 movers, two radars, 80 ground nodes, clutter).
    Generate {
        /// Seed of a sample-shaped scenario; the same seed gives the same
        /// files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Length of a sample-shaped scenario, seconds.
        #[arg(long, default_value_t = 300.0)]
        duration: f64,
        /// A scenario file (TOML) instead of the sample shape.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Record a scenario's sensors as picketd would have recorded them
    /// (serial reads, MQTT payloads, ticks, a final flush) into an empty
    /// directory, without a daemon or real time; replay it with
    /// `picket replay DIR --config <(picket-sim config SCENARIO)`.
    Record {
        /// The scenario file.
        scenario: PathBuf,
        /// The recording directory (created if missing; must be empty).
        #[arg(long)]
        out: PathBuf,
        /// Scenario length in seconds instead of the file's `duration_s`.
        #[arg(long)]
        duration: Option<f64>,
        /// Folder of the serial links, as given to `config --serial-dir`:
        /// serial inputs are recorded from `<serial-dir>/<sensor id>`.
        #[arg(long, default_value = "/tmp/picket-sim")]
        serial_dir: PathBuf,
        /// Wall time of scenario time 0 (RFC 3339): `picket replay --t0`
        /// with it gives tracks on scenario time.
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: picket_schema::Timestamp,
        /// Also write truth.jsonl and carriers.json (radiation carriers'
        /// truth ids) here, for `score`.
        #[arg(long)]
        truth: Option<PathBuf>,
    },
    /// Print the picketd configuration for a scenario's sensors.
    Config {
        /// The scenario file.
        scenario: PathBuf,
        /// Speed the sensors will be played at (`run --speed`).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// MQTT broker picketd and the sensors use.
        #[arg(long, default_value = "127.0.0.1:1883")]
        broker: String,
        /// Folder where `run --serial-dir` links each serial sensor's pty.
        #[arg(long, default_value = "/tmp/picket-sim")]
        serial_dir: PathBuf,
        /// picketd's state directory.
        #[arg(long, default_value = "/tmp/picket-sim/state")]
        state_dir: PathBuf,
    },
    /// Play a scenario's sensors onto ptys and MQTT in real time (or
    /// faster), for a picketd configured with `picket-sim config`; writes
    /// truth.jsonl (and carriers.json) to --out. Start picketd first: it
    /// retries the pty links until they appear, and a pty nobody reads
    /// fills up and stalls the run. At the end it waits (up to 5 s) for
    /// picketd to read the last bytes, and fails if some were never read.
    Run {
        /// The scenario file.
        scenario: PathBuf,
        /// Scenario seconds per wall second.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// MQTT broker.
        #[arg(long, default_value = "127.0.0.1:1883")]
        broker: String,
        /// Folder for the pty links, named by sensor id.
        #[arg(long, default_value = "/tmp/picket-sim")]
        serial_dir: PathBuf,
        /// Where to write truth.jsonl, carriers.json and clock.json.
        #[arg(long)]
        out: PathBuf,
        /// Seconds to wait after creating the ptys, for picketd to open them.
        #[arg(long, default_value_t = 2.0)]
        wait: f64,
    },
    /// Play a picket-record recording onto ptys and MQTT, keeping its
    /// timing, to drive a running picketd. Fails if bytes written to a pty
    /// were never read (after waiting up to 5 s at the end).
    Play(PlayArgs),
    /// Score tracks (neutral tracks.jsonl) against truth: GOSPA, track
    /// breaks, identity swaps, radiation attribution, and a picture.
    Score {
        /// The truth file.
        #[arg(long)]
        truth: PathBuf,
        /// Tracks to score.
        tracks: PathBuf,
        /// Radiation alerts (JSONL: t, detector, track_ids).
        #[arg(long)]
        alerts: Option<PathBuf>,
        /// Truth ids of radiation carriers (a JSON array, e.g. the
        /// carriers.json that `run` and the demo write).
        #[arg(long)]
        carriers: Option<PathBuf>,
        /// Write an SVG of tracks against truth here.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// picket end to end on a simulated checkpoint (embedded broker,
    /// virtual sensors on ptys and MQTT, picketd in-process, live view),
    /// then the offline checks. Fails if a score misses its threshold.
    Demo {
        /// Seed of the generated offline scenario.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder with the public sample (detections.jsonl, truth.jsonl).
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/sample"))]
        sample: PathBuf,
        /// Where to write tracks, truth and SVG pictures.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
        /// Scenario file of the end-to-end run (default: the built-in
        /// checkpoint).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Scenario seconds per wall second.
        #[arg(long, default_value_t = 5.0)]
        speed: f64,
        /// Use this broker (HOST:PORT) instead of the embedded one.
        #[arg(long)]
        broker: Option<String>,
        /// No live view.
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(clap::Args)]
struct PlayArgs {
    /// The recording directory.
    recording: PathBuf,
    /// MQTT broker for recorded MQTT inputs.
    #[arg(long, default_value = "127.0.0.1:1883")]
    broker: String,
    /// Folder for pty links, one per recorded serial port (named after the
    /// port's file name).
    #[arg(long, default_value = "/tmp/picket-sim-play")]
    serial_dir: PathBuf,
    /// Recorded seconds per wall second.
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// As fast as possible.
    #[arg(long)]
    max: bool,
    /// Keep the recorded sensor timestamps (default: shift them to now, so
    /// a live picketd does not drop them as late).
    #[arg(long)]
    keep_times: bool,
    /// Seconds to wait after creating the ptys, for picketd to open them.
    #[arg(long, default_value_t = 2.0)]
    wait: f64,
}

fn broker_address(text: &str) -> Result<(String, u16)> {
    let (host, port) = text
        .rsplit_once(':')
        .with_context(|| format!("broker {text:?} is not HOST:PORT"))?;
    let port = port
        .parse()
        .with_context(|| format!("broker port {port:?} is not a number"))?;
    Ok((host.to_owned(), port))
}

fn positive(name: &str, value: f64) -> Result<()> {
    if !(value.is_finite() && value > 0.0) {
        bail!("{name} must be a positive number");
    }
    Ok(())
}

fn run_generate(seed: u64, duration: f64, scenario: Option<&Path>, out: &Path) -> Result<()> {
    positive("--duration", duration)?;
    let config = match scenario {
        Some(path) => scenario_file::load(path)?,
        None => ScenarioConfig {
            duration,
            ..ScenarioConfig::sample_like(seed)
        },
    };
    let scenario = generate(&config);
    write_truth(out, &scenario)?;
    write_file(&out.join("detections.jsonl"), &scenario.detections)?;
    println!(
        "seed {}: {} detections ({} false), {} sensor events, {} truth rows in {}",
        config.seed,
        scenario.detections.len(),
        scenario.false_detections,
        scenario.events.len(),
        scenario.truth.len(),
        out.display()
    );
    Ok(())
}

fn serial_links(config: &ScenarioConfig, dir: &Path) -> BTreeMap<String, String> {
    picket_sim::sensors::sensors(config, 1.0)
        .into_iter()
        .filter(|s| s.transport == picket_sim::scenario::Transport::Serial)
        .map(|s| (s.id.clone(), dir.join(&s.id).display().to_string()))
        .collect()
}

fn run_config(
    scenario: &Path,
    speed: f64,
    broker: &str,
    serial_dir: &Path,
    state_dir: &Path,
) -> Result<()> {
    positive("--speed", speed)?;
    let config = scenario_file::load(scenario)?;
    let (host, port) = broker_address(broker)?;
    let links = serial_links(&config, serial_dir);
    print!(
        "{}",
        daemon_config(
            &config,
            &DaemonSetup {
                broker_host: &host,
                broker_port: port,
                client_id: "picketd-sim",
                serial_paths: &links,
                state_dir,
                speed,
            },
        )
    );
    Ok(())
}

/// Writes `dir/truth.jsonl` and `dir/carriers.json` (the truth ids of
/// radiation carriers, a JSON array), creating `dir`.
fn write_truth(dir: &Path, scenario: &Scenario) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_file(&dir.join("truth.jsonl"), &scenario.truth)?;
    let carriers = dir.join("carriers.json");
    std::fs::write(&carriers, serde_json::to_string(&scenario.carriers)?)
        .with_context(|| format!("cannot write {}", carriers.display()))?;
    Ok(())
}

fn run_record(
    scenario: &Path,
    out: &Path,
    duration: Option<f64>,
    serial_dir: &Path,
    start: picket_schema::Timestamp,
    truth: Option<&Path>,
) -> Result<()> {
    let mut config = scenario_file::load(scenario)?;
    if let Some(duration) = duration {
        positive("--duration", duration)?;
        config.duration = duration;
    }
    let scenario = generate(&config);
    let setup = RecordSetup {
        start_us: start.as_unix_micros(),
        serial_paths: serial_links(&config, serial_dir),
        tick_interval_ms: TICK_INTERVAL_MS,
    };
    let inputs = raw_inputs(&config, &scenario, &setup)?;
    // A recording made once and kept: no retention, one fsync at the end.
    let recorder_config = RecorderConfig {
        fsync: FsyncPolicy::EveryRecords(u64::MAX),
        retention: Retention {
            max_total_bytes: u64::MAX,
            max_age: None,
        },
        ..RecorderConfig::default()
    };
    let summary = record(out, &inputs, &setup, recorder_config)?;
    if let Some(dir) = truth {
        write_truth(dir, &scenario)?;
    }
    println!(
        "recorded {} serial reads, {} MQTT payloads and {} ticks ({:.1} s) in {}",
        summary.serial_inputs,
        summary.mqtt_inputs,
        summary.ticks,
        (summary.span_us.1 - summary.span_us.0) as f64 / 1e6,
        out.display()
    );
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn run_sensors(
    scenario: &Path,
    speed: f64,
    broker: &str,
    serial_dir: &Path,
    out: &Path,
    wait: f64,
) -> Result<bool> {
    positive("--speed", speed)?;
    let config = scenario_file::load(scenario)?;
    let (host, port) = broker_address(broker)?;
    std::fs::create_dir_all(serial_dir)
        .with_context(|| format!("cannot create {}", serial_dir.display()))?;
    let scenario = generate(&config);
    write_truth(out, &scenario)?;
    runtime()?.block_on(async {
        let mut ports = open_ports(&config, Some(serial_dir))?;
        for (sensor, path) in port_paths(&ports) {
            eprintln!("{sensor}: {path}");
        }
        tokio::time::sleep(std::time::Duration::from_secs_f64(wait.max(0.0))).await;
        let mut publisher =
            Publisher::connect(&host, port, &format!("picket-sim-{}", std::process::id()));
        let clock = Clock {
            start_us: picketd::now().as_unix_micros() + 300_000,
            speed,
        };
        // Tracks from picketd carry Unix times: this maps them back.
        std::fs::write(
            out.join("clock.json"),
            format!(
                "{{\"start_us\": {}, \"speed\": {}}}\n",
                clock.start_us, clock.speed
            ),
        )?;
        let mut encoder = Encoder::new(&config, clock);
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let sent = play_events(
            &config,
            &scenario.events,
            &mut encoder,
            &mut ports,
            &mut publisher,
            stopped,
        )
        .await?;
        let unacked = publisher.close(DRAIN_BOUND).await;
        let unread = drain(&ports, DRAIN_BOUND).await?;
        eprintln!(
            "sent {} frames ({} bytes) on {} ptys and {} MQTT messages",
            sent.serial_frames,
            sent.serial_bytes,
            ports.len(),
            sent.mqtt_messages
        );
        if unread > 0 {
            eprintln!("{unread} bytes written to the ptys were never read (is picketd running?)");
        }
        if unacked > 0 {
            eprintln!("{unacked} MQTT messages were never acknowledged by the broker");
        }
        anyhow::Ok(unread == 0 && unacked == 0)
    })
}

fn run_score(
    truth: &Path,
    tracks: &Path,
    alerts: Option<&Path>,
    carriers: Option<&Path>,
    svg: Option<&Path>,
) -> Result<()> {
    let truth: Vec<TruthRecord> = read_file(truth, true)?;
    let tracks: Vec<TrackRecord> = read_file(tracks, false)?;
    let alert_rows: Vec<AlertRecord> = match alerts {
        Some(path) => read_file(path, false)?,
        None => Vec::new(),
    };
    let carrier_ids: Vec<u64> = match carriers {
        Some(path) => serde_json::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("{}: not a JSON array of truth ids", path.display()))?,
        None => Vec::new(),
    };
    let evaluation = evaluate(
        &truth,
        &tracks,
        &alert_rows,
        &carrier_ids,
        &ScoringProtocol::default(),
    )?;
    print!("{}", evaluation.render());
    if let Some(path) = svg {
        std::fs::write(path, tracks_svg(&truth, &tracks, 1200.0))
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("picture: {}", path.display());
    }
    Ok(())
}

fn run_demo(options: DemoOptions) -> Result<bool> {
    let report = demo::run(&options)?;
    print!("{}", report.render());
    let failures = report.failures();
    for failure in &failures {
        eprintln!("picket-sim demo: FAILED: {failure}");
    }
    Ok(failures.is_empty())
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Generate {
            seed,
            duration,
            scenario,
            out,
        } => run_generate(seed, duration, scenario.as_deref(), &out).map(|()| true),
        Command::Record {
            scenario,
            out,
            duration,
            serial_dir,
            start,
            truth,
        } => run_record(
            &scenario,
            &out,
            duration,
            &serial_dir,
            start,
            truth.as_deref(),
        )
        .map(|()| true),
        Command::Config {
            scenario,
            speed,
            broker,
            serial_dir,
            state_dir,
        } => run_config(&scenario, speed, &broker, &serial_dir, &state_dir).map(|()| true),
        Command::Run {
            scenario,
            speed,
            broker,
            serial_dir,
            out,
            wait,
        } => run_sensors(&scenario, speed, &broker, &serial_dir, &out, wait),
        Command::Play(args) => (|| {
            let (host, port) = broker_address(&args.broker)?;
            let options = PlayOptions {
                host,
                port,
                serial_dir: args.serial_dir,
                speed: if args.max { None } else { Some(args.speed) },
                retime: !args.keep_times,
                wait: std::time::Duration::from_secs_f64(args.wait.max(0.0)),
            };
            if let Some(speed) = options.speed {
                positive("--speed", speed)?;
            }
            let report = runtime()?.block_on(play(&args.recording, &options))?;
            eprintln!("{report}");
            // Input picketd may never have seen: fail the run.
            anyhow::Ok(report.serial_unread_bytes == 0 && report.mqtt_unacked == 0)
        })(),
        Command::Score {
            truth,
            tracks,
            alerts,
            carriers,
            svg,
        } => run_score(
            &truth,
            &tracks,
            alerts.as_deref(),
            carriers.as_deref(),
            svg.as_deref(),
        )
        .map(|()| true),
        Command::Demo {
            seed,
            sample,
            out,
            scenario,
            speed,
            broker,
            quiet,
        } => (|| {
            let broker = broker.as_deref().map(broker_address).transpose()?;
            run_demo(DemoOptions {
                seed,
                sample,
                out,
                scenario,
                speed,
                broker,
                live_view: !quiet,
            })
        })(),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("picket-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
