//! Serial sources: one task per configured port, turning reads into
//! [`RawInput`]s for the engine.
//!
//! * **Exclusive open.** Ports are opened with `TIOCEXCL` plus `flock`
//!   (serialport's default, set explicitly here), so a second picketd or a
//!   stray `screen` cannot steal bytes from the sensor.
//! * **Disconnects.** When the other end of a pty goes away, and when a USB
//!   adapter is unplugged, `read` returns `Ok(0)` at once and forever (or an
//!   error): both mean "disconnected". The port is closed and reopened with
//!   capped exponential backoff. The backoff is reset only once a read has
//!   returned data, so a device that opens fine but reads EOF at once (a
//!   half-dead pty) is retried at a growing interval rather than spun on.
//! * **Full input channel.** The engine's input channel is bounded. A chunk
//!   waits up to `input_full_wait_ms` for room (riding out a short engine
//!   stall without loss: the kernel's tty buffer keeps filling meanwhile),
//!   then is dropped and counted. Dropping rather than blocking forever keeps
//!   the task responsive to shutdown and keeps a wedged engine from also
//!   wedging the sources; a dropped chunk costs the frames in it (the wire
//!   decoder resynchronises at the next delimiter), never the stream.
//! * **Health.** Each port has a [`PortHealth`] (connected, reconnects,
//!   bytes, drops, last error) that the daemon reads into the status
//!   message.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use picket_engine::{InputSource, RawInput};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio_serial::SerialPortBuilderExt;

use crate::config::SerialPortConfig;
use crate::queue::{InputSender, QueueRefusal};
use crate::telemetry::{
    DaemonCounters, InternalEvent, SerialDisconnected, SerialInputDropped, SerialOpenFailed,
};

/// Capped exponential backoff: `min`, `2·min`, `4·min`, ... up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff starting at `min` and never exceeding `max` (`max` is
    /// raised to `min` if smaller).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The delay to wait now; doubles the following one, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// Back to `min` (after a success).
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Live health of one serial port, shared between its task and the status
/// reporter. Counters only grow.
#[derive(Debug, Default)]
pub struct PortHealth {
    /// Whether the port is open right now.
    pub connected: AtomicBool,
    /// Successful opens after the first one.
    pub reconnects: AtomicU64,
    /// Disconnects seen (EOF or read error).
    pub disconnects: AtomicU64,
    /// Failed open attempts.
    pub open_failures: AtomicU64,
    /// Bytes read.
    pub bytes: AtomicU64,
    /// Chunks (reads) handed to the engine.
    pub chunks: AtomicU64,
    /// Chunks dropped because the input channel stayed full.
    pub dropped_chunks: AtomicU64,
    /// Whether the first open attempt has completed (successfully or not);
    /// the daemon waits for it before `READY=1`.
    pub first_attempt_done: AtomicBool,
    /// The most recent open or read error, for logs and `--status` output.
    last_error: Mutex<Option<String>>,
}

impl PortHealth {
    /// The most recent error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|guard| guard.clone())
    }

    fn set_last_error(&self, error: String) {
        if let Ok(mut guard) = self.last_error.lock() {
            *guard = Some(error);
        }
    }

    /// Adds this port's figures to a status counter map as
    /// `serial.<port>.<name>`.
    pub fn to_status_counters(&self, port: &str, map: &mut BTreeMap<String, u64>) {
        let relaxed = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        for (name, value) in [
            (
                "connected",
                u64::from(self.connected.load(Ordering::Relaxed)),
            ),
            ("reconnects", relaxed(&self.reconnects)),
            ("disconnects", relaxed(&self.disconnects)),
            ("open_failures", relaxed(&self.open_failures)),
            ("bytes", relaxed(&self.bytes)),
            ("chunks", relaxed(&self.chunks)),
            ("dropped_chunks", relaxed(&self.dropped_chunks)),
        ] {
            map.insert(format!("serial.{port}.{name}"), value);
        }
    }
}

/// Why a port's task ended (it never ends on device errors: those are
/// retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortExit {
    /// The daemon is shutting down.
    Shutdown,
    /// The engine's input channel is closed (the engine stopped).
    EngineGone,
}

/// Runs one port until `shutdown` turns `true` or the engine goes away:
/// open, read, hand chunks to `inputs`, reopen with backoff on disconnect.
pub async fn run_port(
    config: SerialPortConfig,
    inputs: InputSender,
    health: Arc<PortHealth>,
    counters: Arc<DaemonCounters>,
    mut shutdown: watch::Receiver<bool>,
) -> PortExit {
    let port = config.path.clone();
    let mut backoff = Backoff::new(
        Duration::from_millis(config.reconnect_min_ms),
        Duration::from_millis(config.reconnect_max_ms),
    );
    let full_wait = Duration::from_millis(config.input_full_wait_ms);
    let mut buffer = vec![0u8; config.read_buffer_bytes.max(1)];
    let mut opened_before = false;
    let mut failed_attempts: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return PortExit::Shutdown;
        }
        let opened = tokio_serial::new(&port, config.baud_rate)
            .open_native_async()
            .and_then(|mut stream| {
                stream.set_exclusive(true)?;
                Ok(stream)
            });
        health.first_attempt_done.store(true, Ordering::Release);
        match opened {
            Err(error) => {
                failed_attempts = failed_attempts.saturating_add(1);
                health.open_failures.fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay();
                let text = error.to_string();
                SerialOpenFailed {
                    port: &port,
                    error: &text,
                    attempt: failed_attempts,
                    retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                }
                .emit(&counters);
                health.set_last_error(text);
                if wait_or_shutdown(&mut shutdown, delay).await {
                    return PortExit::Shutdown;
                }
            }
            Ok(mut stream) => {
                failed_attempts = 0;
                if opened_before {
                    health.reconnects.fetch_add(1, Ordering::Relaxed);
                }
                opened_before = true;
                health.connected.store(true, Ordering::Relaxed);
                tracing::info!(port = %port, baud = config.baud_rate, "serial port open");
                let outcome = loop {
                    let read = tokio::select! {
                        biased;
                        _ = shutdown.changed() => break ReadOutcome::Shutdown,
                        read = stream.read(&mut buffer) => read,
                    };
                    match read {
                        Ok(0) => {
                            SerialDisconnected {
                                port: &port,
                                error: None,
                            }
                            .emit(&counters);
                            health.set_last_error("end of file (device gone)".to_owned());
                            break ReadOutcome::Disconnected;
                        }
                        Err(error) => {
                            SerialDisconnected {
                                port: &port,
                                error: Some(&error),
                            }
                            .emit(&counters);
                            health.set_last_error(error.to_string());
                            break ReadOutcome::Disconnected;
                        }
                        Ok(n) => {
                            // Data flows: the device is healthy, so the next
                            // disconnect starts again from the short delay.
                            backoff.reset();
                            let bytes = buffer.get(..n).unwrap_or_default().to_vec();
                            health.bytes.fetch_add(n as u64, Ordering::Relaxed);
                            let input = RawInput {
                                source: InputSource::Serial(port.clone()),
                                received_at: crate::now(),
                                bytes,
                            };
                            match inputs.send_within(input, full_wait).await {
                                Ok(()) => {
                                    health.chunks.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(QueueRefusal::Full) => {
                                    health.dropped_chunks.fetch_add(1, Ordering::Relaxed);
                                    SerialInputDropped {
                                        port: &port,
                                        bytes: n,
                                    }
                                    .emit(&counters);
                                }
                                Err(QueueRefusal::Closed) => break ReadOutcome::EngineGone,
                            }
                        }
                    }
                };
                health.connected.store(false, Ordering::Relaxed);
                drop(stream);
                match outcome {
                    ReadOutcome::Shutdown => return PortExit::Shutdown,
                    ReadOutcome::EngineGone => return PortExit::EngineGone,
                    ReadOutcome::Disconnected => {
                        health.disconnects.fetch_add(1, Ordering::Relaxed);
                        // Wait even before the first reopen: a pty whose
                        // peer is gone reopens fine and reads EOF again at
                        // once, which would otherwise spin.
                        let delay = backoff.next_delay();
                        if wait_or_shutdown(&mut shutdown, delay).await {
                            return PortExit::Shutdown;
                        }
                    }
                }
            }
        }
    }
}

enum ReadOutcome {
    Shutdown,
    EngineGone,
    Disconnected,
}

/// Sleeps `delay` unless shutdown comes first; returns whether it did.
async fn wait_or_shutdown(shutdown: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        changed = shutdown.changed() => changed.is_err() || *shutdown.borrow(),
        () = tokio::time::sleep(delay) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(450));
        let delays: Vec<u128> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 450, 450]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn health_exports_counters() {
        let health = PortHealth::default();
        health.connected.store(true, Ordering::Relaxed);
        health.bytes.store(42, Ordering::Relaxed);
        let mut map = BTreeMap::new();
        health.to_status_counters("/dev/ttyUSB0", &mut map);
        assert_eq!(map.get("serial./dev/ttyUSB0.connected"), Some(&1));
        assert_eq!(map.get("serial./dev/ttyUSB0.bytes"), Some(&42));
    }
}
