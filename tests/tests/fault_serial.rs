//! Serial-line faults (issue 7, category 1) through a whole picketd
//! (`picketd::run_with`) reading a real socat pty, with a real Mosquitto
//! downstream:
//!
//! * 1 % of bytes flipped plus garbage bursts: every intact frame is
//!   decoded (exactly), every damaged one is counted, tracks still form;
//! * a second opener of the open port is refused with a clear error and
//!   the daemon keeps reading.
//!
//! The cases that measure memory have a test binary each, so that no other
//! test shares their process: `fault_oversize.rs` (1 MiB without a
//! delimiter) and `fault_flood.rs` (10x the rated rate). Unplug and re-plug
//! is `e2e_serial.rs` (`pty_unplugged_and_replugged_reconnects_without_spinning`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use e2e_support::*;
use picket_system_tests::faults::{Rng, assert_all_delivered, flip_bytes};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_percent_flipped_bytes_and_garbage_bursts_cost_only_the_damaged_frames() {
    const SEED: u64 = 0x5EED_0001;
    const FRAMES: u32 = 200;
    let rig = rig("fault-flip", |t| t).await;
    let mut rng = Rng::new(SEED);
    let mut writer = rig.pty.writer();
    write_all(&mut writer, &wire(&heartbeat()));
    let mut written = wire(&heartbeat()).len() as u64;
    // A frame decodes only if none of its bytes (its delimiter included)
    // changed and the delimiter before it survived: a flipped delimiter
    // glues two frames into one bad one.
    let mut intact = 0u64;
    let mut damaged = 0u64;
    let mut flipped_total = 0usize;
    let mut bursts = 0u64;
    let mut previous_delimiter_ok = true;
    for step in 0..FRAMES {
        let mut frame = walker_frame(step + 1, step);
        let flipped = flip_bytes(&mut frame, 0.01, &mut rng);
        flipped_total += flipped.len();
        if flipped.is_empty() && previous_delimiter_ok {
            intact += 1;
        } else {
            damaged += 1;
        }
        previous_delimiter_ok = !flipped.contains(&(frame.len() - 1));
        written += frame.len() as u64;
        write_all(&mut writer, &frame);
        if step % 25 == 12 {
            // A garbage burst (line noise, a sensor rebooting mid-frame),
            // ending in a delimiter so it costs only itself.
            let len = 64 + rng.below(448) as usize;
            let mut burst = rng.bytes(len);
            burst.push(0);
            written += burst.len() as u64;
            write_all(&mut writer, &burst);
            bursts += 1;
            previous_delimiter_ok = true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every byte reached the port counters (the pty loses nothing).
    let key = format!("{}.bytes", rig.port_key);
    rig.sub
        .wait_for(WAIT, |m| status_counter(m, &key) == Some(written))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "port bytes {:?} != written {written}",
                status_counter(&rig.sub.messages(), &key)
            )
        });
    let (report, _) = rig.daemon.stop(Duration::from_secs(15)).await;
    assert!(report.clean, "{report:?}");
    let e = report.engine;
    // Exactly the intact frames (and the heartbeat) were decoded: nothing
    // damaged got through, nothing intact was lost to a neighbour's noise.
    assert_eq!(
        e.messages,
        intact + 1,
        "decoded {} but {intact} frames were intact ({damaged} damaged, {flipped_total} bytes flipped, seed {SEED:#x})",
        e.messages
    );
    let d = e.dropped;
    let frame_drops = d.frame_empty
        + d.frame_too_long
        + d.frame_cobs
        + d.frame_too_short
        + d.frame_crc
        + d.frame_unknown_version
        + d.frame_payload;
    // Each burst is at least one bad frame, each run of glued damaged
    // frames at least one more.
    assert!(frame_drops > bursts, "{d:?}");
    assert_eq!(d.total(), frame_drops, "only frame errors: {d:?}");
    assert_eq!(
        e.detections, intact,
        "every intact report reached the tracker"
    );
    assert!(
        confirmed_tracks(&rig.sub.messages()) > 10,
        "the walker is tracked through the noise"
    );
    assert_all_delivered(&rig.sub, report.outputs_enqueued, WAIT).await;
    eprintln!(
        "1% flips (seed {SEED:#x}): {FRAMES} frames, {flipped_total} bytes flipped, {bursts} bursts; \
         {intact} intact frames all decoded, {damaged} damaged; frame drops {frame_drops} \
         (crc {}, cobs {}, too_short {}, empty {}, too_long {}, version {}, payload {}); \
         {} outputs delivered without gap",
        d.frame_crc,
        d.frame_cobs,
        d.frame_too_short,
        d.frame_empty,
        d.frame_too_long,
        d.frame_unknown_version,
        d.frame_payload,
        report.outputs_enqueued
    );
    rig.sub.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_opener_is_refused_with_a_clear_error_and_the_daemon_keeps_reading() {
    let rig = rig("fault-second-opener", |t| t).await;
    let path = rig.pty.device.display().to_string();

    // A second picketd serial source on the same port: the same code a
    // second daemon (or a mistaken second [[serial]] entry) would run.
    let (tx, mut rx) = picketd::queue::input_queue(16, 1 << 20);
    let health = Arc::new(picketd::serial::PortHealth::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut second = picketd::config::SerialPortConfig::new(path.clone());
    second.reconnect_min_ms = 100;
    second.reconnect_max_ms = 200;
    let task = tokio::spawn(picketd::serial::run_port(
        second,
        tx,
        health.clone(),
        Arc::new(picketd::telemetry::DaemonCounters::default()),
        stop_rx,
    ));
    let deadline = Instant::now() + WAIT;
    while health.open_failures.load(Ordering::Relaxed) < 3 {
        assert!(Instant::now() < deadline, "second open never attempted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!health.connected.load(Ordering::Relaxed));
    let error = health.last_error().expect("the refusal is recorded");

    // A stray non-picketd opener (`cat`, `screen`): plain open(2). TIOCEXCL
    // refuses it with EBUSY unless it has CAP_SYS_ADMIN; flock is advisory,
    // so root gets in (see RELIABILITY.md).
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        .unwrap();
    let plain = std::fs::File::open(&rig.pty.device);
    match (&plain, root) {
        (Err(e), false) => assert_eq!(e.raw_os_error(), Some(16), "EBUSY: {e}"),
        (Ok(_), true) => {}
        other => panic!("unexpected plain open outcome {other:?}"),
    }
    drop(plain);

    // The daemon still owns the port: data flows to it, not to the second.
    let key = format!("{}.bytes", rig.port_key);
    let before = status_counter(&rig.sub.messages(), &key).unwrap_or(0);
    let mut writer = rig.pty.writer();
    let frame = wire(&heartbeat());
    write_all(&mut writer, &frame);
    rig.sub
        .wait_for(WAIT, |m| {
            status_counter(m, &key).unwrap_or(0) >= before + frame.len() as u64
        })
        .await
        .expect("the first opener keeps reading");
    assert!(rx.try_recv().is_none(), "the second opener read nothing");
    assert_eq!(health.bytes.load(Ordering::Relaxed), 0);
    let _ = stop_tx.send(true);
    task.await.unwrap();
    let (report, _) = rig.daemon.stop(Duration::from_secs(15)).await;
    assert!(report.clean, "{report:?}");
    eprintln!(
        "second opener refused ({} attempts): {error:?}; plain open as {}: {}",
        health.open_failures.load(Ordering::Relaxed),
        if root { "root" } else { "non-root" },
        if root {
            "allowed (TIOCEXCL exempts CAP_SYS_ADMIN)"
        } else {
            "EBUSY"
        }
    );
    // A clear error: it says the device is busy or locked, not just "error".
    let lower = error.to_lowercase();
    assert!(
        lower.contains("busy") || lower.contains("lock") || lower.contains("unavailable"),
        "unclear error: {error}"
    );
    rig.sub.close().await;
}
