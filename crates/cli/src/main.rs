//! `picket`: operator and analyst tools.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use picket_cli::formats::{DetectionRecord, TrackRecord, TruthRecord, read_file, write_file};
use picket_cli::inspect::inspect;
use picket_cli::publish::Publisher;
use picket_cli::replay::{
    AlertsWriter, OutputsWriter, Pace, ReplayStats, TracksWriter, load_engine_config, replay,
};
use picket_cli::score::{ScoringProtocol, score};
use picket_cli::track::track;
use picket_engine::Engine;
use picket_record::Reader;
use picket_schema::Timestamp;
use picket_track::TrackerConfig;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "picket", version, about = "picket operator and analyst tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Track DETECTIONS.jsonl and write confirmed tracks to TRACKS.jsonl.
    Track {
        /// Detections (detections.jsonl).
        detections: PathBuf,
        /// Where to write tracks (tracks.jsonl).
        #[arg(long)]
        out: PathBuf,
    },
    /// Score TRACKS.jsonl against TRUTH.jsonl with GOSPA (p = 1, c = 50 m,
    /// alpha = 2, once a second; shared/formats/README.md).
    Score {
        /// Ground truth (truth.jsonl).
        #[arg(long)]
        truth: PathBuf,
        /// Tracks to score (tracks.jsonl).
        tracks: PathBuf,
        /// Also write GOSPA at every evaluation time to this CSV file.
        #[arg(long)]
        per_time: Option<PathBuf>,
    },
    /// Summarise a recording: segments, time span, inputs per source,
    /// ticks, damage. Read-only unless --repair.
    Inspect {
        /// The recording directory (picketd's state dir `recording/`).
        recording: PathBuf,
        /// Cut a torn tail and quarantine corrupt segments, as picketd would
        /// on start (refused while a recorder holds the directory).
        #[arg(long)]
        repair: bool,
    },
    /// Feed a recording through the engine with picketd's configuration and
    /// write what it publishes.
    Replay {
        /// The recording directory. Opened read-only: damage is reported and
        /// skipped, never repaired.
        recording: PathBuf,
        /// picketd.toml (only the engine tables are used) or an engine TOML.
        #[arg(long)]
        config: PathBuf,
        /// Pace by recorded time, N times real time.
        #[arg(long, conflicts_with = "max")]
        speed: Option<f64>,
        /// As fast as possible (the default).
        #[arg(long)]
        max: bool,
        /// Write confirmed and coasting tracks here (neutral tracks.jsonl:
        /// x/y = ENU east/north, vx/vy = ENU velocity).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Write radiation alerts here (neutral alerts.jsonl: t, detector,
        /// track_ids), for `picket-sim score --alerts`.
        #[arg(long)]
        alerts: Option<PathBuf>,
        /// Write every output here as JSON Lines: {"topic", "retained",
        /// "payload"} with the exact payload text (seq 0).
        #[arg(long)]
        outputs: Option<PathBuf>,
        /// Time zero of tracks.jsonl `t` (RFC 3339); default: the earliest
        /// record time in the recording.
        #[arg(long)]
        t0: Option<Timestamp>,
        /// Also publish every output to this broker (mqtt://HOST or mqtt://HOST:PORT, no
        /// TLS), QoS 1 with picketd's retain flags. Not the live site's
        /// broker: replayed tracks would mix into the live picture.
        #[arg(long)]
        publish: Option<String>,
        /// Prefix for published topics (e.g. "replay/").
        #[arg(long, default_value = "", requires = "publish")]
        topic_prefix: String,
    },
}

fn run_track(detections: &Path, out: &Path) -> Result<()> {
    let records: Vec<DetectionRecord> = read_file(detections, true)?;
    let (rows, summary) = track(&records, &TrackerConfig::default())?;
    write_file(out, &rows)?;
    println!("{summary}");
    Ok(())
}

fn run_score(truth: &Path, tracks: &Path, per_time: Option<&Path>) -> Result<()> {
    let truth = read_file::<TruthRecord>(truth, true)?;
    let tracks = read_file::<TrackRecord>(tracks, false)?;
    let summary = score(&truth, &tracks, &ScoringProtocol::default())?;
    println!(
        "GOSPA {:.2} m (localisation {:.2} m, missed {:.3}, false {:.3} per time) over {} times",
        summary.gospa, summary.localisation, summary.missed, summary.false_tracks, summary.times
    );
    if let Some(path) = per_time {
        let mut out = std::io::BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        writeln!(out, "t,truths,tracks,gospa,localisation,missed,false")?;
        for p in &summary.per_time {
            writeln!(
                out,
                "{},{},{},{},{},{},{}",
                p.t,
                p.truths,
                p.tracks,
                p.score.gospa,
                p.score.localisation,
                p.score.missed,
                p.score.false_tracks
            )?;
        }
        out.flush()?;
    }
    Ok(())
}

fn run_inspect(recording: &Path, repair: bool) -> Result<()> {
    let reader = if repair {
        Reader::open(recording)
    } else {
        Reader::open_read_only(recording)
    }
    .with_context(|| format!("cannot open recording {}", recording.display()))?;
    let inspection = inspect(&reader)?;
    println!("recording: {}", recording.display());
    println!("{inspection}");
    Ok(())
}

struct ReplayArgs {
    recording: PathBuf,
    config: PathBuf,
    pace: Pace,
    out: Option<PathBuf>,
    alerts: Option<PathBuf>,
    outputs: Option<PathBuf>,
    t0: Option<Timestamp>,
    publish: Option<String>,
    topic_prefix: String,
}

fn run_replay(args: ReplayArgs) -> Result<()> {
    let config = load_engine_config(&args.config)?;
    let mut engine = Engine::new(config)
        .with_context(|| format!("{}: engine configuration", args.config.display()))?;
    let reader = Reader::open_read_only(&args.recording)
        .with_context(|| format!("cannot open recording {}", args.recording.display()))?;
    let report = reader.report();
    for damage in &report.damage {
        // Replay goes on around damage, but its output can then differ
        // from what picketd published: say so before anything else.
        eprintln!("picket: warning: {damage}");
    }
    let total = report.records();
    let t0_us = args
        .t0
        .map(Timestamp::as_unix_micros)
        .or_else(|| report.time_span_us().map(|(first, _)| first))
        .unwrap_or(0);
    let mut outputs = args
        .outputs
        .as_deref()
        .map(OutputsWriter::create)
        .transpose()?;
    let mut tracks = args
        .out
        .as_deref()
        .map(|path| TracksWriter::create(path, t0_us))
        .transpose()?;
    let mut alerts = args
        .alerts
        .as_deref()
        .map(|path| AlertsWriter::create(path, t0_us))
        .transpose()?;
    let mut publisher = args
        .publish
        .as_deref()
        .map(|url| Publisher::connect(url, &args.topic_prefix))
        .transpose()?;
    // The first publish failure: replay stops at once (the callback's error
    // type is the replay's, so it is carried out here).
    let mut publish_error = None;
    let show_progress = std::io::stderr().is_terminal();
    let mut last_progress: Option<Instant> = None;
    let progress = |stats: &ReplayStats| {
        if !show_progress || last_progress.is_some_and(|t| t.elapsed() < Duration::from_millis(250))
        {
            return;
        }
        last_progress = Some(Instant::now());
        eprint!("\r{}", progress_line(stats, total, t0_us));
    };
    let stats = replay(
        &reader,
        &mut engine,
        args.pace,
        |output| {
            if let Some(writer) = outputs.as_mut() {
                writer.write(output)?;
            }
            if let Some(writer) = tracks.as_mut() {
                writer.write(output)?;
            }
            if let Some(writer) = alerts.as_mut() {
                writer.write(output)?;
            }
            if let Some(publisher) = publisher.as_mut()
                && publish_error.is_none()
                && let Err(error) = publisher.publish(output, output.to_json()?)
            {
                publish_error = Some(error);
            }
            Ok(())
        },
        progress,
    )?;
    if let Some(error) = publish_error {
        return Err(error.into());
    }
    let published = publisher.map(Publisher::finish).transpose()?;
    if show_progress && last_progress.is_some() {
        eprintln!("\r{}", progress_line(&stats, total, t0_us));
    }
    if let Some(writer) = outputs {
        writer.finish()?;
    }
    let track_rows = tracks.as_ref().map_or(0, TracksWriter::rows);
    if let Some(writer) = tracks {
        writer.finish()?;
    }
    let alert_rows = alerts.as_ref().map_or(0, AlertsWriter::rows);
    if let Some(writer) = alerts {
        writer.finish()?;
    }
    let seconds = stats.elapsed.as_secs_f64();
    println!(
        "replayed {} records ({} inputs, {} ticks, {} releases, {} flushes) in {:.3} s ({:.0} records/s): {} outputs, {} track rows, {} alert rows",
        stats.records,
        stats.inputs,
        stats.ticks,
        stats.releases,
        stats.flushes,
        seconds,
        stats.records as f64 / seconds.max(1e-9),
        stats.outputs,
        track_rows,
        alert_rows
    );
    if let Some(published) = published {
        println!("published {published} messages, every one acknowledged");
    }
    Ok(())
}

/// `records 1234/5678 (21%), recording +12.3 s, 1.2 M records/s`.
fn progress_line(stats: &ReplayStats, total: u64, t0_us: i64) -> String {
    let percent = if total == 0 {
        100.0
    } else {
        stats.records as f64 * 100.0 / total as f64
    };
    let recorded = stats
        .recorded_time_us
        .map_or(0.0, |t| (t - t0_us) as f64 / 1e6);
    let rate = stats.records as f64 / stats.elapsed.as_secs_f64().max(1e-9);
    format!(
        "records {}/{total} ({percent:.0}%), recording +{recorded:.1} s, {:.2} M records/s  ",
        stats.records,
        rate / 1e6
    )
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Track { detections, out } => run_track(&detections, &out),
        Command::Score {
            truth,
            tracks,
            per_time,
        } => run_score(&truth, &tracks, per_time.as_deref()),
        Command::Inspect { recording, repair } => run_inspect(&recording, repair),
        Command::Replay {
            recording,
            config,
            speed,
            max: _,
            out,
            alerts,
            outputs,
            t0,
            publish,
            topic_prefix,
        } => match speed {
            Some(speed) if !(speed.is_finite() && speed > 0.0) => Err(anyhow::anyhow!(
                "--speed must be a positive number, not {speed}"
            )),
            _ => run_replay(ReplayArgs {
                recording,
                config,
                pace: speed.map_or(Pace::Max, Pace::Speed),
                out,
                alerts,
                outputs,
                t0,
                publish,
                topic_prefix,
            }),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, outermost context first: "FILE: line N: reason".
            eprintln!("picket: {e:#}");
            ExitCode::FAILURE
        }
    }
}
