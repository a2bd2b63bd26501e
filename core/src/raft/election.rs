//! Elections: pre-vote, campaigning, counting votes, becoming leader.

use super::entry::{Entry, EntryPayload};
use super::message::MessageBody;
use super::node::Raft;
use super::progress::Progress;
use super::quorum::VoteResult;
use super::types::{NodeId, Role, Term};

impl Raft {
    /// Starts an election: a pre-vote round first when enabled, unless this campaign follows a
    /// leadership transfer (the old leader asked for it, so no lease needs respecting).
    pub(crate) fn campaign(&mut self, transfer: bool) {
        // The term we would campaign in must exist (terms never wrap around).
        if !self.is_promotable() || self.term.checked_add(1).is_none() {
            return;
        }
        if self.config.pre_vote && !transfer {
            self.become_pre_candidate();
        } else {
            self.become_candidate(transfer);
        }
    }

    fn become_pre_candidate(&mut self) {
        // Neither the term nor the vote changes: a pre-vote disturbs nobody.
        self.role = Role::PreCandidate;
        self.leader = None;
        self.reset_role_state();
        self.request_votes(true, false);
    }

    fn become_candidate(&mut self, transfer: bool) {
        self.term = self.term.saturating_add(1);
        self.vote = Some(self.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.reset_role_state();
        self.request_votes(false, transfer);
    }

    /// Votes for itself and asks every other voter.
    fn request_votes(&mut self, pre_vote: bool, transfer: bool) {
        if self.tracker.record_vote(self.id, true) == VoteResult::Won {
            self.win_election(pre_vote);
            return;
        }
        let term = if pre_vote {
            self.term.saturating_add(1)
        } else {
            self.term
        };
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        let voters = self.tracker.voters_except(self.id);
        for to in voters {
            let body = if pre_vote {
                MessageBody::PreVote {
                    last_index,
                    last_term,
                }
            } else {
                MessageBody::Vote {
                    last_index,
                    last_term,
                    transfer,
                }
            };
            self.send_with_term(to, term, body);
        }
    }

    fn win_election(&mut self, pre_vote: bool) {
        if pre_vote {
            self.become_candidate(false);
        } else {
            self.become_leader();
        }
    }

    /// Candidate and pre-candidate message handling (vote requests are handled in `step`).
    pub(crate) fn step_candidate(&mut self, from: NodeId, term: Term, body: MessageBody) {
        match body {
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. } => {
                // A leader exists in our term: follow it.
                self.become_follower(term, Some(from));
                self.step_follower(from, body);
            }
            MessageBody::PreVoteResponse { granted } if self.role == Role::PreCandidate => {
                self.record_vote(from, granted, true);
            }
            MessageBody::VoteResponse { granted } if self.role == Role::Candidate => {
                self.record_vote(from, granted, false);
            }
            _ => {}
        }
    }

    fn record_vote(&mut self, from: NodeId, granted: bool, pre_vote: bool) {
        match self.tracker.record_vote(from, granted) {
            VoteResult::Won => self.win_election(pre_vote),
            VoteResult::Lost => self.become_follower(self.term, None),
            VoteResult::Pending => {}
        }
    }

    /// Takes over: resets every follower's progress and appends a no-op of its own term, which
    /// must commit before reads and membership changes are served (thesis §6.4, §4.1).
    pub(crate) fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.id);
        self.reset_role_state();
        let last = self.log.last_index();
        let max_inflight = self.config.inflight_limits();
        for id in self.tracker.conf.voters.clone() {
            self.tracker
                .progress
                .insert(id, Progress::new(last, max_inflight, false));
        }
        for id in self.tracker.conf.learners.clone() {
            self.tracker
                .progress
                .insert(id, Progress::new(last, max_inflight, true));
        }
        if let Some(own) = self.tracker.progress.get_mut(&self.id) {
            own.matched = self.log.persisted;
            own.become_replicate();
            own.recent_active = true;
        }
        self.log.append([Entry {
            term: self.term,
            index: last + 1,
            payload: EntryPayload::Noop,
        }]);
        // No membership change until everything before this term is applied.
        self.pending_conf_index = last + 1;
        self.broadcast_append();
    }
}
