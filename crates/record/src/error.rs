//! The crate's error type.

use std::io;
use std::path::PathBuf;

use crate::format::{Defect, FORMAT_VERSION};

/// Why a recording could not be opened, written or read.
///
/// Damage found on open (a torn tail, a corrupt segment) is not an error: it
/// is repaired or quarantined and listed in the
/// [`OpenReport`](crate::OpenReport). These are the failures that stop the
/// caller.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A file-system call failed. `op` says which (`"write"`, `"fsync"`,
    /// `"create"`, ...): an `fsync` failure means data the kernel accepted
    /// may not be on disk, which is why the recorder stops for good.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Another process holds the recording directory's lock (a running
    /// picketd, or a repairing reader).
    #[error("{} is locked by another recorder or repairing reader", path.display())]
    Locked {
        /// The recording directory.
        path: PathBuf,
    },
    /// A segment was written by a newer (or unknown) format version. Not
    /// quarantined: the data is probably fine, this build is too old.
    #[error("{}: format version {found}, this build reads version {FORMAT_VERSION}", path.display())]
    UnsupportedVersion {
        /// The segment.
        path: PathBuf,
        /// The version in its header.
        found: u32,
    },
    /// An entry is too large for the format (`what` is "source name" or
    /// "record body").
    #[error("{what} of {len} bytes exceeds the format's limit")]
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// The offending size.
        len: usize,
    },
    /// An earlier write or fsync failed, so the recorder refuses further
    /// writes: retrying could reorder or silently lose records. `cause` is
    /// the first failure. Reopen the recorder (after fixing the disk) to
    /// record again; the open repairs whatever the failure left behind.
    #[error("recording stopped after an earlier failure: {cause}")]
    Stopped {
        /// The first failure, as text.
        cause: String,
    },
    /// The recording already holds (or claims, if damaged or forged) the
    /// last sequence number, `u64::MAX`, so no further record can be
    /// numbered without reusing one. Start a new recording directory.
    #[error("{}: sequence numbers exhausted", path.display())]
    SequenceExhausted {
        /// The recording directory.
        path: PathBuf,
    },
    /// A recorder setting is out of range.
    #[error("invalid recorder configuration: {0}")]
    InvalidConfig(&'static str),
    /// A segment changed under the reader after it was checked at open
    /// (shortened, or bytes altered).
    #[error("{} at byte {offset} changed after open: {defect}", path.display())]
    Changed {
        /// The segment.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// What is wrong with it now.
        defect: Defect,
    },
}

/// Shorthand for building [`RecordError::Io`] in `map_err`.
pub(crate) fn io_error(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> RecordError {
    let path = path.into();
    move |source| RecordError::Io { op, path, source }
}
