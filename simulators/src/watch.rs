//! A subscriber on picketd's topics: collects tracks, alerts and status,
//! as an operator's client would see them.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use picket_schema::{
    AlertMessage, DaemonState, StatusMessage, TrackMessage, TrackStatus, from_json,
};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::task::JoinHandle;

/// Everything received so far.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Every track message, in arrival order.
    pub tracks: Vec<TrackMessage>,
    /// Every alert.
    pub alerts: Vec<AlertMessage>,
    /// The latest status message.
    pub status: Option<StatusMessage>,
    /// Messages that did not parse (should stay 0).
    pub unparsed: u64,
    /// Messages received on any topic.
    pub messages: u64,
}

impl Seen {
    /// True once picketd has said it is online.
    pub fn online(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.state == DaemonState::Online)
    }

    /// The latest message of each live (not deleted) confirmed or coasting
    /// track, by track id.
    pub fn live_tracks(&self) -> Vec<&TrackMessage> {
        let mut latest: std::collections::BTreeMap<u64, &TrackMessage> = Default::default();
        for t in &self.tracks {
            latest.insert(t.track_id, t);
        }
        latest
            .into_values()
            .filter(|t| matches!(t.status, TrackStatus::Confirmed | TrackStatus::Coasting))
            .collect()
    }
}

/// A running subscriber.
#[derive(Debug)]
pub struct Watcher {
    seen: Arc<Mutex<Seen>>,
    client: AsyncClient,
    task: JoinHandle<()>,
}

fn lock(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    // Only this module's code holds the lock, and it cannot panic while
    // holding it; a poisoned lock still holds consistent data.
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Watcher {
    /// Subscribes to `picket/<site>/#` on `host:port`.
    pub fn connect(host: &str, port: u16, client_id: &str, site: &str) -> Self {
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(Duration::from_secs(10));
        options.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let filter = format!("picket/{site}/#");
        let prefix = format!("picket/{site}/");
        let task = {
            let seen = Arc::clone(&seen);
            let client = client.clone();
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            // Subscribed on every connection: a new session
                            // has no subscriptions.
                            let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            let rest = p.topic.strip_prefix(&prefix).unwrap_or(&p.topic);
                            record(&mut lock(&seen), rest, &p.payload);
                        }
                        Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
        };
        Self { seen, client, task }
    }

    /// A copy of what has been received.
    pub fn seen(&self) -> Seen {
        lock(&self.seen).clone()
    }

    /// A function returning a copy of what has been received so far, for a
    /// task that outlives a borrow of the watcher.
    pub fn shared(&self) -> Arc<dyn Fn() -> Seen + Send + Sync> {
        let seen = Arc::clone(&self.seen);
        Arc::new(move || lock(&seen).clone())
    }

    /// Runs `f` on what has been received, without copying it.
    pub fn with<R>(&self, f: impl FnOnce(&Seen) -> R) -> R {
        f(&lock(&self.seen))
    }

    /// Waits (bounded) until `done` holds; returns whether it did.
    pub async fn wait_for(&self, bound: Duration, done: impl Fn(&Seen) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + bound;
        while tokio::time::Instant::now() < deadline {
            if self.with(&done) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.with(done)
    }

    /// Disconnects and returns everything received.
    pub async fn close(self) -> Seen {
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(3), self.task).await;
        lock(&self.seen).clone()
    }
}

fn record(seen: &mut Seen, topic: &str, payload: &[u8]) {
    seen.messages += 1;
    if payload.is_empty() {
        // A track topic's retained message cleared: nothing to keep.
        return;
    }
    let parsed = if topic.starts_with("tracks/") {
        from_json::<TrackMessage>(payload).map(|t| seen.tracks.push(t))
    } else if topic == "alerts" {
        from_json::<AlertMessage>(payload).map(|a| seen.alerts.push(a))
    } else if topic == "status" {
        from_json::<StatusMessage>(payload).map(|s| seen.status = Some(s))
    } else {
        // Sensor reports and health: not collected.
        Ok(())
    };
    if parsed.is_err() {
        seen.unparsed += 1;
    }
}
