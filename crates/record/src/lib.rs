//! picket-record: crash-safe recording of every raw input (and every engine
//! tick) picketd processes, so that `picket replay` can feed the same
//! sequence through the same engine and get the same outputs.
//!
//! # Using it
//! ```no_run
//! use picket_record::{Entry, Reader, RecordKind, Recorder, RecorderConfig};
//! # fn main() -> Result<(), picket_record::RecordError> {
//! let dir = std::path::Path::new("/var/lib/picket/recording");
//! let now_us = 1_764_288_000_000_000; // the host clock, passed in
//! let (mut recorder, report) = Recorder::open(dir, RecorderConfig::default(), now_us)?;
//! for damage in &report.damage {
//!     eprintln!("recording: {damage}"); // torn tail cut, corruption quarantined
//! }
//! let entry = Entry { time_us: now_us, kind: RecordKind::Serial,
//!                     source: "/dev/ttyUSB0", payload: b"\x00\x01" };
//! let seq = recorder.append(&entry)?; // on error: log, count, keep tracking
//! recorder.close()?;
//!
//! let reader = Reader::open_read_only(dir)?;
//! let mut cursor = reader.cursor();
//! while let Some(record) = cursor.next()? {
//!     println!("{} {:?} {}", record.seq, record.entry.kind, record.entry.source);
//! }
//! # let _ = seq; Ok(()) }
//! ```
//! With the `engine` feature, [`engine`] converts `RawInput`s and ticks to
//! entries and back.
//!
//! # Directory
//! A recording is a directory of segment files
//! `segment-<first seq, 20 digits>.pkr`, oldest first, plus `LOCK` (held by
//! the one recorder writing there) and any quarantined
//! `segment-*.pkr.corrupt` files. Copy the whole directory off the tower;
//! any subset of consecutive segments is itself a valid recording.
//!
//! # Segment layout
//! All integers little-endian. A segment starts with a 24-byte header:
//!
//! | offset | size | field | value |
//! |---:|---:|---|---|
//! | 0 | 8 | magic | `89 50 4B 52 0D 0A 1A 0A` (`\x89PKR\r\n\x1a\n`) |
//! | 8 | 4 | format version | `u32` = 1 |
//! | 12 | 8 | first sequence number | `u64`, equals the one in the file name |
//! | 20 | 4 | header checksum | CRC-32C of bytes 0..20 |
//!
//! and is followed by records, back to back:
//!
//! | offset | size | field | value |
//! |---:|---:|---|---|
//! | 0 | 4 | `len` | `u32`: bytes after the checksum (19 + S + P), 19..=16 MiB |
//! | 4 | 4 | checksum | CRC-32C (Castagnoli, as picket-wire) of the `len` bytes after it |
//! | 8 | 8 | sequence number | `u64`: +1 per record, across segments and restarts |
//! | 16 | 8 | time | `i64` µs since the Unix epoch (host receive time, or the tick's or release's `now`) |
//! | 24 | 1 | kind | 1 serial read, 2 MQTT payload, 3 engine tick, 4 engine flush, 5 engine release |
//! | 25 | 2 | S, source length | `u16` |
//! | 27 | S | source | UTF-8: serial port name or MQTT topic; empty for ticks, flushes and releases |
//! | 27 + S | P | payload | the raw bytes, exactly as read or received |
//!
//! For example, record 0x1122334455667788 at time 0x0102030405060708 µs,
//! MQTT topic `s/1`, payload `AA BB` (see `format::tests`):
//! ```text
//! 18 00 00 00  <crc32c LE>  88 77 66 55 44 33 22 11  08 07 06 05 04 03 02 01
//! 02  03 00  73 2F 31  AA BB
//! ```
//!
//! # Crash safety
//! Appends only ever extend the last segment, and every other segment was
//! fsynced before the next was created. So on open (by a [`Recorder`] or a
//! repairing [`Reader`]):
//! * a bad record in the **last** segment with nothing valid after it is a
//!   torn tail (a crash mid-append): the file is cut back to the last
//!   complete record, which are all kept;
//! * a bad record with a valid one after it, a bad header, a sequence
//!   break, or any defect in an **earlier** segment is corruption: the
//!   segment is renamed `*.corrupt` and listed in the [`OpenReport`], never
//!   silently skipped. Sequence numbers continue after the highest one seen,
//!   so none is reused.
//!
//! What a crash may lose is set by [`FsyncPolicy`]. An I/O failure stops
//! the recorder for good (see [`Recorder`]); recording is turned off by not
//! creating a recorder.
//!
//! Retention ([`Retention`]) deletes whole segments, oldest first, by total
//! size and by age. Nothing in this crate reads a clock: times are passed
//! in, which is what makes retention and group commit testable.

mod error;
mod format;
mod reader;
mod recorder;
mod recovery;

#[cfg(feature = "engine")]
pub mod engine;

pub use error::RecordError;
pub use format::{
    Defect, Entry, FORMAT_VERSION, MAX_BODY_LEN, MAX_SOURCE_LEN, Record, RecordKind, RecordRef,
};
pub use reader::{Cursor, Reader, Records};
pub use recorder::{FsyncPolicy, Recorder, RecorderConfig, Retention};
pub use recovery::{Damage, OpenReport, SegmentInfo};
