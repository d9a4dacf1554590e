//! `picket-sim`: generate seeded scenarios.
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use picket_cli::formats::write_file;
use picket_sim::demo::{self, DemoOptions};
use picket_sim::scenario::{ScenarioConfig, generate};
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
    /// Write DIR/detections.jsonl and DIR/truth.jsonl for a seeded scenario
    /// shaped like the public sample (10 movers, two radars, 80 ground
    /// nodes, clutter).
    Generate {
        /// Seed; the same seed gives the same files.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Scenario length in seconds.
        #[arg(long, default_value_t = 300.0)]
        duration: f64,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Track a seeded scenario and the public sample, score both against
    /// truth next to the Stone Soup reference, and draw them. Fails if
    /// picket does not beat the reference on the sample.
    Demo {
        /// Seed of the generated scenario.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Folder with the public sample (detections.jsonl, truth.jsonl).
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data/sample"))]
        sample: PathBuf,
        /// Where to write tracks, truth and SVG pictures.
        #[arg(long, default_value = "out/demo")]
        out: PathBuf,
    },
}

fn run_generate(seed: u64, duration: f64, out: &Path) -> Result<()> {
    anyhow::ensure!(
        duration.is_finite() && duration > 0.0,
        "--duration must be a positive number of seconds"
    );
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let config = ScenarioConfig {
        duration,
        ..ScenarioConfig::sample_like(seed)
    };
    let scenario = generate(&config);
    write_file(&out.join("detections.jsonl"), &scenario.detections)?;
    write_file(&out.join("truth.jsonl"), &scenario.truth)?;
    println!(
        "seed {seed}: {} detections ({} false), {} truth rows in {}",
        scenario.detections.len(),
        scenario.false_detections,
        scenario.truth.len(),
        out.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Generate {
            seed,
            duration,
            out,
        } => run_generate(seed, duration, &out),
        Command::Demo { seed, sample, out } => demo::run(&DemoOptions { seed, sample, out })
            .map(|report| print!("{}", report.render()))
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("picket-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
