//! Crash and damage cases: torn tails are cut, damage anywhere else stops the node.

mod common;

use std::fs;
use std::path::Path;

use common::{append, entry, filled, reopen, segments, small};
use raftorch_node::storage::record::SEGMENT_HEADER_LEN;
use raftorch_node::storage::{CorruptRecordReason, Log, LogOptions, StorageError, TailReason};

/// A synced log of `n` entries; returns the last segment and its length before entry `n`.
fn log_with_last_record(dir: &Path, n: u64) -> (std::path::PathBuf, u64) {
    let mut log = filled(dir, n - 1);
    drop(log);
    let last = segments(dir).pop().unwrap();
    let before = fs::metadata(&last).unwrap().len();
    let (l, _) = reopen(dir);
    log = l;
    append(&mut log, &[entry(n)]);
    log.sync().unwrap();
    assert_eq!(
        segments(dir).last(),
        Some(&last),
        "entry {n} stays in the same segment"
    );
    (last, before)
}

#[test]
fn torn_last_record_at_every_byte_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (last, before) = log_with_last_record(dir.path(), 10);
    let full = fs::read(&last).unwrap();
    assert!(full.len() as u64 > before);
    for cut in before..full.len() as u64 {
        fs::write(&last, &full[..cut as usize]).unwrap();
        let (log, rec) = reopen(dir.path());
        assert_eq!(log.last_index(), 9, "cut at {cut}");
        assert_eq!(
            log.entries(1, 10).unwrap(),
            (1..10).map(entry).collect::<Vec<_>>()
        );
        if cut == before {
            assert_eq!(rec.truncated, None);
        } else {
            let t = rec.truncated.expect("truncation reported");
            assert_eq!(
                (t.offset, t.bytes_dropped, &t.path),
                (before, cut - before, &last)
            );
        }
        assert_eq!(
            fs::metadata(&last).unwrap().len(),
            before,
            "file cut back at {cut}"
        );
    }
}

#[test]
fn garbage_after_the_tail_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (last, _) = log_with_last_record(dir.path(), 10);
    let good = fs::metadata(&last).unwrap().len();
    let mut bytes = fs::read(&last).unwrap();
    bytes.extend((0..300u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    fs::write(&last, &bytes).unwrap();
    let (mut log, rec) = reopen(dir.path());
    let t = rec.truncated.unwrap();
    assert_eq!(
        (t.offset, t.bytes_dropped, log.last_index()),
        (good, 300, 10)
    );
    // And the log goes on from there.
    append(&mut log, &[entry(11)]);
    log.sync().unwrap();
    drop(log);
    assert_eq!(
        reopen(dir.path()).0.entries(1, 12).unwrap(),
        (1..12).map(entry).collect::<Vec<_>>()
    );
}

#[test]
fn zeros_after_the_tail_are_the_clean_end() {
    // What a log that writes zeros ahead of its records leaves on disk.
    let dir = tempfile::tempdir().unwrap();
    let (last, _) = log_with_last_record(dir.path(), 10);
    let mut bytes = fs::read(&last).unwrap();
    bytes.extend_from_slice(&[0u8; 300]);
    fs::write(&last, &bytes).unwrap();
    let (mut log, rec) = reopen(dir.path());
    assert_eq!((rec.truncated, log.last_index()), (None, 10));
    // The next record goes where the zeros begin.
    append(&mut log, &[entry(11)]);
    log.sync().unwrap();
    drop(log);
    let (log, rec) = reopen(dir.path());
    assert_eq!(rec.truncated, None);
    assert_eq!(
        log.entries(1, 12).unwrap(),
        (1..12).map(entry).collect::<Vec<_>>()
    );
}

#[test]
fn flipped_bit_in_last_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (last, before) = log_with_last_record(dir.path(), 10);
    let full = fs::read(&last).unwrap();
    for bit in before as usize * 8..full.len() * 8 {
        let mut bytes = full.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        fs::write(&last, &bytes).unwrap();
        let (log, rec) = reopen(dir.path());
        assert_eq!(log.last_index(), 9, "bit {bit}");
        let t = rec.truncated.unwrap();
        assert!(
            matches!(t.reason, TailReason::Corrupt(_) | TailReason::Torn),
            "{t:?}"
        );
    }
}

#[test]
fn flipped_bit_in_a_middle_record_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // Records 1..=10 in one segment; record 9 has record 10 after it.
    let big = LogOptions {
        segment_size: 4096,
        write_buffer: 64,
        preallocate: 0,
    };
    let (mut log, _) = Log::open(dir.path(), big.clone()).unwrap();
    append(&mut log, &(1..=8).map(entry).collect::<Vec<_>>());
    log.sync().unwrap();
    let last = segments(dir.path()).pop().unwrap();
    let record_9_at = fs::metadata(&last).unwrap().len() as usize;
    append(&mut log, &[entry(9), entry(10)]);
    log.sync().unwrap();
    drop(log);
    assert_eq!(segments(dir.path()), vec![last.clone()]);
    let full = fs::read(&last).unwrap();
    let record_9_len = raftorch_node::storage::record::encoded_len(entry(9).2.len());
    for bit in record_9_at * 8..(record_9_at + record_9_len) * 8 {
        let mut bytes = full.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        fs::write(&last, &bytes).unwrap();
        let err = Log::open(dir.path(), big.clone()).unwrap_err();
        match &err {
            StorageError::CorruptRecord {
                path,
                offset,
                valid_record_after: Some(after),
                ..
            } => {
                assert_eq!((path, *offset), (&last, record_9_at as u64), "bit {bit}");
                assert_eq!(*after as usize, record_9_at + record_9_len, "bit {bit}");
            }
            other => panic!("bit {bit}: {other}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains(last.to_str().unwrap()) && msg.contains(&format!("offset {record_9_at}")),
            "{msg}"
        );
        assert!(msg.contains("refusing to start"), "{msg}");
        // Nothing was cut: the evidence stays for an operator.
        assert_eq!(fs::read(&last).unwrap(), bytes);
    }
}

#[test]
fn damage_in_an_earlier_segment_is_an_error_even_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 40));
    let first = segments(dir.path())[0].clone();
    let mut bytes = fs::read(&first).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x40; // the last byte of its last record
    fs::write(&first, &bytes).unwrap();
    let err = Log::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(&err, StorageError::CorruptRecord { path, valid_record_after: None, reason: CorruptRecordReason::Corrupt(_), .. } if *path == first),
        "{err}"
    );
    // A torn (short) earlier segment is just as fatal.
    fs::write(&first, &bytes[..n - 3]).unwrap();
    let err = Log::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::CorruptRecord {
                reason: CorruptRecordReason::Torn,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn missing_middle_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 40));
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    fs::remove_file(&segs[1]).unwrap();
    let err = Log::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(&err, StorageError::SegmentGap { previous, path, .. } if *previous == segs[0] && *path == segs[2]),
        "{err}"
    );
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn zero_length_last_segment_gets_a_fresh_header() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 20));
    // A crash right after creating the next segment file.
    let next = dir.path().join("00000000000000000021.wal");
    for content in [&[][..], &[0u8; 9][..], &[0u8; 40][..]] {
        fs::write(&next, content).unwrap();
        let (mut log, rec) = reopen(dir.path());
        let t = rec.truncated.expect("reported");
        assert_eq!(
            t.reason,
            TailReason::TornHeader {
                len: content.len() as u64
            }
        );
        assert_eq!(
            fs::metadata(&next).unwrap().len(),
            SEGMENT_HEADER_LEN as u64
        );
        assert_eq!(log.last_index(), 20);
        append(&mut log, &[entry(21)]);
        log.sync().unwrap();
        drop(log);
        let (log, rec) = reopen(dir.path());
        assert_eq!((rec.last_index, rec.truncated), (21, None));
        assert_eq!(log.entries(21, 22).unwrap(), vec![entry(21)]);
        drop(log);
        fs::remove_file(&next).unwrap();
    }
}

#[test]
fn bad_headers_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 40));
    let segs = segments(dir.path());
    let original = fs::read(&segs[1]).unwrap();
    let mut bytes = original.clone();
    bytes[0] = b'X';
    fs::write(&segs[1], &bytes).unwrap();
    assert!(matches!(
        Log::open(dir.path(), small()),
        Err(StorageError::BadSegmentHeader { .. })
    ));
    // A header naming another first index than the file name.
    let mut bytes = original.clone();
    bytes[8] ^= 1;
    fs::write(&segs[1], &bytes).unwrap();
    let err = Log::open(dir.path(), small()).unwrap_err();
    assert!(
        err.to_string().contains("file name says first index"),
        "{err}"
    );
    // A newer format version in the last segment is not "torn".
    fs::write(&segs[1], &original).unwrap();
    let last = segs.last().unwrap();
    let mut bytes = fs::read(last).unwrap();
    bytes[6] = 99;
    fs::write(last, &bytes).unwrap();
    let err = Log::open(dir.path(), small()).unwrap_err();
    assert!(
        err.to_string().contains("unsupported format version 99"),
        "{err}"
    );
}

#[test]
fn stray_segment_after_the_end_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled(dir.path(), 10));
    let (log, _) = Log::open(dir.path().join("elsewhere"), small()).unwrap();
    drop(log);
    // A segment from another log that starts far ahead.
    fs::copy(
        dir.path().join("elsewhere/00000000000000000001.wal"),
        dir.path().join("00000000000000000500.wal"),
    )
    .unwrap();
    let err = Log::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::SegmentGap {
                expected: 11,
                found: 500,
                ..
            } | StorageError::BadSegmentHeader { .. }
        ),
        "{err}"
    );
}

#[test]
fn poisoned_log_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 3);
    // Removing the directory under the log makes the next segment creation fail.
    fs::remove_dir_all(dir.path()).unwrap();
    let many: Vec<_> = (4..=40).map(entry).collect();
    let borrowed: Vec<(u64, u64, &[u8])> = many
        .iter()
        .map(|(i, t, p)| (*i, *t, p.as_slice()))
        .collect();
    assert!(matches!(
        log.append(&borrowed),
        Err(StorageError::Io { .. })
    ));
    assert!(matches!(log.sync(), Err(StorageError::Poisoned)));
}

/// A log with zeros written ahead, records 1..=8 synced, then record 9 (big enough to cover
/// whole sectors) and record 10 synced; returns the segment and where record 9 starts and ends.
fn preallocated_log_with_big_record_9(dir: &Path) -> (std::path::PathBuf, usize, usize) {
    let options = LogOptions {
        preallocate: 4096,
        ..LogOptions::default()
    };
    let (mut log, _) = Log::open(dir, options).unwrap();
    append(&mut log, &(1..=8).map(entry).collect::<Vec<_>>());
    log.sync().unwrap();
    let record_9_at = raftorch_node::storage::record::SEGMENT_HEADER_LEN
        + (1..=8)
            .map(|i| raftorch_node::storage::record::encoded_len(entry(i).2.len()))
            .sum::<usize>();
    let big = (9, 3, vec![0xA5; 2000]);
    append(&mut log, &[big.clone(), entry(10)]);
    log.sync().unwrap();
    drop(log);
    let record_9_end = record_9_at + raftorch_node::storage::record::encoded_len(big.2.len());
    (segments(dir).pop().unwrap(), record_9_at, record_9_end)
}

#[test]
fn zeros_are_written_ahead_and_reopen_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (last, record_9_at, record_9_end) = preallocated_log_with_big_record_9(dir.path());
    let record_10_end =
        record_9_end + raftorch_node::storage::record::encoded_len(entry(10).2.len());
    let bytes = fs::read(&last).unwrap();
    // The first sync wrote 4096 zeros after record 8; records 9 and 10 went into them, so
    // the second sync did not change the file's size.
    assert_eq!(bytes.len(), record_9_at + 4096);
    assert!(record_10_end < bytes.len());
    assert!(bytes[record_10_end..].iter().all(|&b| b == 0));
    let (log, rec) = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!((rec.truncated, log.last_index()), (None, 10));
}

#[test]
fn a_torn_write_with_a_zeroed_sector_is_cut_with_what_follows_it() {
    // A power loss tore the unsynced write of records 9 and 10: a sector of record 9 never
    // reached the disk (still zeros) while record 10's did. Neither was ever acknowledged.
    let dir = tempfile::tempdir().unwrap();
    let (last, record_9_at, record_9_end) = preallocated_log_with_big_record_9(dir.path());
    let full = fs::read(&last).unwrap();
    let sector = record_9_at.div_ceil(512) * 512;
    assert!(sector + 512 <= record_9_end);
    let mut bytes = full.clone();
    bytes[sector..sector + 512].fill(0);
    fs::write(&last, &bytes).unwrap();
    let (log, rec) = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.last_index(), 8);
    let t = rec.truncated.expect("the torn write is cut");
    assert_eq!(
        (t.offset, t.bytes_dropped),
        (record_9_at as u64, full.len() as u64 - record_9_at as u64)
    );
    assert_eq!(
        log.entries(1, 9).unwrap(),
        (1..9).map(entry).collect::<Vec<_>>()
    );
}

#[test]
fn damage_without_a_zeroed_sector_before_a_valid_record_is_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (last, record_9_at, _) = preallocated_log_with_big_record_9(dir.path());
    let mut bytes = fs::read(&last).unwrap();
    bytes[record_9_at + 700] ^= 0x10;
    fs::write(&last, &bytes).unwrap();
    let err = Log::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::CorruptRecord {
                valid_record_after: Some(_),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fs::read(&last).unwrap(), bytes, "nothing was cut");
}
