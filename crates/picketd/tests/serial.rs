//! Serial source tests on real ptys (socat): exclusive open, the full
//! input channel policy, shutdown while the port is gone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use picketd::config::SerialPortConfig;
use picketd::queue::input_queue;
use picketd::serial::{PortExit, PortHealth, run_port};
use picketd::telemetry::DaemonCounters;
use tokio::sync::watch;
use tokio_serial::SerialPortBuilderExt;

struct Socat {
    child: Child,
    device: PathBuf,
    sensor: PathBuf,
}

impl Socat {
    fn start(dir: &Path) -> Socat {
        let device = dir.join("dev");
        let sensor = dir.join("sensor");
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", device.display()))
            .arg(format!("pty,raw,echo=0,link={}", sensor.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("socat installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(device.exists() && sensor.exists()) {
            assert!(Instant::now() < deadline, "socat links");
            std::thread::sleep(Duration::from_millis(5));
        }
        Socat {
            child,
            device,
            sensor,
        }
    }
}

impl Drop for Socat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_is_exclusive_and_full_channel_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let socat = Socat::start(dir.path());
    let mut config = SerialPortConfig::new(socat.device.to_str().unwrap());
    config.input_full_wait_ms = 10;
    config.read_buffer_bytes = 64;
    // Capacity 1 and nobody reading: every chunk after the first waits
    // 10 ms, then is dropped and counted.
    let (tx, mut rx) = input_queue(1, 1 << 20);
    let health = Arc::new(PortHealth::default());
    let counters = Arc::new(DaemonCounters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_port(
        config,
        tx,
        Arc::clone(&health),
        Arc::clone(&counters),
        stop_rx,
    ));
    until("open", || health.connected.load(Ordering::Relaxed)).await;

    // A second opener is refused (TIOCEXCL + flock), even as root.
    let second = tokio_serial::new(socat.device.to_str().unwrap(), 115_200).open_native_async();
    assert!(second.is_err(), "second open must fail");

    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&socat.sensor)
        .unwrap();
    for _ in 0..20 {
        writer.write_all(&[0x42; 64]).unwrap();
        writer.flush().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until("drops", || {
        health.dropped_chunks.load(Ordering::Relaxed) >= 5
    })
    .await;
    assert_eq!(
        counters.serial_input_drops.load(Ordering::Relaxed),
        health.dropped_chunks.load(Ordering::Relaxed)
    );
    let first = rx.recv().await.unwrap();
    assert!(
        matches!(first.source, picket_engine::InputSource::Serial(ref p) if p.ends_with("dev"))
    );

    stop_tx.send(true).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("task stops promptly even with a full channel")
        .unwrap();
    assert_eq!(exit, PortExit::Shutdown);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_port_is_retried_with_backoff_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SerialPortConfig::new(dir.path().join("absent").to_str().unwrap());
    config.reconnect_min_ms = 20;
    config.reconnect_max_ms = 160;
    let (tx, _rx) = input_queue(8, 1 << 20);
    let health = Arc::new(PortHealth::default());
    let counters = Arc::new(DaemonCounters::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_port(config, tx, Arc::clone(&health), counters, stop_rx));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // 20 + 40 + 80 + 160 + 160... ms: about 8 attempts in a second, not
    // thousands.
    let failures = health.open_failures.load(Ordering::Relaxed);
    assert!(
        (3..=12).contains(&failures),
        "{failures} open attempts in 1 s"
    );
    assert!(health.last_error().is_some());
    stop_tx.send(true).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit, PortExit::Shutdown);
}
