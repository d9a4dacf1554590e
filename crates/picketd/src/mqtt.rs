//! The MQTT task: publishes the durable outbox, receives sensor reports,
//! keeps the retained status (birth and last will) right.
//!
//! One tokio task owns the rumqttc 0.25 [`EventLoop`] and is the only caller
//! of the [`AsyncClient`], so the order of requests is the order of events.
//!
//! # Delivery
//!
//! - Every outbox entry is published QoS 1 on a persistent session
//!   (`clean_session = false`) and acknowledged in the outbox only when its
//!   PUBACK arrives. The outbox is the source of truth: anything not acked
//!   is published again after a reconnect that lost the session.
//! - rumqttc does not return packet ids from `publish` (rumqttc #349), but it
//!   emits `Outgoing::Publish(pkid)` as it writes each publish, in the order
//!   the requests were queued. The task keeps a FIFO of what it queued
//!   (outbox seq or status) and binds each `Outgoing::Publish(pkid)` to the
//!   FIFO's head, then matches PUBACK(pkid) to the seq. A pkid still bound is
//!   a retransmission of the resumed session and keeps its binding; a pkid
//!   collision (`Outgoing::AwaitAck`) is bound when its publish finally goes
//!   out. The assumption (documented, checked by the tests): rumqttc writes
//!   queued publishes in queue order, which its single request channel and
//!   single writer guarantee. PUBACKs may arrive in any order: each is
//!   matched by pkid, so no in-order assumption about the broker is made.
//! - Publishes are only queued while connected, and nothing but shutdown
//!   interrupts `poll` while it connects. When `poll` fails, rumqttc
//!   moves unacked and queued requests to its `pending` list; on a ConnAck
//!   with `session_present = true` it replays them (bindings kept), on
//!   `session_present = false` it drops them (traps.md, rumqttc #864): the
//!   task then forgets all bindings and re-sends every unacked outbox entry
//!   from the oldest (subscribers dedupe by `seq`), and re-subscribes
//!   (rumqttc #250).
//! - Request channel full (`try_publish` fails, [`MqttSettings::request_channel_capacity`]):
//!   the entry stays in the outbox and the cursor stays put; the task tries
//!   again after the next event (a PUBACK frees room). Nothing is lost and
//!   the engine never blocks on MQTT.
//!
//! # Inputs
//!
//! Payloads on [`MqttSettings::subscriptions`] become
//! [`RawInput`]`{ source: Mqtt(topic) }` and are `try_send`-ed into the
//! engine input channel ([`crate::queue`]); when it is full, in items or
//! in bytes, the input is dropped,
//! counted (`inputs_dropped`) and logged at most every 10 s.
//!
//! # Status
//!
//! On every ConnAck the current status (from the watch, state `online`) is
//! published retained; each change of the watch is published too (a change
//! that meets a full request channel is skipped: the next carries fresher
//! counters). The last will, registered before every connection attempt,
//! is [`StatusMessage::offline`]. On shutdown the task drains the outbox
//! (bounded), publishes a final `offline` status, waits for its PUBACK and
//! sends DISCONNECT, so the broker does not fire the will.
//!
//! Status `seq`s are stamped here from a per-process counter (1, 2, ...;
//! runs are told apart by `started_at`); each will takes the next number at
//! registration, so a will never shares a `seq` with an `online` status.
//! The outbox's sequence space (tracks, alerts, health) is separate, so it
//! has no gaps from status traffic.
//!
//! # Reconnects
//!
//! rumqttc reconnects as soon as `poll` is called after an error (#703), so
//! the task sleeps a capped exponential backoff between failed polls
//! ([`MqttSettings::reconnect_backoff_min_ms`] doubling up to
//! [`MqttSettings::reconnect_backoff_max_ms`]); the backoff resets only
//! after a connection has stayed up for [`STABLE_CONNECTION`], so a broker
//! that accepts and then drops every connection (e.g. an oversize retained
//! message, see [`MqttSettings::max_incoming_packet_bytes`]) is retried at
//! the capped pace, never in a tight loop.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use picket_engine::{InputSource, RawInput};
use picket_schema::{DaemonState, SiteId, StatusMessage, Timestamp, Topics};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, LastWill, MqttOptions, Outgoing, QoS,
    SubscribeReasonCode, TlsConfiguration, Transport,
};
use serde::Deserialize;
use tokio::sync::{Notify, watch};

use crate::outbox::{Outbox, OutboxError, lock};
use crate::queue::InputSender;

/// A connection that stayed up this long resets the reconnect backoff.
pub const STABLE_CONNECTION: Duration = Duration::from_secs(10);
/// How often buffered outbox acks are written to the file (no `fsync`).
const ACK_FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Entries copied out of the outbox per lock while publishing.
const PUMP_SLICE: usize = 256;
/// Least time between two "input channel full" warnings.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Environment variable systemd sets for `LoadCredential=`.
pub const CREDENTIALS_DIRECTORY_ENV: &str = "CREDENTIALS_DIRECTORY";

/// The `[mqtt]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttSettings {
    /// Broker host name or address. With TLS it must match the broker
    /// certificate's SAN.
    pub host: String,
    /// Broker port (default 1883; 8883 is the usual TLS port).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Client id; must be stable across restarts for the persistent session
    /// to be found again. Default `picketd-<site>`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Keep-alive interval in seconds (default 30): how fast a dead broker
    /// connection, and the daemon's death (the will), are noticed.
    #[serde(default = "default_keep_alive_s")]
    pub keep_alive_s: u64,
    /// Start a clean session each time (default false: the broker keeps
    /// subscriptions and QoS 1 messages for us while we are away).
    #[serde(default)]
    pub clean_session: bool,
    /// TLS (rustls, ring provider). When present, the connection is TLS or
    /// nothing: there is no fallback to plaintext.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// File holding `username:password` on its first line. Keep it out of
    /// the config, mode 0600.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// Name of a systemd credential (`LoadCredential=<name>:...`), read from
    /// `$CREDENTIALS_DIRECTORY/<name>`, same format as `credentials_file`.
    #[serde(default)]
    pub credential: Option<String>,
    /// Largest incoming packet accepted (default 256 KiB). Set it at least
    /// to the broker's `max_packet_size` / `message_size_limit`: a larger
    /// message drops the connection, and a retained or queued one would be
    /// re-sent on every reconnect (bounded by the backoff, but never
    /// delivered). rumqttc's own default (10 KiB) is too small for that.
    #[serde(default = "default_max_incoming")]
    pub max_incoming_packet_bytes: usize,
    /// Largest outgoing packet (default 1 MiB).
    #[serde(default = "default_max_outgoing")]
    pub max_outgoing_packet_bytes: usize,
    /// Capacity of rumqttc's request channel (default 1,024). Full policy:
    /// the outbox keeps the entry and it is retried after the next event.
    #[serde(default = "default_request_capacity")]
    pub request_channel_capacity: usize,
    /// Most QoS 1 publishes awaiting PUBACK at once (default 500): with
    /// a loaded tower and a millisecond round trip, 100 capped delivery
    /// near 10,000 messages/s; a reconnect resends at most this many.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: u16,
    /// Topic filters carrying sensor reports, subscribed QoS 1, e.g.
    /// `sensors/+/reports`. Never subscribe to topics that can carry
    /// retained messages above `max_incoming_packet_bytes`.
    #[serde(default)]
    pub subscriptions: Vec<String>,
    /// First delay after a failed connection, ms (default 500).
    #[serde(default = "default_backoff_min")]
    pub reconnect_backoff_min_ms: u64,
    /// Cap of the doubling delay, ms (default 30,000).
    #[serde(default = "default_backoff_max")]
    pub reconnect_backoff_max_ms: u64,
    /// TCP + MQTT connect timeout, seconds (default 5).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: u64,
    /// On shutdown, how long to wait for the outbox to be acknowledged and
    /// for the final status's PUBACK, ms (default 5,000).
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_ms: u64,
}

/// The `[mqtt.tls]` table. Paths are read at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM file of the CA certificate(s) the broker's certificate must chain
    /// to (X.509 v3 with a SAN for `host`: rustls rejects v1 certificates).
    pub ca_file: PathBuf,
    /// PEM client certificate (chain), for brokers that require client
    /// certificates (`require_certificate true`). Needs `key_file`.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

fn default_port() -> u16 {
    1883
}
fn default_keep_alive_s() -> u64 {
    30
}
fn default_max_incoming() -> usize {
    256 * 1024
}
fn default_max_outgoing() -> usize {
    1024 * 1024
}
fn default_request_capacity() -> usize {
    1024
}
fn default_max_inflight() -> u16 {
    500
}
fn default_backoff_min() -> u64 {
    500
}
fn default_backoff_max() -> u64 {
    30_000
}
fn default_connect_timeout() -> u64 {
    5
}
fn default_drain_timeout() -> u64 {
    5_000
}

impl MqttSettings {
    /// Settings for `host:port` with every default (tests, tools).
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        MqttSettings {
            host: host.into(),
            port,
            client_id: None,
            keep_alive_s: default_keep_alive_s(),
            clean_session: false,
            tls: None,
            credentials_file: None,
            credential: None,
            max_incoming_packet_bytes: default_max_incoming(),
            max_outgoing_packet_bytes: default_max_outgoing(),
            request_channel_capacity: default_request_capacity(),
            max_inflight: default_max_inflight(),
            subscriptions: Vec::new(),
            reconnect_backoff_min_ms: default_backoff_min(),
            reconnect_backoff_max_ms: default_backoff_max(),
            connect_timeout_s: default_connect_timeout(),
            drain_timeout_ms: default_drain_timeout(),
        }
    }

    /// Checks values that parse but cannot work; the error names the key
    /// (relative to `[mqtt]`). Files are not read here (see [`run`]).
    pub fn validate(&self) -> Result<(), MqttError> {
        let bad = |key: &'static str, reason: &str| {
            Err(MqttError::Settings {
                key,
                reason: reason.to_string(),
            })
        };
        if self.host.trim().is_empty() {
            return bad("host", "must not be empty");
        }
        if self.port == 0 {
            return bad("port", "must not be 0");
        }
        if let Some(id) = &self.client_id
            && (id.is_empty() || id.len() > 65_535)
        {
            return bad("client_id", "must be 1 to 65535 bytes");
        }
        if self.keep_alive_s == 0 || self.keep_alive_s > 65_535 {
            return bad("keep_alive_s", "must be 1 to 65535 s");
        }
        if self.max_incoming_packet_bytes < 1024 {
            return bad("max_incoming_packet_bytes", "must be at least 1024");
        }
        if self.max_outgoing_packet_bytes < 1024 {
            return bad("max_outgoing_packet_bytes", "must be at least 1024");
        }
        if self.request_channel_capacity == 0 {
            return bad("request_channel_capacity", "must be at least 1");
        }
        if self.max_inflight == 0 {
            return bad("max_inflight", "must be at least 1");
        }
        if self.reconnect_backoff_min_ms == 0 {
            return bad("reconnect_backoff_min_ms", "must be at least 1 ms");
        }
        if self.reconnect_backoff_max_ms < self.reconnect_backoff_min_ms {
            return bad(
                "reconnect_backoff_max_ms",
                "must be >= reconnect_backoff_min_ms",
            );
        }
        if self.connect_timeout_s == 0 {
            return bad("connect_timeout_s", "must be at least 1 s");
        }
        if self.credentials_file.is_some() && self.credential.is_some() {
            return bad(
                "credential",
                "set either credentials_file or credential, not both",
            );
        }
        if let Some(name) = &self.credential
            && (name.is_empty() || name.contains('/'))
        {
            return bad("credential", "must be a plain credential name");
        }
        for filter in &self.subscriptions {
            if !valid_filter(filter) {
                return bad("subscriptions", "invalid MQTT topic filter");
            }
        }
        if let Some(tls) = &self.tls
            && tls.cert_file.is_some() != tls.key_file.is_some()
        {
            return bad("tls.key_file", "cert_file and key_file go together");
        }
        Ok(())
    }
}

/// MQTT 3.1.1 topic filter rules: non-empty, `#` only last and alone in its
/// level, `+` alone in its level.
fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    levels.iter().enumerate().all(|(i, level)| {
        (!level.contains('#') || (*level == "#" && i == last))
            && (!level.contains('+') || *level == "+")
    })
}

/// Why the MQTT task could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// A setting is unusable; `key` is relative to `[mqtt]`.
    #[error("mqtt.{key}: {reason}")]
    Settings {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A TLS file could not be read or parsed.
    #[error("TLS file {path}: {reason}")]
    TlsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// The credentials file could not be used.
    #[error("MQTT credentials {path}: {reason}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The outbox failed (acknowledge/flush).
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

/// Live counters of the MQTT task, shared with the daemon for the status
/// message (`Arc`; every field is monotonic except `connected`).
#[derive(Debug, Default)]
pub struct MqttCounters {
    connected: AtomicBool,
    connected_changed: Notify,
    /// Successful connections (ConnAcks).
    pub connects: AtomicU64,
    /// ConnAcks that said the broker had no session for us (after the first).
    pub sessions_lost: AtomicU64,
    /// Failed polls (connect failures and dropped connections).
    pub connection_errors: AtomicU64,
    /// Outbox entries handed to the client (first sends and resends).
    pub published: AtomicU64,
    /// Of those, resends after a lost session.
    pub resent: AtomicU64,
    /// Outbox entries acknowledged by the broker.
    pub acked: AtomicU64,
    /// `try_publish` refusals (request channel full); retried later.
    pub publish_deferred: AtomicU64,
    /// PUBACKs that matched no known publish.
    pub unmatched_acks: AtomicU64,
    /// Status messages published (birth, updates, final).
    pub status_published: AtomicU64,
    /// Sensor payloads received.
    pub inputs_received: AtomicU64,
    /// Sensor payloads dropped because the engine input channel was full or
    /// closed.
    pub inputs_dropped: AtomicU64,
    /// Subscriptions the broker refused (ACL).
    pub subscribe_failures: AtomicU64,
}

/// A snapshot of [`MqttCounters`]; also what [`run`] returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MqttReport {
    /// Connected at the time of the snapshot.
    pub connected: bool,
    /// See [`MqttCounters::connects`].
    pub connects: u64,
    /// `connects - 1`: reconnections.
    pub reconnects: u64,
    /// See [`MqttCounters::sessions_lost`].
    pub sessions_lost: u64,
    /// See [`MqttCounters::connection_errors`].
    pub connection_errors: u64,
    /// See [`MqttCounters::published`].
    pub published: u64,
    /// See [`MqttCounters::resent`].
    pub resent: u64,
    /// See [`MqttCounters::acked`].
    pub acked: u64,
    /// See [`MqttCounters::publish_deferred`].
    pub publish_deferred: u64,
    /// See [`MqttCounters::unmatched_acks`].
    pub unmatched_acks: u64,
    /// See [`MqttCounters::status_published`].
    pub status_published: u64,
    /// See [`MqttCounters::inputs_received`].
    pub inputs_received: u64,
    /// See [`MqttCounters::inputs_dropped`].
    pub inputs_dropped: u64,
    /// See [`MqttCounters::subscribe_failures`].
    pub subscribe_failures: u64,
    /// At exit: every outbox entry was acknowledged.
    pub drained: bool,
    /// At exit: the final `offline` status was acknowledged and DISCONNECT
    /// sent (the will will not fire).
    pub clean_disconnect: bool,
}

impl MqttReport {
    /// `mqtt_*` counters for the status message's map.
    pub fn counter_map(&self) -> BTreeMap<String, u64> {
        [
            ("mqtt_connected", u64::from(self.connected)),
            ("mqtt_reconnects", self.reconnects),
            ("mqtt_sessions_lost", self.sessions_lost),
            ("mqtt_connection_errors", self.connection_errors),
            ("mqtt_published", self.published),
            ("mqtt_resent", self.resent),
            ("mqtt_acked", self.acked),
            ("mqtt_publish_deferred", self.publish_deferred),
            ("mqtt_unmatched_acks", self.unmatched_acks),
            ("mqtt_inputs_received", self.inputs_received),
            ("mqtt_inputs_dropped", self.inputs_dropped),
            ("mqtt_subscribe_failures", self.subscribe_failures),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

impl MqttCounters {
    /// Whether the task holds a broker connection (after ConnAck).
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Waits until connected (for READY=1). Bound it with a timeout.
    pub async fn wait_connected(&self) {
        loop {
            let changed = self.connected_changed.notified();
            tokio::pin!(changed);
            // Register before checking, so a change in between is not missed.
            changed.as_mut().enable();
            if self.is_connected() {
                return;
            }
            changed.await;
        }
    }

    fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
        self.connected_changed.notify_waiters();
    }

    /// A consistent-enough snapshot (each field read atomically).
    pub fn snapshot(&self) -> MqttReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let connects = get(&self.connects);
        MqttReport {
            connected: self.is_connected(),
            connects,
            reconnects: connects.saturating_sub(1),
            sessions_lost: get(&self.sessions_lost),
            connection_errors: get(&self.connection_errors),
            published: get(&self.published),
            resent: get(&self.resent),
            acked: get(&self.acked),
            publish_deferred: get(&self.publish_deferred),
            unmatched_acks: get(&self.unmatched_acks),
            status_published: get(&self.status_published),
            inputs_received: get(&self.inputs_received),
            inputs_dropped: get(&self.inputs_dropped),
            subscribe_failures: get(&self.subscribe_failures),
            drained: false,
            clean_disconnect: false,
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Reads `username:password` from the configured file or systemd credential.
pub fn load_credentials(settings: &MqttSettings) -> Result<Option<(String, String)>, MqttError> {
    let path = match (&settings.credentials_file, &settings.credential) {
        (Some(path), _) => path.clone(),
        (None, Some(name)) => {
            let dir = std::env::var_os(CREDENTIALS_DIRECTORY_ENV).ok_or_else(|| {
                MqttError::Credentials {
                    path: PathBuf::from(format!("${CREDENTIALS_DIRECTORY_ENV}/{name}")),
                    reason: "CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit?)"
                        .to_string(),
                }
            })?;
            Path::new(&dir).join(name)
        }
        (None, None) => return Ok(None),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| MqttError::Credentials {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    match line.split_once(':') {
        Some((user, pass)) if !user.is_empty() => Ok(Some((user.to_string(), pass.to_string()))),
        _ => Err(MqttError::Credentials {
            path,
            reason: "expected `username:password` on the first line".to_string(),
        }),
    }
}

/// Builds the rustls client configuration (ring provider) from the files.
pub fn tls_config(tls: &TlsSettings) -> Result<rustls::ClientConfig, MqttError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let file_err = |path: &Path, reason: String| MqttError::TlsFile {
        path: path.to_path_buf(),
        reason,
    };
    let certs = |path: &Path| -> Result<Vec<CertificateDer<'static>>, MqttError> {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| file_err(path, e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_err(path, e.to_string()))?;
        if certs.is_empty() {
            return Err(file_err(path, "no PEM certificate in it".to_string()));
        }
        Ok(certs)
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(&tls.ca_file)? {
        roots
            .add(cert)
            .map_err(|e| file_err(&tls.ca_file, e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = certs(cert)?;
            let key_der =
                PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| MqttError::Tls(e.to_string()))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(MqttError::Settings {
            key: "tls.key_file",
            reason: "cert_file and key_file go together".to_string(),
        }),
    }
}

fn now_timestamp() -> Timestamp {
    let micros = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp::from_unix_micros(micros).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// What a queued publish was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Entry(u64),
    Status,
    FinalStatus,
}

/// Capped exponential backoff.
struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            next: min,
        }
    }
    fn reset(&mut self) {
        self.next = self.min;
    }
    fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

struct Task {
    client: AsyncClient,
    settings: MqttSettings,
    topics: Topics,
    site: SiteId,
    outbox: Arc<Mutex<Outbox>>,
    inputs: InputSender,
    status: watch::Receiver<StatusMessage>,
    counters: Arc<MqttCounters>,
    connected: bool,
    connected_at: Option<Instant>,
    /// Queued publishes not yet bound to a pkid, in queue order.
    fifo: VecDeque<Tag>,
    /// pkid -> what it carries, until its PUBACK.
    bound: HashMap<u16, Tag>,
    /// A publish that hit a pkid collision, sent once that pkid is acked.
    collided: Option<(u16, Tag)>,
    /// Next outbox seq to publish.
    cursor: u64,
    /// Highest seq ever published (to count resends).
    high_water: u64,
    want_pump: bool,
    /// A SUBACK was seen for the broker's current session.
    subscribed: bool,
    status_pending: bool,
    status_seq: u64,
    final_acked: bool,
    last_drop_log: Option<Instant>,
    drops_since_log: u64,
}

impl Task {
    fn next_status_seq(&mut self) -> u64 {
        self.status_seq += 1;
        self.status_seq
    }

    /// Registers the will for the next connection attempt.
    fn will(&mut self) -> LastWill {
        let current = self.status.borrow().clone();
        let seq = self.next_status_seq();
        let offline = StatusMessage::offline(
            self.site.clone(),
            seq,
            current.version,
            now_timestamp(),
            current.started_at,
        );
        let payload = picket_schema::to_json(&offline).unwrap_or_default();
        LastWill::new(self.topics.status(), payload, QoS::AtLeastOnce, true)
    }

    fn status_payload(&mut self, state: DaemonState) -> Vec<u8> {
        let mut status = self.status.borrow_and_update().clone();
        status.seq = self.next_status_seq();
        status.site = self.site.clone();
        status.state = state;
        if state == DaemonState::Offline {
            status.time = now_timestamp();
        }
        picket_schema::to_json(&status).unwrap_or_default()
    }

    /// Queues a status message; false when the request channel is full
    /// (the caller retries after the next event).
    fn publish_status(&mut self, state: DaemonState, tag: Tag) -> bool {
        // Check for room before building the payload: while the channel is
        // full this runs after every event, and cloning and encoding a
        // status of a hundred counters each time only to be refused was a
        // large share of the task's time under load (and burnt status
        // sequence numbers).
        if self.fifo.len() >= self.settings.request_channel_capacity {
            return false;
        }
        let payload = self.status_payload(state);
        match self
            .client
            .try_publish(self.topics.status(), QoS::AtLeastOnce, true, payload)
        {
            Ok(()) => {
                self.fifo.push_back(tag);
                bump(&self.counters.status_published);
                true
            }
            Err(_) => false,
        }
    }

    /// Queues unacked outbox entries from the cursor until the request
    /// channel is full.
    ///
    /// Only as many entries as the channel has room for are copied out:
    /// under a backlog a PUBACK frees one slot, and copying a whole slice
    /// per PUBACK only to have the first `try_publish` fail once cost more
    /// than the publishing (measured: 3,800 messages/s instead of tens of
    /// thousands). `fifo` holds exactly the publishes queued and not yet
    /// written by the event loop, so capacity minus its length is the room.
    fn pump(&mut self) {
        if !self.connected {
            return;
        }
        self.want_pump = false;
        loop {
            let room = self
                .settings
                .request_channel_capacity
                .saturating_sub(self.fifo.len())
                .min(PUMP_SLICE);
            if room == 0 {
                // Retried after the next event: the event loop takes
                // requests as PUBACKs free in-flight slots.
                self.want_pump = true;
                return;
            }
            // Copy out a slice so the outbox lock is held briefly.
            let batch: Vec<_> = {
                let outbox = lock(&self.outbox);
                outbox
                    .unacked_from(self.cursor)
                    .take(room)
                    .cloned()
                    .collect()
            };
            if batch.is_empty() {
                return;
            }
            for entry in batch {
                let seq = entry.seq;
                match self.client.try_publish(
                    entry.topic,
                    QoS::AtLeastOnce,
                    entry.retained,
                    entry.payload,
                ) {
                    Ok(()) => {
                        self.fifo.push_back(Tag::Entry(seq));
                        self.cursor = seq + 1;
                        bump(&self.counters.published);
                        if seq <= self.high_water {
                            bump(&self.counters.resent);
                        }
                        self.high_water = self.high_water.max(seq);
                    }
                    Err(_) => {
                        // Full after all (a status publish raced in): the
                        // entry stays in the outbox, the cursor on it.
                        bump(&self.counters.publish_deferred);
                        self.want_pump = true;
                        return;
                    }
                }
            }
        }
    }

    fn on_connack(&mut self, session_present: bool) {
        let first = self.counters.connects.fetch_add(1, Ordering::Relaxed) == 0;
        self.connected = true;
        self.connected_at = Some(Instant::now());
        self.counters.set_connected(true);
        if !session_present {
            if !first {
                bump(&self.counters.sessions_lost);
            }
            // rumqttc dropped every unacked publish: forget the bindings and
            // start again from the oldest unacked entry.
            self.fifo.clear();
            self.bound.clear();
            self.collided = None;
            self.cursor = 0;
            self.subscribed = false;
        }
        // Subscribe when the session is new, and also when a session is
        // present but none of our SUBACKs was ever seen for it: a connect
        // cancelled after the broker accepted it creates a session without
        // our subscriptions that the next ConnAck reports as present.
        if !self.subscribed {
            if !self.settings.subscriptions.is_empty() {
                let filters = self
                    .settings
                    .subscriptions
                    .iter()
                    .map(|f| rumqttc::SubscribeFilter::new(f.clone(), QoS::AtLeastOnce));
                if self.client.try_subscribe_many(filters).is_err() {
                    // Cannot happen right after a ConnAck with an empty
                    // channel; if it does, reconnecting retries it.
                    tracing::error!("mqtt: could not queue the subscription");
                }
            } else {
                self.subscribed = true;
            }
        }
        tracing::info!(session_present, "mqtt: connected");
        self.status_pending = !self.publish_status(DaemonState::Online, Tag::Status);
        self.want_pump = true;
    }

    fn on_disconnected(&mut self) {
        if self.connected {
            self.connected = false;
            self.counters.set_connected(false);
        }
    }

    fn on_incoming_publish(&mut self, topic: String, payload: &[u8]) {
        bump(&self.counters.inputs_received);
        let input = RawInput {
            source: InputSource::Mqtt(topic),
            received_at: now_timestamp(),
            bytes: payload.to_vec(),
        };
        if self.inputs.try_send(input).is_err() {
            // Full (engine behind) or closed (shutting down): drop, count,
            // and log at a bounded rate so a flood cannot flood the log too.
            bump(&self.counters.inputs_dropped);
            self.drops_since_log += 1;
            let due = self
                .last_drop_log
                .is_none_or(|t| t.elapsed() >= DROP_LOG_INTERVAL);
            if due {
                tracing::warn!(
                    dropped = self.drops_since_log,
                    total = self.counters.inputs_dropped.load(Ordering::Relaxed),
                    "mqtt: engine input channel full (items or bytes), sensor payloads dropped"
                );
                self.last_drop_log = Some(Instant::now());
                self.drops_since_log = 0;
            }
        }
    }

    fn on_puback(&mut self, pkid: u16) -> Result<(), MqttError> {
        match self.bound.remove(&pkid) {
            Some(Tag::Entry(seq)) => {
                lock(&self.outbox).acknowledge(seq)?;
                bump(&self.counters.acked);
            }
            Some(Tag::Status) => {}
            Some(Tag::FinalStatus) => self.final_acked = true,
            None => {
                bump(&self.counters.unmatched_acks);
                tracing::debug!(pkid, "mqtt: PUBACK for an unknown packet id");
            }
        }
        Ok(())
    }

    fn on_outgoing_publish(&mut self, pkid: u16) {
        if pkid == 0 {
            return; // QoS 0: nothing of ours.
        }
        if let Some((collided, tag)) = self.collided
            && collided == pkid
        {
            self.collided = None;
            self.bound.insert(pkid, tag);
            return;
        }
        if self.bound.contains_key(&pkid) {
            return; // A retransmission in a resumed session.
        }
        match self.fifo.pop_front() {
            Some(tag) => {
                self.bound.insert(pkid, tag);
            }
            None => tracing::warn!(pkid, "mqtt: publish written that this task did not queue"),
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), MqttError> {
        match event {
            Event::Incoming(Incoming::ConnAck(ack)) => self.on_connack(ack.session_present),
            Event::Incoming(Incoming::Publish(p)) => self.on_incoming_publish(p.topic, &p.payload),
            Event::Incoming(Incoming::PubAck(ack)) => self.on_puback(ack.pkid)?,
            Event::Incoming(Incoming::SubAck(ack)) => {
                self.subscribed = true;
                for code in ack.return_codes {
                    if code == SubscribeReasonCode::Failure {
                        bump(&self.counters.subscribe_failures);
                        tracing::error!("mqtt: broker refused a subscription (ACL?)");
                    }
                }
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => self.on_outgoing_publish(pkid),
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
                if let Some(tag) = self.fifo.pop_front() {
                    self.collided = Some((pkid, tag));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn entries_in_flight(&self) -> bool {
        self.bound.values().any(|t| matches!(t, Tag::Entry(_)))
            || self.fifo.iter().any(|t| matches!(t, Tag::Entry(_)))
    }
}

/// Runs the MQTT task until `shutdown` resolves and the drain is done (see
/// the module docs). Resolve `shutdown` after the last output has been
/// committed to the outbox. Errors are start-up errors (settings, TLS,
/// credentials) or outbox failures; broker trouble is retried forever.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    settings: MqttSettings,
    site: SiteId,
    outbox: Arc<Mutex<Outbox>>,
    outbox_ready: Arc<Notify>,
    inputs: InputSender,
    status: watch::Receiver<StatusMessage>,
    shutdown: impl Future<Output = ()>,
) -> Result<MqttReport, MqttError> {
    run_with_counters(
        settings,
        site,
        outbox,
        outbox_ready,
        inputs,
        status,
        shutdown,
        Arc::new(MqttCounters::default()),
    )
    .await
}

/// [`run`], sharing live counters with the caller.
#[allow(clippy::too_many_arguments)]
pub async fn run_with_counters(
    settings: MqttSettings,
    site: SiteId,
    outbox: Arc<Mutex<Outbox>>,
    outbox_ready: Arc<Notify>,
    inputs: InputSender,
    status: watch::Receiver<StatusMessage>,
    shutdown: impl Future<Output = ()>,
    counters: Arc<MqttCounters>,
) -> Result<MqttReport, MqttError> {
    settings.validate()?;
    let client_id = settings
        .client_id
        .clone()
        .unwrap_or_else(|| format!("picketd-{site}"));
    let mut options = MqttOptions::new(client_id, settings.host.clone(), settings.port);
    options
        .set_keep_alive(Duration::from_secs(settings.keep_alive_s))
        .set_clean_session(settings.clean_session)
        .set_max_packet_size(
            settings.max_incoming_packet_bytes,
            settings.max_outgoing_packet_bytes,
        )
        .set_request_channel_capacity(settings.request_channel_capacity)
        .set_inflight(settings.max_inflight);
    if let Some(tls) = &settings.tls {
        let config = tls_config(tls)?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    }
    if let Some((user, pass)) = load_credentials(&settings)? {
        options.set_credentials(user, pass);
    }
    let (client, mut eventloop): (AsyncClient, EventLoop) =
        AsyncClient::new(options, settings.request_channel_capacity);
    let mut network = eventloop.network_options();
    network.set_connection_timeout(settings.connect_timeout_s);
    // Track messages are small and every one is news to an operator: with
    // Nagle's algorithm (rumqttc's default) one waits for the broker's ACK
    // of the previous segment whenever one is outstanding.
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);

    let topics = Topics::new(&site);
    let mut task = Task {
        client,
        topics,
        site,
        outbox,
        inputs,
        status,
        counters: counters.clone(),
        connected: false,
        connected_at: None,
        fifo: VecDeque::new(),
        bound: HashMap::new(),
        collided: None,
        cursor: 0,
        high_water: 0,
        want_pump: false,
        subscribed: false,
        status_pending: false,
        status_seq: 0,
        final_acked: false,
        last_drop_log: None,
        drops_since_log: 0,
        settings,
    };
    let will = task.will();
    eventloop.mqtt_options.set_last_will(will);

    let mut backoff = Backoff::new(
        Duration::from_millis(task.settings.reconnect_backoff_min_ms),
        Duration::from_millis(task.settings.reconnect_backoff_max_ms),
    );
    let drain_timeout = Duration::from_millis(task.settings.drain_timeout_ms);
    let mut flush_tick = tokio::time::interval(ACK_FLUSH_INTERVAL);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut deadline: Option<tokio::time::Instant> = None;
    let mut status_open = true;
    let mut delay: Option<Duration> = None;
    // The final offline status: not yet queued / queued.
    let mut final_queued = false;
    let mut disconnect_sent = false;

    loop {
        if let Some(d) = deadline {
            let done = !task.entries_in_flight() && lock(&task.outbox).is_empty();
            if (done || tokio::time::Instant::now() >= d) && task.connected && !final_queued {
                final_queued = task.publish_status(DaemonState::Offline, Tag::FinalStatus);
            }
            if task.final_acked && !disconnect_sent {
                disconnect_sent = task.client.try_disconnect().is_ok();
            }
            // Give the final status a last short window after the drain
            // deadline.
            if tokio::time::Instant::now() >= d + Duration::from_secs(1) {
                break;
            }
        }
        let far = tokio::time::Instant::now() + Duration::from_secs(3600);
        let hard_stop = deadline.map_or(far, |d| d + Duration::from_secs(1));
        if let Some(wait) = delay.take() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut shutdown, if deadline.is_none() => {
                    deadline = Some(tokio::time::Instant::now() + drain_timeout);
                }
                _ = tokio::time::sleep_until(hard_stop) => {}
            }
            continue;
        }
        tokio::select! {
            event = eventloop.poll() => match event {
                Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                    task.handle(Event::Outgoing(Outgoing::Disconnect))?;
                    break;
                }
                Ok(event) => task.handle(event)?,
                Err(error) => {
                    task.on_disconnected();
                    bump(&task.counters.connection_errors);
                    if task
                        .connected_at
                        .take()
                        .is_some_and(|t| t.elapsed() >= STABLE_CONNECTION)
                    {
                        backoff.reset();
                    }
                    let wait = backoff.next_delay();
                    log_connection_error(&error, wait);
                    let will = task.will();
                    eventloop.mqtt_options.set_last_will(will);
                    delay = Some(wait);
                }
            },
            _ = &mut shutdown, if deadline.is_none() => {
                deadline = Some(tokio::time::Instant::now() + drain_timeout);
                task.want_pump = true;
            }
            // The branches below only run while connected: while `poll` is
            // connecting, a wake-up would cancel the connect, and a connect
            // cancelled after the broker sent CONNACK leaves a session we
            // never saw (see `subscribed`).
            _ = outbox_ready.notified(), if task.connected => task.want_pump = true,
            changed = task.status.changed(), if status_open && task.connected => match changed {
                Ok(()) => task.status_pending = true,
                Err(_) => status_open = false,
            },
            _ = flush_tick.tick(), if task.connected => lock(&task.outbox).flush()?,
            _ = tokio::time::sleep_until(hard_stop), if deadline.is_some() => {}
        }
        if task.connected {
            if task.want_pump {
                task.pump();
            }
            if task.status_pending && !final_queued {
                task.status_pending = !task.publish_status(DaemonState::Online, Tag::Status);
            }
        }
    }

    task.on_disconnected();
    let drained = lock(&task.outbox).is_empty();
    lock(&task.outbox).flush()?;
    let mut report = counters.snapshot();
    report.drained = drained;
    report.clean_disconnect = task.final_acked && disconnect_sent;
    tracing::info!(drained, clean = report.clean_disconnect, "mqtt: stopped");
    Ok(report)
}

fn log_connection_error(error: &ConnectionError, wait: Duration) {
    let hint = match error {
        ConnectionError::MqttState(rumqttc::StateError::Deserialization(
            rumqttc::Error::PayloadSizeLimitExceeded(size),
        )) => Some(format!(
            "incoming packet of {size} bytes exceeds max_incoming_packet_bytes; raise it to the broker's limit"
        )),
        _ => None,
    };
    match hint {
        Some(hint) => {
            tracing::error!(%error, retry_in_ms = wait.as_millis() as u64, "mqtt: {hint}")
        }
        None => {
            tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, "mqtt: connection failed")
        }
    }
}
