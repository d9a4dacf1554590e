//! The recording disk fills up while picketd runs under load: recording
//! stops loudly, tracking and publishing go on, nothing acknowledged is
//! lost, the daemon stops cleanly, and what was recorded reads back.
//!
//! The daemon (`picketd-wedgeable`: the real library, SIGXFSZ caught) runs
//! under `prlimit --fsize`: a write past the limit fails with EFBIG exactly
//! where a full disk fails with ENOSPC (the recorder's unit tests inject
//! ENOSPC and EIO themselves). The limit is far above what the outbox
//! holds, so only the recording hits it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use e2e_support::*;
use picket_system_tests::mosquitto::{Mosquitto, Subscriber};

/// The largest file the daemon may write, bytes.
const FILE_SIZE_LIMIT: u64 = 2 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_recording_disk_pauses_recording_not_tracking() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    let config = dir.path().join("picketd.toml");
    std::fs::write(
        &config,
        config_text(
            broker.port(),
            &state,
            &pty.device,
            "[recording]\nretry_interval_s = 1\n",
        ),
    )
    .unwrap();
    let subscriber = Subscriber::connect(broker.port(), "disk-watcher", &["picket/e2e/#"])
        .await
        .unwrap();
    let log = dir.path().join("daemon.log");
    let mut child = Command::new("prlimit")
        .arg(format!("--fsize={FILE_SIZE_LIMIT}"))
        .arg(env!("CARGO_BIN_EXE_picketd-wedgeable"))
        .arg(&config)
        .arg(dir.path().join("never-created"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("prlimit (util-linux) is installed");
    subscriber
        .wait_for(Duration::from_secs(15), |m| {
            status_counter(m, "daemon.recording_active") == Some(1)
        })
        .await
        .expect("recording active");

    // A walker at 20 Hz, and after a second a burst of junk lines (each a
    // counted frame drop) big enough to push the recording past the limit.
    let mut writer = pty.writer();
    let mut sequence = 0;
    let mut step = |writer: &mut std::fs::File| {
        sequence += 1;
        let north = -50.0 + f64::from(sequence) * 0.075;
        write_all(writer, &wire(&position(sequence, 0.5, north)));
    };
    for _ in 0..20 {
        step(&mut writer);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| {
            if i % 128 == 127 {
                0
            } else {
                (i % 251) as u8 | 1
            }
        })
        .collect();
    let mut written = 0u64;
    while written < FILE_SIZE_LIMIT + FILE_SIZE_LIMIT / 2 {
        write_all(&mut writer, &junk);
        written += junk.len() as u64;
        if written.is_multiple_of(256 * 1024) {
            step(&mut writer);
        }
    }
    let stopped = subscriber
        .wait_for(Duration::from_secs(15), |m| {
            status_counter(m, "daemon.recording_failures").is_some_and(|n| n >= 1)
                && status_counter(m, "daemon.recording_active") == Some(0)
        })
        .await
        .expect("recording stopped and said so");
    let seqs_at_stop = output_seqs(&stopped).len();

    // Tracking goes on: the walker keeps producing published track states.
    for _ in 0..40 {
        step(&mut writer);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    subscriber
        .wait_for(Duration::from_secs(10), |m| {
            output_seqs(m).len() > seqs_at_stop + 10
        })
        .await
        .expect("tracks keep flowing after the recording stopped");
    let messages = subscriber.messages();
    let failures = status_counter(&messages, "daemon.recording_failures").unwrap();
    let lost = status_counter(&messages, "daemon.recording_lost").unwrap();
    assert!(lost > 0, "items not recorded are counted");

    // Clean stop, every acknowledged output delivered.
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "clean exit: {exit:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seqs = output_seqs(&subscriber.messages());
    let (low, high) = (*seqs.first().unwrap(), *seqs.last().unwrap());
    let missing: Vec<u64> = (low..=high).filter(|s| !seqs.contains(s)).collect();
    assert!(missing.is_empty(), "seqs missing: {missing:?}");

    // Loud: the failure is in the log as an error.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("RECORDING STOPPED"), "{text}");
    // What was recorded reads back (a torn tail at the limit is cut).
    let reader = picket_record::Reader::open(&state.join("recording")).unwrap();
    let records = reader.report().records();
    assert!(records > 20, "{records} records");
    eprintln!(
        "recording stopped after {failures} failure(s); {lost} items not recorded; {records} records read back; {} outputs delivered without a gap",
        seqs.len()
    );
}
