//! Hard state and snapshot files: atomic replacement, checksums, leftover temporary files.

use std::fs;

use raftorch_node::storage::{HardStateFile, SnapshotFile, SnapshotMeta, StorageError};
use serde::{Deserialize, Serialize};

/// What the Raft glue will store, encoded with postcard.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct HardState {
    term: u64,
    vote: Option<u64>,
    commit: u64,
}

#[test]
fn hard_state_round_trip_and_replace() {
    let dir = tempfile::tempdir().unwrap();
    let file = HardStateFile::new(dir.path().join("hardstate"));
    assert_eq!(file.load().unwrap(), None);
    for term in 1..=3 {
        let hs = HardState {
            term,
            vote: Some(term % 2),
            commit: term * 10,
        };
        file.save(&postcard::to_stdvec(&hs).unwrap()).unwrap();
        let back: HardState = postcard::from_bytes(&file.load().unwrap().unwrap()).unwrap();
        assert_eq!(back, hs);
    }
    // Only the file itself is left.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn hard_state_corruption_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = HardStateFile::new(dir.path().join("hardstate"));
    file.save(b"term=5 vote=2").unwrap();
    let good = fs::read(file.path()).unwrap();
    for bit in 0..good.len() * 8 {
        let mut bytes = good.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        fs::write(file.path(), &bytes).unwrap();
        assert!(
            matches!(file.load(), Err(StorageError::CorruptFile { .. })),
            "bit {bit}"
        );
    }
    for cut in 0..good.len() {
        fs::write(file.path(), &good[..cut]).unwrap();
        let err = file.load().unwrap_err();
        assert!(err.to_string().contains("hardstate"), "{err}");
    }
}

#[test]
fn leftover_tmp_files_are_ignored_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let hs = HardStateFile::new(dir.path().join("hardstate"));
    let snap = SnapshotFile::new(dir.path().join("snapshot"));
    // A crash mid-save before any rename: only the torn tmp files exist.
    fs::write(dir.path().join("hardstate.tmp"), b"RFTHST half").unwrap();
    fs::write(dir.path().join("snapshot.tmp"), b"RFTSNP half").unwrap();
    assert_eq!(hs.load().unwrap(), None);
    assert_eq!(snap.load().unwrap(), None);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    // A crash mid-save after an earlier save: the old file wins.
    hs.save(b"old").unwrap();
    let meta = SnapshotMeta {
        index: 5,
        term: 2,
        conf: b"voters=1,2,3".to_vec(),
    };
    snap.save(&meta, b"state").unwrap();
    fs::write(dir.path().join("hardstate.tmp"), b"garbage").unwrap();
    fs::write(dir.path().join("snapshot.tmp"), b"garbage").unwrap();
    assert_eq!(hs.load().unwrap().unwrap(), b"old");
    assert_eq!(snap.load().unwrap().unwrap().meta, meta);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn snapshot_round_trip_keeps_only_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let snap = SnapshotFile::new(dir.path().join("snapshot"));
    assert_eq!(snap.load().unwrap(), None);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    for index in [10, 20] {
        let meta = SnapshotMeta {
            index,
            term: index / 10,
            conf: vec![1, 2, 3],
        };
        snap.save(&meta, &data[..index as usize * 1000]).unwrap();
    }
    let got = snap.load().unwrap().unwrap();
    assert_eq!(
        got.meta,
        SnapshotMeta {
            index: 20,
            term: 2,
            conf: vec![1, 2, 3]
        }
    );
    assert_eq!(got.data, &data[..20_000]);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    // Empty conf and data are fine too.
    snap.save(
        &SnapshotMeta {
            index: 30,
            term: 3,
            conf: vec![],
        },
        &[],
    )
    .unwrap();
    assert_eq!(snap.load().unwrap().unwrap().data, Vec::<u8>::new());
}

#[test]
fn snapshot_corruption_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let snap = SnapshotFile::new(dir.path().join("snapshot"));
    snap.save(
        &SnapshotMeta {
            index: 7,
            term: 1,
            conf: b"c".to_vec(),
        },
        b"some data",
    )
    .unwrap();
    let good = fs::read(snap.path()).unwrap();
    for bit in 0..good.len() * 8 {
        let mut bytes = good.clone();
        bytes[bit / 8] ^= 1 << (bit % 8);
        fs::write(snap.path(), &bytes).unwrap();
        assert!(
            matches!(snap.load(), Err(StorageError::CorruptFile { .. })),
            "bit {bit}"
        );
    }
    for cut in 0..good.len() {
        fs::write(snap.path(), &good[..cut]).unwrap();
        assert!(snap.load().is_err(), "cut {cut}");
    }
}
