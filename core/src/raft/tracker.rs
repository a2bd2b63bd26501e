//! The tracker: the configuration, every member's replication progress and the votes of an
//! election, and the quorum questions asked of them, in one place (as etcd's and raft-rs's
//! `ProgressTracker`). Quorums count voters only; learners have progress but no say.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::progress::Progress;
use super::quorum::{majority_value, vote_result, VoteResult};
use super::types::{ConfState, NodeId};

/// Configuration, progress and votes.
#[derive(Clone, Debug)]
pub(crate) struct Tracker {
    /// Who votes and who learns.
    pub(crate) conf: ConfState,
    /// Leader only: every member's progress, this node's included.
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    /// Candidate and pre-candidate: answers received, from voters only.
    votes: BTreeMap<NodeId, bool>,
}

impl Tracker {
    /// A tracker of `conf` with no progress and no votes.
    pub(crate) fn new(conf: ConfState) -> Self {
        Tracker {
            conf,
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
        }
    }

    /// Whether `id` votes.
    pub(crate) fn is_voter(&self, id: NodeId) -> bool {
        self.conf.voters.contains(&id)
    }

    /// Every voter but `me`.
    pub(crate) fn voters_except(&self, me: NodeId) -> Vec<NodeId> {
        self.conf
            .voters
            .iter()
            .copied()
            .filter(|&id| id != me)
            .collect()
    }

    /// The largest log index a quorum of voters holds (the commit candidate).
    pub(crate) fn quorum_matched_index(&self) -> u64 {
        majority_value(self.voter_progress().map(|pr| pr.matched))
    }

    /// The heartbeat round a quorum of voters has acknowledged.
    pub(crate) fn quorum_acked_seq(&self) -> u64 {
        majority_value(self.voter_progress().map(|pr| pr.acked_seq))
    }

    /// Whether a quorum of voters (`me` counts as active) answered since the last call; resets
    /// every member's mark for the next check.
    pub(crate) fn take_quorum_recently_active(&mut self, me: NodeId) -> bool {
        let active = self
            .conf
            .voters
            .iter()
            .filter(|&&id| id == me || self.progress.get(&id).is_some_and(|pr| pr.recent_active))
            .count();
        for (&id, pr) in self.progress.iter_mut() {
            pr.recent_active = id == me;
        }
        active > self.conf.voters.len() / 2
    }

    /// Records `from`'s answer (its first one counts; a non-voter's is ignored) and returns the
    /// election's state.
    pub(crate) fn record_vote(&mut self, from: NodeId, granted: bool) -> VoteResult {
        if self.is_voter(from) {
            self.votes.entry(from).or_insert(granted);
        }
        self.tally()
    }

    /// The election's state from the answers so far.
    pub(crate) fn tally(&self) -> VoteResult {
        vote_result(
            self.conf
                .voters
                .iter()
                .map(|id| self.votes.get(id).copied()),
        )
    }

    /// Forgets the progress and the votes of the previous role.
    pub(crate) fn reset(&mut self) {
        self.votes.clear();
        self.progress.clear();
    }

    fn voter_progress(&self) -> impl Iterator<Item = &Progress> {
        self.progress
            .iter()
            .filter(|(id, _)| self.conf.voters.contains(id))
            .map(|(_, pr)| pr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    fn tracker(voters: &[NodeId], learners: &[NodeId]) -> Tracker {
        Tracker::new(ConfState {
            voters: voters.iter().copied().collect::<BTreeSet<_>>(),
            learners: learners.iter().copied().collect::<BTreeSet<_>>(),
        })
    }

    fn with_matched(t: &mut Tracker, matched: &[(NodeId, u64)]) {
        for &(id, m) in matched {
            let limits = crate::raft::Config::new(id).inflight_limits();
            let mut pr = Progress::new(m, limits, id > 3);
            pr.matched = m;
            t.progress.insert(id, pr);
        }
    }

    #[test]
    fn learners_never_count_towards_a_quorum() {
        let mut t = tracker(&[1, 2, 3], &[4, 5]);
        with_matched(&mut t, &[(1, 9), (2, 3), (3, 2), (4, 9), (5, 9)]);
        assert_eq!(t.quorum_matched_index(), 3);
        assert_eq!(t.record_vote(4, true), VoteResult::Pending);
        assert_eq!(t.record_vote(5, true), VoteResult::Pending);
        assert_eq!(t.record_vote(1, true), VoteResult::Pending);
        assert_eq!(t.record_vote(2, true), VoteResult::Won);
    }

    #[test]
    fn a_voters_first_answer_counts_and_rejections_lose() {
        let mut t = tracker(&[1, 2, 3], &[]);
        assert_eq!(t.record_vote(2, false), VoteResult::Pending);
        assert_eq!(
            t.record_vote(2, true),
            VoteResult::Pending,
            "second answer ignored"
        );
        assert_eq!(t.record_vote(3, false), VoteResult::Lost);
        t.reset();
        assert_eq!(t.tally(), VoteResult::Pending);
    }

    #[test]
    fn recent_activity_counts_voters_and_resets() {
        let mut t = tracker(&[1, 2, 3, 4, 5], &[6]);
        with_matched(&mut t, &[(1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 0)]);
        for id in [2, 6] {
            t.progress.get_mut(&id).unwrap().recent_active = true;
        }
        // 1 (itself) and 2 of five voters: no quorum; the learner does not count.
        assert!(!t.take_quorum_recently_active(1));
        for id in [2, 3] {
            t.progress.get_mut(&id).unwrap().recent_active = true;
        }
        assert!(t.take_quorum_recently_active(1));
        // The marks were reset.
        assert!(!t.take_quorum_recently_active(1));
    }
}
