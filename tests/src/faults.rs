//! Fault injection for the fault suite (`tests/fault_*.rs`): a socat TCP
//! proxy between picketd and Mosquitto that can be frozen (SIGSTOP, a
//! half-open link), thawed (SIGCONT) or cut (SIGKILL); byte corruption
//! with a seeded generator; the process's resident memory; sequence-gap
//! checks; and the gate for the long cases (`scripts/faults-long`).
//!
//! Every fault here is a real one: a real proxy process, real signals, real
//! bytes. Nothing is mocked.

use std::collections::BTreeSet;
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The environment variable that turns the long fault cases on.
pub const LONG_FAULTS_ENV: &str = "PICKET_LONG_FAULTS";

/// Whether the long fault cases should run. When they should not, prints
/// why (visible with `--nocapture`, and in the test's captured output), so
/// a skipped case is never mistaken for a passed one in a log.
pub fn long_faults_enabled(case: &str) -> bool {
    let on = std::env::var(LONG_FAULTS_ENV).is_ok_and(|v| v == "1");
    if !on {
        println!(
            "SKIPPED {case}: a long fault case; run it with {LONG_FAULTS_ENV}=1 \
             (scripts/faults-long does)"
        );
    }
    on
}

/// A free TCP port on 127.0.0.1 (bound, read, released; a race with another
/// process is possible and callers retry where it matters).
pub fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Sends `signal` (a name such as `STOP`) to every process in group `pgid`.
pub fn signal_group(pgid: u32, signal: &str) -> io::Result<()> {
    // `kill` from procps takes a negative pid for a process group; `--`
    // keeps it from being read as an option.
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "kill -{signal} -- -{pgid} failed"
        )))
    }
}

/// A TCP proxy (`socat TCP-LISTEN:port,fork TCP:127.0.0.1:target`) in its
/// own process group. socat forks a child per connection, so signals go to
/// the whole group: freezing only the listener would leave established
/// connections flowing.
#[derive(Debug)]
pub struct TcpProxy {
    port: u16,
    target: u16,
    child: Option<Child>,
}

impl TcpProxy {
    /// Starts a proxy on a free port forwarding to `target` on 127.0.0.1.
    pub fn start(target: u16) -> io::Result<TcpProxy> {
        let mut last = io::Error::other("no attempt");
        for _ in 0..5 {
            let mut proxy = TcpProxy {
                port: free_port()?,
                target,
                child: None,
            };
            match proxy.spawn() {
                Ok(()) => return Ok(proxy),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The port picketd connects to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process group id (the socat listener's pid), while running.
    pub fn pgid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let child = Command::new("socat")
            .arg(format!(
                "TCP-LISTEN:{},bind=127.0.0.1,reuseaddr,fork",
                self.port
            ))
            .arg(format!("TCP:127.0.0.1:{}", self.target))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group, so SIGSTOP/SIGKILL reach the forked children.
            .process_group(0)
            .spawn()?;
        self.child = Some(child);
        // socat has no readiness signal: wait until the port accepts.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = &mut self.child
                && child.try_wait()?.is_some()
            {
                self.child = None;
                return Err(io::Error::other("socat exited (port taken?)"));
            }
            if let Ok(probe) = TcpStream::connect(("127.0.0.1", self.port)) {
                // socat forks a child for the probe, which connects to the
                // target and ends when the probe closes.
                drop(probe);
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other("socat proxy did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Freezes the proxy (SIGSTOP to the group): connections stay open in
    /// the kernel but nothing is forwarded any more, in either direction. A
    /// half-open link, as when a radio backhaul stalls.
    pub fn freeze(&self) -> io::Result<()> {
        match self.pgid() {
            Some(pgid) => signal_group(pgid, "STOP"),
            None => Err(io::Error::other("proxy not running")),
        }
    }

    /// Thaws a frozen proxy (SIGCONT to the group).
    pub fn thaw(&self) -> io::Result<()> {
        match self.pgid() {
            Some(pgid) => signal_group(pgid, "CONT"),
            None => Err(io::Error::other("proxy not running")),
        }
    }

    /// Kills the proxy and every connection through it (SIGKILL to the
    /// group; works on a frozen group too). The kernel closes the sockets,
    /// so both ends see the link drop; new connections are refused.
    pub fn cut(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            signal_group(child.id(), "KILL")?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts a new proxy on the same port (after [`TcpProxy::cut`]).
    pub fn restore(&mut self) -> io::Result<()> {
        if self.child.is_some() {
            return Ok(());
        }
        // The port may linger in TIME_WAIT briefly; `reuseaddr` handles
        // that, but a retry costs nothing.
        let mut last = io::Error::other("no attempt");
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    last = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        Err(last)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        let _ = self.cut();
    }
}

/// A small seeded generator (splitmix64): fault patterns are reproducible
/// from the seed printed by each test.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Flips each byte of `bytes` with probability `rate` (XOR with a random
/// non-zero mask, so a flipped byte always changes). Returns the indices
/// flipped.
pub fn flip_bytes(bytes: &mut [u8], rate: f64, rng: &mut Rng) -> Vec<usize> {
    let mut flipped = Vec::new();
    for (index, byte) in bytes.iter_mut().enumerate() {
        if rng.uniform() < rate {
            let mask = (rng.below(255) + 1) as u8;
            *byte ^= mask;
            flipped.push(index);
        }
    }
    flipped
}

/// Resident set size of this process, bytes (`VmRSS`).
pub fn rss_bytes() -> u64 {
    proc_status_kib("VmRSS:") * 1024
}

/// Peak resident set size of this process, bytes (`VmHWM`).
pub fn peak_rss_bytes() -> u64 {
    proc_status_kib("VmHWM:") * 1024
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes as MB (10^6) with one decimal, for reports.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The numbers missing from `first..=last` of `seen` (a gap in a
/// publisher's sequence: a lost message).
pub fn seq_gaps(seen: &BTreeSet<u64>) -> Vec<u64> {
    match (seen.first(), seen.last()) {
        (Some(&first), Some(&last)) => (first..=last).filter(|s| !seen.contains(s)).collect(),
        _ => Vec::new(),
    }
}

/// Whether `seen` is exactly `1..=n`.
pub fn seqs_complete(seen: &BTreeSet<u64>, n: u64) -> bool {
    seen.len() as u64 == n && seen.first() == Some(&1) && seen.last() == Some(&n)
}

/// Microseconds since the Unix epoch, now.
pub fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// One message with the wall-clock time it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// Unix microseconds at arrival (taken as rumqttc hands the publish
    /// over).
    pub at_us: i64,
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Connects a clean-session QoS 1 subscriber to the broker on `port`,
/// subscribes to `filter` (again after every reconnect) and hands every
/// publish to `on_publish`; returns once the subscription is acknowledged.
/// The task runs until aborted. Call within a tokio runtime.
async fn spawn_subscriber(
    port: u16,
    client_id: &str,
    filter: &str,
    mut on_publish: impl FnMut(&str, &[u8]) + Send + 'static,
) -> io::Result<tokio::task::JoinHandle<()>> {
    use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options
        .set_clean_session(true)
        .set_keep_alive(Duration::from_secs(5))
        .set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
    let (client, mut eventloop) = AsyncClient::new(options, 100);
    let subscribed = std::sync::Arc::new(tokio::sync::Notify::new());
    let task = {
        let subscribed = subscribed.clone();
        let filter = filter.to_string();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                        let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Incoming::SubAck(_))) => subscribed.notify_one(),
                    Ok(Event::Incoming(Incoming::Publish(p))) => on_publish(&p.topic, &p.payload),
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
    };
    if tokio::time::timeout(Duration::from_secs(10), subscribed.notified())
        .await
        .is_err()
    {
        task.abort();
        return Err(io::Error::other(format!(
            "subscriber {client_id}: no SUBACK within 10 s"
        )));
    }
    Ok(task)
}

/// A clean-session QoS 1 subscriber that stamps each message with its
/// arrival time, for latency measurements (the harness's
/// [`crate::mosquitto::Subscriber`] keeps no times).
#[derive(Debug)]
pub struct ArrivalRecorder {
    arrivals: std::sync::Arc<std::sync::Mutex<Vec<Arrival>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ArrivalRecorder {
    /// Connects to the broker on `port`, subscribes to `filter` and returns
    /// once the subscription is acknowledged. Call within a tokio runtime.
    pub async fn connect(port: u16, client_id: &str, filter: &str) -> io::Result<Self> {
        let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = arrivals.clone();
        let task = spawn_subscriber(port, client_id, filter, move |topic, payload| {
            let at_us = unix_micros();
            if let Ok(mut a) = sink.lock() {
                a.push(Arrival {
                    at_us,
                    topic: topic.to_owned(),
                    payload: payload.to_vec(),
                });
            }
        })
        .await?;
        Ok(ArrivalRecorder { arrivals, task })
    }

    /// Everything received so far.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl Drop for ArrivalRecorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The top-level `seq` of a picketd JSON message (`{"schema":1,"seq":N,...}`;
/// `seq` is the second key of every published message), without a JSON
/// parser in this crate.
pub fn json_seq(payload: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"seq\":";
    let at = payload.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits: Vec<u8> = payload[at..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

/// Distinct outbox seqs received from picketd: tracks, alerts and sensor
/// health (status has its own sequence; track clears have no body).
pub fn outbox_seqs(messages: &[crate::mosquitto::Received]) -> BTreeSet<u64> {
    messages
        .iter()
        .filter(|m| !m.topic.ends_with("/status") && !m.payload.is_empty())
        .filter_map(|m| json_seq(&m.payload))
        .collect()
}

/// Tracks whose end was published: distinct `tracks/<id>` topics that
/// carried an empty payload (the retained clear). A clear is an outbox
/// entry with a seq like any other, but has no body to show it in.
pub fn track_clears(messages: &[crate::mosquitto::Received]) -> usize {
    messages
        .iter()
        .filter(|m| m.topic.contains("/tracks/") && m.payload.is_empty())
        .map(|m| m.topic.as_str())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Whether every outbox seq `1..=n` has arrived: each one either seen in a
/// body, or a gap accounted for by a track clear.
pub fn all_delivered(messages: &[crate::mosquitto::Received], n: u64) -> bool {
    let seen = outbox_seqs(messages);
    let missing = (1..=n).filter(|s| !seen.contains(s)).count();
    seen.last().is_none_or(|last| *last <= n) && missing == track_clears(messages)
}

/// Waits (bounded) until `subscriber` has received every outbox seq
/// `1..=n` (see [`all_delivered`]); panics naming the gaps otherwise. The
/// daemon's `outputs_enqueued` is `n` for a fresh state directory.
pub async fn assert_all_delivered(
    subscriber: &crate::mosquitto::Subscriber,
    n: u64,
    timeout: Duration,
) {
    let got = subscriber.wait_for(timeout, |m| all_delivered(m, n)).await;
    let messages = subscriber.messages();
    let seen = outbox_seqs(&messages);
    assert!(
        got.is_ok(),
        "{} of {n} outbox seqs delivered with {} track clears; missing {:?}; beyond n: {:?}",
        seen.len(),
        track_clears(&messages),
        (1..=n).filter(|s| !seen.contains(s)).collect::<Vec<_>>(),
        seen.range(n + 1..).collect::<Vec<_>>()
    );
}

#[derive(Debug, Default)]
struct SeqState {
    /// Bit `s` set: seq `s` seen in a body.
    bits: Vec<u64>,
    distinct: u64,
    max: u64,
    /// Tracks whose clear (empty retained payload) arrived.
    clears: BTreeSet<String>,
    /// Messages per topic.
    per_topic: std::collections::BTreeMap<String, u64>,
}

/// A QoS 1 subscriber that keeps only what the no-loss check needs (a
/// bitset of outbox seqs, the cleared tracks, a count per topic) and no
/// payloads, so that a long run's memory figures are the daemon's and not
/// the test's copy of everything it received.
#[derive(Debug)]
pub struct SeqCollector {
    state: std::sync::Arc<std::sync::Mutex<SeqState>>,
    task: tokio::task::JoinHandle<()>,
}

impl SeqCollector {
    /// Connects to the broker on `port` (clean session), subscribes to
    /// `filter`, returns once subscribed. Call within a tokio runtime.
    pub async fn connect(port: u16, client_id: &str, filter: &str) -> io::Result<Self> {
        let state = std::sync::Arc::new(std::sync::Mutex::new(SeqState::default()));
        let sink = state.clone();
        let task = spawn_subscriber(port, client_id, filter, move |topic, payload| {
            if let Ok(mut s) = sink.lock() {
                s.record(topic, payload);
            }
        })
        .await?;
        Ok(SeqCollector { state, task })
    }

    /// Messages received on topics containing `part`.
    pub fn count_on(&self, part: &str) -> u64 {
        self.state
            .lock()
            .map(|s| {
                s.per_topic
                    .iter()
                    .filter(|(t, _)| t.contains(part))
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
    }

    /// (distinct seqs seen, track clears seen, the missing seqs of `1..=n`
    /// that clears do not account for, or all of them if they do not
    /// match).
    pub fn check(&self, n: u64) -> (u64, usize, Vec<u64>) {
        let Ok(s) = self.state.lock() else {
            return (0, 0, Vec::new());
        };
        let missing: Vec<u64> = (1..=n).filter(|q| !s.has(*q)).collect();
        let unexplained = if missing.len() == s.clears.len() && s.max <= n {
            Vec::new()
        } else {
            missing
        };
        (s.distinct, s.clears.len(), unexplained)
    }

    /// Waits until every outbox seq `1..=n` has arrived (each seen, or a
    /// gap accounted for by a track clear, as [`all_delivered`]); panics
    /// with the missing ones after `timeout`.
    pub async fn assert_all_delivered(&self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let (distinct, clears, unexplained) = self.check(n);
            if unexplained.is_empty() && distinct + clears as u64 == n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{distinct} of {n} outbox seqs delivered with {clears} track clears; \
                 missing {unexplained:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl SeqState {
    fn has(&self, seq: u64) -> bool {
        self.bits
            .get((seq / 64) as usize)
            .is_some_and(|word| word & (1 << (seq % 64)) != 0)
    }

    fn record(&mut self, topic: &str, payload: &[u8]) {
        *self.per_topic.entry(topic.to_string()).or_default() += 1;
        if topic.ends_with("/status") {
            return;
        }
        if payload.is_empty() {
            if topic.contains("/tracks/") {
                self.clears.insert(topic.to_string());
            }
            return;
        }
        let Some(seq) = json_seq(payload) else {
            return;
        };
        let word = (seq / 64) as usize;
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        if let Some(bits) = self.bits.get_mut(word)
            && *bits & (1 << (seq % 64)) == 0
        {
            *bits |= 1 << (seq % 64);
            self.distinct += 1;
            self.max = self.max.max(seq);
        }
    }
}

impl Drop for SeqCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_flips_change_bytes() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.bytes(32), b.bytes(32));
        let original = vec![0u8; 10_000];
        let mut bytes = original.clone();
        let flipped = flip_bytes(&mut bytes, 0.01, &mut a);
        // 1 % of 10,000 is 100; a seeded draw lands near it.
        assert!((50..150).contains(&flipped.len()), "{}", flipped.len());
        for (i, (x, y)) in original.iter().zip(&bytes).enumerate() {
            assert_eq!(x != y, flipped.contains(&i));
        }
    }

    #[test]
    fn gaps_are_found() {
        let seen: BTreeSet<u64> = [3, 4, 6, 9].into_iter().collect();
        assert_eq!(seq_gaps(&seen), vec![5, 7, 8]);
        assert!(!seqs_complete(&seen, 9));
        assert!(seqs_complete(&(1..=5).collect(), 5));
    }

    #[test]
    fn seq_is_read_from_published_json() {
        assert_eq!(json_seq(br#"{"schema":1,"seq":42,"site":"x"}"#), Some(42));
        assert_eq!(json_seq(br#"{"schema":1}"#), None);
    }

    #[test]
    fn memory_figures_are_read() {
        let rss = rss_bytes();
        assert!(rss > 0);
        // The high-water mark read after the current figure: other test
        // threads may grow the process in between, never shrink the peak.
        assert!(peak_rss_bytes() >= rss);
    }
}
