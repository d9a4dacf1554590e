//! Logging setup and the daemon's internal events.
//!
//! Logs go to journald when its socket exists (the unit runs under systemd),
//! else to stderr through the fmt layer: `tracing-journald` fails to start
//! where `/run/systemd/journal/socket` is missing (containers, CI), so it is
//! only tried when the socket is there.
//!
//! Every failure the daemon survives is an [`InternalEvent`]: one type per
//! failure kind whose `emit` both logs it and bumps its counter, so a log
//! line never exists without a counter behind it and a counter never moves
//! without a log (the pattern of vector's `internal_events`). High-rate
//! events (inputs dropped under flood) log at a decimating rate — the first,
//! then every power of two — while counting every occurrence.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Where journald listens; its presence means we run under systemd.
pub const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// Which log sink [`init`] installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSink {
    /// The systemd journal.
    Journald,
    /// Human-readable lines on stderr.
    Stderr,
}

/// Installs the global tracing subscriber. The filter comes from
/// `RUST_LOG` if set, else `default_filter` (e.g. `"info"`). Calling it twice
/// (tests) keeps the first subscriber.
pub fn init(default_filter: &str) -> LogSink {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    if Path::new(JOURNALD_SOCKET).exists()
        && let Ok(journald) = tracing_journald::layer()
    {
        let installed = tracing_subscriber::registry()
            .with(filter)
            .with(journald.with_syslog_identifier("picketd".to_owned()))
            .try_init();
        if installed.is_ok() {
            return LogSink::Journald;
        }
        return LogSink::Stderr;
    }
    let _already_installed = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init();
    LogSink::Stderr
}

/// Daemon-wide failure counters, shared by every task (all relaxed atomics:
/// they are monitoring figures, not synchronisation).
#[derive(Debug, Default)]
pub struct DaemonCounters {
    /// Engine outputs dropped because the outbox was full.
    pub outbox_full_drops: AtomicU64,
    /// Engine outputs dropped because the outbox failed to write them.
    pub outbox_write_errors: AtomicU64,
    /// Failed outbox `fsync`s (each poisons the outbox until a restart).
    pub outbox_sync_failures: AtomicU64,
    /// Failed outbox compactions (the old file stays in use).
    pub outbox_compaction_failures: AtomicU64,
    /// Serial chunks dropped because the input channel stayed full past the
    /// bounded wait.
    pub serial_input_drops: AtomicU64,
    /// Serial ports that disconnected (read 0 bytes or failed).
    pub serial_disconnects: AtomicU64,
    /// Failed serial open attempts.
    pub serial_open_failures: AtomicU64,
    /// Engine loop ticks.
    pub engine_ticks: AtomicU64,
    /// Engine loop releases: reports let out of the reorder buffer by the
    /// timer when their lag ran out, between inputs and ticks.
    pub engine_releases: AtomicU64,
    /// Raw inputs handed to the engine.
    pub engine_inputs: AtomicU64,
    /// Outputs enqueued in the outbox.
    pub outputs_enqueued: AtomicU64,
    /// Records written to the recording.
    pub recording_records: AtomicU64,
    /// Items dropped because the recorder's queue was full.
    pub recording_queue_drops: AtomicU64,
    /// Items not recorded because the recording was stopped (failure, not
    /// yet reopened) or too large for the format.
    pub recording_lost: AtomicU64,
    /// Recording failures (open, write, fsync, retention).
    pub recording_failures: AtomicU64,
    /// 1 while the recording is open and writing, else 0 (a gauge).
    pub recording_active: AtomicU64,
    /// Inputs still queued when the shutdown's engine drain ran out of
    /// time.
    pub shutdown_unprocessed: AtomicU64,
}

impl DaemonCounters {
    /// The counters as status-message entries, `daemon.<name>`.
    pub fn to_status_counters(&self, map: &mut BTreeMap<String, u64>) {
        for (name, counter) in [
            ("outbox_full_drops", &self.outbox_full_drops),
            ("outbox_write_errors", &self.outbox_write_errors),
            ("outbox_sync_failures", &self.outbox_sync_failures),
            (
                "outbox_compaction_failures",
                &self.outbox_compaction_failures,
            ),
            ("serial_input_drops", &self.serial_input_drops),
            ("serial_disconnects", &self.serial_disconnects),
            ("serial_open_failures", &self.serial_open_failures),
            ("engine_ticks", &self.engine_ticks),
            ("engine_releases", &self.engine_releases),
            ("engine_inputs", &self.engine_inputs),
            ("outputs_enqueued", &self.outputs_enqueued),
            ("recording_records", &self.recording_records),
            ("recording_queue_drops", &self.recording_queue_drops),
            ("recording_lost", &self.recording_lost),
            ("recording_failures", &self.recording_failures),
            ("recording_active", &self.recording_active),
            ("shutdown_unprocessed", &self.shutdown_unprocessed),
        ] {
            map.insert(format!("daemon.{name}"), counter.load(Ordering::Relaxed));
        }
    }
}

/// A failure (or notable state change) that is both logged and counted.
pub trait InternalEvent {
    /// Logs the event and increments its counter(s).
    fn emit(self, counters: &DaemonCounters);
}

/// Adds one to `counter` and says whether this occurrence should be logged:
/// the 1st, 2nd, 4th, 8th... so a flood costs log lines logarithmic in its
/// size while every occurrence is counted.
fn bump_decimated(counter: &AtomicU64) -> (u64, bool) {
    let count = counter.fetch_add(1, Ordering::Relaxed) + 1;
    (count, count.is_power_of_two())
}

/// An engine output was dropped because the outbox is full (the broker has
/// been unreachable long enough to fill `state.outbox_max_*`).
#[derive(Debug)]
pub struct OutboxFull<'a> {
    /// Topic of the dropped output.
    pub topic: &'a str,
}

impl InternalEvent for OutboxFull<'_> {
    fn emit(self, counters: &DaemonCounters) {
        let (count, log) = bump_decimated(&counters.outbox_full_drops);
        if log {
            tracing::error!(
                topic = self.topic,
                dropped_total = count,
                "outbox full: output dropped (broker unreachable too long?)"
            );
        }
    }
}

/// The outbox failed to store an output (disk error, encoding error).
#[derive(Debug)]
pub struct OutboxWriteFailed<'a> {
    /// Topic of the lost output.
    pub topic: &'a str,
    /// What failed.
    pub error: &'a dyn std::error::Error,
}

impl InternalEvent for OutboxWriteFailed<'_> {
    fn emit(self, counters: &DaemonCounters) {
        let (count, log) = bump_decimated(&counters.outbox_write_errors);
        if log {
            tracing::error!(
                topic = self.topic,
                error = %self.error,
                failures_total = count,
                "outbox write failed: output lost"
            );
        }
    }
}

/// An outbox `fsync` failed: the outbox is poisoned and every later
/// output is refused (and counted) until picketd restarts and recovers
/// what is on disk. Entries still awaiting that `fsync` were never
/// published.
#[derive(Debug)]
pub struct OutboxSyncFailed<'a> {
    /// What failed.
    pub error: &'a dyn std::error::Error,
    /// Entries committed but left unpublished.
    pub unpublished: usize,
}

impl InternalEvent for OutboxSyncFailed<'_> {
    fn emit(self, counters: &DaemonCounters) {
        counters
            .outbox_sync_failures
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            error = %self.error,
            unpublished = self.unpublished,
            "OUTBOX FSYNC FAILED: outputs refused until picketd restarts"
        );
    }
}

/// An outbox compaction failed. Nothing is lost: the old file stays in
/// use, only larger, and the compaction is retried after `retry_in`.
#[derive(Debug)]
pub struct OutboxCompactionFailed<'a> {
    /// What failed.
    pub error: &'a dyn std::error::Error,
    /// When the next attempt comes.
    pub retry_in: std::time::Duration,
}

impl InternalEvent for OutboxCompactionFailed<'_> {
    fn emit(self, counters: &DaemonCounters) {
        counters
            .outbox_compaction_failures
            .fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            error = %self.error,
            retry_in_s = self.retry_in.as_secs(),
            "outbox compaction failed: the old file stays in use"
        );
    }
}

/// A serial chunk was dropped because the engine's input channel stayed full
/// for the whole bounded wait.
#[derive(Debug)]
pub struct SerialInputDropped<'a> {
    /// The port.
    pub port: &'a str,
    /// Bytes dropped.
    pub bytes: usize,
}

impl InternalEvent for SerialInputDropped<'_> {
    fn emit(self, counters: &DaemonCounters) {
        let (count, log) = bump_decimated(&counters.serial_input_drops);
        if log {
            tracing::warn!(
                port = self.port,
                bytes = self.bytes,
                dropped_total = count,
                "input channel full: serial chunk dropped"
            );
        }
    }
}

/// A serial port read 0 bytes or failed: the device is gone.
#[derive(Debug)]
pub struct SerialDisconnected<'a> {
    /// The port.
    pub port: &'a str,
    /// The read error, or `None` for end of file (0 bytes).
    pub error: Option<&'a std::io::Error>,
}

impl InternalEvent for SerialDisconnected<'_> {
    fn emit(self, counters: &DaemonCounters) {
        counters.serial_disconnects.fetch_add(1, Ordering::Relaxed);
        match self.error {
            Some(error) => tracing::warn!(port = self.port, %error, "serial port disconnected"),
            None => tracing::warn!(port = self.port, "serial port disconnected (end of file)"),
        }
    }
}

/// Opening a serial port failed; it is retried with backoff.
#[derive(Debug)]
pub struct SerialOpenFailed<'a> {
    /// The port.
    pub port: &'a str,
    /// The error.
    pub error: &'a str,
    /// Consecutive failures so far.
    pub attempt: u32,
    /// Delay before the next attempt, ms.
    pub retry_in_ms: u64,
}

impl InternalEvent for SerialOpenFailed<'_> {
    fn emit(self, counters: &DaemonCounters) {
        counters
            .serial_open_failures
            .fetch_add(1, Ordering::Relaxed);
        // A port unplugged for hours fails every few seconds: log the first
        // failures and then only when the attempt count is a power of two.
        if self.attempt.is_power_of_two() {
            tracing::warn!(
                port = self.port,
                error = self.error,
                attempt = self.attempt,
                retry_in_ms = self.retry_in_ms,
                "cannot open serial port; retrying"
            );
        }
    }
}

/// The engine's shutdown drain ran out of time with inputs still queued
/// (after a flood): they were received but never processed.
#[derive(Debug)]
pub struct ShutdownInputsUnprocessed {
    /// Raw inputs (serial chunks, MQTT payloads) left in the queue.
    pub inputs: u64,
}

impl InternalEvent for ShutdownInputsUnprocessed {
    fn emit(self, counters: &DaemonCounters) {
        counters
            .shutdown_unprocessed
            .fetch_add(self.inputs, Ordering::Relaxed);
        tracing::warn!(
            inputs = self.inputs,
            "shutdown: engine drain ran out of time; queued inputs not processed"
        );
    }
}

/// The recording was opened (at start-up or after a failure), possibly
/// after repairing damage a crash left.
#[derive(Debug)]
pub struct RecordingOpened<'a> {
    /// The recording directory.
    pub dir: &'a Path,
    /// What the open found.
    pub report: &'a picket_record::OpenReport,
    /// Sequence number of the next record.
    pub next_seq: u64,
}

impl InternalEvent for RecordingOpened<'_> {
    fn emit(self, _counters: &DaemonCounters) {
        for damage in &self.report.damage {
            // Never silent: a quarantined segment is evidence an analyst
            // will look for.
            tracing::warn!(dir = %self.dir.display(), %damage, "recording repaired on open");
        }
        tracing::info!(
            dir = %self.dir.display(),
            segments = self.report.segments.len(),
            records = self.report.records(),
            next_seq = self.next_seq,
            "recording open"
        );
    }
}

/// The recording failed (open, write, fsync or retention): recording stops
/// until a reopen succeeds; tracking goes on.
#[derive(Debug)]
pub struct RecordingFailed<'a> {
    /// The recording directory.
    pub dir: &'a Path,
    /// What failed.
    pub error: &'a picket_record::RecordError,
}

impl InternalEvent for RecordingFailed<'_> {
    fn emit(self, counters: &DaemonCounters) {
        let (count, log) = bump_decimated(&counters.recording_failures);
        if log {
            tracing::error!(
                dir = %self.dir.display(),
                error = %self.error,
                failures_total = count,
                "RECORDING STOPPED: inputs are not being recorded (tracking continues); retrying"
            );
        }
    }
}

/// Recording resumed after a failure; `lost` items are missing from it.
#[derive(Debug)]
pub struct RecordingResumed<'a> {
    /// The recording directory.
    pub dir: &'a Path,
    /// Items not recorded while it was stopped.
    pub lost: u64,
}

impl InternalEvent for RecordingResumed<'_> {
    fn emit(self, _counters: &DaemonCounters) {
        tracing::warn!(
            dir = %self.dir.display(),
            lost = self.lost,
            "recording resumed; the recording has a gap (replay will differ around it)"
        );
    }
}

/// The recorder's queue was full (disk slower than the input rate): one
/// item was not recorded.
#[derive(Debug)]
pub struct RecordingQueueFull;

impl InternalEvent for RecordingQueueFull {
    fn emit(self, counters: &DaemonCounters) {
        let (count, log) = bump_decimated(&counters.recording_queue_drops);
        if log {
            tracing::warn!(
                dropped_total = count,
                "recording queue full (items or bytes): item not recorded (tracking continues)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimated_events_count_every_occurrence() {
        let counters = DaemonCounters::default();
        for _ in 0..1000 {
            OutboxFull { topic: "t" }.emit(&counters);
        }
        assert_eq!(counters.outbox_full_drops.load(Ordering::Relaxed), 1000);
        let mut map = BTreeMap::new();
        counters.to_status_counters(&mut map);
        assert_eq!(map.get("daemon.outbox_full_drops"), Some(&1000));
    }

    #[test]
    fn init_falls_back_to_stderr_without_journald() {
        if !Path::new(JOURNALD_SOCKET).exists() {
            assert_eq!(init("warn"), LogSink::Stderr);
        }
    }
}
