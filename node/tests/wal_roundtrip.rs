//! Append, sync, reopen: the log gives back exactly what was written.

mod common;

use common::{append, entry, entry_with_term, filled, reopen, segments, small};
use raftorch_node::storage::{Log, LogOptions, StorageError};

#[test]
fn empty_log_starts_at_one() {
    let dir = tempfile::tempdir().unwrap();
    let (log, rec) = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(
        (rec.first_index, rec.last_index, rec.truncated),
        (1, 0, None)
    );
    assert_eq!((log.first_index(), log.last_index()), (1, 0));
    assert!(log.entries(1, 1).unwrap().is_empty());
    assert!(matches!(
        log.term(1),
        Err(StorageError::Unavailable {
            index: 1,
            last_index: 0
        })
    ));
}

#[test]
fn append_sync_reopen_round_trip_with_rollover() {
    let dir = tempfile::tempdir().unwrap();
    let want: Vec<_> = (1..=100).map(entry).collect();
    {
        let log = filled(dir.path(), 100);
        assert_eq!(log.entries(1, 101).unwrap(), want);
        assert!(log.sync_stats().segment_rolls > 5);
    }
    let n_segments = segments(dir.path()).len();
    assert!(n_segments > 5, "200-byte segments roll over: {n_segments}");
    let (log, rec) = reopen(dir.path());
    assert_eq!(
        (rec.first_index, rec.last_index, rec.segments),
        (1, 100, n_segments)
    );
    assert_eq!(rec.truncated, None);
    assert_eq!(log.entries(1, 101).unwrap(), want);
    assert_eq!(log.entries(37, 58).unwrap(), want[36..57]);
    for (i, t, _) in &want {
        assert_eq!(log.term(*i).unwrap(), *t);
    }
}

#[test]
fn reads_see_unflushed_and_unsynced_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), LogOptions::default()).unwrap();
    let want: Vec<_> = (1..=10).map(entry).collect();
    append(&mut log, &want);
    assert_eq!(log.unsynced_entries(), 10);
    assert_eq!(log.entries(1, 11).unwrap(), want);
}

#[test]
fn unsynced_entries_may_vanish_but_synced_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut log, _) = Log::open(dir.path(), LogOptions::default()).unwrap();
        append(&mut log, &[entry(1), entry(2)]);
        log.sync().unwrap();
        append(&mut log, &[entry(3)]); // still in the write buffer: dropped with the log
    }
    let (log, _) = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.last_index(), 2);
}

#[test]
fn group_commit_stats() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), LogOptions::default()).unwrap();
    log.sync().unwrap(); // nothing to do: not counted
    assert_eq!(log.sync_stats().syncs, 0);
    append(&mut log, &(1..=64).map(entry).collect::<Vec<_>>());
    log.sync().unwrap();
    append(&mut log, &(65..=128).map(entry).collect::<Vec<_>>());
    log.sync().unwrap();
    let stats = log.sync_stats();
    assert_eq!((stats.syncs, stats.entries_synced), (2, 128));
    assert!(stats.bytes_synced > 128 * 25);
    assert!(stats.total_sync_micros >= stats.last_sync_micros);
}

#[test]
fn append_rejects_gaps_and_non_contiguous_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 5);
    let e = log.append(&[(7, 2, b"x")]).unwrap_err();
    assert!(
        matches!(
            e,
            StorageError::AppendGap {
                last_index: 5,
                found: 7
            }
        ),
        "{e}"
    );
    let e = log.append(&[(6, 2, b"x"), (8, 2, b"y")]).unwrap_err();
    assert!(
        matches!(e, StorageError::NonContiguousBatch { position: 1, .. }),
        "{e}"
    );
    // Validation errors leave the log usable.
    log.append(&[(6, 2, b"x")]).unwrap();
    assert_eq!(log.last_index(), 6);
}

#[test]
fn conflict_overwrite_across_segments_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 60);
    let before = segments(dir.path()).len();
    // Overwrite from 12 on with a new term: later segments go, the one holding 12 is cut.
    let new: Vec<_> = (12..=20).map(|i| entry_with_term(i, 9)).collect();
    append(&mut log, &new);
    assert!(segments(dir.path()).len() < before);
    log.sync().unwrap();
    let mut want: Vec<_> = (1..12).map(entry).collect();
    want.extend(new);
    assert_eq!(log.entries(1, 21).unwrap(), want);
    drop(log);
    let (log, rec) = reopen(dir.path());
    assert_eq!((rec.last_index, rec.truncated), (20, None));
    assert_eq!(log.entries(1, 21).unwrap(), want);
    assert_eq!(log.term(12).unwrap(), 9);
}

#[test]
fn overwrite_at_a_segment_start_and_in_the_write_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 30);
    let starts: Vec<u64> = segments(dir.path())
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();
    let boundary = starts[2];
    append(&mut log, &[entry_with_term(boundary, 7)]);
    // Unsynced entries overwritten while still buffered.
    append(
        &mut log,
        &[
            entry_with_term(boundary + 1, 7),
            entry_with_term(boundary + 2, 7),
        ],
    );
    append(&mut log, &[entry_with_term(boundary + 2, 8)]);
    log.sync().unwrap();
    drop(log);
    let (log, _) = reopen(dir.path());
    assert_eq!(log.last_index(), boundary + 2);
    assert_eq!(
        log.entries(boundary - 1, boundary + 3).unwrap()[1..],
        [
            entry_with_term(boundary, 7),
            entry_with_term(boundary + 1, 7),
            entry_with_term(boundary + 2, 8)
        ]
    );
}

#[test]
fn compaction_deletes_whole_segments_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 60);
    let before = segments(dir.path()).len();
    log.compact_through(30).unwrap();
    assert_eq!(log.first_index(), 31);
    assert!(matches!(
        log.entries(30, 32),
        Err(StorageError::Compacted {
            index: 30,
            first_index: 31
        })
    ));
    assert!(matches!(log.term(30), Err(StorageError::Compacted { .. })));
    assert!(log.append(&[(30, 1, b"x")]).is_err());
    let after = segments(dir.path()).len();
    assert!(after < before, "{after} < {before}");
    log.sync().unwrap();
    drop(log);
    let (mut log, rec) = reopen(dir.path());
    // The logical start is not persisted: the kept first segment may reach back before 31.
    assert!(rec.first_index <= 31 && rec.first_index > 1, "{rec:?}");
    log.compact_through(30).unwrap();
    assert_eq!(
        log.entries(31, 61).unwrap(),
        (31..=60).map(entry).collect::<Vec<_>>()
    );
}

#[test]
fn compaction_past_the_end_restarts_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 20);
    log.compact_through(100).unwrap();
    assert_eq!((log.first_index(), log.last_index()), (101, 100));
    assert_eq!(segments(dir.path()).len(), 1);
    assert!(log.append(&[(100, 1, b"x")]).is_err());
    append(&mut log, &[entry(101)]);
    log.sync().unwrap();
    drop(log);
    let (log, rec) = reopen(dir.path());
    assert_eq!((rec.first_index, rec.last_index), (101, 101));
    assert_eq!(log.entries(101, 102).unwrap(), vec![entry(101)]);
}

#[test]
fn compaction_restart_survives_reopen_before_any_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = filled(dir.path(), 5);
    log.compact_through(50).unwrap();
    drop(log);
    let (log, rec) = reopen(dir.path());
    assert_eq!((rec.first_index, rec.last_index), (51, 50));
    assert_eq!(log.last_index(), 50);
}

#[test]
fn big_records_get_a_segment_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), small()).unwrap();
    let big = vec![7u8; 1000];
    log.append(&[(1, 1, &big), (2, 1, b"small"), (3, 1, &big)])
        .unwrap();
    log.sync().unwrap();
    drop(log);
    let (log, _) = reopen(dir.path());
    let got = log.entries(1, 4).unwrap();
    assert_eq!(
        (got[0].2.len(), got[1].2.as_slice(), got[2].2.len()),
        (1000, &b"small"[..], 1000)
    );
}
