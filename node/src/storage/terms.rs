//! The term of every log entry, run-length encoded.
//!
//! Terms change only at elections, so a log of millions of entries has a handful of runs. Keeping
//! them in memory answers `term(index)` (asked on every append Raft receives) without disk reads
//! and costs 16 bytes per term change instead of 8 per entry.

/// Runs of equal terms: `(first index of the run, term)`, sorted by index.
///
/// Invariant: run start indices strictly increase and neighbouring runs have different terms.
#[derive(Clone, Debug, Default)]
pub(crate) struct TermRuns {
    runs: Vec<(u64, u64)>,
}

impl TermRuns {
    /// Records that the entry at `index` (the one after the last pushed) has `term`.
    pub(crate) fn push(&mut self, index: u64, term: u64) {
        match self.runs.last() {
            Some(&(_, t)) if t == term => {}
            _ => self.runs.push((index, term)),
        }
    }

    /// Forgets the terms of entries at `index` and after.
    pub(crate) fn truncate_from(&mut self, index: u64) {
        let keep = self.runs.partition_point(|&(start, _)| start < index);
        self.runs.truncate(keep);
    }

    /// Forgets runs that end before `first`, keeping the one that covers `first`.
    pub(crate) fn compact_before(&mut self, first: u64) {
        let covering = self.runs.partition_point(|&(start, _)| start <= first);
        if covering > 1 {
            self.runs.drain(..covering - 1);
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.runs.clear();
    }

    /// Term of the entry at `index`; the caller checks that the log holds it.
    pub(crate) fn term(&self, index: u64) -> Option<u64> {
        let after = self.runs.partition_point(|&(start, _)| start <= index);
        after.checked_sub(1).map(|i| self.runs[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs() {
        let mut t = TermRuns::default();
        for (i, term) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 5)] {
            t.push(i, term);
        }
        assert_eq!(t.runs.len(), 3);
        assert_eq!(t.term(0), None);
        assert_eq!(
            (t.term(2), t.term(3), t.term(5), t.term(99)),
            (Some(1), Some(2), Some(5), Some(5))
        );
        t.truncate_from(4);
        assert_eq!(t.term(3), Some(2));
        t.push(4, 3);
        assert_eq!(t.term(4), Some(3));
        t.compact_before(3);
        assert_eq!(t.runs, vec![(3, 2), (4, 3)]);
        t.truncate_from(3);
        assert_eq!(t.term(3), None);
    }
}
