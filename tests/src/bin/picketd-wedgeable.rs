//! picketd with faults to inject, for the process-level fault tests: the
//! real daemon library, configured from a file and supervised through
//! `$NOTIFY_SOCKET` / `$WATCHDOG_USEC` exactly as under systemd.
//! * Its engine loop blocks for good at its next tick once the file named
//!   by the second argument exists (`tests/tests/fault_watchdog.rs`).
//! * It survives a file-size limit (`prlimit --fsize`): SIGXFSZ is caught,
//!   so a write past the limit fails with EFBIG, as a write to a full disk
//!   fails with ENOSPC (`tests/tests/fault_disk_full.rs`).
//!
//! ```text
//! picketd-wedgeable CONFIG WEDGE_FLAG_FILE
//! ```
//!
//! Not installed anywhere: it lives in the system-test package so the
//! production binary carries no fault injection.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use picketd::daemon::{RunOptions, TickHook};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(config), Some(flag)) = (args.next(), args.next()) else {
        eprintln!("usage: picketd-wedgeable CONFIG WEDGE_FLAG_FILE");
        return ExitCode::FAILURE;
    };
    let config = match picketd::Config::load(&PathBuf::from(config)) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    picketd::telemetry::init(&config.daemon.log_filter);
    let flag = PathBuf::from(flag);
    let options = match RunOptions::from_env() {
        Ok(options) => RunOptions {
            engine_tick_hook: Some(TickHook(Arc::new(move || {
                if flag.exists() {
                    eprintln!("picketd-wedgeable: engine loop wedged");
                    loop {
                        std::thread::sleep(Duration::from_secs(3600));
                    }
                }
            }))),
            ..options
        },
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // SIGXFSZ kills by default; with a handler installed the write
        // returns an error instead. 25 is SIGXFSZ on Linux.
        let _file_size_limit =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(25));
        let shutdown = async {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                term.recv().await;
            }
        };
        picketd::run_with(config, options, shutdown).await
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
