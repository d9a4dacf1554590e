//! Opening a recording directory: listing segments, checking every record,
//! and telling a torn tail (truncate) from corruption (quarantine).
//!
//! The rule that separates the two: a crash can only damage the end of the
//! segment being appended to, and whatever it leaves there is followed by
//! nothing valid. So a bad record in the last segment with no valid record
//! after it is a torn tail; a bad record with a valid one after it, or any
//! bad record in an earlier segment (which was fsynced before the next one
//! was created), is corruption, and the whole segment is quarantined.

use std::fmt;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{RecordError, io_error};
use crate::format::{
    BODY_FIXED_LEN, Defect, FORMAT_VERSION, HEADER_LEN, Parsed, RECORD_PREFIX_LEN, decode_header,
    parse_record, peek_seq,
};

/// Name of the lock file a recorder (or repairing reader) holds.
pub(crate) const LOCK_FILE: &str = "LOCK";
const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".pkr";
const QUARANTINE_SUFFIX: &str = ".corrupt";
/// How far ahead of the last good sequence number a resync candidate may
/// be. Random bytes pass this only about once in 2^32 tries, so the scan
/// rarely spends a CRC on garbage.
const RESYNC_SEQ_WINDOW: u64 = 1 << 32;

/// File name of the segment whose first record is `first_seq`. Zero-padded
/// so that `ls` sorts segments in order.
pub(crate) fn segment_name(first_seq: u64) -> String {
    format!("{SEGMENT_PREFIX}{first_seq:020}{SEGMENT_SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether an open may change files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Truncate torn tails and quarantine corrupt segments.
    Repair,
    /// Report only; read what is valid.
    ReadOnly,
}

/// One readable segment after open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment file.
    pub path: PathBuf,
    /// Sequence number of its first record (from its name and header).
    pub first_seq: u64,
    /// Valid records in it.
    pub records: u64,
    /// Valid bytes (header and records); the reader reads no further.
    pub bytes: u64,
    /// Earliest record time, µs since the Unix epoch (`None` if empty).
    pub min_time_us: Option<i64>,
    /// Latest record time, µs (`None` if empty). Retention by age uses it.
    pub max_time_us: Option<i64>,
}

impl SegmentInfo {
    /// Sequence number of its last record, `None` if it has none.
    pub fn last_seq(&self) -> Option<u64> {
        self.records.checked_sub(1).map(|n| self.first_seq + n)
    }

    /// The last sequence number at or before this segment's end: its last
    /// record, or the one before its first if it is empty.
    fn end_seq(&self) -> Option<u64> {
        self.last_seq().or_else(|| self.first_seq.checked_sub(1))
    }
}

/// Damage found when a recording was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// The last segment ends in an incomplete or invalid record with nothing
    /// valid after it: the signature of a crash mid-append. Every record
    /// before `offset` is kept.
    TornTail {
        /// The segment.
        segment: PathBuf,
        /// Where the valid part ends.
        offset: u64,
        /// Bytes after it.
        bytes: u64,
        /// What was found at `offset`.
        defect: Defect,
        /// Whether the bytes were cut off (repairing open), or only skipped
        /// (read-only open). A segment torn inside its header is removed.
        repaired: bool,
    },
    /// A bad record with valid data after it, or any defect in a segment
    /// that is not the last: the whole segment is set aside, never silently
    /// skipped.
    Corrupt {
        /// The segment (its name before quarantine).
        segment: PathBuf,
        /// Byte offset of the first defect.
        offset: u64,
        /// What is wrong there.
        defect: Defect,
        /// Valid records before the defect, now unreadable with the rest.
        records_before: u64,
        /// Where it was moved (repairing open); `None` on a read-only open,
        /// which skips the segment without moving it.
        quarantined_as: Option<PathBuf>,
    },
    /// A segment quarantined by an earlier open.
    Quarantined {
        /// The `*.corrupt` file.
        path: PathBuf,
    },
    /// Sequence numbers missing between two readable segments (because a
    /// segment between them was quarantined or removed by hand; retention
    /// only removes the oldest).
    SequenceGap {
        /// Last sequence number before the gap.
        after: u64,
        /// First one after it.
        next: u64,
    },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::TornTail {
                segment,
                offset,
                bytes,
                defect,
                repaired,
            } => write!(
                f,
                "torn tail: {} from byte {offset}: {bytes} bytes ({defect}){}",
                segment.display(),
                if *repaired {
                    ", truncated"
                } else {
                    ", skipped (read-only)"
                }
            ),
            Damage::Corrupt {
                segment,
                offset,
                defect,
                records_before,
                quarantined_as,
            } => {
                write!(
                    f,
                    "corrupt: {} at byte {offset}: {defect}; {records_before} valid records before it",
                    segment.display()
                )?;
                match quarantined_as {
                    Some(path) => write!(f, "; quarantined as {}", path.display()),
                    None => write!(f, "; skipped (read-only)"),
                }
            }
            Damage::Quarantined { path } => {
                write!(f, "quarantined earlier: {}", path.display())
            }
            Damage::SequenceGap { after, next } => write!(
                f,
                "sequence gap: {} records missing between {after} and {next}",
                next - after - 1
            ),
        }
    }
}

/// What opening a recording found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Readable segments, in sequence order.
    pub segments: Vec<SegmentInfo>,
    /// Everything found wrong, in the order found. Empty for a clean
    /// recording.
    pub damage: Vec<Damage>,
    /// Highest sequence number seen anywhere, quarantined segments
    /// included: a recorder continues after it so that no number is used
    /// twice.
    pub(crate) max_seen_seq: Option<u64>,
}

impl OpenReport {
    /// Readable records.
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|s| s.records).sum()
    }

    /// First readable sequence number.
    pub fn first_seq(&self) -> Option<u64> {
        self.segments
            .iter()
            .find(|s| s.records > 0)
            .map(|s| s.first_seq)
    }

    /// Last readable sequence number.
    pub fn last_seq(&self) -> Option<u64> {
        self.segments.iter().rev().find_map(SegmentInfo::last_seq)
    }

    /// Earliest and latest record times, µs since the Unix epoch.
    pub fn time_span_us(&self) -> Option<(i64, i64)> {
        let min = self.segments.iter().filter_map(|s| s.min_time_us).min()?;
        let max = self.segments.iter().filter_map(|s| s.max_time_us).max()?;
        Some((min, max))
    }

    /// Bytes cut (or, read-only, skipped) as torn tails.
    pub fn truncated_bytes(&self) -> u64 {
        self.damage
            .iter()
            .map(|d| match d {
                Damage::TornTail { bytes, .. } => *bytes,
                _ => 0,
            })
            .sum()
    }

    /// Segments set aside as corrupt, by this open or an earlier one.
    pub fn quarantined(&self) -> Vec<&Path> {
        self.damage
            .iter()
            .filter_map(|d| match d {
                Damage::Corrupt {
                    quarantined_as: Some(path),
                    ..
                }
                | Damage::Quarantined { path } => Some(path.as_path()),
                Damage::Corrupt { segment, .. } => Some(segment.as_path()),
                _ => None,
            })
            .collect()
    }
}

/// How one segment file checked out.
enum Outcome {
    /// Every byte belongs to a valid record.
    Clean,
    /// The valid part ends at `valid_len`; nothing valid follows.
    Torn(Defect),
    /// Shorter than a header, and the last segment: a crash while creating
    /// it.
    TornHeader,
    /// Damaged at `offset`.
    Corrupt { offset: u64, defect: Defect },
}

struct Scan {
    info: SegmentInfo,
    outcome: Outcome,
    /// Highest sequence number seen in the file (resync finds included).
    max_seen: Option<u64>,
}

/// Checks one segment's bytes. `previous_end` is the last sequence number
/// of the readable segment before it.
fn scan_segment(
    path: &Path,
    data: &[u8],
    name_seq: u64,
    is_last: bool,
    previous_end: Option<u64>,
) -> Result<Scan, RecordError> {
    let mut info = SegmentInfo {
        path: path.to_owned(),
        first_seq: name_seq,
        records: 0,
        bytes: 0,
        min_time_us: None,
        max_time_us: None,
    };
    let corrupt = |info: SegmentInfo, offset: u64, defect: Defect, max_seen: Option<u64>| Scan {
        info,
        outcome: Outcome::Corrupt { offset, defect },
        max_seen: max_seen.max(Some(name_seq)),
    };
    if data.len() < HEADER_LEN && is_last {
        return Ok(Scan {
            info,
            outcome: Outcome::TornHeader,
            max_seen: None,
        });
    }
    let header_seq = match decode_header(data) {
        Ok((version, _)) if version != FORMAT_VERSION => {
            return Err(RecordError::UnsupportedVersion {
                path: path.to_owned(),
                found: version,
            });
        }
        Ok((_, seq)) => seq,
        Err(defect) => return Ok(corrupt(info, 0, defect, None)),
    };
    if header_seq != name_seq {
        let defect = Defect::NameMismatch {
            header: header_seq,
            name: name_seq,
        };
        return Ok(corrupt(info, 0, defect, None));
    }
    if let Some(previous_last) = previous_end
        && name_seq <= previous_last
    {
        let defect = Defect::Overlap {
            first: name_seq,
            previous_last,
        };
        return Ok(corrupt(info, 0, defect, None));
    }
    let mut offset = HEADER_LEN;
    let mut expected = name_seq;
    info.bytes = HEADER_LEN as u64;
    while offset < data.len() {
        match parse_record(&data[offset..]) {
            // u64::MAX is never written (the recorder could not number a
            // record after it), so a record claiming it is damage; this also
            // keeps `expected` from overflowing.
            Parsed::Record(record, len) if record.seq == expected && expected != u64::MAX => {
                let time = record.entry.time_us;
                info.min_time_us = Some(info.min_time_us.map_or(time, |t| t.min(time)));
                info.max_time_us = Some(info.max_time_us.map_or(time, |t| t.max(time)));
                info.records += 1;
                offset += len;
                info.bytes = offset as u64;
                expected += 1;
            }
            Parsed::Record(record, _) => {
                let defect = Defect::Sequence {
                    expected,
                    found: record.seq,
                };
                let seen = info.last_seq().max(Some(record.seq));
                return Ok(corrupt(info, offset as u64, defect, seen));
            }
            Parsed::Bad(defect) => {
                let floor = expected.checked_sub(1);
                if is_last {
                    match resync(data, offset + 1, floor) {
                        None => {
                            let max_seen = info.last_seq();
                            return Ok(Scan {
                                info,
                                outcome: Outcome::Torn(defect),
                                max_seen,
                            });
                        }
                        Some((at, seq, _)) => {
                            // With no floor (nothing valid before) the
                            // record found may be number 0.
                            let seen = info.last_seq().max(Some(max_seq_from(
                                data,
                                at,
                                seq.saturating_sub(1),
                            )));
                            return Ok(corrupt(info, offset as u64, defect, seen));
                        }
                    }
                }
                let seen = info.last_seq();
                return Ok(corrupt(info, offset as u64, defect, seen));
            }
        }
    }
    let max_seen = info.last_seq();
    Ok(Scan {
        info,
        outcome: Outcome::Clean,
        max_seen,
    })
}

/// The first valid record at or after `start` whose sequence number is
/// above `floor` (and plausibly close to it): `(offset, seq, len)`.
fn resync(data: &[u8], start: usize, floor: Option<u64>) -> Option<(usize, u64, usize)> {
    let last_start = data.len().checked_sub(RECORD_PREFIX_LEN + BODY_FIXED_LEN)?;
    (start..=last_start).find_map(|offset| {
        let window = &data[offset..];
        let seq = peek_seq(window)?;
        let above = floor.map_or(seq < RESYNC_SEQ_WINDOW, |floor| {
            seq > floor && seq - floor < RESYNC_SEQ_WINDOW
        });
        if !above {
            return None;
        }
        match parse_record(window) {
            Parsed::Record(record, len) => Some((offset, record.seq, len)),
            Parsed::Bad(_) => None,
        }
    })
}

/// The highest sequence number of any valid record in `data` from `start`
/// (at least `floor`): after corruption in the last segment, the recorder
/// must continue above every number the quarantined file holds. Hops
/// record by record, resyncing past any further damage.
fn max_seq_from(data: &[u8], start: usize, floor: u64) -> u64 {
    let mut max = floor;
    let mut offset = start;
    while let Some((at, seq, len)) = resync(data, offset, Some(max)) {
        max = seq;
        offset = at + len;
    }
    max
}

/// Takes the directory's lock (creating the lock file), or reports who has
/// it. The lock lives as long as the returned file.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, RecordError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error("create", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(RecordError::Locked {
            path: dir.to_owned(),
        }),
        Err(TryLockError::Error(source)) => Err(RecordError::Io {
            op: "lock",
            path,
            source,
        }),
    }
}

/// Makes renames, removals and creations in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), RecordError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("fsync", dir))
}

/// Opens the recording in `dir`: checks every segment and, in
/// [`Mode::Repair`], truncates the torn tail and quarantines corrupt
/// segments. A repairing caller must hold the directory lock.
pub(crate) fn open_dir(dir: &Path, mode: Mode) -> Result<OpenReport, RecordError> {
    let mut report = OpenReport::default();
    let mut segments: Vec<(u64, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error("read directory", dir))? {
        let entry = entry.map_err(io_error("read directory", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = parse_segment_name(name) {
            segments.push((seq, entry.path()));
        } else if let Some((base, _)) = name.split_once(QUARANTINE_SUFFIX)
            && let Some(name_seq) = parse_segment_name(base)
        {
            // Its records' numbers stay taken: a recorder continues above
            // them, so a salvaged record never shares a number with a new one.
            let path = entry.path();
            let data = fs::read(&path).map_err(io_error("read", &path))?;
            let max = max_seq_from(&data, 0, name_seq.saturating_sub(1)).max(name_seq);
            report.max_seen_seq = report.max_seen_seq.max(Some(max));
            report.damage.push(Damage::Quarantined { path });
        }
    }
    segments.sort_unstable_by_key(|(seq, _)| *seq);
    // read_dir order is arbitrary; reports should not be.
    report.damage.sort_by(|a, b| match (a, b) {
        (Damage::Quarantined { path: a }, Damage::Quarantined { path: b }) => a.cmp(b),
        _ => std::cmp::Ordering::Equal,
    });
    let mut changed = false;
    let count = segments.len();
    for (index, (name_seq, path)) in segments.into_iter().enumerate() {
        let data = fs::read(&path).map_err(io_error("read", &path))?;
        let previous_end = report.segments.last().and_then(SegmentInfo::end_seq);
        let scan = scan_segment(&path, &data, name_seq, index + 1 == count, previous_end)?;
        report.max_seen_seq = report.max_seen_seq.max(scan.max_seen);
        let file_len = data.len() as u64;
        match scan.outcome {
            Outcome::Clean => report.segments.push(scan.info),
            Outcome::Torn(defect) => {
                let offset = scan.info.bytes;
                if mode == Mode::Repair {
                    truncate(&path, offset)?;
                    changed = true;
                }
                report.damage.push(Damage::TornTail {
                    segment: path,
                    offset,
                    bytes: file_len - offset,
                    defect,
                    repaired: mode == Mode::Repair,
                });
                report.segments.push(scan.info);
            }
            Outcome::TornHeader => {
                if mode == Mode::Repair {
                    fs::remove_file(&path).map_err(io_error("remove", &path))?;
                    changed = true;
                }
                report.damage.push(Damage::TornTail {
                    segment: path,
                    offset: 0,
                    bytes: file_len,
                    defect: Defect::Incomplete,
                    repaired: mode == Mode::Repair,
                });
            }
            Outcome::Corrupt { offset, defect } => {
                let quarantined_as = match mode {
                    Mode::Repair => {
                        changed = true;
                        Some(quarantine(&path)?)
                    }
                    Mode::ReadOnly => None,
                };
                report.damage.push(Damage::Corrupt {
                    segment: path,
                    offset,
                    defect,
                    records_before: scan.info.records,
                    quarantined_as,
                });
            }
        }
    }
    for pair in report.segments.windows(2) {
        if let Some(after) = pair[0].end_seq()
            && pair[1].first_seq > after + 1
        {
            report.damage.push(Damage::SequenceGap {
                after,
                next: pair[1].first_seq,
            });
        }
    }
    if changed {
        sync_dir(dir)?;
    }
    Ok(report)
}

fn truncate(path: &Path, len: u64) -> Result<(), RecordError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error("open", path))?;
    file.set_len(len).map_err(io_error("truncate", path))?;
    file.sync_all().map_err(io_error("fsync", path))
}

/// Renames `path` to `path.corrupt` (or `.corrupt.N` if taken).
fn quarantine(path: &Path) -> Result<PathBuf, RecordError> {
    let base = path.as_os_str().to_owned();
    let mut target = PathBuf::from({
        let mut name = base.clone();
        name.push(QUARANTINE_SUFFIX);
        name
    });
    let mut n = 1u32;
    while target.exists() {
        let mut name = base.clone();
        name.push(format!("{QUARANTINE_SUFFIX}.{n}"));
        target = PathBuf::from(name);
        n += 1;
    }
    fs::rename(path, &target).map_err(io_error("rename", path))?;
    Ok(target)
}
