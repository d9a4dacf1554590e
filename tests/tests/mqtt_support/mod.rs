//! Shared set-up for the MQTT tests: an outbox in a temp dir, the MQTT task
//! of picketd running against a real Mosquitto, and helpers to feed the
//! outbox and read sequence numbers back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picket_schema::{DaemonState, SiteId, StatusMessage};
use picket_system_tests::mosquitto::Received;
use picketd::mqtt::{MqttCounters, MqttError, MqttReport, MqttSettings};
use picketd::outbox::{FsyncPolicy, Outbox, OutboxLimits};
use picketd::queue::{InputReceiver, input_queue};
use tokio::sync::{Notify, oneshot, watch};

pub const SITE: &str = "t1";
pub const ALERTS: &str = "picket/t1/alerts";
pub const STATUS: &str = "picket/t1/status";

pub fn site() -> SiteId {
    SiteId::new(SITE).unwrap()
}

pub fn status() -> StatusMessage {
    let now = picketd::now();
    StatusMessage {
        schema: picket_schema::SCHEMA_VERSION,
        seq: 0,
        site: site(),
        time: now,
        state: DaemonState::Online,
        version: "test".to_string(),
        started_at: now,
        uptime_s: 0,
        counters: Default::default(),
    }
}

/// Fast reconnects for tests (the broker comes back within the test).
pub fn settings(port: u16) -> MqttSettings {
    let mut s = MqttSettings::new("127.0.0.1", port);
    s.client_id = Some("picketd-test".to_string());
    s.reconnect_backoff_min_ms = 100;
    s.reconnect_backoff_max_ms = 1_000;
    s.keep_alive_s = 5;
    s.drain_timeout_ms = 5_000;
    s
}

pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub outbox: Arc<Mutex<Outbox>>,
    pub ready: Arc<Notify>,
    pub inputs: InputReceiver,
    pub status: watch::Sender<StatusMessage>,
    pub counters: Arc<MqttCounters>,
    shutdown: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<Result<MqttReport, MqttError>>>,
}

impl Daemon {
    /// The byte budget of the input channel when a test does not choose
    /// one: large enough that the item capacity binds first.
    pub const INPUT_BYTES: usize = 64 << 20;

    pub fn start(settings: MqttSettings, input_capacity: usize) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, settings, input_capacity, Self::INPUT_BYTES)
    }

    /// Starts the MQTT task over the outbox in `dir` (reopened if it exists).
    pub fn start_in(
        dir: tempfile::TempDir,
        settings: MqttSettings,
        input_capacity: usize,
        input_bytes: usize,
    ) -> Daemon {
        let limits = OutboxLimits {
            fsync: FsyncPolicy::Never,
            ..OutboxLimits::default()
        };
        let outbox = Arc::new(Mutex::new(Outbox::open(dir.path(), limits).unwrap()));
        let ready = Arc::new(Notify::new());
        let (input_tx, inputs) = input_queue(input_capacity, input_bytes);
        let (status, status_rx) = watch::channel(status());
        let counters = Arc::new(MqttCounters::default());
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(picketd::mqtt::run_with_counters(
            settings,
            site(),
            outbox.clone(),
            ready.clone(),
            input_tx,
            status_rx,
            async move {
                let _ = shutdown_rx.await;
            },
            counters.clone(),
        ));
        Daemon {
            dir,
            outbox,
            ready,
            inputs,
            status,
            counters,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Enqueues `n` alerts-topic messages (payload `{"seq":N}`) in one
    /// commit; returns their seqs.
    pub fn enqueue(&self, n: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        {
            let mut outbox = self.outbox.lock().unwrap();
            for _ in 0..n {
                seqs.push(
                    outbox
                        .stage_raw(ALERTS.to_string(), false, |seq| {
                            Ok(format!("{{\"seq\":{seq}}}").into_bytes())
                        })
                        .unwrap(),
                );
            }
            outbox.commit().unwrap();
        }
        self.ready.notify_one();
        seqs
    }

    pub fn unacked(&self) -> usize {
        self.outbox.lock().unwrap().len()
    }

    pub async fn wait_connected(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.counters.wait_connected())
            .await
            .expect("MQTT task connected within 10 s");
    }

    /// Waits (bounded) until every outbox entry is acknowledged.
    pub async fn wait_drained(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.unacked() > 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "outbox not drained: {} unacked, counters {:?}",
                self.unacked(),
                self.counters.snapshot()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Graceful shutdown; returns the task's report.
    pub async fn shutdown(mut self) -> MqttReport {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("MQTT task stopped within 15 s")
            .unwrap()
            .unwrap()
    }

    /// Unclean death: the task is aborted, its socket closed without
    /// DISCONNECT (as when the process is killed).
    pub async fn kill(mut self) -> tempfile::TempDir {
        let task = self.task.take().unwrap();
        task.abort();
        let _ = task.await;
        self.dir
    }
}

/// The `seq` field of a JSON payload.
pub fn seq_of(payload: &[u8]) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v.get("seq")?.as_u64()
}

/// Distinct seqs received on `topic`.
pub fn seqs_on(messages: &[Received], topic: &str) -> BTreeSet<u64> {
    messages
        .iter()
        .filter(|m| m.topic == topic)
        .filter_map(|m| seq_of(&m.payload))
        .collect()
}

/// Status messages received, in order.
pub fn statuses(messages: &[Received]) -> Vec<StatusMessage> {
    messages
        .iter()
        .filter(|m| m.topic == STATUS)
        .map(|m| picket_schema::from_json(&m.payload).unwrap())
        .collect()
}

/// Whether `seqs` holds exactly `1..=n`.
pub fn complete(seqs: &BTreeSet<u64>, n: u64) -> bool {
    seqs.len() as u64 == n && seqs.first() == Some(&1) && seqs.last() == Some(&n)
}

/// The missing seqs in `1..=n` (for failure messages).
pub fn gaps(seqs: &BTreeSet<u64>, n: u64) -> Vec<u64> {
    (1..=n).filter(|s| !seqs.contains(s)).collect()
}
