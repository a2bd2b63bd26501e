//! Application leader elections: one leader per election, candidates queue behind it, and a
//! leader's term is a fencing token.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;
use super::fenced::{Claim, Claimed, Fence, FencedQueue, Holder, Left};
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

/// Every election with a leader or candidates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Elections {
    // Invariant: no queue is empty.
    by_name: BTreeMap<String, FencedQueue<Candidate>>,
}

impl Elections {
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
        let queue = self.by_name.entry(election.into()).or_default();
        let claim = Candidate {
            name: candidate.clone(),
            lease_id,
        };
        let claimed = queue.claim(claim, index, fence).map_err(|lease_id| {
            OrchestratorError::CandidateLeaseMismatch {
                election: election.into(),
                candidate: candidate.clone(),
                lease_id,
            }
        });
        if queue.is_empty() {
            self.by_name.remove(election);
        }
        if let Ok(Claimed::Granted(term)) = claimed {
            watch.push(
                index,
                format!("elections/{election}"),
                EventKind::ElectionLeader { candidate, term },
            );
        }
        claimed
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
        let not_candidate = || OrchestratorError::NotCandidate {
            election: election.into(),
            candidate: candidate.into(),
        };
        let queue = self.by_name.get_mut(election).ok_or_else(not_candidate)?;
        let left = queue.leave(|c| c.name == candidate);
        if left == Left::NotFound {
            return Err(not_candidate());
        }
        Ok(self.settle(election, left, index, fence, is_live, watch))
    }

    /// Withdraws every candidacy of `lease_id`, in election-name order.
    pub(crate) fn withdraw_lease(
        &mut self,
        lease_id: u64,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) {
        let names: Vec<String> = self
            .by_name
            .iter()
            .filter(|(_, q)| {
                q.holder
                    .as_ref()
                    .is_some_and(|h| h.claim.lease_id == lease_id)
                    || q.waiters().any(|c| c.lease_id == lease_id)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            if let Some(queue) = self.by_name.get_mut(&name) {
                let left = queue.leave(|c| c.lease_id == lease_id);
                self.settle(&name, left, index, fence, &is_live, watch);
            }
        }
    }

    /// After a candidacy left: elect the next live candidate, forget an empty election.
    fn settle(
        &mut self,
        election: &str,
        left: Left<Candidate>,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) -> Option<ElectionLeader> {
        let queue = self.by_name.get_mut(election)?;
        let mut elected = None;
        if let Left::Holder(old) = left {
            let key = format!("elections/{election}");
            watch.push(
                index,
                key.clone(),
                EventKind::ElectionResigned {
                    candidate: old.claim.name,
                },
            );
            if let Some(h) = queue.promote(index, fence, is_live) {
                let leader = ElectionLeader::from(h);
                let kind = EventKind::ElectionLeader {
                    candidate: leader.candidate.clone(),
                    term: leader.term,
                };
                watch.push(index, key, kind);
                elected = Some(leader);
            }
        }
        if queue.is_empty() {
            self.by_name.remove(election);
        }
        elected
    }

    /// The leader of `election`.
    pub(crate) fn leader(&self, election: &str) -> Option<ElectionLeader> {
        self.by_name
            .get(election)?
            .holder
            .as_ref()
            .map(ElectionLeader::from)
    }

    /// The queued candidates of `election`, first in line first.
    pub(crate) fn candidates(&self, election: &str) -> Vec<&str> {
        self.by_name
            .get(election)
            .map(|q| q.waiters().map(|c| c.name.as_str()).collect())
            .unwrap_or_default()
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
        assert!(e.by_name.is_empty());
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
}
