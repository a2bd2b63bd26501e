//! Bytes of write-ahead-log segment files, read the way a restarting node reads them.
//!
//! The first byte picks the layer: the record decoder alone (`record::decode`, `peek_index`,
//! `SegmentHeader::decode`: a record that decodes must encode back to the same bytes), or whole
//! segment files (one or two, with a valid header or raw bytes) opened by `Log::open`, whose
//! recovery must either refuse them with an error or yield a log that reads back every entry it
//! claims, takes a new append and reopens to the same state.

use std::cell::RefCell;
use std::fs;
use std::path::Path;

use raftorch_node::storage::record::{self, Decoded, SegmentHeader};
use raftorch_node::storage::{Log, LogOptions};
use tempfile::TempDir;

use crate::bytes::Bytes;

/// The target.
pub fn run(data: &[u8]) {
    let _ = recovered(data);
}

/// Runs the input; for segment files, the `(first, last)` index of the log recovery accepted
/// (`None`: refused, or the input went to the record decoder).
pub fn recovered(data: &[u8]) -> Option<(u64, u64)> {
    let mut bytes = Bytes::new(data);
    if bytes.bool() {
        records(bytes.rest());
        None
    } else {
        segments(&mut bytes)
    }
}

/// The record decoder over `buf`, record after record, as recovery walks a segment.
fn records(buf: &[u8]) {
    let _ = SegmentHeader::decode(buf);
    let mut at = 0;
    while at < buf.len() {
        match record::decode(&buf[at..]) {
            Decoded::Record { record, len } => {
                let mut again = Vec::new();
                record::encode(record.index, record.term, record.payload, &mut again);
                assert_eq!(again, &buf[at..at + len], "record round trip at {at}");
                at += len;
            }
            Decoded::End => return,
            Decoded::Torn { available, needed } => {
                assert!(available < needed, "torn but complete at {at}");
                return;
            }
            Decoded::Corrupt(reason) => {
                let _ = reason.to_string();
                // Recovery looks past a damaged record for a valid one.
                for skip in at + 1..buf.len() {
                    if let Some(index) = record::peek_index(&buf[skip..]) {
                        let _ = (index, record::decode(&buf[skip..]));
                    }
                }
                return;
            }
        }
    }
}

thread_local! {
    /// A directory reused by every input of this thread (on tmpfs when there is one).
    static DIR: RefCell<Option<TempDir>> = const { RefCell::new(None) };
}

/// Segment files written into an empty directory and opened as a log.
fn segments(bytes: &mut Bytes<'_>) -> Option<(u64, u64)> {
    DIR.with(|dir| {
        let mut dir = dir.borrow_mut();
        let dir = dir.get_or_insert_with(|| {
            let shm = Path::new("/dev/shm");
            let made = if shm.is_dir() {
                tempfile::tempdir_in(shm)
            } else {
                tempfile::tempdir()
            };
            made.expect("a temporary directory")
        });
        let log_dir = dir.path().join("log");
        let _ = fs::remove_dir_all(&log_dir);
        fs::create_dir_all(&log_dir).expect("create the log directory");
        let count = 1 + bytes.below(2);
        let mut first = 1 + u64::from(bytes.below(4));
        for n in 0..count {
            let mut file = Vec::new();
            if bytes.below(4) != 0 {
                file.extend_from_slice(&SegmentHeader { first_index: first }.encode());
            }
            let body = if n + 1 == count {
                bytes.rest()
            } else {
                bytes.take(255)
            };
            file.extend_from_slice(body);
            let name = format!("{first:020}.wal");
            fs::write(log_dir.join(name), &file).expect("write a segment");
            first += 1 + u64::from(bytes.below(3));
        }
        open_and_check(&log_dir)
    })
}

/// Opens the log in `dir`; if recovery accepts it, it must hold together.
fn open_and_check(dir: &Path) -> Option<(u64, u64)> {
    let options = LogOptions {
        segment_size: 4096,
        write_buffer: 0,
        preallocate: 0,
    };
    let Ok((mut log, _recovered)) = Log::open(dir, options.clone()) else {
        return None;
    };
    let (first, last) = (log.first_index(), log.last_index());
    assert!(last + 1 >= first, "last {last} before first {first}");
    let entries = log
        .entries(first, last + 1)
        .expect("recovery accepted entries it cannot read");
    assert_eq!(entries.len() as u64, last + 1 - first, "entries read back");
    for (i, (index, term, _)) in entries.iter().enumerate() {
        assert_eq!(*index, first + i as u64, "entry index");
        assert_eq!(log.term(*index).ok(), Some(*term), "term of {index}");
    }
    let term = entries.last().map_or(1, |e| e.1);
    if last < u64::MAX - 1 {
        log.append(&[(last + 1, term, b"after recovery")])
            .expect("append after recovery");
        log.sync().expect("sync after recovery");
        drop(log);
        let (log, _) = Log::open(dir, options).expect("reopen what recovery left");
        assert_eq!(log.first_index(), first, "first index after reopen");
        assert_eq!(log.last_index(), last + 1, "last index after reopen");
    }
    Some((first, last))
}
