//! Durable, sequence-numbered, bounded outbox.
//!
//! Every output the engine produces is appended here *before* it is handed to
//! MQTT, and removed only after the broker's PUBACK. The outbox also owns the
//! per-publisher sequence number: an output gets its `seq` when it is staged,
//! so a sequence number, once published, is never reused for another message
//! (subscribers deduplicate QoS 1 repeats by `seq`, so a reused number would
//! silently hide a message).
//!
//! # On disk
//!
//! One append-only segment file, `outbox.log`, under the state directory:
//!
//! ```text
//! header  = "PKTOBX01"                                   (8 bytes)
//! record  = len: u32 LE | crc: u32 LE | body[len]        crc = CRC-32C(body)
//! body    = 1 | seq u64 | retained u8 | topic_len u32 | topic | payload   (entry)
//!         | 2 | seq u64                                                   (ack)
//!         | 3 | next_seq u64                                              (sequence floor)
//!         | 4 | seq u64 | topic                                           (retained topic)
//! ```
//!
//! An ack record removes its entry; a sequence floor (written first by every
//! compaction) keeps `next_seq` when every entry has been acknowledged and
//! compacted away.
//!
//! # Retained topics
//!
//! The outbox also knows which topics hold a retained message it
//! published ([`Outbox::retained_topics`]): a retained entry with a
//! payload adds its topic, one with an empty payload (a clear) removes it.
//! Compaction writes the set as retained-topic records (with the seq of
//! the entry that set each) ahead of the live entries, so it survives
//! acknowledgement and restarts. picketd clears the track topics of a
//! previous run with it: track ids restart with the process, so a track
//! retained by the last run would otherwise stay on the broker, a ghost
//! to every operator, until a new track happened to reuse its id.
//!
//! # Recovery
//!
//! [`Outbox::open`] reads the file back. A record that does not check out
//! (short, bad length, CRC mismatch) is either a torn tail (no valid record
//! follows: the file is truncated there, which is what a crash mid-append
//! leaves) or corruption in the middle (a valid record follows it). The
//! latter is never skipped silently: the original file is kept as
//! `outbox.log.corrupt-<unix seconds>`, the bad region is skipped, the
//! region's offsets are in [`Outbox::recovery`] and logged at `error`, and
//! the outbox is compacted into a clean file.
//!
//! # Durability and the loss window
//!
//! Entries are written by [`Outbox::stage`] (or [`Outbox::stage_raw`]) and
//! become visible to the publisher, and durable per [`FsyncPolicy`], at
//! [`Outbox::commit`]. [`Outbox::enqueue`] is stage + commit for one output.
//! The engine thread stages everything one input batch produced and commits
//! once: one `write` per batch.
//!
//! picketd commits with [`Outbox::commit_deferred`], which never waits on
//! the disk: its sync thread runs the `fsync` through
//! [`Outbox::begin_sync`] / [`SyncRequest::run`] / [`Outbox::finish_sync`],
//! outside the outbox's lock, so neither the engine nor the publisher
//! stalls behind the disk (the engine used to run the `fsync` itself with
//! the lock held, stalling tracking and publishing alike).
//!
//! - [`FsyncPolicy::Always`] (default): nothing is published before it is
//!   durable. Deferred commits wait, unpublished, for the next `fsync`,
//!   which covers every batch written before it (group commit: the sync
//!   thread starts the next `fsync` as soon as one ends and more is
//!   waiting). Nothing published is lost, even on power loss, and no
//!   published sequence number is ever issued twice.
//! - [`FsyncPolicy::GroupCommit`]: published at once; `fsync`ed at most
//!   `interval_ms` later. A process crash loses nothing (the data is in the
//!   page cache); a power loss or kernel crash can lose up to `interval_ms`
//!   of outputs, and their sequence numbers may be issued again after the
//!   restart.
//! - [`FsyncPolicy::Never`]: leave it to the kernel (tests, benches, tmpfs).
//!   Same as group commit with an unbounded window.
//!
//! A failed `fsync` poisons the outbox (see [`Outbox::finish_sync`]).
//!
//! Compaction follows the same pattern once a thread takes it over
//! ([`Outbox::set_background_compaction`]): [`Outbox::begin_compaction`]
//! snapshots the live records under the lock, [`CompactionRequest::run`]
//! writes and `fsync`s them without it, and [`Outbox::finish_compaction`]
//! appends the records written since the snapshot and renames the file
//! into place. Run inline, a compaction held the lock through two
//! `fsync`s (7 to 15 ms measured), stalling the engine's commits and every
//! PUBACK. The rename's directory entry is made durable by the next sync,
//! before anything written to the new file is published.
//!
//! Acknowledgements are buffered and reach the file at the next commit or
//! [`Outbox::flush`], without `fsync`: losing one in a crash costs only a
//! duplicate delivery after the restart, never a loss.
//!
//! # Bounds
//!
//! [`OutboxLimits::max_entries`] and [`OutboxLimits::max_bytes`] (topic +
//! payload bytes of unacknowledged entries) bound memory and disk. When full,
//! [`Outbox::stage`] returns [`OutboxError::Full`] and consumes no sequence
//! number; the caller counts and logs the drop. The file is compacted
//! (rewritten with only the unacknowledged entries, then renamed over the old
//! one) once acknowledged records outweigh live ones and exceed
//! [`DEFAULT_COMPACT_THRESHOLD_BYTES`].

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// The segment file's name under the state directory.
pub const SEGMENT_FILE: &str = "outbox.log";
/// Where a compaction writes before renaming over [`SEGMENT_FILE`].
const TMP_FILE: &str = "outbox.log.tmp";
/// File magic and format version.
const MAGIC: &[u8; 8] = b"PKTOBX01";
/// `len` + `crc`.
const RECORD_HEADER: usize = 8;
/// Largest record body accepted on read: larger lengths are corruption. MQTT
/// payloads are bounded far below this by the broker and by rumqttc.
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;
/// Dead (acknowledged) bytes in the file before a compaction is considered.
pub const DEFAULT_COMPACT_THRESHOLD_BYTES: u64 = 4 * 1024 * 1024;

const KIND_ENTRY: u8 = 1;
const KIND_ACK: u8 = 2;
const KIND_FLOOR: u8 = 3;
const KIND_RETAINED: u8 = 4;

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// When the outbox calls `fsync` (see the module docs for the loss window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FsyncPolicy {
    /// Publish nothing before it is `fsync`ed (every batch is covered by
    /// the next `fsync`). TOML: `"always"`.
    #[default]
    Always,
    /// Publish at once and `fsync` at most `interval_ms` later. TOML:
    /// `{ group_commit = { interval_ms = 10 } }`.
    GroupCommit {
        /// Longest time committed data may sit unsynced.
        interval_ms: u64,
    },
    /// Never `fsync`; survives a process crash, not a power loss. TOML:
    /// `"never"`.
    Never,
}

/// Bounds and durability of the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxLimits {
    /// Most unacknowledged entries held; more is [`OutboxError::Full`].
    pub max_entries: usize,
    /// Most topic + payload bytes of unacknowledged entries held.
    pub max_bytes: u64,
    /// When to `fsync`.
    pub fsync: FsyncPolicy,
}

impl Default for OutboxLimits {
    /// 100,000 entries or 64 MiB (hours of tracks at a busy site while the
    /// broker is away), `fsync` at every commit.
    fn default() -> Self {
        OutboxLimits {
            max_entries: 100_000,
            max_bytes: 64 * 1024 * 1024,
            fsync: FsyncPolicy::Always,
        }
    }
}

/// One unacknowledged message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its sequence number (also inside `payload`, except for a track clear,
    /// whose payload is empty).
    pub seq: u64,
    /// Full MQTT topic.
    pub topic: String,
    /// Publish retained.
    pub retained: bool,
    /// The exact bytes to publish.
    pub payload: Vec<u8>,
}

/// A region of the file that failed its checks and had valid records after
/// it; it was skipped (and reported), not silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRegion {
    /// Byte offset where the bad region starts.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
}

/// What [`Outbox::open`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Entries recovered unacknowledged.
    pub unacked: usize,
    /// Bytes cut off the end (a torn append); 0 after a clean shutdown.
    pub torn_tail_bytes: u64,
    /// Corrupt regions in the middle of the file, skipped.
    pub corrupt: Vec<CorruptRegion>,
    /// Where the original file was kept when `corrupt` is not empty.
    pub preserved_copy: Option<PathBuf>,
}

/// Running totals, for the status message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Entries committed.
    pub committed: u64,
    /// Entries acknowledged.
    pub acked: u64,
    /// Stage attempts refused because the outbox was full.
    pub full: u64,
    /// `fsync` calls.
    pub fsyncs: u64,
    /// Compactions.
    pub compactions: u64,
}

/// An `fsync` to run outside the outbox's lock (see
/// [`Outbox::begin_sync`]): a handle on the segment file and the length it
/// covers.
#[derive(Debug)]
pub struct SyncRequest {
    file: File,
    len: u64,
    generation: u64,
    /// The directory to sync first (a rename not yet durable).
    renamed_in: Option<PathBuf>,
}

impl SyncRequest {
    /// The `fsync` itself (data only: the file's length is covered, its
    /// times are not needed), after the directory's when a background
    /// compaction renamed the file since the last sync.
    pub fn run(&self) -> io::Result<()> {
        if let Some(dir) = &self.renamed_in {
            File::open(dir)?.sync_all()?;
        }
        self.file.sync_data()
    }
}

/// A compaction prepared under the outbox's lock, to write and `fsync`
/// without it (see [`Outbox::begin_compaction`]).
#[derive(Debug)]
pub struct CompactionRequest {
    tmp: PathBuf,
    /// The compacted file as of the snapshot.
    image: Vec<u8>,
    /// File length the snapshot covers: what was written after it is
    /// copied over by [`Outbox::finish_compaction`].
    snapshot_len: u64,
    generation: u64,
}

impl CompactionRequest {
    /// Writes the compacted file next to the segment and `fsync`s it.
    pub fn run(&self) -> io::Result<File> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.tmp)?;
        file.write_all(&self.image)?;
        file.sync_all()?;
        Ok(file)
    }
}

/// Why an outbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The outbox holds `max_entries` entries or `max_bytes` bytes; the
    /// message was not stored (no sequence number consumed).
    #[error("outbox full ({entries} entries, {bytes} bytes unacknowledged)")]
    Full {
        /// Unacknowledged (and staged) entries.
        entries: usize,
        /// Their topic + payload bytes.
        bytes: u64,
    },
    /// The output could not be serialised (no sequence number consumed).
    #[error("output could not be encoded: {0}")]
    Encode(String),
    /// A single message is larger than the format allows.
    #[error("message of {0} bytes exceeds the record limit")]
    TooLarge(usize),
    /// File I/O failed; `path` is the file involved.
    #[error("outbox I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The file is not an outbox file (or a newer format).
    #[error("{0} is not a picket outbox file (bad header)")]
    BadHeader(PathBuf),
    /// An earlier I/O failure left the file in a state this process could
    /// not repair; restart to recover from disk.
    #[error("outbox unusable after an earlier I/O failure; restart to recover")]
    Poisoned,
}

/// A live entry and the size of its record in the file (for compaction).
#[derive(Debug)]
struct Live {
    entry: OutboxEntry,
    record_len: u64,
}

/// The durable outbox (see the module docs).
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    path: PathBuf,
    file: BufWriter<File>,
    limits: OutboxLimits,
    /// Committed, unacknowledged entries by seq.
    entries: BTreeMap<u64, Live>,
    /// Topics holding a retained message of ours, with the seq that set
    /// it.
    retained: BTreeMap<String, u64>,
    /// Written (maybe buffered) but not committed.
    staged: Vec<Live>,
    /// Committed under [`FsyncPolicy::Always`] by [`Outbox::commit_deferred`]
    /// and not yet covered by an `fsync`, in seq order, each with the file
    /// length its batch ended at: published only once durable.
    awaiting_sync: VecDeque<(u64, Live)>,
    /// Bumped when a compaction replaces the file: a sync started on the
    /// old file says nothing about offsets in the new one.
    generation: u64,
    /// Topic + payload bytes of `entries` and `staged`.
    live_bytes: u64,
    /// Record bytes of `entries` in the file.
    live_record_bytes: u64,
    next_seq: u64,
    /// File length including buffered bytes.
    file_len: u64,
    /// File length at the last successful commit (rollback point).
    committed_len: u64,
    /// Written since the last fsync.
    unsynced: bool,
    last_sync: Instant,
    compact_threshold: u64,
    /// A thread compacts (see [`Outbox::set_background_compaction`]).
    background_compaction: bool,
    /// A background compaction renamed the file and no sync has made the
    /// directory entry durable yet.
    rename_unsynced: bool,
    poisoned: bool,
    recovery: RecoveryReport,
    stats: OutboxStats,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OutboxError + '_ {
    move |source| OutboxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A parsed record body.
enum Record {
    Entry(OutboxEntry),
    Ack(u64),
    Floor(u64),
    Retained(u64, String),
}

/// Parses the record at `data[0..]`: `Some((record, total_len))` if it is
/// complete, sized sanely and its CRC matches.
fn parse_record(data: &[u8]) -> Option<(Record, usize)> {
    let len = u32::from_le_bytes(data.get(0..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?);
    if len == 0 || len > MAX_RECORD_BYTES {
        return None;
    }
    let body = data.get(RECORD_HEADER..RECORD_HEADER + len)?;
    if CRC32C.checksum(body) != crc {
        return None;
    }
    let seq = u64::from_le_bytes(body.get(1..9)?.try_into().ok()?);
    let record = match *body.first()? {
        KIND_ENTRY => {
            let retained = match body.get(9)? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let topic_len = u32::from_le_bytes(body.get(10..14)?.try_into().ok()?) as usize;
            let topic = body.get(14..14usize.checked_add(topic_len)?)?;
            let topic = String::from_utf8(topic.to_vec()).ok()?;
            let payload = body.get(14 + topic_len..)?.to_vec();
            Record::Entry(OutboxEntry {
                seq,
                topic,
                retained,
                payload,
            })
        }
        KIND_ACK if body.len() == 9 => Record::Ack(seq),
        KIND_FLOOR if body.len() == 9 => Record::Floor(seq),
        KIND_RETAINED => Record::Retained(seq, String::from_utf8(body.get(9..)?.to_vec()).ok()?),
        _ => return None,
    };
    Some((record, RECORD_HEADER + len))
}

/// Notes what a committed entry does to the set of retained topics.
fn note_retained(retained: &mut BTreeMap<String, u64>, entry: &OutboxEntry) {
    if !entry.retained {
        return;
    }
    if entry.payload.is_empty() {
        retained.remove(&entry.topic);
    } else if let Some(seq) = retained.get_mut(&entry.topic) {
        *seq = entry.seq;
    } else {
        retained.insert(entry.topic.clone(), entry.seq);
    }
}

/// Appends one framed record to `out`; returns its total length.
fn encode_record(out: &mut Vec<u8>, body: &[u8]) -> u64 {
    // Bodies are bounded by MAX_RECORD_BYTES (checked by callers), so the
    // length fits a u32.
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&CRC32C.checksum(body).to_le_bytes());
    out.extend_from_slice(body);
    (RECORD_HEADER + body.len()) as u64
}

fn entry_body(entry: &OutboxEntry) -> Vec<u8> {
    let mut body = Vec::with_capacity(14 + entry.topic.len() + entry.payload.len());
    body.push(KIND_ENTRY);
    body.extend_from_slice(&entry.seq.to_le_bytes());
    body.push(u8::from(entry.retained));
    body.extend_from_slice(&(entry.topic.len() as u32).to_le_bytes());
    body.extend_from_slice(entry.topic.as_bytes());
    body.extend_from_slice(&entry.payload);
    body
}

fn small_body(kind: u8, value: u64) -> [u8; 9] {
    let mut body = [0u8; 9];
    body[0] = kind;
    body[1..].copy_from_slice(&value.to_le_bytes());
    body
}

fn entry_bytes(entry: &OutboxEntry) -> u64 {
    (entry.topic.len() + entry.payload.len()) as u64
}

/// Locks a shared outbox. A poisoned lock means another thread panicked
/// while holding it; the outbox's own state is consistent between calls
/// (every method either completes or rolls back), so carry on rather than
/// cascade.
pub fn lock(outbox: &Mutex<Outbox>) -> MutexGuard<'_, Outbox> {
    outbox
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn sync_dir(dir: &Path) -> Result<(), OutboxError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

impl Outbox {
    /// Opens (or creates) the outbox under `dir`, recovering unacknowledged
    /// entries and the next sequence number; see the module docs for what
    /// happens to torn or corrupt records.
    pub fn open(dir: &Path, limits: OutboxLimits) -> Result<Outbox, OutboxError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let path = dir.join(SEGMENT_FILE);
        let tmp = dir.join(TMP_FILE);
        // A leftover from a compaction interrupted before its rename: the
        // segment file is still the authoritative one.
        match fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&tmp)(e)),
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err(&path))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(io_err(&path))?;

        let mut recovery = RecoveryReport::default();
        let mut entries: BTreeMap<u64, Live> = BTreeMap::new();
        let mut retained: BTreeMap<String, u64> = BTreeMap::new();
        let mut next_seq: u64 = 1;
        let valid_end: usize;

        if data.len() < MAGIC.len() {
            // New, or torn while the header itself was written: nothing was
            // ever committed in it.
            if !MAGIC.starts_with(&data) {
                return Err(OutboxError::BadHeader(path));
            }
            recovery.torn_tail_bytes = data.len() as u64;
            file.set_len(0).map_err(io_err(&path))?;
            file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
            file.write_all(MAGIC).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
            sync_dir(dir)?;
            valid_end = MAGIC.len();
        } else {
            if data.get(..MAGIC.len()) != Some(&MAGIC[..]) {
                return Err(OutboxError::BadHeader(path));
            }
            let mut pos = MAGIC.len();
            let mut end = pos;
            while pos < data.len() {
                match parse_record(&data[pos..]) {
                    Some((record, len)) => {
                        match record {
                            Record::Entry(entry) => {
                                next_seq = next_seq.max(entry.seq.saturating_add(1));
                                note_retained(&mut retained, &entry);
                                entries.insert(
                                    entry.seq,
                                    Live {
                                        entry,
                                        record_len: len as u64,
                                    },
                                );
                            }
                            Record::Ack(seq) => {
                                entries.remove(&seq);
                            }
                            Record::Floor(seq) => next_seq = next_seq.max(seq),
                            Record::Retained(seq, topic) => {
                                retained.insert(topic, seq);
                            }
                        }
                        pos += len;
                        end = pos;
                    }
                    None => {
                        // Torn tail or corruption: look for the next valid
                        // record. A torn append has none after it.
                        let resync =
                            (pos + 1..data.len()).find(|&p| parse_record(&data[p..]).is_some());
                        match resync {
                            Some(next) => {
                                let region = CorruptRegion {
                                    offset: pos as u64,
                                    len: (next - pos) as u64,
                                };
                                tracing::error!(
                                    path = %path.display(),
                                    offset = region.offset,
                                    len = region.len,
                                    "outbox: corrupt region in the middle of the file skipped"
                                );
                                recovery.corrupt.push(region);
                                pos = next;
                            }
                            None => break,
                        }
                    }
                }
            }
            valid_end = end;
            let torn = data.len() - valid_end;
            if torn > 0 && recovery.corrupt.is_empty() {
                tracing::warn!(
                    path = %path.display(),
                    bytes = torn,
                    "outbox: torn tail truncated (interrupted append)"
                );
            }
            recovery.torn_tail_bytes = torn as u64;
        }

        let live_bytes = entries.values().map(|l| entry_bytes(&l.entry)).sum();
        let live_record_bytes = entries.values().map(|l| l.record_len).sum();
        recovery.unacked = entries.len();

        if !recovery.corrupt.is_empty() {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let copy = dir.join(format!("{SEGMENT_FILE}.corrupt-{secs}"));
            fs::write(&copy, &data).map_err(io_err(&copy))?;
            recovery.preserved_copy = Some(copy);
        } else if recovery.torn_tail_bytes > 0 && data.len() >= MAGIC.len() {
            file.set_len(valid_end as u64).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
        }
        file.seek(SeekFrom::Start(valid_end as u64))
            .map_err(io_err(&path))?;

        let mut outbox = Outbox {
            dir: dir.to_path_buf(),
            path,
            file: BufWriter::with_capacity(64 * 1024, file),
            limits,
            entries,
            retained,
            staged: Vec::new(),
            awaiting_sync: VecDeque::new(),
            generation: 0,
            live_bytes,
            live_record_bytes,
            next_seq,
            file_len: valid_end as u64,
            committed_len: valid_end as u64,
            unsynced: false,
            last_sync: Instant::now(),
            compact_threshold: DEFAULT_COMPACT_THRESHOLD_BYTES,
            background_compaction: false,
            rename_unsynced: false,
            poisoned: false,
            recovery,
            stats: OutboxStats::default(),
        };
        if !outbox.recovery.corrupt.is_empty() {
            // Leave a clean file behind so the next open does not report the
            // same region again (the original is preserved).
            outbox.compact()?;
        }
        Ok(outbox)
    }

    /// What [`Outbox::open`] recovered and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Running totals.
    pub fn stats(&self) -> OutboxStats {
        self.stats
    }

    /// The segment file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves compaction to a thread that drives
    /// [`Outbox::begin_compaction`]: acknowledgements stop compacting
    /// inline, under whatever lock the caller holds.
    pub fn set_background_compaction(&mut self, background: bool) {
        self.background_compaction = background;
    }

    /// Sets the dead-bytes threshold for compaction (default
    /// [`DEFAULT_COMPACT_THRESHOLD_BYTES`]); small values are for tests.
    pub fn set_compact_threshold(&mut self, bytes: u64) {
        self.compact_threshold = bytes;
    }

    /// The sequence number the next staged output will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Committed, unacknowledged entries, including those still awaiting
    /// their `fsync` (staged ones are not included).
    pub fn len(&self) -> usize {
        self.entries.len() + self.awaiting_sync.len()
    }

    /// Whether no committed entry awaits acknowledgement (or its `fsync`).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.awaiting_sync.is_empty()
    }

    /// Committed entries not yet visible because they await their `fsync`.
    pub fn awaiting_sync(&self) -> usize {
        self.awaiting_sync.len()
    }

    /// Topics that hold a retained message this outbox committed (and no
    /// clear since), as far as its file records: see the module docs.
    pub fn retained_topics(&self) -> impl Iterator<Item = &str> {
        self.retained.keys().map(String::as_str)
    }

    /// Committed, unacknowledged entries ready to publish (durable per the
    /// policy), in sequence order.
    pub fn unacked(&self) -> impl Iterator<Item = &OutboxEntry> {
        self.entries.values().map(|l| &l.entry)
    }

    /// Committed, unacknowledged entries with `seq >= from`, in order (the
    /// publisher's cursor).
    pub fn unacked_from(&self, from: u64) -> impl Iterator<Item = &OutboxEntry> {
        self.entries.range(from..).map(|(_, l)| &l.entry)
    }

    /// Stages one engine output: stamps the next sequence number into it,
    /// serialises it and writes its record (buffered). It becomes visible
    /// and durable at [`Outbox::commit`].
    pub fn stage(&mut self, mut output: picket_engine::Output) -> Result<u64, OutboxError> {
        let topic = std::mem::take(&mut output.topic);
        let retained = output.retained;
        self.stage_raw(topic, retained, |seq| {
            output.set_seq(seq);
            output.to_json().map_err(|e| e.to_string())
        })
    }

    /// Stages a message whose payload `encode` builds from its sequence
    /// number (for callers that encode themselves: tools, tests, benches).
    pub fn stage_raw(
        &mut self,
        topic: String,
        retained: bool,
        encode: impl FnOnce(u64) -> Result<Vec<u8>, String>,
    ) -> Result<u64, OutboxError> {
        if self.poisoned {
            return Err(OutboxError::Poisoned);
        }
        let count = self.len() + self.staged.len();
        if count >= self.limits.max_entries {
            self.stats.full += 1;
            return Err(OutboxError::Full {
                entries: count,
                bytes: self.live_bytes,
            });
        }
        let seq = self.next_seq;
        let payload = encode(seq).map_err(OutboxError::Encode)?;
        let entry = OutboxEntry {
            seq,
            topic,
            retained,
            payload,
        };
        let size = entry_bytes(&entry);
        if self.live_bytes.saturating_add(size) > self.limits.max_bytes {
            self.stats.full += 1;
            return Err(OutboxError::Full {
                entries: count,
                bytes: self.live_bytes,
            });
        }
        let body = entry_body(&entry);
        if body.len() > MAX_RECORD_BYTES {
            return Err(OutboxError::TooLarge(body.len()));
        }
        let mut framed = Vec::with_capacity(RECORD_HEADER + body.len());
        let record_len = encode_record(&mut framed, &body);
        self.write(&framed)?;
        self.next_seq += 1;
        self.live_bytes += size;
        self.staged.push(Live { entry, record_len });
        Ok(seq)
    }

    /// Writes everything staged (and buffered acks) to the file, `fsync`s
    /// per the policy, and makes the staged entries visible to
    /// [`Outbox::unacked`]. On failure the staged entries are discarded
    /// (their sequence numbers were never published and are reused) and the
    /// error is returned.
    pub fn commit(&mut self) -> Result<(), OutboxError> {
        self.commit_with(true)
    }

    /// Like [`Outbox::commit`], but never `fsync`s: that is left to whoever
    /// drives [`Outbox::begin_sync`] (picketd's sync thread), so the caller
    /// never waits on the disk. Under [`FsyncPolicy::Always`] the entries
    /// stay invisible to the publisher until a sync covers them (a group
    /// commit: one `fsync` covers every batch written before it); under the
    /// other policies they are visible at once, as with `commit`.
    pub fn commit_deferred(&mut self) -> Result<(), OutboxError> {
        self.commit_with(false)
    }

    fn commit_with(&mut self, sync_inline: bool) -> Result<(), OutboxError> {
        if self.poisoned {
            return Err(OutboxError::Poisoned);
        }
        if self.staged.is_empty() {
            return self.flush();
        }
        let result = self
            .file
            .flush()
            .map_err(io_err(&self.path))
            .and_then(|()| {
                if sync_inline && self.sync_due() {
                    self.sync()
                } else {
                    Ok(())
                }
            });
        match result {
            Ok(()) => {
                self.stats.committed += self.staged.len() as u64;
                let visible_now = sync_inline || self.limits.fsync != FsyncPolicy::Always;
                for live in self.staged.drain(..) {
                    note_retained(&mut self.retained, &live.entry);
                    self.live_record_bytes += live.record_len;
                    if visible_now {
                        self.entries.insert(live.entry.seq, live);
                    } else {
                        self.awaiting_sync.push_back((self.file_len, live));
                    }
                }
                self.committed_len = self.file_len;
                Ok(())
            }
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    /// Whether the policy wants an `fsync` now: under `Always` whenever
    /// something is unsynced or awaiting, under group commit once the
    /// interval has passed since the last one.
    pub fn sync_due(&self) -> bool {
        let pending = self.unsynced || !self.awaiting_sync.is_empty() || self.rename_unsynced;
        match self.limits.fsync {
            FsyncPolicy::Always => pending,
            FsyncPolicy::GroupCommit { interval_ms } => {
                pending && self.last_sync.elapsed() >= Duration::from_millis(interval_ms)
            }
            FsyncPolicy::Never => false,
        }
    }

    /// Stage + commit of one output; returns its sequence number.
    pub fn enqueue(&mut self, output: picket_engine::Output) -> Result<u64, OutboxError> {
        let seq = self.stage(output)?;
        self.commit()?;
        Ok(seq)
    }

    /// Discards staged entries and cuts the file back to the last commit.
    fn rollback(&mut self) {
        let Some(first) = self.staged.first().map(|l| l.entry.seq) else {
            return;
        };
        for live in self.staged.drain(..) {
            self.live_bytes -= entry_bytes(&live.entry);
        }
        self.next_seq = first;
        // The BufWriter may still hold part of the failed write: drop it by
        // rebuilding the writer around the same file, then truncate.
        let repaired = self
            .file
            .get_ref()
            .try_clone()
            .and_then(|f| {
                f.set_len(self.committed_len)?;
                Ok(f)
            })
            .and_then(|mut f| {
                f.seek(SeekFrom::Start(self.committed_len))?;
                Ok(f)
            });
        match repaired {
            Ok(f) => {
                let old = std::mem::replace(&mut self.file, BufWriter::with_capacity(64 * 1024, f));
                // Forget the buffered bytes instead of flushing them.
                let (_file, _unflushed) = old.into_parts();
                self.file_len = self.committed_len;
            }
            Err(e) => {
                tracing::error!(path = %self.path.display(), error = %e, "outbox: rollback failed");
                self.poisoned = true;
            }
        }
    }

    /// Removes an entry once the broker has acknowledged it. Unknown or
    /// already-acknowledged sequence numbers are ignored (a duplicate PUBACK
    /// after a resend). The ack record is buffered (see the module docs).
    pub fn acknowledge(&mut self, seq: u64) -> Result<(), OutboxError> {
        if self.poisoned {
            return Err(OutboxError::Poisoned);
        }
        let Some(live) = self.entries.remove(&seq) else {
            return Ok(());
        };
        self.live_bytes -= entry_bytes(&live.entry);
        self.live_record_bytes -= live.record_len;
        self.stats.acked += 1;
        let mut framed = Vec::with_capacity(RECORD_HEADER + 9);
        encode_record(&mut framed, &small_body(KIND_ACK, seq));
        self.write(&framed)?;
        self.maybe_compact()
    }

    /// Writes buffered records (acks) to the OS, without `fsync`.
    pub fn flush(&mut self) -> Result<(), OutboxError> {
        if self.poisoned {
            return Err(OutboxError::Poisoned);
        }
        self.file.flush().map_err(io_err(&self.path))
    }

    /// Flushes and `fsync`s now (shutdown, tools), making everything
    /// committed durable and visible.
    pub fn sync(&mut self) -> Result<(), OutboxError> {
        let Some(request) = self.begin_sync()? else {
            return Ok(());
        };
        let result = request.run();
        self.finish_sync(&request, result).map(|_released| ())
    }

    /// First half of an `fsync` that runs without the outbox (its lock):
    /// writes buffered records to the OS and returns what to sync, or
    /// `None` when nothing written is unsynced. Run the request, then hand
    /// its result to [`Outbox::finish_sync`].
    pub fn begin_sync(&mut self) -> Result<Option<SyncRequest>, OutboxError> {
        self.flush()?;
        self.last_sync = Instant::now();
        if !self.unsynced && self.awaiting_sync.is_empty() && !self.rename_unsynced {
            return Ok(None);
        }
        let file = self
            .file
            .get_ref()
            .try_clone()
            .map_err(io_err(&self.path))?;
        // Anything written from now on sets it again and needs the next sync.
        self.unsynced = false;
        Ok(Some(SyncRequest {
            file,
            len: self.file_len,
            generation: self.generation,
            renamed_in: self.rename_unsynced.then(|| self.dir.clone()),
        }))
    }

    /// Second half of an `fsync`: on success, entries awaiting it that the
    /// synced length covers become visible (their number is returned); on
    /// failure the outbox is poisoned. After a failed `fsync` Linux may
    /// already have dropped the dirty pages and a retry can succeed without
    /// them, so nothing written since the last good sync can be trusted:
    /// the process must restart and recover from what is on disk. Awaiting
    /// entries were never published, so a restart loses nothing that was.
    pub fn finish_sync(
        &mut self,
        request: &SyncRequest,
        result: io::Result<()>,
    ) -> Result<usize, OutboxError> {
        if let Err(source) = result {
            self.poisoned = true;
            self.unsynced = true;
            return Err(OutboxError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.stats.fsyncs += 1;
        if request.generation != self.generation {
            // A compaction replaced the file meanwhile; its own sync
            // released everything that was awaiting then.
            return Ok(0);
        }
        if request.renamed_in.is_some() {
            self.rename_unsynced = false;
        }
        let mut released = 0;
        while self
            .awaiting_sync
            .front()
            .is_some_and(|(end, _)| *end <= request.len)
        {
            if let Some((_, live)) = self.awaiting_sync.pop_front() {
                self.entries.insert(live.entry.seq, live);
                released += 1;
            }
        }
        Ok(released)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), OutboxError> {
        self.file.write_all(bytes).map_err(io_err(&self.path))?;
        self.file_len += bytes.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    fn maybe_compact(&mut self) -> Result<(), OutboxError> {
        if !self.background_compaction && self.compaction_due() {
            self.compact()?;
        }
        Ok(())
    }

    /// Whether acknowledged records outweigh the live ones and the
    /// threshold, between batches (staged records live in the current
    /// file).
    pub fn compaction_due(&self) -> bool {
        let dead = self
            .file_len
            .saturating_sub(self.live_record_bytes + MAGIC.len() as u64);
        self.staged.is_empty() && dead >= self.compact_threshold && dead > self.live_record_bytes
    }

    /// The compacted file: a sequence floor, then every unacknowledged
    /// entry, including those awaiting their sync.
    fn compacted_image(&self) -> Vec<u8> {
        let mut image =
            Vec::with_capacity(MAGIC.len() + RECORD_HEADER + 9 + self.live_record_bytes as usize);
        image.extend_from_slice(MAGIC);
        encode_record(&mut image, &small_body(KIND_FLOOR, self.next_seq));
        for (topic, seq) in &self.retained {
            let mut body = Vec::with_capacity(9 + topic.len());
            body.push(KIND_RETAINED);
            body.extend_from_slice(&seq.to_le_bytes());
            body.extend_from_slice(topic.as_bytes());
            encode_record(&mut image, &body);
        }
        for live in self
            .entries
            .values()
            .chain(self.awaiting_sync.iter().map(|(_, live)| live))
        {
            encode_record(&mut image, &entry_body(&live.entry));
        }
        image
    }

    fn compaction_request(&self) -> CompactionRequest {
        CompactionRequest {
            tmp: self.dir.join(TMP_FILE),
            image: self.compacted_image(),
            snapshot_len: self.file_len,
            generation: self.generation,
        }
    }

    /// Rewrites the file with only the unacknowledged entries and renames
    /// it over the segment, all under the caller's lock (open, tools).
    fn compact(&mut self) -> Result<(), OutboxError> {
        let request = self.compaction_request();
        let file = request.run().map_err(io_err(&request.tmp))?;
        fs::rename(&request.tmp, &self.path).map_err(io_err(&self.path))?;
        sync_dir(&self.dir)?;
        self.replace_file(file, request.image.len() as u64);
        // The new file is synced and its name durable: what awaited a sync
        // is in it.
        self.unsynced = false;
        for (_, live) in self.awaiting_sync.drain(..) {
            self.entries.insert(live.entry.seq, live);
        }
        Ok(())
    }

    /// First half of a compaction run without the lock: a snapshot of the
    /// live records, or `None` when no compaction is due. Run the request,
    /// then hand its result to [`Outbox::finish_compaction`].
    pub fn begin_compaction(&mut self) -> Result<Option<CompactionRequest>, OutboxError> {
        if self.poisoned {
            return Err(OutboxError::Poisoned);
        }
        Ok(self.compaction_due().then(|| self.compaction_request()))
    }

    /// Second half of a background compaction: appends what was written
    /// since the snapshot (entries and acks, byte for byte) to the
    /// compacted file and renames it over the segment. Returns whether the
    /// file was replaced. A failure leaves the old file in use and intact
    /// (a leftover temporary file is removed at the next open).
    ///
    /// Entries awaiting a sync stay unpublished until the next sync, which
    /// covers the copied records and makes the rename durable first.
    pub fn finish_compaction(
        &mut self,
        request: &CompactionRequest,
        written: io::Result<File>,
    ) -> Result<bool, OutboxError> {
        let mut file = written.map_err(io_err(&request.tmp))?;
        if self.poisoned {
            return Err(OutboxError::Poisoned);
        }
        if request.generation != self.generation || !self.staged.is_empty() {
            drop(file);
            let _ = fs::remove_file(&request.tmp);
            return Ok(false);
        }
        self.flush()?;
        let tail_len = self.file_len - request.snapshot_len;
        let mut tail = vec![0; usize::try_from(tail_len).unwrap_or(usize::MAX)];
        self.file
            .get_ref()
            .read_exact_at(&mut tail, request.snapshot_len)
            .map_err(io_err(&self.path))?;
        file.write_all(&tail).map_err(io_err(&request.tmp))?;
        fs::rename(&request.tmp, &self.path).map_err(io_err(&self.path))?;
        self.replace_file(file, request.image.len() as u64 + tail_len);
        self.unsynced = true;
        self.rename_unsynced = true;
        let new_len = self.file_len;
        for (end, _) in &mut self.awaiting_sync {
            *end = new_len;
        }
        Ok(true)
    }

    /// Switches appends to a freshly compacted file of `len` bytes.
    fn replace_file(&mut self, file: File, len: u64) {
        // Buffered records belonged to the old file and are superseded by
        // the rewrite (acks are applied in memory already).
        let old = std::mem::replace(&mut self.file, BufWriter::with_capacity(64 * 1024, file));
        let (_old_file, _superseded) = old.into_parts();
        self.file_len = len;
        self.committed_len = len;
        self.generation += 1;
        self.stats.compactions += 1;
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Best effort: buffered acks reach the file; errors only cost
        // duplicates after the restart.
        if !self.poisoned {
            let _ = self.file.flush();
        }
    }
}
