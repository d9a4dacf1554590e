//! The demo: a seeded scenario and the public sample, each tracked and
//! scored against its truth, with pictures.
//!
//! It is the first thing a newcomer runs, so it needs nothing beyond Rust,
//! finishes in seconds, and fails loudly (non-zero exit) if picket no longer
//! beats the Stone Soup reference on the sample: a demo that quietly shows a
//! regression would be worse than none.

use crate::plot::tracks_svg;
use crate::scenario::{ScenarioConfig, generate};
use picket_cli::formats::{DetectionRecord, FileError, TruthRecord, read_file, write_file};
use picket_cli::score::{ScoreSummary, ScoringProtocol, score};
use picket_cli::track::{Summary, TrackError, track};
use picket_track::TrackerConfig;
use picket_track::gospa::GospaError;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

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
    /// picket scored worse than the reference on the sample.
    #[error(
        "mean GOSPA {gospa:.2} m on the public sample is not better than Stone Soup GNN's {STONE_SOUP_GNN_GOSPA:.2} m"
    )]
    Regression {
        /// picket's mean GOSPA.
        gospa: f64,
    },
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
    /// The seeded scenario, then the public sample.
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

/// Runs the demo and returns its report; fails with
/// [`DemoError::Regression`] if the sample score does not beat the
/// reference.
pub fn run(options: &DemoOptions) -> Result<DemoReport, DemoError> {
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|source| DemoError::Io {
        path: out.clone(),
        source,
    })?;

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
    let gospa = sample.score.gospa;

    let report = DemoReport {
        runs: vec![generated, sample],
    };
    if gospa < STONE_SOUP_GNN_GOSPA {
        Ok(report)
    } else {
        Err(DemoError::Regression { gospa })
    }
}

impl DemoReport {
    /// The report as a table, with the reference row and where the
    /// pictures are.
    pub fn render(&self) -> String {
        let mut s = String::new();
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

    #[test]
    fn demo_beats_the_reference_and_writes_its_files() {
        let out = std::env::temp_dir().join(format!("picket-demo-test-{}", std::process::id()));
        let options = DemoOptions {
            seed: 1,
            sample: Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/sample"),
            out: out.clone(),
        };
        let report = run(&options).unwrap();
        assert_eq!(report.runs.len(), 2);
        for run in &report.runs {
            assert!(run.score.gospa > 0.0, "{}: {}", run.name, run.score.gospa);
            assert!(run.svg.exists());
        }
        assert!(report.runs[1].score.gospa < STONE_SOUP_GNN_GOSPA);
        for file in [
            "scenario-detections.jsonl",
            "scenario-truth.jsonl",
            "sample-tracks.jsonl",
        ] {
            assert!(out.join(file).exists(), "{file}");
        }
        let text = report.render();
        assert!(
            text.contains("public sample") && text.contains("Stone Soup"),
            "{text}"
        );
        std::fs::remove_dir_all(&out).unwrap();
    }
}
