//! On-disk framing of write-ahead-log records and segment headers.
//!
//! A segment file starts with a fixed [`SEGMENT_HEADER_LEN`]-byte header:
//!
//! ```text
//! [magic "RFTWAL" 6 bytes][format version u8][reserved u8 = 0][first index u64 LE]
//! ```
//!
//! followed by records, each framed as
//!
//! ```text
//! [len u32 LE][crc32 u32 LE of body][body: kind u8, index u64 LE, term u64 LE, payload]
//! ```
//!
//! `len` is the length of the body. The length comes first so a reader knows how much to take,
//! and the checksum covers the body so any flipped bit in kind, index, term or payload is caught.
//! A flipped bit in `len` itself shows up as a checksum mismatch, an implausible length, or a
//! record that runs past the end of the file.

use std::fmt;

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 6] = *b"RFTWAL";
/// Version of the segment and record format written by this code.
pub const FORMAT_VERSION: u8 = 1;
/// Length of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 16;
/// Length of the frame in front of each body: `len` and `crc`.
pub const FRAME_LEN: usize = 8;
/// Length of the fixed part of a body: kind, index and term.
pub const BODY_FIXED_LEN: usize = 1 + 8 + 8;
/// Largest payload one record may carry (1 GiB).
///
/// Bounding it lets recovery call a garbage length corrupt rather than "the rest is still to
/// come", and keeps in-segment offsets within `u32`.
pub const MAX_PAYLOAD_LEN: usize = 1 << 30;

/// Lengths a record body can have.
const BODY_LEN_RANGE: core::ops::RangeInclusive<usize> =
    BODY_FIXED_LEN..=BODY_FIXED_LEN + MAX_PAYLOAD_LEN;

/// Record kind byte of a log entry. Other kinds are reserved for later formats.
const KIND_ENTRY: u8 = 1;

/// The header at the start of a segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Index of the first record the segment holds (or will hold, if empty).
    pub first_index: u64,
}

/// Why a segment header could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// The file is shorter than a header: a segment created just before a crash.
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// The file does not start with [`SEGMENT_MAGIC`].
    BadMagic,
    /// The file was written by a format version this code does not read.
    UnsupportedVersion(u8),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { len } => {
                write!(f, "header truncated ({len} of {SEGMENT_HEADER_LEN} bytes)")
            }
            Self::BadMagic => write!(f, "bad magic (not a raftorch WAL segment)"),
            Self::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported format version {v} (this build reads {FORMAT_VERSION})"
                )
            }
        }
    }
}

impl SegmentHeader {
    /// Encodes the header in its on-disk form.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[..6].copy_from_slice(&SEGMENT_MAGIC);
        out[6] = FORMAT_VERSION;
        out[8..].copy_from_slice(&self.first_index.to_le_bytes());
        out
    }

    /// Decodes a header from the start of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self, HeaderError> {
        if buf.len() < SEGMENT_HEADER_LEN {
            return Err(HeaderError::Truncated { len: buf.len() });
        }
        if buf[..6] != SEGMENT_MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if buf[6] != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(buf[6]));
        }
        Ok(Self {
            first_index: read_u64(&buf[8..16]),
        })
    }
}

/// One decoded record, borrowing its payload from the buffer it was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Log index of the entry.
    pub index: u64,
    /// Term of the entry.
    pub term: u64,
    /// Opaque payload.
    pub payload: &'a [u8],
}

/// Why the bytes at some offset are not a valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptReason {
    /// The body does not match its checksum.
    Checksum {
        /// Checksum stored in the frame.
        stored: u32,
        /// Checksum of the body as read.
        computed: u32,
    },
    /// The length field cannot be a record's (too small for the fixed fields, or over the maximum).
    BadLength(u32),
    /// The checksum matches but the kind byte is unknown: written by a newer format.
    UnknownKind(u8),
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Checksum { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
            Self::BadLength(len) => write!(f, "implausible record length {len}"),
            Self::UnknownKind(kind) => write!(f, "unknown record kind {kind}"),
        }
    }
}

/// The outcome of decoding the bytes at one offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A complete record whose checksum matches; `len` bytes were consumed.
    Record {
        /// The record.
        record: Record<'a>,
        /// Bytes the framed record occupies.
        len: usize,
    },
    /// No bytes left: the clean end of the data.
    End,
    /// The bytes end inside a record: a write cut short.
    Torn {
        /// Bytes present.
        available: usize,
        /// Bytes the record needs (at least the frame, if even that is incomplete).
        needed: usize,
    },
    /// The bytes are complete but wrong.
    Corrupt(CorruptReason),
}

/// Bytes a record with a payload of `payload_len` bytes takes on disk.
pub const fn encoded_len(payload_len: usize) -> usize {
    FRAME_LEN + BODY_FIXED_LEN + payload_len
}

/// Appends the framed record to `out`.
///
/// # Panics
/// If `payload` is longer than [`MAX_PAYLOAD_LEN`]; callers check first.
pub fn encode(index: u64, term: u64, payload: &[u8], out: &mut Vec<u8>) {
    assert!(
        payload.len() <= MAX_PAYLOAD_LEN,
        "payload over MAX_PAYLOAD_LEN"
    );
    let body_len = BODY_FIXED_LEN + payload.len();
    out.reserve(FRAME_LEN + body_len);
    let frame_at = out.len();
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    let body_at = out.len();
    out.push(KIND_ENTRY);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(&term.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[body_at..]);
    out[frame_at + 4..frame_at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes the record at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded<'_> {
    if buf.is_empty() {
        return Decoded::End;
    }
    if buf.len() < FRAME_LEN {
        return Decoded::Torn {
            available: buf.len(),
            needed: FRAME_LEN,
        };
    }
    let len = read_u32(&buf[0..4]);
    let body_len = len as usize;
    if !BODY_LEN_RANGE.contains(&body_len) {
        return Decoded::Corrupt(CorruptReason::BadLength(len));
    }
    let total = FRAME_LEN + body_len;
    if buf.len() < total {
        return Decoded::Torn {
            available: buf.len(),
            needed: total,
        };
    }
    let stored = read_u32(&buf[4..8]);
    let body = &buf[FRAME_LEN..total];
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Decoded::Corrupt(CorruptReason::Checksum { stored, computed });
    }
    if body[0] != KIND_ENTRY {
        return Decoded::Corrupt(CorruptReason::UnknownKind(body[0]));
    }
    let record = Record {
        index: read_u64(&body[1..9]),
        term: read_u64(&body[9..17]),
        payload: &body[17..],
    };
    Decoded::Record { record, len: total }
}

/// The index of the record that *might* start at `buf[0]`, judged without the checksum: its
/// length is plausible and fits in `buf`, and its kind byte is known.
///
/// Recovery uses it to look past a damaged record for valid data cheaply; only candidates that
/// pass (and carry a plausible index) are then checksummed with [`decode`].
pub fn peek_index(buf: &[u8]) -> Option<u64> {
    if buf.len() < FRAME_LEN + BODY_FIXED_LEN {
        return None;
    }
    let body_len = read_u32(&buf[0..4]) as usize;
    if !BODY_LEN_RANGE.contains(&body_len)
        || buf.len() - FRAME_LEN < body_len
        || buf[FRAME_LEN] != KIND_ENTRY
    {
        return None;
    }
    Some(read_u64(&buf[FRAME_LEN + 1..FRAME_LEN + 9]))
}

fn read_u32(b: &[u8]) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn read_u64(b: &[u8]) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(index: u64, term: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        encode(index, term, payload, &mut v);
        v
    }

    #[test]
    fn round_trip() {
        let bytes = one(7, 3, b"hello");
        assert_eq!(bytes.len(), encoded_len(5));
        let want = Record {
            index: 7,
            term: 3,
            payload: b"hello",
        };
        assert_eq!(
            decode(&bytes),
            Decoded::Record {
                record: want,
                len: bytes.len()
            }
        );
        assert_eq!(decode(&[]), Decoded::End);
    }

    #[test]
    fn every_prefix_is_torn() {
        let bytes = one(1, 1, b"payload bytes");
        for cut in 1..bytes.len() {
            assert!(
                matches!(decode(&bytes[..cut]), Decoded::Torn { .. }),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = one(42, 9, b"abc");
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            match decode(&b) {
                Decoded::Corrupt(_) | Decoded::Torn { .. } => {}
                other => panic!("bit {bit}: {other:?}"),
            }
        }
    }

    #[test]
    fn peek_sees_the_index_of_a_whole_record_only() {
        let bytes = one(42, 9, b"abc");
        assert_eq!(peek_index(&bytes), Some(42));
        assert_eq!(peek_index(&bytes[..bytes.len() - 1]), None);
        assert_eq!(peek_index(&[0; 64]), None);
    }

    #[test]
    fn zeros_are_corrupt_not_a_record() {
        assert_eq!(
            decode(&[0; 64]),
            Decoded::Corrupt(CorruptReason::BadLength(0))
        );
    }

    #[test]
    fn header_round_trip_and_errors() {
        let h = SegmentHeader { first_index: 123 };
        let bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(h));
        assert_eq!(
            SegmentHeader::decode(&bytes[..3]),
            Err(HeaderError::Truncated { len: 3 })
        );
        let mut bad = bytes;
        bad[0] = b'X';
        assert_eq!(SegmentHeader::decode(&bad), Err(HeaderError::BadMagic));
        let mut newer = bytes;
        newer[6] = FORMAT_VERSION + 1;
        assert_eq!(
            SegmentHeader::decode(&newer),
            Err(HeaderError::UnsupportedVersion(FORMAT_VERSION + 1))
        );
    }
}
