//! One segment file of the log: its name, its in-memory index, reading it back and verifying it
//! on start-up.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::{self, CorruptReason, Decoded, HeaderError, SegmentHeader, SEGMENT_HEADER_LEN};
use super::terms::TermRuns;
use super::{
    CorruptRecordReason, LogEntry, Result, SegmentHeaderProblem, StorageError as E, TailReason,
};

/// Extension of segment files.
const EXTENSION: &str = "wal";
/// Digits in a segment file name: every `u64` fits, and names sort like their indices.
const NAME_DIGITS: usize = 20;

/// The file name of the segment whose first entry is `first_index`.
pub(crate) fn file_name(first_index: u64) -> String {
    format!("{first_index:0NAME_DIGITS$}.{EXTENSION}")
}

/// The first index encoded in a segment file name, or `None` if it is not one.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(EXTENSION)?.strip_suffix('.')?;
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// An open segment file and where each of its entries starts.
#[derive(Debug)]
pub(crate) struct Segment {
    /// The file's path.
    pub(crate) path: PathBuf,
    /// Index of the first entry (also in the name and header).
    pub(crate) first_index: u64,
    /// Byte offset of entry `first_index + i` at `offsets[i]`. Four bytes per entry is the whole
    /// in-memory cost of the log index; segments stay far below 4 GiB (see `LogOptions`).
    offsets: Vec<u32>,
    /// Logical length in bytes, counting bytes still in the log's write buffer.
    pub(crate) end: u64,
    /// The file's length: written bytes, then zeros written ahead of them (see
    /// `LogOptions::preallocate`).
    pub(crate) file_len: u64,
    /// Opened read-write: a segment becomes writable again when a conflict truncates back into it.
    pub(crate) file: File,
}

/// What recovery found wrong at the end of a segment's valid records.
#[derive(Debug)]
pub(crate) struct TailProblem {
    /// Where the valid records end (where the segment would be cut).
    pub(crate) offset: u64,
    /// The file's length as found.
    pub(crate) file_len: u64,
    /// What the bytes at `offset` are.
    pub(crate) reason: TailReason,
    /// Offset of a valid record with a later index somewhere after `offset`, which makes the
    /// damage "in the middle".
    pub(crate) valid_record_after: Option<u64>,
    /// Whether the damaged bytes (from `offset` to the valid record after them, or to the end)
    /// hold zeros up to the end of a sector: the mark of a write torn by a power loss, where
    /// some sectors of an unsynced write reached the disk and others did not.
    pub(crate) zero_sector: bool,
}

impl TailProblem {
    /// Whether recovery may cut the segment at `offset`. Damage followed by nothing valid is a
    /// torn tail. Damage followed by valid records is one too if it holds a zeroed sector: an
    /// unsynced write was torn, and every record after it was written later, so none of them
    /// was ever synced, let alone acknowledged (a sync covers everything written before it).
    /// Any other damage before valid records is corruption of synced data: the node must not
    /// start on it.
    pub(crate) fn repairable(&self) -> bool {
        self.valid_record_after.is_none() || self.zero_sector
    }

    /// The error to report when this problem may not be repaired by truncation.
    pub(crate) fn into_error(self, path: &Path) -> E {
        let reason = match self.reason {
            TailReason::TornHeader { len } => {
                let header = if len < SEGMENT_HEADER_LEN as u64 {
                    HeaderError::Truncated { len: len as usize }
                } else {
                    HeaderError::BadMagic // all zeros
                };
                let reason = SegmentHeaderProblem::Header(header);
                return E::BadSegmentHeader {
                    path: path.to_owned(),
                    reason,
                };
            }
            TailReason::Torn => CorruptRecordReason::Torn,
            TailReason::Corrupt(r) => CorruptRecordReason::Corrupt(r),
        };
        E::CorruptRecord {
            path: path.to_owned(),
            offset: self.offset,
            reason,
            valid_record_after: self.valid_record_after,
        }
    }
}

impl Segment {
    /// Creates a new, empty segment in `dir` and writes its header (not yet fsync'd).
    pub(crate) fn create(dir: &Path, first_index: u64) -> Result<Self> {
        let path = dir.join(file_name(first_index));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(E::io("create segment", &path))?;
        let header = SegmentHeader { first_index }.encode();
        file.write_all_at(&header, 0)
            .map_err(E::io("write segment header", &path))?;
        Ok(Self {
            path,
            first_index,
            offsets: Vec::new(),
            end: SEGMENT_HEADER_LEN as u64,
            file_len: SEGMENT_HEADER_LEN as u64,
            file,
        })
    }

    /// Number of entries in the segment.
    pub(crate) fn entry_count(&self) -> u64 {
        self.offsets.len() as u64
    }

    /// Index of the last entry, or `first_index - 1` if the segment is empty.
    pub(crate) fn last_index(&self) -> u64 {
        self.first_index + self.entry_count() - 1
    }

    /// Records that the entry after the last one starts at byte `offset`.
    pub(crate) fn push(&mut self, offset: u64) {
        let offset = u32::try_from(offset).expect("segment offsets stay below 4 GiB");
        self.offsets.push(offset);
    }

    /// Byte offset of entry `index`, which the segment holds.
    pub(crate) fn offset_of(&self, index: u64) -> u64 {
        u64::from(self.offsets[(index - self.first_index) as usize])
    }

    /// Forgets entries from `index` on (`first_index <= index <= last_index + 1`) and returns the
    /// byte offset where the segment now ends. The file itself is cut by the caller.
    pub(crate) fn forget_from(&mut self, index: u64) -> u64 {
        let keep = (index - self.first_index) as usize;
        let end = self.offsets.get(keep).map_or(self.end, |&o| u64::from(o));
        self.offsets.truncate(keep);
        self.end = end;
        end
    }

    /// Reads entries `[lo, hi)` (all in this segment) and appends them to `out`, verifying each
    /// record again. Bytes at and after `flushed` are taken from `pending` (the write buffer).
    pub(crate) fn read_entries(
        &self,
        lo: u64,
        hi: u64,
        flushed: u64,
        pending: &[u8],
        out: &mut Vec<LogEntry>,
    ) -> Result<()> {
        let start = self.offset_of(lo);
        let stop = if hi > self.last_index() {
            self.end
        } else {
            self.offset_of(hi)
        };
        let mut buf = vec![0; (stop - start) as usize];
        let from_file = stop.min(flushed).saturating_sub(start) as usize;
        self.file
            .read_exact_at(&mut buf[..from_file], start)
            .map_err(E::io("read segment", &self.path))?;
        if from_file < buf.len() {
            let at = (start + from_file as u64 - flushed) as usize;
            let rest = buf.len() - from_file;
            buf[from_file..].copy_from_slice(&pending[at..at + rest]);
        }
        let mut pos = 0;
        for index in lo..hi {
            let offset = start + pos as u64;
            match record::decode(&buf[pos..]) {
                Decoded::Record { record, len } if record.index == index => {
                    out.push((record.index, record.term, record.payload.to_vec()));
                    pos += len;
                }
                Decoded::Record { record, .. } => {
                    return Err(E::IndexDiscontinuity {
                        path: self.path.clone(),
                        offset,
                        expected: index,
                        found: record.index,
                    })
                }
                Decoded::Corrupt(r) => return Err(corrupt(&self.path, offset, r.into())),
                Decoded::Torn { .. } | Decoded::End => {
                    return Err(corrupt(&self.path, offset, CorruptRecordReason::Torn))
                }
            }
        }
        Ok(())
    }

    /// Opens and verifies an existing segment whose name says it starts at `first_index`,
    /// pushing the term of every valid record to `terms`.
    ///
    /// Returns the segment holding every valid record, and what follows them if that is not the
    /// clean end of the file. Damage that cannot be a torn write (a bad magic or version, a header
    /// that disagrees with the name, a checksummed record with the wrong index) is an error here.
    pub(crate) fn open_verified(
        path: PathBuf,
        first_index: u64,
        terms: &mut TermRuns,
    ) -> Result<(Self, Option<TailProblem>)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(E::io("open segment", &path))?;
        let bytes = fs::read(&path).map_err(E::io("read segment", &path))?;
        let file_len = bytes.len() as u64;
        let mut segment = Self {
            path,
            first_index,
            offsets: Vec::new(),
            end: 0,
            file_len,
            file,
        };

        let header = match SegmentHeader::decode(&bytes) {
            Ok(h) => h,
            Err(HeaderError::Truncated { .. }) => {
                let problem = TailProblem {
                    offset: 0,
                    file_len,
                    reason: TailReason::TornHeader { len: file_len },
                    valid_record_after: None,
                    zero_sector: false,
                };
                return Ok((segment, Some(problem)));
            }
            // A crash can leave a freshly extended file full of zeros; that is torn, not corrupt.
            Err(_) if bytes.iter().all(|&b| b == 0) => {
                let problem = TailProblem {
                    offset: 0,
                    file_len,
                    reason: TailReason::TornHeader { len: file_len },
                    valid_record_after: None,
                    zero_sector: false,
                };
                return Ok((segment, Some(problem)));
            }
            Err(h) => {
                let reason = SegmentHeaderProblem::Header(h);
                return Err(E::BadSegmentHeader {
                    path: segment.path,
                    reason,
                });
            }
        };
        if header.first_index != first_index {
            let reason = SegmentHeaderProblem::NameMismatch {
                name: first_index,
                header: header.first_index,
            };
            return Err(E::BadSegmentHeader {
                path: segment.path,
                reason,
            });
        }

        let mut pos = SEGMENT_HEADER_LEN;
        segment.end = pos as u64;
        loop {
            let expected = segment.last_index() + 1;
            let reason = match record::decode(&bytes[pos..]) {
                Decoded::End => return Ok((segment, None)),
                Decoded::Record { record, len } => {
                    if record.index != expected {
                        return Err(E::IndexDiscontinuity {
                            path: segment.path,
                            offset: pos as u64,
                            expected,
                            found: record.index,
                        });
                    }
                    terms.push(record.index, record.term);
                    segment.push(pos as u64);
                    pos += len;
                    segment.end = pos as u64;
                    continue;
                }
                Decoded::Torn { .. } => TailReason::Torn,
                Decoded::Corrupt(r) => TailReason::Corrupt(r),
            };
            if bytes[pos..].iter().all(|&b| b == 0) {
                // Zeros written ahead of the records (`LogOptions::preallocate`): the clean end.
                return Ok((segment, None));
            }
            let valid_record_after = find_valid_record(&bytes, pos + 1, expected - 1);
            let zero_sector = has_zero_sector(&bytes, pos, valid_record_after);
            let problem = TailProblem {
                offset: pos as u64,
                file_len,
                reason,
                valid_record_after,
                zero_sector,
            };
            return Ok((segment, Some(problem)));
        }
    }
}

/// Sectors of this size are written whole or not at all (512 bytes: the smallest in use).
const SECTOR: usize = 512;

/// Whether the damage in `bytes[from..to]` (`to` defaulting to the end) looks like a write torn
/// by a power loss: a piece of it that reaches the end of its sector still holds the zeros
/// written ahead. That piece is the rest of the sector where the damage begins, or a whole
/// sector after it. A valid record at `to` lies in a sector that was written, so a piece that
/// runs past `to` does not count; nor can a record's start be zeros in data that was written
/// (its length is never 0, its kind byte never 0).
fn has_zero_sector(bytes: &[u8], from: usize, to: Option<u64>) -> bool {
    let to = to.map_or(bytes.len(), |t| t as usize).min(bytes.len());
    let mut start = from;
    while start < to {
        let end = (start / SECTOR + 1) * SECTOR;
        if end > to {
            break;
        }
        if bytes[start..end].iter().all(|&b| b == 0) {
            return true;
        }
        start = end;
    }
    false
}

/// Looks for a checksummed record with an index after `after_index` anywhere in `bytes[from..]`.
///
/// This is what tells a torn tail (garbage or nothing after the damage) from damage in the middle
/// (acknowledged entries after it). The cheap [`record::peek_index`] filter plus an index range
/// check keep the scan linear; only plausible candidates are checksummed.
fn find_valid_record(bytes: &[u8], from: usize, after_index: u64) -> Option<u64> {
    // A later record cannot be further ahead than one index per minimal record.
    let max_index =
        after_index.saturating_add(bytes.len() as u64 / record::encoded_len(0) as u64 + 1);
    for pos in from..bytes.len() {
        let rest = &bytes[pos..];
        let Some(index) = record::peek_index(rest) else {
            continue;
        };
        if index <= after_index || index > max_index {
            continue;
        }
        if let Decoded::Record { .. } = record::decode(rest) {
            return Some(pos as u64);
        }
    }
    None
}

fn corrupt(path: &Path, offset: u64, reason: CorruptRecordReason) -> E {
    E::CorruptRecord {
        path: path.to_owned(),
        offset,
        reason,
        valid_record_after: None,
    }
}

impl From<CorruptReason> for CorruptRecordReason {
    fn from(r: CorruptReason) -> Self {
        Self::Corrupt(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(file_name(1), "00000000000000000001.wal");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_file_name("00000000000000000001.wal.tmp"), None);
        assert_eq!(parse_file_name("1.wal"), None);
        assert_eq!(parse_file_name("0000000000000000000x.wal"), None);
        assert!(file_name(9) < file_name(10));
    }

    #[test]
    fn zero_pieces_count_only_up_to_a_sector_end_before_the_bound() {
        let ones = vec![1u8; 2048];
        assert!(!has_zero_sector(&ones, 0, None));
        let with_zeros = |range: core::ops::Range<usize>| {
            let mut b = ones.clone();
            b[range].fill(0);
            b
        };
        // The rest of the sector where the damage begins.
        let rest_of_first = with_zeros(600..1024);
        assert!(has_zero_sector(&rest_of_first, 600, None));
        assert!(has_zero_sector(&rest_of_first, 600, Some(1024)));
        assert!(
            !has_zero_sector(&rest_of_first, 600, Some(1000)),
            "runs past the bound"
        );
        assert!(
            !has_zero_sector(&with_zeros(600..1000), 600, None),
            "not to the sector end"
        );
        // A whole sector later on.
        let later = with_zeros(1024..1536);
        assert!(has_zero_sector(&later, 600, None));
        assert!(has_zero_sector(&later, 600, Some(1536)));
        assert!(!has_zero_sector(&later, 600, Some(1500)));
        assert!(
            !has_zero_sector(&with_zeros(1030..1536), 600, None),
            "not a whole sector"
        );
    }

    #[test]
    fn scan_finds_later_records_only() {
        let mut bytes = vec![0xAB; 10];
        record::encode(5, 1, b"x", &mut bytes);
        assert_eq!(find_valid_record(&bytes, 0, 4), Some(10));
        assert_eq!(find_valid_record(&bytes, 0, 5), None);
        assert_eq!(find_valid_record(&bytes, 11, 4), None);
    }
}
