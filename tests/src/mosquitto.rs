//! A real Mosquitto for tests: started on a free loopback port with a
//! generated config in a temporary directory, stoppable (SIGTERM), killable
//! (SIGKILL) and restartable on the same port; plus a QoS 1 subscriber that
//! collects what it receives, and a `mosquitto_pub` helper.
//!
//! Never a mock: the point of these tests is the broker's real behaviour
//! (sessions, persistence, retained messages, wills).

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use tokio::sync::Notify;

/// The broker binary (Debian's `mosquitto` package).
pub const MOSQUITTO: &str = "/usr/sbin/mosquitto";

/// How the broker is configured.
#[derive(Debug, Clone, Default)]
pub struct MosquittoOptions {
    /// `persistence true` in the temp dir: sessions, subscriptions and
    /// queued QoS 1 messages survive a clean stop (SIGTERM); after SIGKILL
    /// only what the last autosave wrote survives.
    pub persistence: bool,
    /// `autosave_interval` in seconds (with `persistence`); Mosquitto's
    /// default is 1800 s.
    pub autosave_interval_s: Option<u32>,
    /// Log only errors, warnings and notices, as a deployed broker would.
    /// The default, `log_type all`, writes several lines per message (the
    /// tests read them) and costs the broker about half its message rate:
    /// measured, the last of a 100-message burst arrived after 6.5 ms
    /// instead of 3.5 ms (benches set this).
    pub quiet_log: bool,
    /// Extra lines appended to the config (e.g. `max_packet_size 2048`).
    pub extra: Vec<String>,
}

/// A running (or stopped) Mosquitto owned by a test. Dropping it kills the
/// broker; the temp dir (config, log, persistence) goes with it.
#[derive(Debug)]
pub struct Mosquitto {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    options: MosquittoOptions,
}

fn free_port() -> io::Result<u16> {
    // Bind port 0, read the port, release it for the broker. Another process
    // could take it in between; `start` retries on a failed start.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Mosquitto {
    /// Starts a broker without persistence.
    pub fn start() -> io::Result<Self> {
        Self::start_with(MosquittoOptions::default())
    }

    /// Starts a broker with `options` on a free port and waits until it
    /// accepts connections.
    pub fn start_with(options: MosquittoOptions) -> io::Result<Self> {
        let mut last = io::Error::other("no attempt");
        for _ in 0..5 {
            let port = free_port()?;
            let mut broker = Mosquitto {
                child: None,
                port,
                dir: tempfile::tempdir()?,
                options: options.clone(),
            };
            match broker.spawn() {
                Ok(()) => return Ok(broker),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The broker's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The temp dir with `mosquitto.conf`, `mosquitto.log` and the
    /// persistence database.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The broker's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("mosquitto.log")).unwrap_or_default()
    }

    /// Whether the broker process is running.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn write_config(&self) -> io::Result<PathBuf> {
        let dir = self.dir();
        let mut conf = String::new();
        let _ = writeln!(conf, "listener {} 127.0.0.1", self.port);
        let _ = writeln!(conf, "allow_anonymous true");
        // Small test messages should not wait for Nagle.
        let _ = writeln!(conf, "set_tcp_nodelay true");
        // Offline persistent sessions may queue many messages during the
        // outage tests; Mosquitto's default (1000) would drop some.
        let _ = writeln!(conf, "max_queued_messages 0");
        let _ = writeln!(
            conf,
            "log_dest file {}",
            dir.join("mosquitto.log").display()
        );
        if self.options.quiet_log {
            for kind in ["error", "warning", "notice"] {
                let _ = writeln!(conf, "log_type {kind}");
            }
        } else {
            let _ = writeln!(conf, "log_type all");
        }
        let _ = writeln!(conf, "log_timestamp_format %H:%M:%S");
        if std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or(1)
            == 0
        {
            // As root Mosquitto would switch to the `mosquitto` user, which
            // cannot write the temp dir (traps.md).
            let _ = writeln!(conf, "user root");
        }
        if self.options.persistence {
            let _ = writeln!(conf, "persistence true");
            let _ = writeln!(conf, "persistence_location {}/", dir.display());
            if let Some(s) = self.options.autosave_interval_s {
                let _ = writeln!(conf, "autosave_interval {s}");
            }
        }
        for line in &self.options.extra {
            let _ = writeln!(conf, "{line}");
        }
        let path = dir.join("mosquitto.conf");
        std::fs::write(&path, conf)?;
        Ok(path)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let config = self.write_config()?;
        let child = Command::new(MOSQUITTO)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(10))
    }

    /// Waits until the port accepts a TCP connection.
    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let start = Instant::now();
        loop {
            if !self.is_running() {
                return Err(io::Error::other(format!(
                    "mosquitto exited during start-up; log:\n{}",
                    self.log()
                )));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if start.elapsed() > timeout {
                return Err(io::Error::other("mosquitto did not start listening"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> io::Result<bool> {
        let start = Instant::now();
        let Some(child) = &mut self.child else {
            return Ok(true);
        };
        loop {
            if child.try_wait()?.is_some() {
                self.child = None;
                return Ok(true);
            }
            if start.elapsed() > timeout {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the broker cleanly (SIGTERM: it saves its persistence database
    /// and closes connections), falling back to SIGKILL after 5 s.
    pub fn stop(&mut self) -> io::Result<()> {
        let Some(child) = &self.child else {
            return Ok(());
        };
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()?;
        if !status.success() {
            return Err(io::Error::other("kill -TERM failed"));
        }
        if !self.wait_exit(Duration::from_secs(5))? {
            self.kill()?;
        }
        Ok(())
    }

    /// Kills the broker (SIGKILL): no save, connections reset by the kernel.
    pub fn kill(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the broker again on the same port with the same config and
    /// persistence directory.
    pub fn restart(&mut self) -> io::Result<()> {
        if self.is_running() {
            self.stop()?;
        }
        // The port may linger briefly; retry the spawn a few times.
        let mut last = io::Error::other("no attempt");
        for _ in 0..20 {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    last = e;
                    let _ = self.kill();
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
        Err(last)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Publishes one message with `mosquitto_pub` (QoS 1), payload from stdin.
pub fn publish(port: u16, topic: &str, payload: &[u8], retain: bool) -> io::Result<()> {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-q",
        "1",
        "-t",
        topic,
        "-s",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    if retain {
        cmd.arg("-r");
    }
    let mut child = cmd.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(payload)?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "mosquitto_pub failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// One received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// The retain flag as delivered (set for retained messages sent on
    /// subscribe).
    pub retain: bool,
}

#[derive(Debug, Default)]
struct Shared {
    messages: Mutex<Vec<Received>>,
    connacks: Mutex<u32>,
    changed: Notify,
}

/// A QoS 1 subscriber (rumqttc) that collects everything on its filters,
/// with a persistent session by default, re-subscribing whenever the broker
/// reports no session and reconnecting every 100 ms while the broker is
/// away.
#[derive(Debug)]
pub struct Subscriber {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
    client: AsyncClient,
}

/// A wait that ran out of time.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {0:?}")]
pub struct Timeout(pub Duration);

impl Subscriber {
    /// Connects (persistent session, `client_id`) and subscribes to
    /// `filters`; returns once the broker has acknowledged the
    /// subscription. Call within a tokio runtime.
    pub async fn connect(port: u16, client_id: &str, filters: &[&str]) -> io::Result<Self> {
        Self::connect_with(port, client_id, filters, false).await
    }

    /// Like [`Subscriber::connect`], choosing `clean_session`.
    pub async fn connect_with(
        port: u16,
        client_id: &str,
        filters: &[&str],
        clean_session: bool,
    ) -> io::Result<Self> {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_clean_session(clean_session)
            .set_keep_alive(Duration::from_secs(5))
            .set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 1000);
        let shared = Arc::new(Shared::default());
        let filters: Vec<String> = filters.iter().map(|f| f.to_string()).collect();
        let subscribed = Arc::new(Notify::new());
        let task = {
            let shared = shared.clone();
            let client = client.clone();
            let subscribed = subscribed.clone();
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                            if let Ok(mut n) = shared.connacks.lock() {
                                *n += 1;
                            }
                            if !ack.session_present {
                                for f in &filters {
                                    let _ = client.try_subscribe(f.clone(), QoS::AtLeastOnce);
                                }
                            } else {
                                subscribed.notify_one();
                            }
                        }
                        Ok(Event::Incoming(Incoming::SubAck(_))) => subscribed.notify_one(),
                        Ok(Event::Incoming(Incoming::Publish(p))) => {
                            if let Ok(mut m) = shared.messages.lock() {
                                m.push(Received {
                                    topic: p.topic.clone(),
                                    payload: p.payload.to_vec(),
                                    retain: p.retain,
                                });
                            }
                            shared.changed.notify_waiters();
                        }
                        Ok(_) => {}
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(10), subscribed.notified())
            .await
            .map_err(|_| io::Error::other("subscriber: no SUBACK within 10 s"))?;
        Ok(Subscriber {
            shared,
            task,
            client,
        })
    }

    /// Everything received so far.
    pub fn messages(&self) -> Vec<Received> {
        self.shared
            .messages
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// ConnAcks seen (1 + reconnections).
    pub fn connacks(&self) -> u32 {
        self.shared.connacks.lock().map(|n| *n).unwrap_or(0)
    }

    /// Waits until `done` holds for the messages received so far; returns
    /// them. Fails after `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&[Received]) -> bool,
    ) -> Result<Vec<Received>, Timeout> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let messages = self.messages();
            if done(&messages) {
                return Ok(messages);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(Timeout(timeout));
            }
        }
    }

    /// Publishes QoS 1 through this subscriber's connection.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>, retain: bool) -> io::Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// Disconnects cleanly and stops the task.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.task.abort();
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}
