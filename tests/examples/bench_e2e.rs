//! End-to-end benchmark of picketd, in process, through real ptys (socat)
//! and a real Mosquitto:
//!
//! ```text
//! cargo run --release -p picket-system-tests --example bench_e2e -- [PHASE]
//! ```
//!
//! PHASE is one of (default: all, each in order):
//! * `throughput [RATE]`: offers RATE detections/s (default 100,000) for
//!   10 s — two ptys with 500 walkers each, plus 2,000/s JSON over MQTT —
//!   and reports whether the daemon kept up: detections processed, drops,
//!   how long after the last input the engine had caught up, messages
//!   delivered to a subscriber, a clean shutdown.
//! * `flood`: writes as fast as the ptys take it for 5 s (far beyond the
//!   rated load): what is processed per second, what is dropped and
//!   counted, RSS, and whether shutdown stays within its bound.
//! * `latency`: 10,000 detections/s; sensor write to subscriber receipt,
//!   p50/p99: one sensor with no reorder lag (the pipeline's own latency),
//!   then two interleaved sensors with the 20 ms lag they need (the lag
//!   adds to the latency by design), then the first case with the default
//!   fsync policy (`"always"`). Direct pty pairs, not socat: see
//!   `DirectPty`. The first second and the shutdown flush are not timed.
//!   Per burst (the messages of one scan, published together), the first
//!   and the last message's latency too.
//! * `floor`: the broker and client stack alone: a bare rumqttc publisher
//!   sends the latency phase's bursts (100 track-sized messages every
//!   100 ms) to the same kind of subscriber. What the `latency` figures
//!   cannot go below on this machine.
//! * `rss`: RSS with 1,000 live tracks (this process: daemon and harness,
//!   an upper bound of the daemon's own).
//!
//! Also prints start-up time to `READY=1` (notify socket). Run on a quiet
//! machine: these are wall-clock figures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    dead_code
)]

#[path = "../tests/e2e_support/mod.rs"]
mod e2e_support;

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e_support::{Daemon, ORIGIN, Pty, SITE, now_us, position_at, wire};
use picket_system_tests::mosquitto::{Mosquitto, MosquittoOptions};
use picketd::daemon::{RunOptions, RunReport};
use picketd::notify::Notifier;
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio::sync::oneshot;

/// Walkers per pty.
const TARGETS_PER_PORT: usize = 500;
/// JSON reports per second over MQTT in the throughput phase.
const MQTT_RATE: u64 = 2_000;

/// The outbox fsync policy of every phase but the last latency case.
const GROUP_COMMIT: &str = "{ group_commit = { interval_ms = 10 } }";

fn config(
    broker: u16,
    state: &Path,
    ports: &[&Path],
    reorder_lag_ms: u64,
    fsync: &str,
) -> picketd::Config {
    let mut text = format!(
        r#"
[site]
id = "{SITE}"
origin = {{ lat = {}, lon = {}, alt_m = {} }}
reorder_lag_ms = {reorder_lag_ms}
[tracker]
max_tracks = 20000
[mqtt]
host = "127.0.0.1"
port = {broker}
client_id = "picketd-bench"
subscriptions = ["picket/{SITE}/sensors/+/reports"]
[state]
dir = "{}"
[state.outbox]
fsync = {fsync}
[daemon]
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
            ORIGIN.0,
            ORIGIN.1,
            port.display()
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
    /// When set (the latency phase), payloads are kept as received and
    /// parsed after the run: parsing each on receipt delayed the receive
    /// time of every message queued behind it, by up to a millisecond over
    /// a 100-message burst, which timed the bench instead of the daemon.
    unparsed: Option<Vec<(i64, bytes::Bytes)>>,
}

impl Seen {
    fn keeping_payloads() -> Seen {
        Seen {
            messages: Vec::new(),
            unparsed: Some(Vec::new()),
        }
    }

    fn received(&mut self, received: i64, payload: bytes::Bytes) {
        match &mut self.unparsed {
            Some(unparsed) => unparsed.push((received, payload)),
            None => self.messages.push(parse(received, &payload)),
        }
    }

    fn len(&self) -> usize {
        self.unparsed.as_ref().map_or(self.messages.len(), Vec::len)
    }

    /// Every message seen so far, parsed, in receive order.
    fn take_parsed(&mut self) -> Vec<(i64, i64, u64)> {
        let mut messages = std::mem::take(&mut self.messages);
        if let Some(unparsed) = &mut self.unparsed {
            messages.extend(unparsed.drain(..).map(|(at, payload)| parse(at, &payload)));
        }
        messages
    }
}

fn parse(received: i64, payload: &[u8]) -> (i64, i64, u64) {
    let value: serde_json::Value = serde_json::from_slice(payload).unwrap();
    let time = value["time"]
        .as_str()
        .and_then(|t| t.parse::<picket_schema::Timestamp>().ok())
        .map_or(0, |t| t.as_unix_micros());
    let seq = value["seq"].as_u64().unwrap_or(0);
    (received, time, seq)
}

async fn subscriber(port: u16, seen: Arc<Mutex<Seen>>, id: &str) -> AsyncClient {
    let mut options = MqttOptions::new(format!("bench-sub-{id}"), "127.0.0.1", port);
    options
        .set_clean_session(true)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 10_000);
    // As picketd does: a PUBACK held back by Nagle holds a slot of the
    // broker's inflight window to this subscriber.
    let mut network = eventloop.network_options();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    client
        .subscribe(format!("picket/{SITE}/tracks/#"), QoS::AtLeastOnce)
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
                    seen.lock().unwrap().received(received, publish.payload);
                }
                // Disconnected by its phase (below): done.
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))
                | Err(rumqttc::ConnectionError::RequestsDone) => break,
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
        .await
        .unwrap()
        .unwrap();
    client
}

/// Starts the daemon and waits for `READY=1` on a notify socket.
async fn start(config: picketd::Config, notify: &Path) -> (Daemon, Duration) {
    let listener = UnixDatagram::bind(notify).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let options = RunOptions {
        notifier: Notifier::new(notify.to_str().unwrap(), None).unwrap(),
        ..RunOptions::default()
    };
    let started = Instant::now();
    let daemon = Daemon::start_with(config, options);
    tokio::task::spawn_blocking(move || {
        let mut buffer = [0u8; 512];
        loop {
            let n = listener.recv(&mut buffer).unwrap();
            if buffer[..n].starts_with(b"READY=1") {
                return;
            }
        }
    })
    .await
    .unwrap();
    (daemon, started.elapsed())
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

/// Writes scans of `targets` walkers into a pty's sensor end: `scans_per_s`
/// scans a second (0: as fast as it takes them) for `duration`. Returns
/// detections written.
fn write_scans(
    mut writer: impl std::io::Write,
    first_target: usize,
    targets: usize,
    scans_per_s: f64,
    duration: Duration,
) -> u64 {
    let start = Instant::now();
    let mut sequence = 0u32;
    let mut count = 0u64;
    let mut batch = Vec::with_capacity(targets * 64);
    let mut scan = 0u64;
    while start.elapsed() < duration {
        let t = now_us();
        let walked = start.elapsed().as_secs_f64() * 1.5;
        batch.clear();
        for target in first_target..first_target + targets {
            sequence = sequence.wrapping_add(1);
            // A grid of walkers 60 m apart, each going east at 1.5 m/s.
            let east = (target % 100) as f64 * 60.0 - 3000.0 + walked;
            let north = (target / 100) as f64 * 60.0 - 3000.0;
            batch.extend(wire(&position_at(sequence, t, east, north)));
        }
        if writer.write_all(&batch).is_err() {
            break;
        }
        count += targets as u64;
        scan += 1;
        if scans_per_s > 0.0 {
            let next = start + Duration::from_secs_f64(scan as f64 / scans_per_s);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
    count
}

/// Opens a socat pty's sensor end for writing.
fn open_sensor(sensor: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open(sensor)
        .unwrap()
}

/// A pty pair with no relay in between, for the latency phase: the bench
/// writes the master, picketd opens the slave's path. A real adapter's
/// driver feeds its tty directly, so socat's relay (a process of its own,
/// scheduled on the same two cores) would add a hop production lacks.
struct DirectPty {
    master: tokio_serial::SerialStream,
    path: PathBuf,
}

impl DirectPty {
    fn open() -> DirectPty {
        use tokio_serial::SerialPort as _;
        let (master, slave) = tokio_serial::SerialStream::pair().unwrap();
        let path = PathBuf::from(slave.name().unwrap());
        // Closed here: it holds the lock picketd's exclusive open takes.
        // The pty lives on while its master is open.
        drop(slave);
        DirectPty { master, path }
    }
}

/// Blocking writes over a non-blocking pty master: a full pty buffer is
/// waited out (picketd is reading it).
struct RetryWrites(tokio_serial::SerialStream);

impl std::io::Write for RetryWrites {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            match self.0.write(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(50));
                }
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Publishes JSON reports on MQTT at `rate`/s for `duration`; returns the
/// number published.
async fn publish_json(broker: u16, rate: u64, duration: Duration) -> u64 {
    let mut options = MqttOptions::new("bench-pub", "127.0.0.1", broker);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (publisher, mut pub_loop) = AsyncClient::new(options, 10_000);
    tokio::spawn(async move { while pub_loop.poll().await.is_ok() {} });
    let start = Instant::now();
    let per_tick = rate / 100;
    let mut sent = 0u64;
    let mut sequence = 0u32;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while start.elapsed() < duration {
        tick.tick().await;
        let t = now_us();
        for k in 0..per_tick {
            sequence += 1;
            let message = position_at(sequence, t, 3500.0 + k as f64 * 60.0, 0.0);
            publisher
                .publish(
                    format!("picket/{SITE}/sensors/mqtt-0/reports"),
                    QoS::AtLeastOnce,
                    false,
                    serde_json::to_vec(&message).unwrap(),
                )
                .await
                .unwrap();
            sent += 1;
        }
    }
    sent
}

async fn wait_delivered(seen: &Arc<Mutex<Seen>>, outputs: u64, limit: Duration) {
    let start = Instant::now();
    while (seen.lock().unwrap().len() as u64) < outputs && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn summary(report: &RunReport) -> String {
    let mqtt = report.mqtt.as_ref();
    format!(
        "engine inputs {}, scans {}, detections {}, engine drops {}, mqtt inputs dropped {}, outputs {}, published {}, acked {}, unprocessed at shutdown {}, recording lost {}, shutdown {:.0} ms, clean {}",
        report.engine.inputs,
        report.engine.scans,
        report.engine.detections,
        report.engine.dropped.total(),
        mqtt.map_or(0, |m| m.inputs_dropped),
        report.outputs_enqueued,
        mqtt.map_or(0, |m| m.published),
        mqtt.map_or(0, |m| m.acked),
        report.shutdown_unprocessed,
        report.recording_lost,
        report.shutdown_took.as_secs_f64() * 1e3,
        report.clean
    )
}

/// Prints latency percentiles of `messages` (receive µs, track time µs,
/// seq) received after the first second and before `until_us`, overall and
/// per burst (messages of one track time).
fn print_latency(label: &str, messages: &[(i64, i64, u64)], until_us: i64, what: &str) {
    // Skip the first second (tracks starting, connections warming).
    let first = messages.first().map_or(0, |m| m.0);
    let timed: Vec<&(i64, i64, u64)> = messages
        .iter()
        .filter(|m| m.0 > first + 1_000_000 && m.0 < until_us && m.1 > 0)
        .collect();
    let mut latencies: Vec<i64> = timed.iter().map(|m| m.0 - m.1).collect();
    latencies.sort_unstable();
    // The per-track rate limit publishes the walkers' updates together,
    // one burst per 100 ms: the first message of a burst shows the
    // pipeline's own delay, the last adds the burst's passage through the
    // broker.
    let mut bursts: BTreeMap<i64, (i64, i64, usize)> = BTreeMap::new();
    for (received, time, _) in &timed {
        let burst = bursts.entry(*time).or_insert((i64::MAX, 0, 0));
        *burst = (
            burst.0.min(received - time),
            burst.1.max(received - time),
            burst.2 + 1,
        );
    }
    let mut firsts: Vec<i64> = bursts.values().map(|b| b.0).collect();
    let mut lasts: Vec<i64> = bursts.values().map(|b| b.1).collect();
    firsts.sort_unstable();
    lasts.sort_unstable();
    let sizes: Vec<usize> = bursts.values().map(|b| b.2).collect();
    println!(
        "{label}, {} messages timed of {}): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({what})",
        latencies.len(),
        messages.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    println!(
        "  {} bursts of {}-{} messages: first message p50 {:.2} ms, p99 {:.2} ms; last message p50 {:.2} ms, p99 {:.2} ms",
        bursts.len(),
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0),
        percentile(&firsts, 0.5),
        percentile(&firsts, 0.99),
        percentile(&lasts, 0.5),
        percentile(&lasts, 0.99),
    );
}

/// The broker and client stack alone, for the latency phase's bursts: a
/// bare rumqttc publisher (the client picketd uses, `TCP_NODELAY` as
/// picketd sets it) sends `burst` track-sized messages at once, QoS 1 and
/// retained as picketd's track messages are, every 100 ms for 8 s.
async fn broker_floor(broker: u16, seen: &Arc<Mutex<Seen>>, burst: usize) -> i64 {
    let mut options = MqttOptions::new("bench-floor-pub", "127.0.0.1", broker);
    options
        .set_inflight(500)
        .set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, 1000);
    let mut network = eventloop.network_options();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let padding = "x".repeat(600);
    let mut seq = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(8) {
        tick.tick().await;
        let time = picket_schema::Timestamp::from_unix_micros(now_us()).unwrap();
        for track in 0..burst {
            seq += 1;
            let payload = format!(r#"{{"seq":{seq},"time":"{time}","padding":"{padding}"}}"#);
            client
                .try_publish(
                    format!("picket/{SITE}/tracks/{track}"),
                    QoS::AtLeastOnce,
                    true,
                    payload,
                )
                .unwrap();
        }
    }
    let until = now_us();
    wait_delivered(seen, seq, Duration::from_secs(30)).await;
    until
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let phase = args.next().unwrap_or_else(|| "all".into());
    let rate: f64 = args.next().map_or(100_000.0, |r| r.parse().unwrap());
    let run = |name: &str| phase == "all" || phase == name;
    let broker = Mosquitto::start_with(MosquittoOptions {
        extra: vec![
            "max_queued_messages 1000000".into(),
            "max_inflight_messages 0".into(),
        ],
        quiet_log: true,
        ..MosquittoOptions::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pty_a = Pty::start(dir.path(), "a");
    let pty_b = Pty::start(dir.path(), "b");
    let ports = [pty_a.device.as_path(), pty_b.device.as_path()];
    println!(
        "machine: {} cores; broker mosquitto on 127.0.0.1:{}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        broker.port()
    );

    if run("throughput") {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sub = subscriber(broker.port(), Arc::clone(&seen), "t").await;
        let config = config(
            broker.port(),
            &dir.path().join("state-t"),
            &ports,
            100,
            GROUP_COMMIT,
        );
        let (daemon, ready) = start(config, &dir.path().join("notify-t")).await;
        println!("start-up to READY=1: {:.1} ms", ready.as_secs_f64() * 1e3);
        let offer = Duration::from_secs(10);
        let serial_rate = (rate - MQTT_RATE as f64).max(0.0);
        let scans_per_s = serial_rate / 2.0 / TARGETS_PER_PORT as f64;
        let t0 = Instant::now();
        let writers: Vec<_> = [(&pty_a, 0usize), (&pty_b, TARGETS_PER_PORT)]
            .into_iter()
            .map(|(pty, first)| {
                let sensor = pty.sensor.clone();
                std::thread::spawn(move || {
                    write_scans(
                        open_sensor(&sensor),
                        first,
                        TARGETS_PER_PORT,
                        scans_per_s,
                        offer,
                    )
                })
            })
            .collect();
        let mqtt_sent = publish_json(broker.port(), MQTT_RATE, offer).await;
        let serial_sent: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let offered_for = t0.elapsed();
        let offered = serial_sent + mqtt_sent;
        // Stop only once the engine has processed what was offered, so the
        // figure is sustained throughput rather than a queue filling.
        let settle = Instant::now();
        let (report, _) = daemon.stop(Duration::from_secs(60)).await;
        let settled = settle.elapsed();
        wait_delivered(&seen, report.outputs_enqueued, Duration::from_secs(60)).await;
        let delivered = seen.lock().unwrap().messages.len();
        let _ = sub.disconnect().await;
        let processed = report.engine.detections;
        println!(
            "throughput: offered {offered} detections in {:.2} s ({:.0}/s: serial {serial_sent}, mqtt {mqtt_sent}); processed {processed} ({:.0}/s over the offer), stop+drain took {:.0} ms, {delivered} track messages delivered",
            offered_for.as_secs_f64(),
            offered as f64 / offered_for.as_secs_f64(),
            processed as f64 / offered_for.as_secs_f64(),
            settled.as_secs_f64() * 1e3,
        );
        println!("  {}", summary(&report));
    }
    if run("flood") {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sub = subscriber(broker.port(), Arc::clone(&seen), "f").await;
        let config = config(
            broker.port(),
            &dir.path().join("state-f"),
            &ports,
            100,
            GROUP_COMMIT,
        );
        let (daemon, _) = start(config, &dir.path().join("notify-f")).await;
        let offer = Duration::from_secs(5);
        let t0 = Instant::now();
        let writers: Vec<_> = [(&pty_a, 0usize), (&pty_b, TARGETS_PER_PORT)]
            .into_iter()
            .map(|(pty, first)| {
                let sensor = pty.sensor.clone();
                std::thread::spawn(move || {
                    write_scans(open_sensor(&sensor), first, TARGETS_PER_PORT, 0.0, offer)
                })
            })
            .collect();
        let mut peak_rss = 0;
        while t0.elapsed() < offer {
            peak_rss = peak_rss.max(rss_kib());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let sent: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        let (report, stop_took) = daemon.stop(Duration::from_secs(30)).await;
        let _ = sub.disconnect().await;
        println!(
            "flood: {sent} detections written in {:.1} s ({:.0}/s offered); processed {} ({:.0}/s); peak RSS {:.1} MB; stop took {:.0} ms",
            offer.as_secs_f64(),
            sent as f64 / offer.as_secs_f64(),
            report.engine.detections,
            report.engine.detections as f64 / (offer + stop_took).as_secs_f64(),
            peak_rss as f64 / 1024.0,
            stop_took.as_secs_f64() * 1e3,
        );
        println!("  {}", summary(&report));
    }
    if run("latency") {
        // One sensor at 10,000 detections/s (100 walkers x 100 scans/s):
        // its scans arrive in time order, so no reorder lag is needed and
        // the figure is the pipeline's own latency. Then two sensors at
        // 5,000/s each with a 20 ms lag, which their interleaving needs:
        // the lag adds to the latency by design. Last, the first case with
        // the default fsync policy, "always": nothing is published before
        // an fsync covers it.
        for (case, (label, lag_ms, streams, fsync)) in [
            (
                "1 sensor, reorder_lag_ms = 0",
                0,
                &[(0usize, 100.0)][..],
                GROUP_COMMIT,
            ),
            (
                "2 sensors, reorder_lag_ms = 20",
                20,
                &[(0usize, 50.0), (100usize, 50.0)][..],
                GROUP_COMMIT,
            ),
            (
                "1 sensor, reorder_lag_ms = 0, fsync = \"always\"",
                0,
                &[(0usize, 100.0)][..],
                "\"always\"",
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let seen = Arc::new(Mutex::new(Seen::keeping_payloads()));
            let sub = subscriber(broker.port(), Arc::clone(&seen), &format!("l{case}")).await;
            let ptys: Vec<DirectPty> = streams.iter().map(|_| DirectPty::open()).collect();
            let paths: Vec<&Path> = ptys.iter().map(|pty| pty.path.as_path()).collect();
            let config = config(
                broker.port(),
                &dir.path().join(format!("state-l{case}")),
                &paths,
                lag_ms,
                fsync,
            );
            let (daemon, _) = start(config, &dir.path().join(format!("notify-l{case}"))).await;
            let writers: Vec<_> = ptys
                .into_iter()
                .zip(streams)
                .map(|(pty, (first, scans_per_s))| {
                    let (first, scans_per_s) = (*first, *scans_per_s);
                    std::thread::spawn(move || {
                        write_scans(
                            RetryWrites(pty.master),
                            first,
                            100,
                            scans_per_s,
                            Duration::from_secs(8),
                        )
                    })
                })
                .collect();
            let sent: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
            // Messages received from here on are not timed: the stop's
            // flush publishes the updates the per-track rate limit held,
            // each as old as its hold (final states, not latency).
            let stopping_us = now_us();
            let (report, _) = daemon.stop(Duration::from_secs(30)).await;
            wait_delivered(&seen, report.outputs_enqueued, Duration::from_secs(30)).await;
            let messages = seen.lock().unwrap().take_parsed();
            let _ = sub.disconnect().await;
            print_latency(
                &format!("latency at 10,000 detections/s, {label} ({sent} sent"),
                &messages,
                stopping_us,
                "sensor write to subscriber receipt",
            );
            println!("  {}", summary(&report));
        }
    }
    if run("floor") {
        let seen = Arc::new(Mutex::new(Seen::keeping_payloads()));
        let sub = subscriber(broker.port(), Arc::clone(&seen), "floor").await;
        let until_us = broker_floor(broker.port(), &seen, 100).await;
        let _ = sub.disconnect().await;
        let messages = seen.lock().unwrap().take_parsed();
        print_latency(
            "broker floor, bursts of 100 track-sized messages every 100 ms from a bare rumqttc publisher, no daemon (8 s",
            &messages,
            until_us,
            "publish call to subscriber receipt",
        );
    }
    if run("rss") {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let _sub = subscriber(broker.port(), Arc::clone(&seen), "r").await;
        let config = config(
            broker.port(),
            &dir.path().join("state-r"),
            &ports,
            100,
            GROUP_COMMIT,
        );
        let rss_before = rss_kib();
        let (daemon, _) = start(config, &dir.path().join("notify-r")).await;
        let writers: Vec<_> = [(&pty_a, 0usize), (&pty_b, TARGETS_PER_PORT)]
            .into_iter()
            .map(|(pty, first)| {
                let sensor = pty.sensor.clone();
                std::thread::spawn(move || {
                    write_scans(
                        open_sensor(&sensor),
                        first,
                        TARGETS_PER_PORT,
                        5.0,
                        Duration::from_secs(5),
                    )
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss = rss_kib();
        let (report, _) = daemon.stop(Duration::from_secs(30)).await;
        let live: std::collections::BTreeSet<u64> =
            seen.lock().unwrap().messages.iter().map(|m| m.2).collect();
        println!(
            "RSS with 1,000 live tracks: {:.1} MB (process: daemon + harness; {:.1} MB before start), {} detections, {} outputs, {} seqs seen",
            rss as f64 / 1024.0,
            rss_before as f64 / 1024.0,
            report.engine.detections,
            report.outputs_enqueued,
            live.len()
        );
    }
}
