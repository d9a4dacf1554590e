//! A wedged engine loop is caught by the watchdog and the daemon restarted,
//! under load, without losing an acknowledged message.
//!
//! There is no systemd here, so the test plays its part: it binds the
//! notify socket, starts `picketd-wedgeable` (the real daemon library with
//! one injectable fault, see `src/bin/picketd-wedgeable.rs`) with
//! `NOTIFY_SOCKET` and `WATCHDOG_USEC` as systemd would for `WatchdogSec=1`,
//! and when no `WATCHDOG=1` arrives for a whole period it does what
//! `Restart=on-watchdog` does: SIGABRT, then start again. Sensor frames keep
//! flowing into a real pty the whole time, and a persistent QoS 1
//! subscriber on a real Mosquitto checks the published sequence numbers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod e2e_support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use e2e_support::*;
use picket_system_tests::faults::track_clears;
use picket_system_tests::mosquitto::{Mosquitto, Subscriber};

/// `WatchdogSec=` of the simulated unit.
const WATCHDOG: Duration = Duration::from_secs(1);

/// The simulated service manager's view of one daemon process.
struct Supervised {
    child: Child,
    socket: UnixDatagram,
}

impl Supervised {
    fn start(dir: &Path, config: &Path, flag: &Path, run: u32) -> Supervised {
        let notify = dir.join(format!("notify-{run}"));
        let socket = UnixDatagram::bind(&notify).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let log = std::fs::File::create(dir.join(format!("daemon-{run}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_picketd-wedgeable"))
            .arg(config)
            .arg(flag)
            .env("NOTIFY_SOCKET", &notify)
            .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Supervised { child, socket }
    }

    /// The next notification, if one arrives within 20 ms.
    fn next(&self) -> Option<String> {
        let mut buffer = [0u8; 4096];
        let n = self.socket.recv(&mut buffer).ok()?;
        Some(String::from_utf8_lossy(&buffer[..n]).into_owned())
    }

    fn wait_ready(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self
                .next()
                .is_some_and(|m| m.lines().any(|l| l == "READY=1"))
            {
                return start.elapsed();
            }
        }
        panic!("no READY=1 within {limit:?}");
    }

    /// Waits for `count` watchdog pings; panics if they stop.
    fn wait_pings(&self, count: usize) {
        let mut seen = 0;
        let mut last = Instant::now();
        while seen < count {
            if self
                .next()
                .is_some_and(|m| m.lines().any(|l| l == "WATCHDOG=1"))
            {
                seen += 1;
                last = Instant::now();
            }
            assert!(last.elapsed() < 3 * WATCHDOG, "watchdog pings stopped");
        }
    }

    /// What systemd does: fire when a whole period passes without a ping.
    /// Returns the time from `since` to the firing.
    fn watchdog_fires(&self, since: Instant, limit: Duration) -> Duration {
        let mut last_ping = Instant::now();
        loop {
            if self
                .next()
                .is_some_and(|m| m.lines().any(|l| l == "WATCHDOG=1"))
            {
                last_ping = Instant::now();
            }
            if last_ping.elapsed() >= WATCHDOG {
                return since.elapsed();
            }
            assert!(since.elapsed() < limit, "the watchdog never fired");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wedged_engine_is_restarted_by_the_watchdog_without_losing_messages() {
    let broker = Mosquitto::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty = Pty::start(dir.path(), "geo");
    let config = dir.path().join("picketd.toml");
    std::fs::write(
        &config,
        config_text(broker.port(), &dir.path().join("state"), &pty.device, ""),
    )
    .unwrap();
    let flag = dir.path().join("wedge");
    let subscriber = Subscriber::connect(broker.port(), "watchdog-watcher", &["picket/e2e/#"])
        .await
        .unwrap();

    let first = Supervised::start(dir.path(), &config, &flag, 1);
    first.wait_ready(Duration::from_secs(10));

    // Load: a walker reported at 20 Hz for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = Arc::clone(&stop);
        let mut out = pty.writer();
        std::thread::spawn(move || {
            let mut sequence = 0;
            while !stop.load(Ordering::Relaxed) {
                sequence += 1;
                let north = -50.0 + f64::from(sequence) * 0.075;
                // A write can fail while the daemon is down (no reader on
                // the pty is fine; a full buffer is not an error here).
                let _ = std::io::Write::write_all(&mut out, &wire(&position(sequence, 0.5, north)));
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    first.wait_pings(3);
    let tracks_before = subscriber
        .wait_for(Duration::from_secs(10), |m| {
            m.iter().any(|m| m.topic.contains("/tracks/"))
        })
        .await
        .expect("tracks before the wedge");
    assert!(!output_seqs(&tracks_before).is_empty());

    // Wedge the engine loop: the pings must stop, and the watchdog fire
    // within one period (plus the tick on which the engine wedges).
    std::fs::write(&flag, b"").unwrap();
    let wedged_at = Instant::now();
    let detected_after = first.watchdog_fires(wedged_at, Duration::from_secs(10));
    assert!(
        detected_after <= WATCHDOG + Duration::from_millis(700),
        "watchdog fired {detected_after:?} after the wedge"
    );
    // Restart=on-watchdog: SIGABRT (WatchdogSignal=), then start again.
    let mut first = first;
    send_signal(first.child.id(), "ABRT");
    let status = first.child.wait().unwrap();
    assert!(
        !status.success(),
        "the wedged daemon was killed: {status:?}"
    );
    std::fs::remove_file(&flag).unwrap();
    let restarted_at = Instant::now();
    let second = Supervised::start(dir.path(), &config, &flag, 2);
    let ready_after = second.wait_ready(Duration::from_secs(10));
    second.wait_pings(3);
    eprintln!(
        "watchdog fired {:.0} ms after the wedge; restarted daemon ready after {:.0} ms",
        detected_after.as_secs_f64() * 1e3,
        ready_after.as_secs_f64() * 1e3
    );

    // Tracks flow again from the new process (the walker is still walking).
    let seqs_before_restart = output_seqs(&subscriber.messages());
    subscriber
        .wait_for(Duration::from_secs(15), |m| {
            output_seqs(m).len() > seqs_before_restart.len() + 20
        })
        .await
        .expect("outputs resume after the restart");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();

    // Clean stop of the restarted daemon; then every seq the outbox ever
    // stamped must have reached the subscriber: no gap across the kill.
    let mut second = second;
    send_signal(second.child.id(), "TERM");
    // Keep reading notifications while it stops, as a service manager
    // does (the daemon never blocks on the socket either way).
    let stopping = Instant::now();
    while stopping.elapsed() < Duration::from_secs(15) {
        if second.child.try_wait().unwrap().is_some() {
            break;
        }
        let _ = second.next();
    }
    let status = second.child.wait().unwrap();
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages = subscriber.messages();
    let seqs = output_seqs(&messages);
    let (low, high) = (*seqs.first().unwrap(), *seqs.last().unwrap());
    let missing: Vec<u64> = (low..=high).filter(|s| !seqs.contains(s)).collect();
    // The restart first clears the track the killed run left retained: a
    // track clear has a seq but no body to show it in.
    let clears = track_clears(&messages);
    assert!(clears >= 1, "the killed run's track was cleared");
    assert!(
        missing.len() <= clears,
        "seqs missing across the restart: {missing:?} ({clears} track clears)"
    );
    assert!(
        restarted_at.elapsed() < Duration::from_secs(30),
        "the whole restart took too long"
    );
}

/// Sends a signal with the `kill` command (the workspace forbids unsafe
/// code, so no libc::kill).
fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}
