//! End-to-end benchmark of picketd through a real Mosquitto:
//!
//! ```text
//! cargo run --release -p picketd --example bench_e2e
//! ```
//!
//! Needs `/usr/sbin/mosquitto` and `socat`. Prints:
//! * start-up time to `READY=1` (in-process daemon, notify socket);
//! * throughput: detections/s from two ptys and MQTT in, to MQTT out (every
//!   output received by a subscriber);
//! * input-to-publish latency p50/p99 at 10,000 detections/s (reorder lag 0:
//!   the configured `reorder_lag_ms` adds to this by design);
//! * RSS with 1,000 live tracks (this process: daemon + bench harness, an
//!   upper bound of the daemon's own).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use picket_engine::geodesy::{Geodetic, LocalFrame};
use picket_wire::{GeoPosition, MAX_ENCODED_FRAME_LEN, Message, PositionReport, TargetClass};
use picketd::daemon::{RunOptions, RunReport};
use picketd::notify::Notifier;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio::sync::oneshot;

const ORIGIN: (f64, f64, f64) = (31.33, -110.94, 1200.0);

struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\nmax_inflight_messages 0\n"
            ),
        )
        .unwrap();
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Broker {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Socat {
    child: Child,
    device: PathBuf,
    sensor: PathBuf,
}

impl Socat {
    fn start(dir: &Path, name: &str) -> Socat {
        let device = dir.join(format!("{name}-dev"));
        let sensor = dir.join(format!("{name}-sensor"));
        let child = Command::new("socat")
            .arg(format!("pty,raw,echo=0,link={}", device.display()))
            .arg(format!("pty,raw,echo=0,link={}", sensor.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while !(device.exists() && sensor.exists()) {
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

fn frame() -> LocalFrame {
    LocalFrame::new(Geodetic {
        lat_deg: ORIGIN.0,
        lon_deg: ORIGIN.1,
        alt_m: ORIGIN.2,
    })
}

fn now_us() -> i64 {
    picketd::now().as_unix_micros()
}

fn report(frame: &LocalFrame, sequence: u32, time_us: i64, east: f64, north: f64) -> Message {
    let g = frame.ground_to_geodetic(east, north);
    Message::PositionReport(PositionReport {
        sequence,
        sensor_time_us: time_us as u64,
        position: GeoPosition {
            latitude_e7: (g.lat_deg * 1e7).round() as i32,
            longitude_e7: (g.lon_deg * 1e7).round() as i32,
            variance_east_m2: 4.0,
            variance_north_m2: 4.0,
            covariance_east_north_m2: 0.0,
        },
        altitude_m: None,
        velocity: None,
        sensor_track_id: None,
        class: TargetClass::Vehicle,
    })
}

fn wire(message: &Message, out: &mut Vec<u8>) {
    let mut buffer = [0u8; MAX_ENCODED_FRAME_LEN];
    out.extend_from_slice(picket_wire::encode_frame(message, &mut buffer).unwrap());
}

fn config(broker: u16, state: &Path, ports: &[&Path], reorder_lag_ms: u64) -> picketd::Config {
    let mut text = format!(
        r#"
[site]
id = "bench"
origin = {{ lat = {}, lon = {}, alt_m = {} }}
reorder_lag_ms = {reorder_lag_ms}
[tracker]
max_tracks = 20000
[mqtt]
host = "127.0.0.1"
port = {broker}
client_id = "picketd-bench"
subscriptions = ["picket/bench/sensors/+/reports"]
request_channel_capacity = 8192
max_inflight = 1000
[state]
dir = "{}"
[state.outbox]
max_entries = 2000000
max_bytes = 4000000000
fsync = {{ group_commit = {{ interval_ms = 10 }} }}
[daemon]
input_channel_capacity = 65536
status_interval_ms = 500
"#,
        ORIGIN.0,
        ORIGIN.1,
        ORIGIN.2,
        state.display()
    );
    for (index, port) in ports.iter().enumerate() {
        text.push_str(&format!(
            "[[sensors]]\nid = \"geo-{index}\"\nkind = \"geolocated_detector\"\nposition = {{ lat = {}, lon = {} }}\nexpected_interval_s = 60.0\n[[serial]]\npath = \"{}\"\nsensor = \"geo-{index}\"\n",
            ORIGIN.0, ORIGIN.1, port.display()
        ));
    }
    text.push_str(&format!(
        "[[sensors]]\nid = \"mqtt-0\"\nkind = \"geolocated_detector\"\nposition = {{ lat = {}, lon = {} }}\nexpected_interval_s = 60.0\n",
        ORIGIN.0, ORIGIN.1
    ));
    picketd::Config::parse(&text, Path::new("bench.toml")).unwrap()
}

/// What the bench subscriber saw: (receive time µs, track time µs, seq).
#[derive(Default)]
struct Seen {
    messages: Vec<(i64, i64, u64)>,
}

async fn subscriber(port: u16, seen: Arc<Mutex<Seen>>, id: &str) -> AsyncClient {
    let mut options = MqttOptions::new(format!("bench-sub-{id}"), "127.0.0.1", port);
    options
        .set_clean_session(true)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    client
        .subscribe("picket/bench/tracks/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let (subscribed_tx, subscribed_rx) = oneshot::channel();
    let mut subscribed_tx = Some(subscribed_tx);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::SubAck(_))) => {
                    if let Some(tx) = subscribed_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(publish))) => {
                    let received = now_us();
                    if publish.payload.is_empty() {
                        continue;
                    }
                    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&publish.payload)
                    {
                        let time = value["time"]
                            .as_str()
                            .and_then(|t| t.parse::<picket_schema::Timestamp>().ok())
                            .map_or(0, |t| t.as_unix_micros());
                        let seq = value["seq"].as_u64().unwrap_or(0);
                        seen.lock().unwrap().messages.push((received, time, seq));
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    let _ = tokio::time::timeout(Duration::from_secs(10), subscribed_rx).await;
    client
}

struct Running {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<RunReport, picketd::DaemonError>>,
}

async fn start(config: picketd::Config, notify: &Path) -> (Running, Duration) {
    let listener = UnixDatagram::bind(notify).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let options = RunOptions {
        notifier: Notifier::new(notify.to_str().unwrap(), None).unwrap(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(picketd::run_with(config, options, async move {
        let _ = stopped.await;
    }));
    let ready = tokio::task::spawn_blocking(move || {
        let mut buffer = [0u8; 512];
        loop {
            let n = listener.recv(&mut buffer).unwrap();
            if buffer[..n].starts_with(b"READY=1") {
                return;
            }
        }
    });
    ready.await.unwrap();
    (Running { stop, task }, started.elapsed())
}

async fn stop(running: Running) -> RunReport {
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// Writes scans of `targets` targets to `writer`: `scans_per_s` scans per
/// second (0: as fast as possible) for `duration`. Returns detections.
fn write_scans(
    writer: &mut std::fs::File,
    first_target: usize,
    targets: usize,
    scans_per_s: u32,
    duration: Duration,
) -> u64 {
    let frame = frame();
    let start = Instant::now();
    let mut sequence = 0u32;
    let mut count = 0u64;
    let mut batch = Vec::with_capacity(targets * 64);
    let mut scan = 0u64;
    while start.elapsed() < duration {
        let t = now_us();
        batch.clear();
        for target in first_target..first_target + targets {
            sequence = sequence.wrapping_add(1);
            // A grid of targets 60 m apart, each walking east at ~1.5 m/s.
            let east = (target % 100) as f64 * 60.0 - 3000.0 + start.elapsed().as_secs_f64() * 1.5;
            let north = (target / 100) as f64 * 60.0 - 3000.0;
            wire(&report(&frame, sequence, t, east, north), &mut batch);
        }
        if writer.write_all(&batch).is_err() {
            break;
        }
        count += targets as u64;
        scan += 1;
        if scans_per_s > 0 {
            let next = start + Duration::from_secs_f64(scan as f64 / f64::from(scans_per_s));
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    count
}

async fn wait_delivered(seen: &Arc<Mutex<Seen>>, outputs: u64, limit: Duration) -> Duration {
    let start = Instant::now();
    while (seen.lock().unwrap().messages.len() as u64) < outputs && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let pty_a = Socat::start(dir.path(), "a");
    let pty_b = Socat::start(dir.path(), "b");
    let frame_ = frame();
    // `bench_e2e [throughput|latency|rss]`: one phase per process, so RSS
    // and latency are not skewed by an earlier phase's backlog.
    let phase = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let run = |name: &str| phase == "all" || phase == name;

    if run("throughput") {
        // ---- 1. Throughput (also start-up time) ------------------------------
        let seen = Arc::new(Mutex::new(Seen::default()));
        let _sub = subscriber(broker.port, Arc::clone(&seen), "1").await;
        let config_ = config(
            broker.port,
            &dir.path().join("state-1"),
            &[&pty_a.device, &pty_b.device],
            100,
        );
        let (running, ready) = start(config_, &dir.path().join("notify-1")).await;
        println!("start-up to READY=1: {:.1} ms", ready.as_secs_f64() * 1e3);

        let duration = Duration::from_secs(5);
        let t0 = Instant::now();
        let writers: Vec<_> = [(&pty_a.sensor, 0usize), (&pty_b.sensor, 500usize)]
            .into_iter()
            .map(|(path, first)| {
                let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                std::thread::spawn(move || write_scans(&mut file, first, 500, 0, duration))
            })
            .collect();
        // MQTT in: one JSON report per message, a fixed 2,000/s.
        let mut options = MqttOptions::new("bench-pub", "127.0.0.1", broker.port);
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (publisher, mut pub_loop) = AsyncClient::new(options, 10_000);
        tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
        let mut mqtt_sent = 0u64;
        let mut sequence = 0u32;
        while t0.elapsed() < duration {
            for k in 0..20 {
                sequence += 1;
                let message = report(
                    &frame_,
                    sequence,
                    now_us(),
                    3000.0 + f64::from(k) * 60.0,
                    0.0,
                );
                publisher
                    .publish(
                        "picket/bench/sensors/mqtt-0/reports",
                        QoS::AtLeastOnce,
                        false,
                        serde_json::to_vec(&message).unwrap(),
                    )
                    .await
                    .unwrap();
                mqtt_sent += 1;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let serial_sent: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let report_ = stop(running).await;
        let _ = wait_delivered(
            &seen,
            report_.outputs_enqueued.saturating_sub(1000),
            Duration::from_secs(60),
        )
        .await;
        let total = t0.elapsed();
        let delivered = seen.lock().unwrap().messages.len();
        println!(
            "throughput: {} detections in (serial {serial_sent} written, mqtt {mqtt_sent}), engine took {} detections, {} outputs enqueued, {delivered} track messages delivered, in {:.2} s: {:.0} detections/s end to end",
            serial_sent + mqtt_sent,
            report_.engine.detections,
            report_.outputs_enqueued,
            total.as_secs_f64(),
            report_.engine.detections as f64 / total.as_secs_f64()
        );
        println!(
            "  engine drops {}, mqtt inputs dropped {:?}, mqtt published {:?} acked {:?}, shutdown {:.0} ms, clean {}",
            report_.engine.dropped.total(),
            report_.mqtt.map(|m| m.inputs_dropped),
            report_.mqtt.map(|m| m.published),
            report_.mqtt.map(|m| m.acked),
            report_.shutdown_took.as_secs_f64() * 1e3,
            report_.clean
        );
    }
    if run("latency") {
        // ---- 2. Latency at 10,000 detections/s --------------------------------
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sub = subscriber(broker.port, Arc::clone(&seen), "2").await;
        let config_ = config(
            broker.port,
            &dir.path().join("state-2"),
            &[&pty_a.device, &pty_b.device],
            0,
        );
        let (running, _) = start(config_, &dir.path().join("notify-2")).await;
        let writers: Vec<_> = [(&pty_a.sensor, 0usize), (&pty_b.sensor, 100usize)]
            .into_iter()
            .map(|(path, first)| {
                let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                // 2 ports x 100 targets x 50 scans/s = 10,000 detections/s.
                std::thread::spawn(move || {
                    write_scans(&mut file, first, 100, 50, Duration::from_secs(6))
                })
            })
            .collect();
        let sent: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let report_ = stop(running).await;
        let _ = wait_delivered(
            &seen,
            report_.outputs_enqueued.saturating_sub(1000),
            Duration::from_secs(30),
        )
        .await;
        let messages = std::mem::take(&mut seen.lock().unwrap().messages);
        // Skip the first second (track start-up, connections warming).
        let first = messages.first().map_or(0, |m| m.0);
        let mut latencies: Vec<i64> = messages
            .iter()
            .filter(|m| m.0 > first + 1_000_000 && m.1 > 0)
            .map(|m| m.0 - m.1)
            .collect();
        latencies.sort_unstable();
        println!(
            "latency at 10,000 detections/s ({sent} sent, {} samples): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (input write to subscriber receipt, reorder_lag_ms = 0)",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            percentile(&latencies, 1.0),
        );
        drop(sub);
    }
    if run("rss") {
        // ---- 3. RSS with 1,000 live tracks ------------------------------------
        let seen = Arc::new(Mutex::new(Seen::default()));
        let _sub = subscriber(broker.port, Arc::clone(&seen), "3").await;
        let config_ = config(
            broker.port,
            &dir.path().join("state-3"),
            &[&pty_a.device, &pty_b.device],
            100,
        );
        let rss_before = rss_kib();
        let (running, _) = start(config_, &dir.path().join("notify-3")).await;
        let writers: Vec<_> = [(&pty_a.sensor, 0usize), (&pty_b.sensor, 500usize)]
            .into_iter()
            .map(|(path, first)| {
                let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                std::thread::spawn(move || {
                    write_scans(&mut file, first, 500, 5, Duration::from_secs(5))
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss = rss_kib();
        let report_ = stop(running).await;
        let live: std::collections::BTreeSet<u64> =
            seen.lock().unwrap().messages.iter().map(|m| m.2).collect();
        println!(
            "RSS with 1,000 live tracks: {:.1} MB (process: daemon + harness; {:.1} MB before start), {} detections, {} outputs, {} seqs seen",
            rss as f64 / 1024.0,
            rss_before as f64 / 1024.0,
            report_.engine.detections,
            report_.outputs_enqueued,
            live.len()
        );
    }
}
