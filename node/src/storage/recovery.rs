//! Start-up recovery of the log: verify every segment, cut a torn tail, refuse anything else.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::atomic_file::sync_dir;
use super::record::{CorruptReason, SegmentHeader, SEGMENT_HEADER_LEN};
use super::segment::{self, Segment, TailProblem};
use super::terms::TermRuns;
use super::{Result, SegmentHeaderProblem, StorageError as E};

/// What [`Log::open`](super::Log::open) found and repaired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// First index in the log (the first one physically present; see [`Log::compact_through`](super::Log::compact_through)).
    pub first_index: u64,
    /// Last valid index; `first_index - 1` if the log is empty.
    pub last_index: u64,
    /// Number of segment files.
    pub segments: usize,
    /// The torn or corrupt tail that was cut off, if any.
    pub truncated: Option<TruncatedTail>,
}

/// A damaged tail of the last segment that recovery cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TruncatedTail {
    /// The segment file.
    pub path: PathBuf,
    /// Where it now ends (where the valid records end).
    pub offset: u64,
    /// How many bytes were dropped.
    pub bytes_dropped: u64,
    /// What the dropped bytes began with.
    pub reason: TailReason,
}

/// What was found after the last valid record of the last segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailReason {
    /// The segment header itself was incomplete (`len` bytes): a crash right after creating it.
    /// The header is written anew.
    TornHeader {
        /// Bytes the file had.
        len: u64,
    },
    /// A record cut short by the end of the file.
    Torn,
    /// Complete bytes that are not a valid record, and no valid record after them.
    Corrupt(CorruptReason),
}

/// Verifies the segments in `dir` (creating the directory and a first empty segment if there are
/// none) and returns them in order with the terms of their entries and the tail cut off, if any.
pub(crate) fn recover(dir: &Path) -> Result<(Vec<Segment>, TermRuns, Option<TruncatedTail>)> {
    fs::create_dir_all(dir).map_err(E::io("create directory", &dir))?;
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(E::io("list directory", &dir))? {
        let entry = entry.map_err(E::io("list directory", &dir))?;
        match entry
            .file_name()
            .to_str()
            .and_then(segment::parse_file_name)
        {
            Some(first) => found.push((first, entry.path())),
            None => {
                tracing::debug!(path = %entry.path().display(), "ignoring non-segment file")
            }
        }
    }
    found.sort();

    let count = found.len();
    let mut terms = TermRuns::default();
    let mut segments: Vec<Segment> = Vec::with_capacity(count.max(1));
    let mut truncated = None;
    for (k, (first, path)) in found.into_iter().enumerate() {
        if first == 0 {
            let reason = SegmentHeaderProblem::ZeroIndex;
            return Err(E::BadSegmentHeader { path, reason });
        }
        if let Some(prev) = segments.last() {
            if first != prev.last_index() + 1 {
                let (previous, expected) = (prev.path.clone(), prev.last_index() + 1);
                return Err(E::SegmentGap {
                    previous,
                    expected,
                    path,
                    found: first,
                });
            }
        }
        let (mut seg, problem) = Segment::open_verified(path, first, &mut terms)?;
        if let Some(problem) = problem {
            if k + 1 < count || !problem.repairable() {
                return Err(problem.into_error(&seg.path));
            }
            truncated = Some(repair_tail(&mut seg, &problem)?);
        }
        segments.push(seg);
    }
    if segments.is_empty() {
        let seg = Segment::create(dir, 1)?;
        seg.file.sync_data().map_err(E::io("fsync", &seg.path))?;
        sync_dir(dir)?;
        segments.push(seg);
    }
    Ok((segments, terms, truncated))
}

/// Cuts the last segment back to its valid records (or rewrites a torn header) and fsyncs it.
fn repair_tail(seg: &mut Segment, problem: &TailProblem) -> Result<TruncatedTail> {
    let path = &seg.path;
    seg.file
        .set_len(problem.offset)
        .map_err(E::io("truncate segment", path))?;
    seg.file_len = problem.offset;
    if let TailReason::TornHeader { .. } = problem.reason {
        let header = SegmentHeader {
            first_index: seg.first_index,
        }
        .encode();
        seg.file
            .write_all_at(&header, 0)
            .map_err(E::io("write segment header", path))?;
        seg.end = SEGMENT_HEADER_LEN as u64;
        seg.file_len = SEGMENT_HEADER_LEN as u64;
    }
    seg.file.sync_data().map_err(E::io("fsync", path))?;
    let tail = TruncatedTail {
        path: path.clone(),
        offset: problem.offset,
        bytes_dropped: problem.file_len - problem.offset,
        reason: problem.reason,
    };
    match problem.valid_record_after {
        None => tracing::warn!(
            path = %path.display(),
            offset = tail.offset,
            bytes_dropped = tail.bytes_dropped,
            reason = ?tail.reason,
            "truncated torn write-ahead log tail"
        ),
        Some(valid_at) => tracing::warn!(
            path = %path.display(),
            offset = tail.offset,
            bytes_dropped = tail.bytes_dropped,
            reason = ?tail.reason,
            valid_at,
            "truncated a write torn by a power loss (zeros to a sector's end), with the records \
             after it: written later, none of them was ever synced"
        ),
    }
    Ok(tail)
}
