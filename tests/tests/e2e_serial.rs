//! picketd end to end: a serial adapter unplugged (socat killed) and
//! plugged back (socat restarted on the same link names). The port is seen
//! disconnected within a second, the process stays idle while it is gone
//! (no busy loop on `Ok(0)` or failed opens), and it reconnects and reads
//! again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::*;
use picket_system_tests::mosquitto::{Mosquitto, Subscriber};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pty_unplugged_and_replugged_reconnects_without_spinning() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut pty = Pty::start(dir.path(), "geo");
    let state = dir.path().join("state");
    let config = parse_config(&config_text(broker.port(), &state, &pty.device, ""));
    let port = pty.device.display().to_string();
    let key = |name: &str| format!("serial.{port}.{name}");
    let subscriber = Subscriber::connect(
        broker.port(),
        "e2e-serial-watcher",
        &[&format!("picket/{SITE}/status")],
    )
    .await
    .unwrap();
    let daemon = Daemon::start(config);

    subscriber
        .wait_for(WAIT, |m| status_counter(m, &key("connected")) == Some(1))
        .await
        .expect("port connected");
    write_all(&mut pty.writer(), &wire(&heartbeat()));
    subscriber
        .wait_for(WAIT, |m| status_counter(m, &key("bytes")).unwrap_or(0) > 0)
        .await
        .expect("bytes read");

    // Unplug: detected within a second (plus one status period).
    let unplugged = Instant::now();
    pty.unplug();
    subscriber
        .wait_for(WAIT, |m| status_counter(m, &key("connected")) == Some(0))
        .await
        .expect("disconnect seen");
    let detected = unplugged.elapsed();
    assert!(detected < Duration::from_millis(1500), "took {detected:?}");

    // Idle while gone: CPU time of this whole process (daemon, subscriber,
    // runtime) over three seconds of wall time.
    let ticks_before = cpu_ticks();
    let wall = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu_s = (cpu_ticks() - ticks_before) as f64 / ticks_per_second() as f64;
    let share = cpu_s / wall.elapsed().as_secs_f64();
    assert!(
        share < 0.10,
        "{:.1}% of a core while the port is gone",
        share * 100.0
    );

    // Plug back in: reopened (backoff capped at 500 ms), data flows again.
    pty.plug();
    let messages = subscriber
        .wait_for(WAIT, |m| {
            status_counter(m, &key("connected")) == Some(1)
                && status_counter(m, &key("reconnects")).unwrap_or(0) >= 1
        })
        .await
        .expect("reconnected");
    let failures = status_counter(&messages, &key("open_failures")).unwrap();
    // ~3.5 s gone at a 500 ms cap: a handful of attempts, not thousands.
    assert!(failures <= 20, "{failures} open attempts");
    let bytes_before = status_counter(&messages, &key("bytes")).unwrap();
    write_all(&mut pty.writer(), &wire(&heartbeat()));
    subscriber
        .wait_for(WAIT, |m| {
            status_counter(m, &key("bytes")).unwrap_or(0) > bytes_before
        })
        .await
        .expect("bytes after reconnect");

    let (report, _) = daemon.stop(Duration::from_secs(15)).await;
    assert!(report.clean, "{report:?}");
    eprintln!(
        "disconnect detected in {detected:?}; {:.2}% CPU while gone; {failures} open attempts",
        share * 100.0
    );
    subscriber.close().await;
}
