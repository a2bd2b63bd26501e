//! Durable storage of a native node: the write-ahead log, the hard state and the snapshot.
//!
//! Everything here treats Raft data as opaque: log records are `(index, term, payload)` and the
//! hard state and snapshot configuration are caller-encoded bytes. The Raft glue decides what goes
//! in; this layer decides how it survives a crash:
//!
//! - [`Log`]: segmented, checksummed, append-only; nothing is durable until [`Log::sync`], and one
//!   sync covers every entry appended before it (group commit). Zeros are written ahead of the
//!   records so that a sync need not change the file's size; zeros after the last record are the
//!   clean end. On open, a torn or corrupt tail is truncated at the last valid record and reported
//!   in [`Recovered`], as is a torn write that left a zeroed sector before later records (none of
//!   them was ever synced); corruption anywhere else is an error that must stop the node.
//! - [`HardStateFile`] and [`SnapshotFile`]: small files replaced atomically (write a temporary
//!   file, fsync, rename over, fsync the directory), with a checksum inside.

pub(crate) mod atomic_file;
pub mod data_format;
mod hard_state;
mod log;
pub mod record;
mod recovery;
mod segment;
mod snapshot_file;
mod terms;

pub use hard_state::HardStateFile;
pub use log::{Log, LogEntry, LogOptions, SyncStats};
pub use recovery::{Recovered, TailReason, TruncatedTail};
pub use snapshot_file::{Snapshot, SnapshotFile, SnapshotMeta};

use std::path::PathBuf;
use std::{fmt, io};

use record::{CorruptReason, HeaderError};

/// Result type of the storage layer.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Everything that can go wrong in the storage layer, one variant per cause.
///
/// Variants that describe on-disk damage name the file (and offset) so an operator can act on the
/// message alone. After an `Io` error from a write or fsync the [`Log`] refuses further use
/// ([`StorageError::Poisoned`]): once an fsync has failed the kernel may have dropped the dirty
/// pages, so retrying it could report success for data that is gone.
#[derive(Debug)]
#[non_exhaustive]
pub enum StorageError {
    /// An operating-system call failed.
    Io {
        /// What was being done ("fsync", "open", "rename", ...).
        op: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A record that is not the log's tail is damaged. The node must not start: skipping it would
    /// silently lose or reorder acknowledged entries.
    CorruptRecord {
        /// Segment file.
        path: PathBuf,
        /// Byte offset of the damaged record in that file.
        offset: u64,
        /// What is wrong with it.
        reason: CorruptRecordReason,
        /// Offset of a valid record found after it, which is what makes this "the middle" of a
        /// last segment; `None` when the damage is in an earlier segment (always the middle).
        valid_record_after: Option<u64>,
    },
    /// A segment file's header is unreadable, or disagrees with the file name.
    BadSegmentHeader {
        /// Segment file.
        path: PathBuf,
        /// What is wrong with it.
        reason: SegmentHeaderProblem,
    },
    /// A record's index is not the one after the previous record's.
    IndexDiscontinuity {
        /// Segment file.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// Index that should have come next.
        expected: u64,
        /// Index the record carries.
        found: u64,
    },
    /// Segments do not follow each other: one is missing (or left over) between `previous` and
    /// `path`.
    SegmentGap {
        /// The segment before the gap.
        previous: PathBuf,
        /// First index the next segment should have.
        expected: u64,
        /// The segment after the gap.
        path: PathBuf,
        /// First index it has.
        found: u64,
    },
    /// The entries passed to one append are not consecutive.
    NonContiguousBatch {
        /// Position in the batch of the first offending entry.
        position: usize,
        /// Index it should have had.
        expected: u64,
        /// Index it has.
        found: u64,
    },
    /// An append would leave a hole after the last entry.
    AppendGap {
        /// Last index in the log.
        last_index: u64,
        /// First index of the batch.
        found: u64,
    },
    /// The index lies before the log's first index: compacted into a snapshot.
    Compacted {
        /// Index asked for.
        index: u64,
        /// First index still in the log.
        first_index: u64,
    },
    /// The index lies after the log's last index.
    Unavailable {
        /// Index asked for.
        index: u64,
        /// Last index in the log.
        last_index: u64,
    },
    /// A payload is over [`record::MAX_PAYLOAD_LEN`].
    PayloadTooLarge {
        /// Index of the entry.
        index: u64,
        /// Its payload length.
        len: usize,
    },
    /// A hard-state or snapshot file is damaged.
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`LogOptions`] are out of range.
    InvalidOptions(&'static str),
    /// An earlier write or fsync failed; the log must be reopened (which re-verifies the disk).
    Poisoned,
}

/// What is wrong with a damaged record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptRecordReason {
    /// The bytes are complete but invalid.
    Corrupt(CorruptReason),
    /// The record runs past the end of the file.
    Torn,
}

/// What is wrong with a segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentHeaderProblem {
    /// The header itself does not decode.
    Header(HeaderError),
    /// The file name says the segment starts at index 0; log indices start at 1.
    ZeroIndex,
    /// The header's first index is not the one in the file name.
    NameMismatch {
        /// Index in the file name.
        name: u64,
        /// Index in the header.
        header: u64,
    },
}

impl StorageError {
    /// Whether this is a write (or a file's creation) refused for want of space: `ENOSPC` or
    /// `EDQUOT`. Nothing was made durable, and nothing durable was lost, so the node may retry
    /// once space is freed. Never an fsync's error: after a failed fsync the kernel may have
    /// dropped the dirty pages, so what was written may be gone even though `write` succeeded
    /// (that stays fatal, see [`StorageError::Poisoned`]).
    pub fn is_out_of_space(&self) -> bool {
        match self {
            Self::Io { op, source, .. } => {
                !op.starts_with("fsync") && crate::space::is_out_of_space(source)
            }
            _ => false,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }
}

impl fmt::Display for CorruptRecordReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Corrupt(r) => r.fmt(f),
            Self::Torn => f.write_str("record runs past the end of the file"),
        }
    }
}

impl fmt::Display for SegmentHeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(h) => h.fmt(f),
            Self::ZeroIndex => f.write_str("segment named for index 0; indices start at 1"),
            Self::NameMismatch { name, header } => {
                write!(f, "file name says first index {name}, header says {header}")
            }
        }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { op, path, source } => write!(f, "{op} {}: {source}", path.display()),
            Self::CorruptRecord { path, offset, reason, valid_record_after } => {
                write!(f, "corrupt WAL record in {} at offset {offset}: {reason}; ", path.display())?;
                match valid_record_after {
                    Some(at) => write!(f, "a valid record follows at offset {at}")?,
                    None => f.write_str("later segments follow")?,
                }
                f.write_str(
                    ", so this is not a torn tail; refusing to start rather than drop entries \
                     (restore this node's data from a healthy peer)",
                )
            }
            Self::BadSegmentHeader { path, reason } => {
                write!(f, "bad WAL segment header in {}: {reason}", path.display())
            }
            Self::IndexDiscontinuity { path, offset, expected, found } => write!(
                f,
                "WAL record in {} at offset {offset} has index {found}, expected {expected}",
                path.display()
            ),
            Self::SegmentGap { previous, expected, path, found } => write!(
                f,
                "WAL segments are not contiguous: after {} the next segment should start at \
                 index {expected}, but {} starts at {found} (missing or stray segment file)",
                previous.display(),
                path.display()
            ),
            Self::NonContiguousBatch { position, expected, found } => write!(
                f,
                "append batch not contiguous: entry {position} has index {found}, expected {expected}"
            ),
            Self::AppendGap { last_index, found } => write!(
                f,
                "append at index {found} would leave a gap after last index {last_index}"
            ),
            Self::Compacted { index, first_index } => {
                write!(f, "index {index} is compacted (first index is {first_index})")
            }
            Self::Unavailable { index, last_index } => {
                write!(f, "index {index} is past the last index {last_index}")
            }
            Self::PayloadTooLarge { index, len } => write!(
                f,
                "entry {index}: payload of {len} bytes is over the limit of {} bytes",
                record::MAX_PAYLOAD_LEN
            ),
            Self::CorruptFile { path, reason } => {
                write!(f, "corrupt storage file {}: {reason}", path.display())
            }
            Self::InvalidOptions(why) => write!(f, "invalid log options: {why}"),
            Self::Poisoned => f.write_str(
                "the log is unusable after an earlier write or fsync error; reopen it to recover",
            ),
        }
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
