//! The writing side: append with group commit, segment rotation, retention.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{RecordError, io_error};
use crate::format::{Entry, HEADER_LEN, check_entry, encode_header, encode_record, encoded_len};
use crate::recovery::{Mode, OpenReport, lock_dir, open_dir, segment_name, sync_dir};

/// When appended records are forced to disk (`fsync`, as `fdatasync`).
///
/// The **loss window** is what a power cut or kernel crash may take: every
/// record appended since the last fsync. A killed process (`kill -9`, a
/// panic) loses less: only what is still in the recorder's write buffer
/// (at most [`RecorderConfig::write_buffer_bytes`]), since bytes handed to
/// the kernel survive the process. Either way the recording reopens clean:
/// the torn tail is cut, never a complete record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Fsync after every record. Loss window: the record being appended.
    /// Costs one fsync per input (about 1-10 ms each on flash), so it only
    /// suits slow sites.
    EveryRecord,
    /// Fsync once this many records are unsynced. Loss window: `n - 1`
    /// records, however long they take to arrive. No time bound: prefer
    /// [`FsyncPolicy::Interval`] for a daemon.
    EveryRecords(u64),
    /// Fsync at the first append (or [`Recorder::sync_if_due`] call) at
    /// least this long after the previous fsync, by record time. Loss
    /// window: the interval plus the gap to that next append; picketd
    /// records a tick every `tick_interval_ms`, which bounds the gap.
    Interval(Duration),
}

/// Which old segments are deleted. Whole segments only, oldest first, and
/// never the one being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Most bytes all segments may take. Checked when a segment fills, so
    /// the directory may exceed it by up to one segment.
    pub max_total_bytes: u64,
    /// Segments whose newest record is older than this (by record time
    /// against the `now` given to the recorder) are deleted. `None`: no
    /// age limit.
    pub max_age: Option<Duration>,
}

/// Recorder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderConfig {
    /// When records are forced to disk.
    pub fsync: FsyncPolicy,
    /// A segment is closed (fsynced) and a new one started before a record
    /// would take it past this size. A single larger record gets a segment
    /// of its own.
    pub max_segment_bytes: u64,
    /// Retention.
    pub retention: Retention,
    /// Encoded records are collected up to this many bytes before a
    /// `write`, unless an fsync comes first. Bounds what a killed process
    /// loses.
    pub write_buffer_bytes: usize,
}

impl Default for RecorderConfig {
    /// 100 ms group commit, 64 MiB segments, 1 GiB and 7 days retained,
    /// 64 KiB write buffer.
    fn default() -> Self {
        Self {
            fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
            max_segment_bytes: 64 * 1024 * 1024,
            retention: Retention {
                max_total_bytes: 1024 * 1024 * 1024,
                max_age: Some(Duration::from_secs(7 * 24 * 3600)),
            },
            write_buffer_bytes: 64 * 1024,
        }
    }
}

impl RecorderConfig {
    fn validate(&self) -> Result<(), RecordError> {
        match self.fsync {
            FsyncPolicy::EveryRecords(0) => {
                return Err(RecordError::InvalidConfig("fsync every 0 records"));
            }
            FsyncPolicy::Interval(interval) if interval.is_zero() => {
                return Err(RecordError::InvalidConfig(
                    "fsync interval of 0 (use EveryRecord)",
                ));
            }
            _ => {}
        }
        if self.max_segment_bytes < 4096 {
            return Err(RecordError::InvalidConfig("max_segment_bytes below 4096"));
        }
        if self.retention.max_total_bytes < self.max_segment_bytes.saturating_mul(2) {
            return Err(RecordError::InvalidConfig(
                "retention.max_total_bytes below two segments",
            ));
        }
        Ok(())
    }
}

/// A segment the recorder knows about, for retention.
#[derive(Debug)]
struct SegmentMeta {
    path: PathBuf,
    bytes: u64,
    max_time_us: Option<i64>,
}

/// Appends records to a recording directory.
///
/// One recorder per directory (it holds the directory's `LOCK`). It is
/// synchronous and owns no thread: call it from the thread that feeds the
/// engine, in the order the engine sees inputs and ticks, because replay
/// repeats exactly that order.
///
/// # Failure
/// A failed `write`, `fsync`, segment creation or retention delete stops
/// the recorder: that call returns the I/O error and every later
/// [`append`](Self::append) returns [`RecordError::Stopped`]. Nothing is
/// retried, because a retried write after a partial one would leave a hole
/// in the middle of the segment, and a retried fsync may report success
/// for pages the kernel already dropped. The caller logs and counts it and
/// keeps tracking; reopening (after the disk is fixed) repairs the tail.
///
/// # Turning recording off
/// There is no "disabled" recorder: a daemon that is not recording simply
/// does not create one (`Option<Recorder>`).
#[derive(Debug)]
pub struct Recorder {
    dir: PathBuf,
    config: RecorderConfig,
    /// Held for the recorder's life; dropping the file releases the lock.
    _lock: File,
    file: File,
    /// Oldest first; the last one is being written.
    segments: VecDeque<SegmentMeta>,
    total_bytes: u64,
    buf: Vec<u8>,
    next_seq: u64,
    durable_seq: Option<u64>,
    unsynced: u64,
    last_sync_us: Option<i64>,
    failed: Option<String>,
    #[cfg(test)]
    fault: Option<tests::Fault>,
}

impl Recorder {
    /// Opens (creating if needed) the recording in `dir` for appending:
    /// takes the lock, checks every segment (cutting a torn tail,
    /// quarantining corruption: see the report), makes the recovered tail
    /// durable, and applies retention at `now_us` (µs since the Unix
    /// epoch). Appending continues in the last segment if it has room.
    ///
    /// Opening reads the whole recording once (about a second per GiB on
    /// flash): the price of never appending after unseen damage.
    pub fn open(
        dir: &Path,
        config: RecorderConfig,
        now_us: i64,
    ) -> Result<(Self, OpenReport), RecordError> {
        config.validate()?;
        fs::create_dir_all(dir).map_err(io_error("create directory", dir))?;
        let lock = lock_dir(dir)?;
        let report = open_dir(dir, Mode::Repair)?;
        // A damaged or forged segment can claim the last number; continuing
        // would wrap to 0 and reuse numbers (found by crates/record/fuzz).
        let next_seq = match report.max_seen_seq {
            None => 0,
            Some(seq) => seq
                .checked_add(1)
                .ok_or_else(|| RecordError::SequenceExhausted {
                    path: dir.to_owned(),
                })?,
        };
        let mut segments: VecDeque<SegmentMeta> = report
            .segments
            .iter()
            .map(|s| SegmentMeta {
                path: s.path.clone(),
                bytes: s.bytes,
                max_time_us: s.max_time_us,
            })
            .collect();
        // What a killed writer left in the page cache was read back above
        // as if durable; put it on disk before building on it (and before
        // `durable_seq` below claims it).
        let last = match report.segments.last() {
            Some(last) => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&last.path)
                    .map_err(io_error("open", &last.path))?;
                file.sync_data().map_err(io_error("fsync", &last.path))?;
                Some((last, file))
            }
            None => None,
        };
        let file = match last {
            Some((last, file))
                if last.first_seq + last.records == next_seq
                    && last.bytes < config.max_segment_bytes =>
            {
                file
            }
            _ => {
                let (file, meta) = create_segment(dir, next_seq)?;
                segments.push_back(meta);
                file
            }
        };
        let total_bytes = segments.iter().map(|s| s.bytes).sum();
        let mut recorder = Self {
            dir: dir.to_owned(),
            config,
            _lock: lock,
            file,
            segments,
            total_bytes,
            buf: Vec::with_capacity(config.write_buffer_bytes),
            next_seq,
            durable_seq: next_seq.checked_sub(1),
            unsynced: 0,
            last_sync_us: Some(now_us),
            failed: None,
            #[cfg(test)]
            fault: None,
        };
        recorder.enforce_retention(now_us)?;
        Ok((recorder, report))
    }

    /// Appends one record and returns its sequence number; fsyncs if the
    /// policy says so (the entry's time is the clock for
    /// [`FsyncPolicy::Interval`] and for retention at rotation).
    ///
    /// [`RecordError::TooLarge`] means the record was not recorded and the
    /// recorder stays usable. An I/O error stops the recorder (see the
    /// type's docs); the failing record may or may not have reached the
    /// disk, and the next open keeps it only if it is complete.
    pub fn append(&mut self, entry: &Entry<'_>) -> Result<u64, RecordError> {
        self.check_running()?;
        check_entry(entry).map_err(|(what, len)| RecordError::TooLarge { what, len })?;
        let len = encoded_len(entry) as u64;
        let active_bytes = self.segments.back().map_or(0, |s| s.bytes);
        if active_bytes > HEADER_LEN as u64 && active_bytes + len > self.config.max_segment_bytes {
            let result = self.rotate(entry.time_us);
            self.stop_on_error(result)?;
        }
        let seq = self.next_seq;
        // u64::MAX stays unwritten: the record after it could not be
        // numbered, and an open could not continue after it.
        let Some(next_seq) = seq.checked_add(1) else {
            return Err(RecordError::SequenceExhausted {
                path: self.dir.clone(),
            });
        };
        encode_record(&mut self.buf, seq, entry);
        self.next_seq = next_seq;
        self.unsynced += 1;
        self.total_bytes += len;
        if let Some(active) = self.segments.back_mut() {
            active.bytes += len;
            active.max_time_us = active.max_time_us.max(Some(entry.time_us));
        }
        let sync = match self.config.fsync {
            FsyncPolicy::EveryRecord => true,
            FsyncPolicy::EveryRecords(n) => self.unsynced >= n,
            FsyncPolicy::Interval(_) => self.interval_due(entry.time_us),
        };
        let result = if sync {
            self.sync_at(entry.time_us)
        } else if self.buf.len() >= self.config.write_buffer_bytes {
            self.write_out()
        } else {
            Ok(())
        };
        self.stop_on_error(result)?;
        Ok(seq)
    }

    /// With [`FsyncPolicy::Interval`], fsyncs if records are waiting and
    /// the interval has passed at `now_us`. Call it from a periodic timer
    /// if appends may stop (picketd's recorded ticks already do this).
    pub fn sync_if_due(&mut self, now_us: i64) -> Result<(), RecordError> {
        self.check_running()?;
        if self.unsynced > 0
            && matches!(self.config.fsync, FsyncPolicy::Interval(_))
            && self.interval_due(now_us)
        {
            let result = self.sync_at(now_us);
            self.stop_on_error(result)?;
        }
        Ok(())
    }

    /// Writes and fsyncs everything appended so far.
    pub fn sync(&mut self) -> Result<(), RecordError> {
        self.check_running()?;
        let now = self.last_sync_us.unwrap_or(0);
        let result = self.sync_at(now);
        self.stop_on_error(result)
    }

    /// Deletes the oldest segments while the recording is over its size
    /// limit or they are older than the age limit at `now_us`. Runs on
    /// open and whenever a segment fills; call it periodically (say hourly)
    /// so a quiet site that never fills a segment still ages out.
    pub fn enforce_retention(&mut self, now_us: i64) -> Result<(), RecordError> {
        self.check_running()?;
        let result = self.retain(now_us);
        self.stop_on_error(result)
    }

    /// Syncs and closes. Dropping a recorder instead writes its buffer to
    /// the kernel (surviving a process exit, not a power cut) and cannot
    /// report errors.
    pub fn close(mut self) -> Result<(), RecordError> {
        self.sync()
    }

    /// Sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Last sequence number known to be on disk (fsynced), if any.
    pub fn durable_seq(&self) -> Option<u64> {
        self.durable_seq
    }

    /// Bytes in all segments, including buffered ones.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Segments in the directory, including the one being written.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The first failure, once the recorder has stopped.
    pub fn stopped(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// The recording directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_running(&self) -> Result<(), RecordError> {
        match &self.failed {
            Some(cause) => Err(RecordError::Stopped {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Latches the first I/O failure; later calls see `Stopped`.
    fn stop_on_error<T>(&mut self, result: Result<T, RecordError>) -> Result<T, RecordError> {
        if let Err(error) = &result
            && self.failed.is_none()
        {
            self.failed = Some(error.to_string());
        }
        result
    }

    /// Whether an interval fsync is due at `now_us`. A clock stepped back
    /// by more than the interval also counts as due, so that a backward
    /// step cannot postpone durability until the clock catches up; small
    /// backward steps (inputs stamped on different threads) do not.
    fn interval_due(&self, now_us: i64) -> bool {
        let FsyncPolicy::Interval(interval) = self.config.fsync else {
            return false;
        };
        let interval_us = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
        match self.last_sync_us {
            None => true,
            Some(last) => {
                now_us.saturating_sub(last) >= interval_us
                    || last.saturating_sub(now_us) >= interval_us
            }
        }
    }

    fn active_path(&self) -> &Path {
        self.segments
            .back()
            .map_or(self.dir.as_path(), |s| s.path.as_path())
    }

    /// Hands the buffer to the kernel.
    fn write_out(&mut self) -> Result<(), RecordError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        #[cfg(test)]
        if let Some(tests::Fault::WriteFailsAfter(limit)) = self.fault {
            return tests::failing_write(&mut self.file, &self.buf, limit);
        }
        let path = self.active_path().to_owned();
        self.file
            .write_all(&self.buf)
            .map_err(io_error("write", path))?;
        self.buf.clear();
        Ok(())
    }

    fn sync_at(&mut self, now_us: i64) -> Result<(), RecordError> {
        self.write_out()?;
        #[cfg(test)]
        if let Some(tests::Fault::SyncFails) = self.fault {
            return Err(RecordError::Io {
                op: "fsync",
                path: self.active_path().to_owned(),
                source: std::io::Error::from_raw_os_error(5),
            });
        }
        let path = self.active_path().to_owned();
        self.file.sync_data().map_err(io_error("fsync", path))?;
        self.durable_seq = self.next_seq.checked_sub(1);
        self.unsynced = 0;
        self.last_sync_us = Some(now_us);
        Ok(())
    }

    /// Closes the full segment durably, applies retention (freeing space
    /// first), and starts the next segment.
    fn rotate(&mut self, now_us: i64) -> Result<(), RecordError> {
        // Every segment but the last is complete and fsynced: recovery
        // treats any defect in one as corruption, not a torn tail.
        self.sync_at(now_us)?;
        self.retain(now_us)?;
        let (file, meta) = create_segment(&self.dir, self.next_seq)?;
        self.total_bytes += meta.bytes;
        self.segments.push_back(meta);
        self.file = file;
        Ok(())
    }

    fn retain(&mut self, now_us: i64) -> Result<(), RecordError> {
        let retention = self.config.retention;
        let max_age_us = retention
            .max_age
            .map(|age| i64::try_from(age.as_micros()).unwrap_or(i64::MAX));
        let mut removed = false;
        while self.segments.len() > 1 {
            let Some(oldest) = self.segments.front() else {
                break;
            };
            let over_size = self.total_bytes > retention.max_total_bytes;
            let too_old = max_age_us.is_some_and(|max_age| {
                oldest
                    .max_time_us
                    .is_none_or(|newest| now_us.saturating_sub(newest) > max_age)
            });
            if !over_size && !too_old {
                break;
            }
            fs::remove_file(&oldest.path).map_err(io_error("remove", &oldest.path))?;
            self.total_bytes -= oldest.bytes;
            self.segments.pop_front();
            removed = true;
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Never after a failure: more bytes after a partial write would turn
        // a torn tail into corruption in the middle.
        if self.failed.is_none() {
            let _ = self.write_out();
        }
    }
}

/// Creates segment `first_seq` with its header, durably (file and
/// directory entry).
fn create_segment(dir: &Path, first_seq: u64) -> Result<(File, SegmentMeta), RecordError> {
    let path = dir.join(segment_name(first_seq));
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(io_error("create", &path))?;
    file.write_all(&encode_header(first_seq))
        .map_err(io_error("write", &path))?;
    file.sync_all().map_err(io_error("fsync", &path))?;
    sync_dir(dir)?;
    let meta = SegmentMeta {
        path,
        bytes: HEADER_LEN as u64,
        max_time_us: None,
    };
    Ok((file, meta))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::format::RecordKind;
    use crate::reader::Reader;
    use crate::recovery::Damage;

    /// Injected failures: real files, with the failure at a chosen point.
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Fault {
        /// `write` puts this many bytes of the buffer in the file, then
        /// fails with ENOSPC (as a full disk does).
        WriteFailsAfter(usize),
        /// `fsync` fails with EIO.
        SyncFails,
    }

    pub(super) fn failing_write(
        file: &mut File,
        buf: &[u8],
        limit: usize,
    ) -> Result<(), RecordError> {
        let part = &buf[..limit.min(buf.len())];
        file.write_all(part).map_err(io_error("write", "test"))?;
        Err(RecordError::Io {
            op: "write",
            path: "test".into(),
            source: std::io::Error::from_raw_os_error(28),
        })
    }

    fn entry(time_us: i64, payload: &[u8]) -> Entry<'_> {
        Entry {
            time_us,
            kind: RecordKind::Serial,
            source: "/dev/ttyUSB0",
            payload,
        }
    }

    fn every_record() -> RecorderConfig {
        RecorderConfig {
            fsync: FsyncPolicy::EveryRecord,
            ..RecorderConfig::default()
        }
    }

    /// A segment named and headed `first_seq`, holding `seqs` (checksums
    /// valid), as a damaged or forged recording could present it.
    fn forged_segment(dir: &Path, first_seq: u64, seqs: &[u64]) {
        let mut data = crate::format::encode_header(first_seq).to_vec();
        for &seq in seqs {
            crate::format::encode_record(&mut data, seq, &entry(0, b"x"));
        }
        fs::write(dir.join(crate::recovery::segment_name(first_seq)), data).unwrap();
    }

    #[test]
    fn open_refuses_to_wrap_after_the_last_sequence_number() {
        // Found by crates/record/fuzz (open_read): the open computed
        // `max_seen + 1` and overflowed (a panic with overflow checks, a
        // wrap to 0 and reused numbers without).
        let dir = tempfile::tempdir().unwrap();
        forged_segment(dir.path(), u64::MAX, &[]);
        forged_segment(dir.path(), 7, &[7, u64::MAX]);
        let error = Recorder::open(dir.path(), every_record(), 0).unwrap_err();
        assert!(
            matches!(error, RecordError::SequenceExhausted { .. }),
            "{error}"
        );
        // Reading still works; the open above already quarantined the
        // segment holding the record numbered u64::MAX, as damage.
        let reader = Reader::open_read_only(dir.path()).unwrap();
        assert!(
            matches!(
                reader.report().damage.as_slice(),
                [Damage::Quarantined { .. }]
            ),
            "{:?}",
            reader.report()
        );
        assert_eq!(reader.records().count(), 0);
    }

    #[test]
    fn resync_onto_record_zero_does_not_underflow() {
        // The last segment starts with garbage and then holds a valid record
        // numbered 0: the resync found it with no floor and computed
        // `0 - 1` (a panic with overflow checks).
        let dir = tempfile::tempdir().unwrap();
        let mut data = crate::format::encode_header(0).to_vec();
        data.extend_from_slice(&[0xff; 5]);
        crate::format::encode_record(&mut data, 0, &entry(0, b"x"));
        fs::write(dir.path().join(segment_name(0)), data).unwrap();
        let reader = Reader::open_read_only(dir.path()).unwrap();
        assert!(
            matches!(reader.report().damage.as_slice(), [Damage::Corrupt { .. }]),
            "{:?}",
            reader.report()
        );
        // A recorder continues above the salvaged number, never reusing it.
        let (mut recorder, _) = Recorder::open(dir.path(), every_record(), 0).unwrap();
        assert_eq!(recorder.append(&entry(1, b"a")).unwrap(), 1);
    }

    #[test]
    fn append_never_writes_the_last_sequence_number() {
        let dir = tempfile::tempdir().unwrap();
        forged_segment(dir.path(), u64::MAX - 2, &[u64::MAX - 2]);
        let (mut recorder, _) = Recorder::open(dir.path(), every_record(), 0).unwrap();
        assert_eq!(recorder.append(&entry(1, b"a")).unwrap(), u64::MAX - 1);
        let error = recorder.append(&entry(2, b"b")).unwrap_err();
        assert!(
            matches!(error, RecordError::SequenceExhausted { .. }),
            "{error}"
        );
        recorder.close().unwrap();
        let reader = Reader::open_read_only(dir.path()).unwrap();
        assert_eq!(reader.report().last_seq(), Some(u64::MAX - 1));
        assert!(reader.report().damage.is_empty(), "{:?}", reader.report());
    }

    #[test]
    fn failed_write_stops_recording_and_keeps_complete_records() {
        let dir = tempfile::tempdir().unwrap();
        let (mut recorder, _) = Recorder::open(dir.path(), every_record(), 0).unwrap();
        for i in 0..5 {
            recorder.append(&entry(i, b"before")).unwrap();
        }
        // Half a record reaches the disk, then the disk is full.
        recorder.fault = Some(Fault::WriteFailsAfter(10));
        let error = recorder.append(&entry(5, b"lost")).unwrap_err();
        assert!(
            matches!(error, RecordError::Io { op: "write", .. }),
            "{error}"
        );
        assert!(recorder.stopped().is_some());
        // No retry, ever, even once the fault is gone.
        recorder.fault = None;
        let again = recorder.append(&entry(6, b"refused")).unwrap_err();
        assert!(matches!(again, RecordError::Stopped { .. }), "{again}");
        assert!(matches!(recorder.sync(), Err(RecordError::Stopped { .. })));
        drop(recorder);

        let reader = Reader::open(dir.path()).unwrap();
        assert_eq!(reader.report().records(), 5);
        assert_eq!(reader.report().truncated_bytes(), 10);
        let (mut recorder, _) = Recorder::open(dir.path(), every_record(), 0).unwrap();
        assert_eq!(recorder.append(&entry(7, b"after")).unwrap(), 5);
    }

    #[test]
    fn failed_fsync_stops_recording() {
        let dir = tempfile::tempdir().unwrap();
        let config = RecorderConfig {
            fsync: FsyncPolicy::EveryRecords(2),
            ..RecorderConfig::default()
        };
        let (mut recorder, _) = Recorder::open(dir.path(), config, 0).unwrap();
        recorder.append(&entry(0, b"a")).unwrap();
        recorder.append(&entry(1, b"b")).unwrap();
        assert_eq!(recorder.durable_seq(), Some(1));
        recorder.fault = Some(Fault::SyncFails);
        recorder.append(&entry(2, b"c")).unwrap();
        let error = recorder.append(&entry(3, b"d")).unwrap_err();
        assert!(
            matches!(error, RecordError::Io { op: "fsync", .. }),
            "{error}"
        );
        assert_eq!(recorder.durable_seq(), Some(1));
        recorder.fault = None;
        assert!(matches!(
            recorder.append(&entry(4, b"e")),
            Err(RecordError::Stopped { .. })
        ));
        assert!(matches!(recorder.close(), Err(RecordError::Stopped { .. })));
    }

    #[test]
    fn interval_policy_syncs_by_record_time_and_on_clock_steps() {
        let dir = tempfile::tempdir().unwrap();
        let config = RecorderConfig {
            fsync: FsyncPolicy::Interval(Duration::from_millis(100)),
            ..RecorderConfig::default()
        };
        let (mut recorder, _) = Recorder::open(dir.path(), config, 1_000_000).unwrap();
        recorder.append(&entry(1_050_000, b"a")).unwrap();
        assert_eq!(recorder.durable_seq(), None);
        // Inputs stamped on different threads arrive slightly out of order:
        // not a clock step.
        recorder.append(&entry(1_040_000, b"b")).unwrap();
        assert_eq!(recorder.durable_seq(), None);
        recorder.sync_if_due(1_090_000).unwrap();
        assert_eq!(recorder.durable_seq(), None);
        recorder.sync_if_due(1_100_000).unwrap();
        assert_eq!(recorder.durable_seq(), Some(1));
        recorder.append(&entry(1_150_000, b"c")).unwrap();
        assert_eq!(recorder.durable_seq(), Some(1));
        recorder.append(&entry(1_200_000, b"d")).unwrap();
        assert_eq!(recorder.durable_seq(), Some(3));
        // The clock steps back an hour: sync at once rather than wait an
        // hour for it to catch up.
        recorder
            .append(&entry(1_200_000 - 3_600_000_000, b"e"))
            .unwrap();
        assert_eq!(recorder.durable_seq(), Some(4));
    }

    #[test]
    fn bad_configurations_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for config in [
            RecorderConfig {
                fsync: FsyncPolicy::EveryRecords(0),
                ..RecorderConfig::default()
            },
            RecorderConfig {
                fsync: FsyncPolicy::Interval(Duration::ZERO),
                ..RecorderConfig::default()
            },
            RecorderConfig {
                max_segment_bytes: 100,
                ..RecorderConfig::default()
            },
            RecorderConfig {
                retention: Retention {
                    max_total_bytes: 1000,
                    max_age: None,
                },
                ..RecorderConfig::default()
            },
        ] {
            assert!(matches!(
                Recorder::open(dir.path(), config, 0),
                Err(RecordError::InvalidConfig(_))
            ));
        }
    }

    #[test]
    fn a_second_recorder_is_locked_out() {
        let dir = tempfile::tempdir().unwrap();
        let (_first, _) = Recorder::open(dir.path(), every_record(), 0).unwrap();
        assert!(matches!(
            Recorder::open(dir.path(), every_record(), 0),
            Err(RecordError::Locked { .. })
        ));
        assert!(matches!(
            Reader::open(dir.path()),
            Err(RecordError::Locked { .. })
        ));
        // A read-only reader never needs the lock.
        assert!(Reader::open_read_only(dir.path()).is_ok());
    }

    #[test]
    fn oversized_entries_are_refused_without_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let (mut recorder, _) = Recorder::open(dir.path(), every_record(), 0).unwrap();
        let long = "x".repeat(70_000);
        let error = recorder
            .append(&Entry {
                time_us: 0,
                kind: RecordKind::Mqtt,
                source: &long,
                payload: &[],
            })
            .unwrap_err();
        assert!(matches!(error, RecordError::TooLarge { .. }), "{error}");
        assert_eq!(recorder.append(&entry(0, b"fine")).unwrap(), 0);
    }
}
