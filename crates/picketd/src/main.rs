//! `picketd`: the picket edge daemon.
//!
//! ```text
//! picketd --config /etc/picket/picketd.toml   # run (under systemd)
//! picketd --check-config /etc/picket/picketd.toml
//! ```
//!
//! Exit codes: 0 clean stop (SIGTERM/SIGINT) or valid config; 1 bad config,
//! start-up failure or abnormal stop.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use picketd::Config;

/// picket edge daemon: serial and MQTT sensor inputs, fused, published over
/// MQTT with a durable outbox.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Configuration file.
    #[arg(long, default_value = "/etc/picket/picketd.toml")]
    config: PathBuf,
    /// Check FILE (parse and validate), print a summary, and exit 0 if it is
    /// usable, 1 if not.
    #[arg(long, value_name = "FILE")]
    check_config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = args.check_config {
        return match Config::load(&path) {
            Ok(config) => {
                println!("OK: {}", path.display());
                println!("{}", config.summary());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            eprintln!("picketd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &std::path::Path) -> anyhow::Result<()> {
    // Validate before anything starts; the error names file, line and key.
    let config = Config::load(path)?;
    picketd::telemetry::init(&config.daemon.log_filter);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("picketd-io")
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        let report = picketd::run(config, shutdown).await?;
        if !report.clean {
            tracing::warn!(
                outbox_unacked = report.outbox_unacked,
                "stopped without draining everything; the outbox keeps the rest for the next start"
            );
        }
        Ok(())
    })
}

/// Resolves on the first SIGTERM (systemd stop) or SIGINT (Ctrl-C).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
