//! An in-memory [`Storage`]: used by the simulator, the browser and tests.

use alloc::vec::Vec;

use super::entry::{ConfChange, Entry, EntryPayload, Snapshot, SnapshotMeta};
use super::error::Error;
use super::ready::Ready;
use super::storage::Storage;
use super::types::{ConfState, HardState, LogIndex, NodeId, Term};

/// The first entries of a new cluster's log: one committed `AddVoter` per founding member, in
/// term 1, and the matching hard state. Every founding member writes exactly these, so the
/// membership is in the log and nodes added later learn it by replication (as etcd does).
pub fn bootstrap_entries(voters: &[NodeId]) -> (HardState, Vec<Entry>) {
    let mut ids = voters.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let entries: Vec<Entry> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| Entry {
            term: 1,
            index: i as u64 + 1,
            payload: EntryPayload::ConfChange(ConfChange::AddVoter(id)),
        })
        .collect();
    let hard_state = HardState {
        term: 1,
        vote: None,
        commit: entries.len() as u64,
    };
    (hard_state, entries)
}

/// Durable state kept in memory. In the simulator a crashed node loses its `RawNode` but keeps
/// its `MemStorage`, exactly as a real node keeps its disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemStorage {
    hard_state: HardState,
    conf: ConfState,
    snapshot: Option<Snapshot>,
    // Invariant: entries[i].index == snapshot_index + 1 + i.
    entries: Vec<Entry>,
}

impl MemStorage {
    /// Storage for a node bootstrapping a new cluster with these voters: the log starts with
    /// the [`bootstrap_entries`] every founding member writes identically.
    pub fn new_with_voters(voters: &[NodeId]) -> Self {
        let (hard_state, entries) = bootstrap_entries(voters);
        MemStorage {
            hard_state,
            entries,
            ..MemStorage::default()
        }
    }

    /// Storage for a node that joins an existing cluster: it learns membership from the leader.
    pub fn new_joining() -> Self {
        MemStorage::default()
    }

    fn snapshot_meta(&self) -> SnapshotMeta {
        self.snapshot
            .as_ref()
            .map(|s| s.meta.clone())
            .unwrap_or_default()
    }

    /// Makes durable what a `Ready` asks for: hard state, snapshot, then entries (replacing any
    /// entries at or after the first new index).
    pub fn persist(&mut self, ready: &Ready) {
        if let Some(hs) = ready.hard_state {
            self.hard_state = hs;
        }
        if let Some(snapshot) = &ready.snapshot {
            self.install_snapshot(snapshot.clone());
        }
        self.append(&ready.entries);
    }

    /// Appends entries, truncating any existing entries at or after the first one's index.
    pub fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        let offset = self.snapshot_meta().index;
        if first.index <= offset {
            return;
        }
        self.entries.truncate((first.index - offset - 1) as usize);
        self.entries.extend_from_slice(entries);
    }

    /// Replaces the log with a snapshot received from the leader.
    pub fn install_snapshot(&mut self, snapshot: Snapshot) {
        self.conf = snapshot.meta.conf.clone();
        let offset = self.snapshot_meta().index;
        let index = snapshot.meta.index;
        // Keep entries after the snapshot only if they follow on from it.
        let keep_from = (index.saturating_sub(offset)) as usize;
        if keep_from <= self.entries.len()
            && index > offset
            && self.entries[keep_from - 1].term == snapshot.meta.term
        {
            self.entries.drain(..keep_from);
        } else {
            self.entries.clear();
        }
        self.hard_state.commit = self.hard_state.commit.max(index);
        self.snapshot = Some(snapshot);
    }

    /// Records a snapshot the local state machine took, dropping entries it covers.
    pub fn compact(&mut self, snapshot: Snapshot) {
        let offset = self.snapshot_meta().index;
        let index = snapshot.meta.index;
        if index <= offset {
            return;
        }
        let drop = ((index - offset) as usize).min(self.entries.len());
        self.entries.drain(..drop);
        self.conf = snapshot.meta.conf.clone();
        self.snapshot = Some(snapshot);
    }

    /// The persisted hard state.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Every persisted entry (after the snapshot).
    pub fn all_entries(&self) -> &[Entry] {
        &self.entries
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> Result<(HardState, ConfState), Error> {
        Ok((self.hard_state, self.conf.clone()))
    }

    fn entries(&self, lo: LogIndex, hi: LogIndex) -> Result<Vec<Entry>, Error> {
        let offset = self.snapshot_meta().index;
        if lo <= offset {
            return Err(Error::Compacted);
        }
        if hi > self.last_index() + 1 {
            return Err(Error::Unavailable);
        }
        if lo >= hi {
            return Ok(Vec::new());
        }
        Ok(self.entries[(lo - offset - 1) as usize..(hi - offset - 1) as usize].to_vec())
    }

    fn term(&self, index: LogIndex) -> Result<Term, Error> {
        let meta = self.snapshot_meta();
        if index == meta.index {
            return Ok(meta.term);
        }
        if index < meta.index {
            return Err(Error::Compacted);
        }
        self.entries
            .get((index - meta.index - 1) as usize)
            .map(|e| e.term)
            .ok_or(Error::Unavailable)
    }

    fn first_index(&self) -> LogIndex {
        self.snapshot_meta().index + 1
    }

    fn last_index(&self) -> LogIndex {
        self.snapshot_meta().index + self.entries.len() as u64
    }

    fn snapshot(&self) -> Option<Snapshot> {
        self.snapshot.clone()
    }
}
