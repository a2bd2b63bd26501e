//! Membership changes, one server at a time: proposed by the leader, in force once applied.

use alloc::vec;

use super::entry::{ConfChange, Entry, EntryPayload};
use super::error::Error;
use super::node::Raft;
use super::progress::Progress;
use super::types::{ConfState, LogIndex, Role};

/// The membership after `change`, or why the change is invalid. Pure.
pub fn next_conf(conf: &ConfState, change: ConfChange) -> Result<ConfState, Error> {
    let mut next = conf.clone();
    match change {
        ConfChange::AddVoter(id) => {
            if id == 0 {
                return Err(Error::InvalidConfChange("node id 0 is reserved"));
            }
            if conf.voters.contains(&id) {
                return Err(Error::InvalidConfChange("already a voter"));
            }
            next.learners.remove(&id);
            next.voters.insert(id);
        }
        ConfChange::AddLearner(id) => {
            if id == 0 {
                return Err(Error::InvalidConfChange("node id 0 is reserved"));
            }
            if conf.contains(id) {
                return Err(Error::InvalidConfChange("already a member"));
            }
            next.learners.insert(id);
        }
        ConfChange::RemoveNode(id) => {
            if !conf.contains(id) {
                return Err(Error::InvalidConfChange("not a member"));
            }
            next.voters.remove(&id);
            next.learners.remove(&id);
            if next.voters.is_empty() {
                return Err(Error::InvalidConfChange("cannot remove the last voter"));
            }
        }
    }
    Ok(next)
}

impl Raft {
    /// Proposes a membership change. Only one may be in flight: the previous one (and this
    /// leader's no-op) must have been applied first.
    pub(crate) fn propose_conf_change(&mut self, change: ConfChange) -> Result<LogIndex, Error> {
        if self.role != Role::Leader {
            return Err(Error::NotLeader {
                leader_hint: self.leader,
            });
        }
        if self.pending_conf_index > self.log.applied {
            return Err(Error::ProposalDropped(
                "a membership change is still pending",
            ));
        }
        next_conf(&self.tracker.conf, change)?;
        let index = self.propose(vec![EntryPayload::ConfChange(change)])?;
        self.pending_conf_index = index;
        Ok(index)
    }

    /// The host applied `committed` entries: their membership changes are in force now.
    pub(crate) fn on_applied(&mut self, committed: &[Entry]) {
        for entry in committed {
            if let EntryPayload::ConfChange(cc) = entry.payload {
                self.apply_conf_change(cc);
            }
        }
    }

    /// Puts an applied membership change in force.
    pub(crate) fn apply_conf_change(&mut self, change: ConfChange) {
        let Ok(next) = next_conf(&self.tracker.conf, change) else {
            // Validated when proposed; a change made moot by an earlier one is skipped
            // identically on every node.
            return;
        };
        self.tracker.conf = next;
        if self.role != Role::Leader {
            return;
        }
        if !self.tracker.is_voter(self.id) {
            // A removed leader steps down; the others elect a new one.
            self.become_follower(self.term, None);
            return;
        }
        let last = self.log.last_index();
        let max_inflight = self.config.inflight_limits();
        self.tracker
            .progress
            .retain(|id, _| self.tracker.conf.contains(*id));
        for id in self.tracker.conf.voters.clone() {
            self.tracker
                .progress
                .entry(id)
                .or_insert_with(|| Progress::new(last, max_inflight, false))
                .is_learner = false;
        }
        for id in self.tracker.conf.learners.clone() {
            self.tracker
                .progress
                .entry(id)
                .or_insert_with(|| Progress::new(last, max_inflight, true));
        }
        if self
            .lead_transferee
            .is_some_and(|t| !self.tracker.is_voter(t))
        {
            self.lead_transferee = None;
        }
        // The quorum changed: the commit index may move.
        if self.maybe_commit() {
            self.broadcast_append();
        } else {
            self.needs_broadcast = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_conf_rules() {
        let conf = ConfState::with_voters(&[1, 2, 3]);
        assert!(next_conf(&conf, ConfChange::AddVoter(2)).is_err());
        let with_learner = next_conf(&conf, ConfChange::AddLearner(4)).unwrap();
        assert!(with_learner.learners.contains(&4));
        let promoted = next_conf(&with_learner, ConfChange::AddVoter(4)).unwrap();
        assert!(promoted.voters.contains(&4) && promoted.learners.is_empty());
        assert!(next_conf(&conf, ConfChange::RemoveNode(9)).is_err());
        let one = ConfState::with_voters(&[1]);
        assert!(next_conf(&one, ConfChange::RemoveNode(1)).is_err());
    }
}
