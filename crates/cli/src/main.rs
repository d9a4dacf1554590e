//! `picket`: operator and analyst tools.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use picket_cli::formats::{JsonlReader, Record};
use picket_cli::score::{ScoringProtocol, score};
use std::fs::File;
use std::io::{BufReader, Write};
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

fn read_jsonl<T: Record>(path: &Path, sorted: bool) -> Result<Vec<T>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let input = BufReader::new(file);
    let reader = if sorted {
        JsonlReader::sorted(input)
    } else {
        JsonlReader::unsorted(input)
    };
    reader
        .read_all()
        .with_context(|| format!("{}", path.display()))
}

fn run_score(truth: &Path, tracks: &Path, per_time: Option<&Path>) -> Result<()> {
    let truth = read_jsonl(truth, true)?;
    let tracks = read_jsonl(tracks, false)?;
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
        Command::Track { detections, out } => {
            picket_cli::track::run(&detections, &out, &picket_track::TrackerConfig::default())
                .map(|summary| println!("{summary}"))
        }
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
