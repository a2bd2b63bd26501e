//! The in-memory Raft log: a compacted prefix (the snapshot point) followed by entries, with
//! markers for what is committed, persisted, and handed to the host for persisting or applying.

use alloc::vec::Vec;

use super::entry::{Entry, Snapshot};
use super::error::Error;
use super::types::{LogIndex, Term};

/// The log as one node holds it.
///
/// Entries `offset+1 ..= last_index()` are in memory; everything up to `offset` is covered by
/// a snapshot. The whole uncompacted log is kept in memory (as etcd does with its
/// `MemoryStorage`); compaction keeps it bounded.
#[derive(Clone, Debug)]
pub(crate) struct RaftLog {
    // Invariant: entries[i].index == offset + 1 + i.
    offset: LogIndex,
    offset_term: Term,
    entries: Vec<Entry>,
    /// Highest index known committed. Invariant: committed <= last_index().
    pub(crate) committed: LogIndex,
    /// Highest index handed to the host for applying. Invariant: applied <= committed.
    pub(crate) applied: LogIndex,
    /// Highest index the host has made durable. Invariant: persisted <= last_index().
    pub(crate) persisted: LogIndex,
    /// First index not yet handed to the host for persisting.
    pub(crate) unstable_from: LogIndex,
    /// A snapshot received from the leader that the host has not persisted yet.
    pub(crate) pending_snapshot: Option<Snapshot>,
    /// The newest snapshot this node has, sent to followers that are too far behind.
    pub(crate) snapshot: Option<Snapshot>,
}

impl RaftLog {
    /// A log recovered from storage: the snapshot point, then `entries` (already durable).
    pub(crate) fn restore(
        offset: LogIndex,
        offset_term: Term,
        entries: Vec<Entry>,
        committed: LogIndex,
        snapshot: Option<Snapshot>,
    ) -> Result<Self, Error> {
        for (i, entry) in entries.iter().enumerate() {
            if entry.index != offset + 1 + i as u64 {
                return Err(Error::Storage(entry.index));
            }
        }
        let last = offset + entries.len() as u64;
        Ok(RaftLog {
            offset,
            offset_term,
            entries,
            committed: committed.clamp(offset, last),
            applied: offset,
            persisted: last,
            unstable_from: last + 1,
            pending_snapshot: None,
            snapshot,
        })
    }

    /// Index of the last entry (or of the snapshot point when no entries follow it).
    pub(crate) fn last_index(&self) -> LogIndex {
        self.offset + self.entries.len() as u64
    }

    /// Term of the last entry.
    pub(crate) fn last_term(&self) -> Term {
        self.entries.last().map_or(self.offset_term, |e| e.term)
    }

    /// The snapshot point: entries up to here are compacted.
    pub(crate) fn offset(&self) -> LogIndex {
        self.offset
    }

    /// The term at `index`, if it is the snapshot point or a held entry.
    pub(crate) fn term(&self, index: LogIndex) -> Option<Term> {
        if index == self.offset {
            return Some(self.offset_term);
        }
        if index < self.offset || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.offset - 1) as usize].term)
    }

    /// Whether the entry at `index` has term `term`.
    pub(crate) fn matches(&self, index: LogIndex, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    /// Whether a log ending at (`last_index`, `last_term`) is at least as up to date as ours.
    pub(crate) fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// The entry at `index`, if held.
    pub(crate) fn entry(&self, index: LogIndex) -> Option<&Entry> {
        if index <= self.offset {
            return None;
        }
        self.entries.get((index - self.offset - 1) as usize)
    }

    /// Entries `[lo, hi)`, stopping early once `max_bytes` is exceeded (at least one is returned).
    pub(crate) fn slice(
        &self,
        lo: LogIndex,
        hi: LogIndex,
        max_bytes: usize,
    ) -> Result<&[Entry], Error> {
        if lo <= self.offset {
            return Err(Error::Compacted);
        }
        if hi > self.last_index() + 1 {
            return Err(Error::Unavailable);
        }
        if lo >= hi {
            return Ok(&[]);
        }
        let start = (lo - self.offset - 1) as usize;
        let end = (hi - self.offset - 1) as usize;
        let mut size = 0;
        let mut stop = start;
        while stop < end {
            size += self.entries[stop].size_hint();
            if size > max_bytes && stop > start {
                break;
            }
            stop += 1;
        }
        Ok(&self.entries[start..stop])
    }

    /// Appends new entries at the end (leader proposals). Their indexes must follow on.
    pub(crate) fn append(&mut self, entries: impl IntoIterator<Item = Entry>) {
        for entry in entries {
            debug_assert_eq!(entry.index, self.last_index() + 1);
            self.entries.push(entry);
        }
    }

    /// Follower append after `prev_index`: skips entries already present, truncates at the first
    /// conflicting one, appends the rest (moved, not copied). Returns the index of the last new
    /// entry.
    ///
    /// The entries must follow `prev_index` contiguously (the follower checks this in
    /// `validate` before anything reaches the log).
    pub(crate) fn append_after(&mut self, prev_index: LogIndex, entries: Vec<Entry>) -> LogIndex {
        debug_assert!(entries
            .iter()
            .zip(prev_index + 1..)
            .all(|(e, index)| e.index == index));
        let last_new = entries.last().map_or(prev_index, |e| e.index);
        let conflict = entries
            .iter()
            .position(|e| e.index > self.offset && !self.matches(e.index, e.term));
        if let Some(skip) = conflict {
            let from = entries[skip].index;
            debug_assert!(from > self.committed, "conflict at a committed index");
            self.truncate_from(from);
            self.entries.extend(entries.into_iter().skip(skip));
        }
        last_new
    }

    /// Drops entries at and after `from`.
    fn truncate_from(&mut self, from: LogIndex) {
        self.entries.truncate((from - self.offset - 1) as usize);
        self.persisted = self.persisted.min(from - 1);
        self.unstable_from = self.unstable_from.min(from);
    }

    /// Moves the commit point forward (never backward).
    pub(crate) fn commit_to(&mut self, index: LogIndex) {
        if index > self.committed {
            debug_assert!(index <= self.last_index());
            self.committed = index;
        }
    }

    /// Fast back-tracking (etcd's `findConflictByTerm`): the largest index `<= index` whose term
    /// is `<= term`; everything after it cannot match a log whose entry at `index` has `term`.
    pub(crate) fn find_conflict_by_term(&self, index: LogIndex, term: Term) -> LogIndex {
        let mut i = index.min(self.last_index());
        while i > self.offset {
            match self.term(i) {
                Some(t) if t > term => i -= 1,
                _ => break,
            }
        }
        i
    }

    /// Replaces the whole log with a snapshot received from the leader.
    pub(crate) fn restore_snapshot(&mut self, snapshot: Snapshot) {
        self.offset = snapshot.meta.index;
        self.offset_term = snapshot.meta.term;
        self.entries.clear();
        self.committed = snapshot.meta.index;
        self.applied = snapshot.meta.index;
        self.persisted = snapshot.meta.index;
        self.unstable_from = snapshot.meta.index + 1;
        self.snapshot = Some(snapshot.clone());
        self.pending_snapshot = Some(snapshot);
    }

    /// Drops entries up to `index` (which must be applied), keeping the rest.
    pub(crate) fn compact_to(&mut self, index: LogIndex) {
        if index <= self.offset {
            return;
        }
        debug_assert!(index <= self.applied);
        let term = self.term(index).unwrap_or(self.offset_term);
        let drop = (index - self.offset) as usize;
        self.entries.drain(..drop);
        self.offset = index;
        self.offset_term = term;
    }

    /// Entries the host must persist, taken from the unstable tail.
    pub(crate) fn take_unstable(&mut self) -> Vec<Entry> {
        let from = self.unstable_from.max(self.offset + 1);
        let entries = if from <= self.last_index() {
            self.entries[(from - self.offset - 1) as usize..].to_vec()
        } else {
            Vec::new()
        };
        self.unstable_from = self.last_index() + 1;
        entries
    }

    /// Whether there are entries the host has not been given to persist.
    pub(crate) fn has_unstable(&self) -> bool {
        self.unstable_from <= self.last_index() || self.pending_snapshot.is_some()
    }

    /// The highest index that may be applied: committed and durable here.
    pub(crate) fn applicable(&self) -> LogIndex {
        self.committed.min(self.persisted)
    }

    /// Committed, persisted entries the host has not been given to apply, up to `max_bytes`.
    pub(crate) fn take_committed(&mut self, max_bytes: usize) -> Vec<Entry> {
        let hi = self.applicable();
        if hi <= self.applied {
            return Vec::new();
        }
        let entries = match self.slice(self.applied + 1, hi + 1, max_bytes) {
            Ok(slice) => slice.to_vec(),
            Err(_) => Vec::new(),
        };
        if let Some(last) = entries.last() {
            self.applied = last.index;
        }
        entries
    }

    /// Whether committed entries are waiting to be applied.
    pub(crate) fn has_committed(&self) -> bool {
        self.applicable() > self.applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::entry::EntryPayload;

    fn entries(terms: &[(u64, u64)]) -> Vec<Entry> {
        terms
            .iter()
            .map(|&(index, term)| Entry {
                index,
                term,
                payload: EntryPayload::Noop,
            })
            .collect()
    }

    #[test]
    fn append_after_truncates_only_at_a_conflict() {
        let mut log = RaftLog::restore(0, 0, entries(&[(1, 1), (2, 1), (3, 2)]), 0, None).unwrap();
        // Already present: nothing changes.
        assert_eq!(log.append_after(1, entries(&[(2, 1)])), 2);
        assert_eq!(log.last_index(), 3);
        // Conflict at 3: replaced.
        assert_eq!(log.append_after(2, entries(&[(3, 3), (4, 3)])), 4);
        assert_eq!(log.term(3), Some(3));
        assert_eq!(log.last_index(), 4);
        assert_eq!(log.persisted, 2);
        assert_eq!(log.unstable_from, 3);
    }

    #[test]
    fn find_conflict_by_term_skips_higher_terms() {
        let log =
            RaftLog::restore(0, 0, entries(&[(1, 1), (2, 2), (3, 2), (4, 4)]), 0, None).unwrap();
        assert_eq!(log.find_conflict_by_term(4, 3), 3);
        assert_eq!(log.find_conflict_by_term(4, 1), 1);
        assert_eq!(log.find_conflict_by_term(9, 4), 4);
        assert_eq!(log.find_conflict_by_term(4, 0), 0);
    }

    #[test]
    fn slice_respects_compaction_and_size() {
        let mut log = RaftLog::restore(0, 0, entries(&[(1, 1), (2, 1), (3, 1)]), 3, None).unwrap();
        log.applied = 3;
        log.compact_to(2);
        assert_eq!(log.slice(2, 4, usize::MAX), Err(Error::Compacted));
        assert_eq!(log.slice(3, 4, 0).unwrap().len(), 1);
        assert_eq!(log.term(2), Some(1));
        assert_eq!(log.term(1), None);
    }
}
