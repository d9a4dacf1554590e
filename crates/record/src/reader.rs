//! The reading side: records in sequence order across segments.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{RecordError, io_error};
use crate::format::{HEADER_LEN, Parsed, Record, RecordRef, parse_record};
use crate::recovery::{Mode, OpenReport, lock_dir, open_dir};

/// A checked recording, ready to be read.
#[derive(Debug, Clone)]
pub struct Reader {
    report: OpenReport,
}

impl Reader {
    /// Opens the recording in `dir` and repairs it as a recorder would:
    /// cuts a torn tail, quarantines corrupt segments (see
    /// [`report`](Self::report)). Takes the directory lock for the
    /// duration of the open, so it fails with [`RecordError::Locked`] while
    /// a recorder is writing there: repairing under a live writer would cut
    /// the record it is in the middle of appending.
    pub fn open(dir: &Path) -> Result<Self, RecordError> {
        let _lock = lock_dir(dir)?;
        Ok(Self {
            report: open_dir(dir, Mode::Repair)?,
        })
    }

    /// Opens the recording in `dir` without changing anything: damage is
    /// reported exactly as [`open`](Self::open) would (with `repaired:
    /// false` / `quarantined_as: None`), and only validated records are
    /// read. Safe on a live recording (records appended after the open are
    /// not seen; a segment that the recorder's retention deletes before the
    /// cursor reaches it ends the read with an error) and on read-only
    /// media.
    pub fn open_read_only(dir: &Path) -> Result<Self, RecordError> {
        Ok(Self {
            report: open_dir(dir, Mode::ReadOnly)?,
        })
    }

    /// What the open found and did.
    pub fn report(&self) -> &OpenReport {
        &self.report
    }

    /// A cursor over every readable record, in sequence order, borrowing
    /// one segment's bytes at a time (the fast path: no allocation per
    /// record).
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            reader: self,
            segment: 0,
            buf: Vec::new(),
            pos: 0,
            loaded: false,
        }
    }

    /// Every readable record, owned (one allocation each for source and
    /// payload; use [`cursor`](Self::cursor) where that matters).
    pub fn records(&self) -> Records<'_> {
        Records {
            cursor: self.cursor(),
        }
    }
}

/// Reads records one at a time; see [`Reader::cursor`].
#[derive(Debug)]
pub struct Cursor<'r> {
    reader: &'r Reader,
    /// Index of the segment in `buf` (or to load next).
    segment: usize,
    buf: Vec<u8>,
    pos: usize,
    loaded: bool,
}

impl Cursor<'_> {
    /// The next record, `None` after the last. Each record's checksum is
    /// checked again, so a segment altered since the open gives
    /// [`RecordError::Changed`] rather than bad data.
    #[allow(clippy::should_implement_trait)] // lends from `self`: not an Iterator
    pub fn next(&mut self) -> Result<Option<RecordRef<'_>>, RecordError> {
        let segments = &self.reader.report.segments;
        loop {
            if self.loaded && self.pos < self.buf.len() {
                break;
            }
            if self.loaded {
                self.segment += 1;
                self.loaded = false;
            }
            let Some(info) = segments.get(self.segment) else {
                return Ok(None);
            };
            self.buf.clear();
            let file = File::open(&info.path).map_err(io_error("open", &info.path))?;
            // Only the bytes validated at open: a live writer's later
            // appends, or a torn tail left by a read-only open, are not read.
            file.take(info.bytes)
                .read_to_end(&mut self.buf)
                .map_err(io_error("read", &info.path))?;
            if (self.buf.len() as u64) < info.bytes {
                return Err(RecordError::Changed {
                    path: info.path.clone(),
                    offset: self.buf.len() as u64,
                    defect: crate::format::Defect::Incomplete,
                });
            }
            self.pos = HEADER_LEN;
            self.loaded = true;
        }
        match parse_record(&self.buf[self.pos..]) {
            Parsed::Record(record, len) => {
                self.pos += len;
                Ok(Some(record))
            }
            Parsed::Bad(defect) => Err(RecordError::Changed {
                path: segments
                    .get(self.segment)
                    .map(|s| s.path.clone())
                    .unwrap_or_default(),
                offset: self.pos as u64,
                defect,
            }),
        }
    }
}

/// Owned records; see [`Reader::records`].
#[derive(Debug)]
pub struct Records<'r> {
    cursor: Cursor<'r>,
}

impl Iterator for Records<'_> {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor
            .next()
            .map(|record| record.map(|r| r.to_owned()))
            .transpose()
    }
}
