//! `picket`: operator and analyst tools.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use picket_cli::formats::{DetectionRecord, TrackRecord, TruthRecord, read_file, write_file};
use picket_cli::score::{ScoringProtocol, score};
use picket_cli::track::track;
use picket_track::TrackerConfig;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Track { detections, out } => run_track(&detections, &out),
        Command::Score {
            truth,
            tracks,
            per_time,
        } => run_score(&truth, &tracks, per_time.as_deref()),
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
