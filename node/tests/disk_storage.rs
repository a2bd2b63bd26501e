//! `DiskStorage`: what a `Ready` makes durable comes back exactly after a reopen.

use raftorch_core::raft::{
    ConfState, Config, Entry, EntryPayload, HardState, RawNode, Ready, Snapshot, SnapshotMeta,
    Storage,
};
use raftorch_node::disk_storage::DiskStorage;

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Normal(format!("e{index}t{term}").into_bytes().into()),
    }
}

fn ready_with(entries: Vec<Entry>, hard_state: Option<HardState>) -> Ready {
    Ready {
        entries,
        hard_state,
        ..Ready::default()
    }
}

fn hs(term: u64, vote: Option<u64>, commit: u64) -> HardState {
    HardState { term, vote, commit }
}

fn snapshot(index: u64, term: u64) -> Snapshot {
    Snapshot {
        meta: SnapshotMeta {
            index,
            term,
            conf: ConfState::with_voters(&[1, 2, 3]),
        },
        data: b"state".to_vec().into(),
    }
}

#[test]
fn entries_and_hard_state_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut disk = DiskStorage::open(dir.path(), &[1, 2, 3]).unwrap();
        // The founding membership is the log's first entries, committed in term 1.
        assert_eq!(
            disk.entries(1, 4).unwrap(),
            raftorch_core::raft::bootstrap_entries(&[1, 2, 3]).1
        );
        let entries: Vec<Entry> = (4..=8).map(|i| entry(i, 2)).collect();
        let stats = disk
            .persist(&ready_with(entries, Some(hs(2, Some(2), 5))))
            .unwrap();
        assert_eq!(stats.entries, 5);
        assert!(stats.hard_state_written);
    }
    let disk = DiskStorage::open(dir.path(), &[9]).unwrap();
    let (hard, conf) = disk.initial_state().unwrap();
    assert_eq!(hard, hs(2, Some(2), 5));
    // Without a snapshot the membership comes from the log; a changed peer list is ignored.
    assert_eq!(conf, ConfState::default());
    assert_eq!((disk.first_index(), disk.last_index()), (1, 8));
    assert_eq!(
        disk.entries(1, 4).unwrap(),
        raftorch_core::raft::bootstrap_entries(&[1, 2, 3]).1
    );
    assert_eq!(
        disk.entries(4, 9).unwrap(),
        (4..=8).map(|i| entry(i, 2)).collect::<Vec<_>>()
    );
    assert_eq!(disk.term(6), Ok(2));
    assert_eq!(disk.term(0), Ok(0));
}

#[test]
fn overwrite_replaces_the_suffix() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut disk = DiskStorage::open(dir.path(), &[1]).unwrap();
        disk.persist(&ready_with((1..=5).map(|i| entry(i, 1)).collect(), None))
            .unwrap();
        disk.persist(&ready_with(vec![entry(3, 2), entry(4, 2)], None))
            .unwrap();
    }
    let disk = DiskStorage::open(dir.path(), &[1]).unwrap();
    assert_eq!(disk.last_index(), 4);
    assert_eq!(
        disk.entries(1, 5).unwrap(),
        vec![entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]
    );
}

#[test]
fn commit_only_changes_skip_the_hard_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut disk = DiskStorage::open(dir.path(), &[1]).unwrap();
    let first = disk
        .persist(&ready_with(vec![entry(1, 1)], Some(hs(1, Some(1), 0))))
        .unwrap();
    assert!(first.hard_state_written);
    let second = disk
        .persist(&ready_with(vec![entry(2, 1)], Some(hs(1, Some(1), 2))))
        .unwrap();
    assert!(
        !second.hard_state_written,
        "commit alone needs no extra fsync"
    );
    // In memory the newest hard state is answered.
    assert_eq!(disk.initial_state().unwrap().0.commit, 2);
    drop(disk);
    // After a restart the commit index may lag (Raft recomputes it); term and vote never do.
    let disk = DiskStorage::open(dir.path(), &[1]).unwrap();
    let hard = disk.initial_state().unwrap().0;
    assert_eq!((hard.term, hard.vote), (1, Some(1)));
    assert!(hard.commit <= 2);
}

#[test]
fn local_compaction_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut disk = DiskStorage::open(dir.path(), &[1, 2, 3]).unwrap();
        disk.persist(&ready_with(
            (1..=6).map(|i| entry(i, 1)).collect(),
            Some(hs(1, None, 6)),
        ))
        .unwrap();
        disk.compact(snapshot(4, 1)).unwrap();
        assert_eq!(disk.first_index(), 5);
    }
    let disk = DiskStorage::open(dir.path(), &[1, 2, 3]).unwrap();
    assert_eq!((disk.first_index(), disk.last_index()), (5, 6));
    assert_eq!(disk.term(4), Ok(1));
    assert_eq!(disk.snapshot(), Some(snapshot(4, 1)));
    assert_eq!(
        disk.entries(4, 7),
        Err(raftorch_core::raft::Error::Compacted)
    );
    assert_eq!(disk.entries(5, 7).unwrap(), vec![entry(5, 1), entry(6, 1)]);
    assert_eq!(disk.initial_state().unwrap().0.commit, 6);
}

#[test]
fn installed_snapshot_cuts_a_divergent_tail() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut disk = DiskStorage::open(dir.path(), &[1, 2, 3]).unwrap();
        disk.persist(&ready_with((1..=6).map(|i| entry(i, 1)).collect(), None))
            .unwrap();
        // The leader's entry 4 has term 2: our 4..=6 are from another history.
        let ready = Ready {
            snapshot: Some(snapshot(4, 2)),
            hard_state: Some(hs(2, None, 4)),
            ..Ready::default()
        };
        disk.persist(&ready).unwrap();
        assert_eq!((disk.first_index(), disk.last_index()), (5, 4));
        disk.persist(&ready_with(vec![entry(5, 2)], None)).unwrap();
    }
    let disk = DiskStorage::open(dir.path(), &[1, 2, 3]).unwrap();
    assert_eq!((disk.first_index(), disk.last_index()), (5, 5));
    assert_eq!(disk.term(4), Ok(2));
    assert_eq!(disk.entries(5, 6).unwrap(), vec![entry(5, 2)]);
}

#[test]
fn installed_snapshot_past_the_log_restarts_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut disk = DiskStorage::open(dir.path(), &[1, 2, 3]).unwrap();
        disk.persist(&ready_with((1..=3).map(|i| entry(i, 1)).collect(), None))
            .unwrap();
        let ready = Ready {
            snapshot: Some(snapshot(10, 3)),
            ..Ready::default()
        };
        disk.persist(&ready).unwrap();
    }
    let disk = DiskStorage::open(dir.path(), &[1, 2, 3]).unwrap();
    assert_eq!((disk.first_index(), disk.last_index()), (11, 10));
    assert_eq!(disk.term(10), Ok(3));
    assert_eq!(disk.initial_state().unwrap().0.commit, 10);
}

/// The core restarts from disk where it left off: same term, log and commit.
#[test]
fn a_single_node_raft_restarts_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let drive = |raw: &mut RawNode, disk: &mut DiskStorage| {
        while raw.has_ready() {
            let ready = raw.ready();
            disk.persist(&ready).unwrap();
            raw.advance(ready);
        }
    };
    let (term, last) = {
        let mut disk = DiskStorage::open(dir.path(), &[1]).unwrap();
        let mut raw = RawNode::new(Config::new(1), &disk).unwrap();
        drive(&mut raw, &mut disk); // apply the bootstrap membership
        raw.campaign().unwrap();
        drive(&mut raw, &mut disk);
        assert!(raw.is_leader());
        for i in 0..20u8 {
            raw.propose(vec![i]).unwrap();
            drive(&mut raw, &mut disk);
        }
        assert_eq!(raw.commit_index(), raw.last_index());
        (raw.term(), raw.last_index())
    };
    let disk = DiskStorage::open(dir.path(), &[1]).unwrap();
    let raw = RawNode::new(Config::new(1), &disk).unwrap();
    assert_eq!(raw.term(), term);
    assert_eq!(raw.last_index(), last);
    let Some(Entry {
        payload: EntryPayload::Normal(data),
        ..
    }) = raw.entry(last)
    else {
        panic!("last entry is not the last proposal");
    };
    assert_eq!(data.as_ref(), [19u8]);
}
