//! Recording every raw input, tick and flush the engine handles, for
//! `picket replay` (crate `picket-record` owns the file format).
//!
//! ```text
//!  engine thread ── Item (input / tick / flush), bounded sync_channel ──► recorder thread
//!   (in engine order, before the engine sees it)                          Recorder::append,
//!                                                                          group-commit fsync
//! ```
//!
//! * **A thread of its own.** The recorder fsyncs (group commit, every
//!   `fsync_interval_ms`) and, when it opens, reads the whole recording once
//!   to repair it. Either on the engine thread would stall tracking and the
//!   watchdog for milliseconds to seconds; here the engine only pays a
//!   `try_send`.
//! * **Engine order.** Items are sent from the engine thread in exactly the
//!   order the engine handles them, each *before* the engine sees it, so the
//!   input that upsets the engine is already on its way to disk, and replay
//!   repeats the same sequence.
//! * **Tracking never waits on the disk.** The queue is bounded, in items
//!   (`queue_capacity`) and in bytes of recorded input (`queue_mib`, a
//!   [`ByteBudget`]); when it is full the item is dropped and counted
//!   ([`RecordingQueueFull`]), which leaves a gap in the recording but not
//!   in the tracks.
//! * **A failure stops recording loudly, then it resumes.** A failed write
//!   or fsync stops the recorder (picket-record never retries a write: that
//!   could hide loss). The daemon logs it as an error, counts every item
//!   lost while stopped, keeps tracking, and tries to reopen every
//!   `retry_interval_s`; the reopen repairs whatever the failure left (torn
//!   tail cut, corruption quarantined) and recording resumes with a
//!   [`RecordingResumed`] event naming the gap. A full disk therefore pauses
//!   recording until space is freed (retention or an operator), never
//!   tracking.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use picket_engine::RawInput;
use picket_record::engine::{flush_entry, input_entry, release_entry, tick_entry};
use picket_record::{Entry, FsyncPolicy, Recorder, RecorderConfig, Retention};
use picket_schema::Timestamp;
use serde::Deserialize;

use crate::background::BackgroundThread;
use crate::config::defaults;
use crate::queue::ByteBudget;
use crate::telemetry::{
    DaemonCounters, InternalEvent, RecordingFailed, RecordingOpened, RecordingQueueFull,
    RecordingResumed,
};

/// `[recording]`: the raw-input recording under the state directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingSettings {
    /// Record every raw input, tick and flush. Off: no recorder is created
    /// and nothing is written.
    pub enabled: bool,
    /// Recording directory; default `<state.dir>/recording`.
    pub dir: Option<PathBuf>,
    /// Group commit: records are fsynced at most this long after they are
    /// appended (by record time; ticks keep it moving), ms. This is what a
    /// power cut may take; a killed process loses at most the 64 KiB write
    /// buffer.
    pub fsync_interval_ms: u64,
    /// A new segment file is started before one would exceed this, MiB.
    pub max_segment_mib: u64,
    /// Oldest segments are deleted while the recording exceeds this, MiB
    /// (at least two segments).
    pub max_total_mib: u64,
    /// Segments older than this are deleted, hours; 0 keeps them until the
    /// size limit.
    pub max_age_hours: u64,
    /// Items queued for the recorder thread. Full: the item is dropped and
    /// counted (`daemon.recording_queue_drops`), tracking goes on.
    pub queue_capacity: usize,
    /// Most bytes of input queued for the recorder thread, MiB, whatever
    /// the item count; full is handled as above. At least the largest
    /// input (`mqtt.max_incoming_packet_bytes`, a serial
    /// `read_buffer_bytes`).
    pub queue_mib: u64,
    /// After a failure, how often to try reopening the recording, s.
    pub retry_interval_s: u64,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
            fsync_interval_ms: defaults::RECORDING_FSYNC_INTERVAL_MS,
            max_segment_mib: defaults::RECORDING_MAX_SEGMENT_MIB,
            max_total_mib: defaults::RECORDING_MAX_TOTAL_MIB,
            max_age_hours: defaults::RECORDING_MAX_AGE_HOURS,
            queue_capacity: defaults::RECORDING_QUEUE_CAPACITY,
            queue_mib: defaults::RECORDING_QUEUE_MIB,
            retry_interval_s: defaults::RECORDING_RETRY_INTERVAL_S,
        }
    }
}

impl RecordingSettings {
    /// The directory in effect for a daemon whose state lives in `state_dir`.
    pub fn dir_in(&self, state_dir: &Path) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(|| state_dir.join("recording"))
    }

    /// `queue_mib` in bytes.
    pub fn queue_bytes(&self) -> usize {
        crate::config::mib_to_bytes(self.queue_mib)
    }

    /// picket-record's settings for these.
    pub fn recorder_config(&self) -> RecorderConfig {
        const MIB: u64 = 1024 * 1024;
        RecorderConfig {
            fsync: FsyncPolicy::Interval(Duration::from_millis(self.fsync_interval_ms)),
            max_segment_bytes: self.max_segment_mib.saturating_mul(MIB),
            retention: Retention {
                max_total_bytes: self.max_total_mib.saturating_mul(MIB),
                max_age: (self.max_age_hours > 0)
                    .then(|| Duration::from_secs(self.max_age_hours.saturating_mul(3600))),
            },
            ..RecorderConfig::default()
        }
    }

    /// Checks ranges; `Err((key, message))` with the key under
    /// `recording.`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let key = |field: &str| format!("recording.{field}");
        if self.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err((
                key("dir"),
                "must not be empty (leave it out for the default)".into(),
            ));
        }
        for (field, value, min, max) in [
            ("fsync_interval_ms", self.fsync_interval_ms, 1, 60_000),
            ("max_segment_mib", self.max_segment_mib, 1, 4_096),
            ("retry_interval_s", self.retry_interval_s, 1, 86_400),
            ("queue_capacity", self.queue_capacity as u64, 1, 16_777_216),
            ("queue_mib", self.queue_mib, 1, crate::config::MAX_QUEUE_MIB),
        ] {
            if !(min..=max).contains(&value) {
                return Err((key(field), format!("must be within {min}..={max}")));
            }
        }
        if self.max_total_mib < self.max_segment_mib.saturating_mul(2) {
            return Err((
                key("max_total_mib"),
                format!(
                    "must be at least two segments ({} MiB)",
                    self.max_segment_mib.saturating_mul(2)
                ),
            ));
        }
        Ok(())
    }
}

/// One thing the engine handled, in its order.
#[derive(Debug)]
enum Item {
    Input(RawInput),
    Tick(Timestamp),
    Flush(Timestamp),
    Release(Timestamp),
}

impl Item {
    /// What the item holds against the queue's byte budget: an input's
    /// payload (the rest is small and counted by the item capacity).
    fn bytes(&self) -> usize {
        match self {
            Item::Input(input) => input.bytes.len(),
            Item::Tick(_) | Item::Flush(_) | Item::Release(_) => 0,
        }
    }
}

/// The engine thread's end of the recording: cheap, never blocks.
#[derive(Debug)]
pub struct RecordingSender {
    items: SyncSender<Item>,
    /// Bytes of the queued inputs; the worker gives them back.
    budget: Arc<ByteBudget>,
    counters: Arc<DaemonCounters>,
}

impl RecordingSender {
    /// Records a raw input (call before the engine handles it).
    pub fn input(&self, input: &RawInput) {
        self.send(Item::Input(input.clone()));
    }

    /// Records `Engine::handle_tick(now)` (call before it).
    pub fn tick(&self, now: Timestamp) {
        self.send(Item::Tick(now));
    }

    /// Records `Engine::handle_release(now)` (call before it).
    pub fn release(&self, now: Timestamp) {
        self.send(Item::Release(now));
    }

    /// Records `Engine::flush()` at `now` (call before it).
    pub fn flush(&self, now: Timestamp) {
        self.send(Item::Flush(now));
    }

    fn send(&self, item: Item) {
        let bytes = item.bytes();
        if !self.budget.try_take(bytes) {
            RecordingQueueFull.emit(&self.counters);
            return;
        }
        match self.items.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.budget.give_back(bytes);
                RecordingQueueFull.emit(&self.counters);
            }
            // The recorder thread only ends after this sender is dropped,
            // unless it panicked; count the loss either way.
            Err(TrySendError::Disconnected(_)) => {
                self.budget.give_back(bytes);
                self.counters.recording_lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Starts the recorder thread for `dir`. The recording is opened (and
/// repaired) on that thread, so a large recording does not delay start-up;
/// items sent meanwhile wait in the queue.
pub fn start(
    settings: &RecordingSettings,
    dir: PathBuf,
    counters: Arc<DaemonCounters>,
) -> std::io::Result<(RecordingSender, BackgroundThread)> {
    let (items, queue) = std::sync::mpsc::sync_channel(settings.queue_capacity);
    let budget = Arc::new(ByteBudget::new(settings.queue_bytes()));
    let worker = Worker {
        budget: Arc::clone(&budget),
        dir,
        config: settings.recorder_config(),
        retry_interval: Duration::from_secs(settings.retry_interval_s),
        counters: Arc::clone(&counters),
        recorder: None,
        next_open: Instant::now(),
        lost_since_stop: 0,
        ever_opened: false,
        last_retention: Instant::now(),
    };
    let thread = BackgroundThread::spawn("picketd-recorder", move || worker.run(queue))?;
    Ok((
        RecordingSender {
            items,
            budget,
            counters,
        },
        thread,
    ))
}

/// How often retention runs besides segment rotation, so a quiet site
/// that never fills a segment still ages out.
const RETENTION_INTERVAL: Duration = Duration::from_secs(3600);

/// Longest wait for an item before the worker checks its timers.
const IDLE_WAKE: Duration = Duration::from_secs(1);

struct Worker {
    /// The queue's byte budget: given back as each item is taken off.
    budget: Arc<ByteBudget>,
    dir: PathBuf,
    config: RecorderConfig,
    retry_interval: Duration,
    counters: Arc<DaemonCounters>,
    recorder: Option<Recorder>,
    /// When to try opening the recording next (while `recorder` is None).
    next_open: Instant,
    /// Items lost since the recorder last stopped, for the resume event.
    lost_since_stop: u64,
    ever_opened: bool,
    last_retention: Instant,
}

impl Worker {
    fn run(mut self, queue: Receiver<Item>) {
        self.try_open();
        loop {
            match queue.recv_timeout(IDLE_WAKE) {
                Ok(item) => {
                    self.record(&item);
                    self.budget.give_back(item.bytes());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.timers();
        }
        if let Some(recorder) = self.recorder.take() {
            let next_seq = recorder.next_seq();
            match recorder.close() {
                Ok(()) => tracing::info!(next_seq, "recording closed"),
                Err(error) => RecordingFailed {
                    dir: &self.dir,
                    error: &error,
                }
                .emit(&self.counters),
            }
        }
    }

    fn timers(&mut self) {
        if self.recorder.is_none() && Instant::now() >= self.next_open {
            self.try_open();
        }
        if self.last_retention.elapsed() >= RETENTION_INTERVAL {
            self.last_retention = Instant::now();
            let now_us = crate::now().as_unix_micros();
            if let Some(recorder) = &mut self.recorder
                && let Err(error) = recorder.enforce_retention(now_us)
            {
                self.fail(&error);
            }
        }
    }

    fn try_open(&mut self) {
        let now_us = crate::now().as_unix_micros();
        match Recorder::open(&self.dir, self.config, now_us) {
            Ok((recorder, report)) => {
                RecordingOpened {
                    dir: &self.dir,
                    report: &report,
                    next_seq: recorder.next_seq(),
                }
                .emit(&self.counters);
                if self.ever_opened {
                    RecordingResumed {
                        dir: &self.dir,
                        lost: self.lost_since_stop,
                    }
                    .emit(&self.counters);
                }
                self.ever_opened = true;
                self.lost_since_stop = 0;
                self.counters.recording_active.store(1, Ordering::Relaxed);
                self.recorder = Some(recorder);
            }
            Err(error) => {
                self.next_open = Instant::now() + self.retry_interval;
                RecordingFailed {
                    dir: &self.dir,
                    error: &error,
                }
                .emit(&self.counters);
            }
        }
    }

    fn record(&mut self, item: &Item) {
        let Some(recorder) = &mut self.recorder else {
            self.lost_since_stop += 1;
            self.counters.recording_lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let entry: Entry<'_> = match item {
            Item::Input(input) => input_entry(input),
            Item::Tick(now) => tick_entry(*now),
            Item::Flush(now) => flush_entry(*now),
            Item::Release(now) => release_entry(*now),
        };
        match recorder.append(&entry) {
            Ok(_seq) => {
                self.counters
                    .recording_records
                    .fetch_add(1, Ordering::Relaxed);
            }
            // Too large for the format (a 16 MiB MQTT payload): this record
            // only; the recorder carries on.
            Err(error @ picket_record::RecordError::TooLarge { .. }) => {
                self.counters.recording_lost.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "recording: record too large, not recorded");
            }
            Err(error) => {
                self.lost_since_stop += 1;
                self.counters.recording_lost.fetch_add(1, Ordering::Relaxed);
                self.fail(&error);
            }
        }
    }

    /// The recorder stopped: drop it (its file and lock go with it) and
    /// schedule a reopen.
    fn fail(&mut self, error: &picket_record::RecordError) {
        RecordingFailed {
            dir: &self.dir,
            error,
        }
        .emit(&self.counters);
        self.recorder = None;
        self.counters.recording_active.store(0, Ordering::Relaxed);
        self.next_open = Instant::now() + self.retry_interval;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use picket_engine::InputSource;
    use picket_record::Reader;
    use picket_record::engine::{Step, to_step};

    fn input(n: u8) -> RawInput {
        RawInput {
            source: InputSource::Serial("/dev/ttyUSB0".into()),
            received_at: Timestamp::from_unix_micros(1_700_000_000_000_000 + i64::from(n)).unwrap(),
            bytes: vec![n; 3],
        }
    }

    #[test]
    fn records_inputs_ticks_releases_and_flush_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let counters = Arc::new(DaemonCounters::default());
        let settings = RecordingSettings::default();
        let (sender, thread) =
            start(&settings, dir.path().to_owned(), Arc::clone(&counters)).unwrap();
        let tick = Timestamp::from_unix_micros(1_700_000_000_500_000).unwrap();
        sender.input(&input(1));
        sender.tick(tick);
        sender.input(&input(2));
        sender.release(tick);
        sender.flush(tick);
        drop(sender);
        thread.join();

        let reader = Reader::open_read_only(dir.path()).unwrap();
        let mut cursor = reader.cursor();
        let mut scratch = input(0);
        let mut steps = Vec::new();
        while let Some(record) = cursor.next().unwrap() {
            match to_step(&record, &mut scratch).unwrap() {
                Step::Input => steps.push(format!("in{}", scratch.bytes[0])),
                Step::Tick(at) => steps.push(format!("tick{}", at.as_unix_micros())),
                Step::Flush => steps.push("flush".into()),
                Step::Release(at) => steps.push(format!("release{}", at.as_unix_micros())),
            }
        }
        assert_eq!(
            steps,
            [
                "in1",
                "tick1700000000500000",
                "in2",
                "release1700000000500000",
                "flush"
            ]
        );
        assert_eq!(counters.recording_records.load(Ordering::Relaxed), 5);
        assert_eq!(counters.recording_lost.load(Ordering::Relaxed), 0);
        assert_eq!(counters.recording_active.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn unopenable_directory_counts_losses_and_resumes_when_fixed() {
        let base = tempfile::tempdir().unwrap();
        // A file where the directory should be: open fails until removed.
        let dir = base.path().join("recording");
        std::fs::write(&dir, b"in the way").unwrap();
        let counters = Arc::new(DaemonCounters::default());
        let settings = RecordingSettings {
            retry_interval_s: 1,
            ..RecordingSettings::default()
        };
        let (sender, thread) = start(&settings, dir.clone(), Arc::clone(&counters)).unwrap();
        sender.input(&input(1));
        let deadline = Instant::now() + Duration::from_secs(5);
        while counters.recording_lost.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "loss not counted");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(counters.recording_failures.load(Ordering::Relaxed) >= 1);
        assert_eq!(counters.recording_active.load(Ordering::Relaxed), 0);
        std::fs::remove_file(&dir).unwrap();
        while counters.recording_active.load(Ordering::Relaxed) == 0 {
            assert!(Instant::now() < deadline, "recording did not resume");
            std::thread::sleep(Duration::from_millis(10));
        }
        sender.input(&input(2));
        drop(sender);
        thread.join();
        let reader = Reader::open_read_only(&dir).unwrap();
        assert_eq!(reader.report().records(), 1);
        assert_eq!(counters.recording_lost.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn full_queue_drops_and_counts() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("recording");
        std::fs::write(&dir, b"in the way").unwrap();
        let counters = Arc::new(DaemonCounters::default());
        let settings = RecordingSettings {
            queue_capacity: 1,
            ..RecordingSettings::default()
        };
        let (sender, thread) = start(&settings, dir, Arc::clone(&counters)).unwrap();
        for n in 0..1000 {
            sender.input(&input((n % 250) as u8));
        }
        drop(sender);
        thread.join();
        let dropped = counters.recording_queue_drops.load(Ordering::Relaxed);
        let lost = counters.recording_lost.load(Ordering::Relaxed);
        assert!(dropped > 0, "a 1-slot queue must overflow");
        assert_eq!(dropped + lost, 1000, "every item is accounted for");
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_and_the_worker_gives_them_back() {
        let counters = Arc::new(DaemonCounters::default());
        let (items, queue) = std::sync::mpsc::sync_channel(100);
        let sender = RecordingSender {
            items,
            budget: Arc::new(ByteBudget::new(1_000)),
            counters: Arc::clone(&counters),
        };
        let sized = |bytes: usize| RawInput {
            bytes: vec![7; bytes],
            ..input(0)
        };
        sender.input(&sized(600));
        // 1,200 bytes would not fit: dropped and counted although the
        // queue has room for 99 more items.
        sender.input(&sized(600));
        // Ticks hold no payload and always fit.
        sender.tick(Timestamp::UNIX_EPOCH);
        sender.input(&sized(400));
        assert_eq!(counters.recording_queue_drops.load(Ordering::Relaxed), 1);
        assert_eq!(sender.budget.held(), 1_000);
        assert_eq!(queue.try_iter().count(), 3);

        // Through a real worker: every byte comes back once recorded.
        let dir = tempfile::tempdir().unwrap();
        let settings = RecordingSettings {
            queue_mib: 1,
            ..RecordingSettings::default()
        };
        let (sender, thread) =
            start(&settings, dir.path().to_path_buf(), Arc::clone(&counters)).unwrap();
        let budget = Arc::clone(&sender.budget);
        for _ in 0..20 {
            sender.input(&sized(100_000));
        }
        drop(sender);
        thread.join();
        let recorded = Reader::open_read_only(dir.path())
            .unwrap()
            .report()
            .records();
        let dropped = counters.recording_queue_drops.load(Ordering::Relaxed) - 1;
        assert_eq!(recorded + dropped, 20, "every input recorded or counted");
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn settings_are_validated() {
        assert!(RecordingSettings::default().validate().is_ok());
        let small_total = RecordingSettings {
            max_segment_mib: 64,
            max_total_mib: 100,
            ..RecordingSettings::default()
        };
        assert_eq!(
            small_total.validate().unwrap_err().0,
            "recording.max_total_mib"
        );
        let zero_fsync = RecordingSettings {
            fsync_interval_ms: 0,
            ..RecordingSettings::default()
        };
        assert_eq!(
            zero_fsync.validate().unwrap_err().0,
            "recording.fsync_interval_ms"
        );
    }
}
