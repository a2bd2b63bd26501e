//! Application leader elections: one leader per election, candidates queue behind it, and a
//! leader's term is a fencing token.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;
use super::fenced::{Claim, Claimed, Fence, Holder};
use super::fenced_slots::{FencedSlots, WatchedClaim};
use super::watch::{EventKind, WatchLog};

/// A candidacy: a name that dies with a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Candidate {
    name: String,
    lease_id: u64,
}

impl Claim for Candidate {
    fn lease_id(&self) -> u64 {
        self.lease_id
    }
    fn same_claimant(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// The leader of an election: the answer to "am I leader?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElectionLeader {
    /// Who leads.
    pub candidate: String,
    /// The lease its leadership dies with.
    pub lease_id: u64,
    /// Its term: a fencing token, strictly greater than any granted before.
    pub term: u64,
    /// Index of the entry that made it leader.
    pub since_index: u64,
}

impl From<&Holder<Candidate>> for ElectionLeader {
    fn from(h: &Holder<Candidate>) -> Self {
        Self {
            candidate: h.claim.name.clone(),
            lease_id: h.claim.lease_id,
            term: h.token,
            since_index: h.since_index,
        }
    }
}

impl WatchedClaim for Candidate {
    const PREFIX: &'static str = "elections";
    fn granted(holder: &Holder<Candidate>) -> EventKind {
        EventKind::ElectionLeader {
            candidate: holder.claim.name.clone(),
            term: holder.token,
        }
    }
    fn released(self) -> EventKind {
        EventKind::ElectionResigned {
            candidate: self.name,
        }
    }
}

/// Every election with a leader or candidates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Elections {
    slots: FencedSlots<Candidate>,
}

impl Elections {
    /// How many elections have a leader.
    pub(crate) fn led(&self) -> usize {
        self.slots.held()
    }

    /// Runs `candidate` (validated, with a live lease) in `election`.
    pub(crate) fn campaign(
        &mut self,
        election: &str,
        candidate: String,
        lease_id: u64,
        index: u64,
        fence: &mut Fence,
        watch: &mut WatchLog,
    ) -> Result<Claimed, OrchestratorError> {
        let claim = Candidate {
            name: candidate.clone(),
            lease_id,
        };
        self.slots
            .claim(election, claim, index, fence, watch)
            .map_err(|lease_id| OrchestratorError::CandidateLeaseMismatch {
                election: election.into(),
                candidate,
                lease_id,
            })
    }

    /// Steps `candidate` down, or out of the queue. Returns the new leader, if one took over.
    pub(crate) fn resign(
        &mut self,
        election: &str,
        candidate: &str,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) -> Result<Option<ElectionLeader>, OrchestratorError> {
        let next = self
            .slots
            .leave(
                election,
                |c| c.name == candidate,
                index,
                fence,
                is_live,
                watch,
            )
            .ok_or_else(|| OrchestratorError::NotCandidate {
                election: election.into(),
                candidate: candidate.into(),
            })?;
        Ok(next.as_ref().map(ElectionLeader::from))
    }

    /// Withdraws every candidacy of `lease_id`, in election-name order. Returns the elections
    /// it ran in.
    pub(crate) fn withdraw_lease(
        &mut self,
        lease_id: u64,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) -> Vec<String> {
        self.slots
            .withdraw_lease(lease_id, index, fence, is_live, watch)
    }

    /// Hands the leadership of `election` to the queued candidate `to`, with a new term; the
    /// old leader queues at the back (its lease stays). When `to` leads already, its
    /// leadership is the answer and nothing changes (a retried transfer).
    pub(crate) fn transfer(
        &mut self,
        election: &str,
        to: &str,
        index: u64,
        fence: &mut Fence,
        watch: &mut WatchLog,
    ) -> Result<ElectionLeader, OrchestratorError> {
        if let Some(leader) = self.leader(election).filter(|l| l.candidate == to) {
            return Ok(leader);
        }
        self.slots
            .transfer(election, |c| c.name == to, index, fence, watch)
            .map(|h| ElectionLeader::from(&h))
            .ok_or_else(|| OrchestratorError::NotQueuedCandidate {
                election: election.into(),
                candidate: to.into(),
            })
    }

    /// Whether `candidate` leads or waits in `election`.
    pub(crate) fn is_candidate(&self, election: &str, candidate: &str) -> bool {
        self.slots
            .holder(election)
            .is_some_and(|h| h.claim.name == candidate)
            || self.slots.waiters(election).any(|c| c.name == candidate)
    }

    /// The leader of `election`.
    pub(crate) fn leader(&self, election: &str) -> Option<ElectionLeader> {
        self.slots.holder(election).map(ElectionLeader::from)
    }

    /// The queued candidates of `election`, first in line first.
    pub(crate) fn candidates(&self, election: &str) -> Vec<&str> {
        self.slots
            .waiters(election)
            .map(|c| c.name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_resign_and_succession() {
        let (mut e, mut f, mut w) = (Elections::default(), Fence::default(), WatchLog::default());
        assert_eq!(
            e.campaign("sched", "a".into(), 1, 10, &mut f, &mut w),
            Ok(Claimed::Granted(10))
        );
        assert_eq!(
            e.campaign("sched", "a".into(), 1, 11, &mut f, &mut w),
            Ok(Claimed::AlreadyHeld(10))
        );
        assert_eq!(
            e.campaign("sched", "a".into(), 9, 11, &mut f, &mut w),
            Err(OrchestratorError::CandidateLeaseMismatch {
                election: "sched".into(),
                candidate: "a".into(),
                lease_id: 1
            })
        );
        assert_eq!(
            e.campaign("sched", "b".into(), 2, 12, &mut f, &mut w),
            Ok(Claimed::Queued(1))
        );
        assert_eq!(
            e.campaign("sched", "c".into(), 3, 13, &mut f, &mut w),
            Ok(Claimed::Queued(2))
        );
        assert_eq!(e.candidates("sched"), ["b", "c"]);
        let next = e
            .resign("sched", "a", 14, &mut f, |l| l == 3, &mut w)
            .unwrap()
            .unwrap();
        assert_eq!(
            (next.candidate.as_str(), next.term, next.since_index),
            ("c", 14, 14)
        );
        assert_eq!(e.leader("sched"), Some(next));
        assert!(matches!(
            e.resign("sched", "a", 15, &mut f, |_| true, &mut w),
            Err(OrchestratorError::NotCandidate { .. })
        ));
        assert_eq!(
            e.resign("sched", "c", 16, &mut f, |_| true, &mut w),
            Ok(None)
        );
        assert!(e.slots.is_empty());
    }

    #[test]
    fn withdraw_lease_elects_next() {
        let (mut e, mut f, mut w) = (Elections::default(), Fence::default(), WatchLog::default());
        e.campaign("x", "a".into(), 1, 1, &mut f, &mut w).unwrap();
        e.campaign("x", "b".into(), 2, 2, &mut f, &mut w).unwrap();
        e.withdraw_lease(1, 3, &mut f, |l| l == 2, &mut w);
        assert_eq!(
            e.leader("x").map(|l| (l.candidate, l.term)),
            Some(("b".into(), 3))
        );
        e.withdraw_lease(2, 4, &mut f, |_| false, &mut w);
        assert!(e.leader("x").is_none());
    }

    #[test]
    fn transfer_to_queued_candidate() {
        let (mut e, mut f, mut w) = (Elections::default(), Fence::default(), WatchLog::default());
        e.campaign("x", "a".into(), 1, 1, &mut f, &mut w).unwrap();
        e.campaign("x", "b".into(), 2, 2, &mut f, &mut w).unwrap();
        assert!(matches!(
            e.transfer("x", "zz", 3, &mut f, &mut w),
            Err(OrchestratorError::NotQueuedCandidate { .. })
        ));
        let l = e.transfer("x", "b", 4, &mut f, &mut w).unwrap();
        assert_eq!((l.candidate.as_str(), l.term, l.lease_id), ("b", 4, 2));
        assert_eq!(e.candidates("x"), ["a"], "the old leader queues");
        assert!(e.is_candidate("x", "a") && e.is_candidate("x", "b"));
        assert_eq!(e.transfer("x", "b", 5, &mut f, &mut w).unwrap().term, 4);
    }
}
