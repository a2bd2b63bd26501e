//! The leader's side of log replication: what to send each follower and what its answers mean.

use alloc::vec::Vec;

use super::message::MessageBody;
use super::node::Raft;
use super::progress::ProgressState;
use super::types::{LogIndex, NodeId, Role, Term};

impl Raft {
    /// Members other than this node.
    pub(crate) fn peers(&self) -> Vec<NodeId> {
        self.tracker
            .progress
            .keys()
            .copied()
            .filter(|&id| id != self.id)
            .collect()
    }

    /// Sends whatever each follower is ready to receive.
    pub(crate) fn broadcast_append(&mut self) {
        self.needs_broadcast = false;
        for id in self.peers() {
            self.send_append(id, true);
        }
    }

    /// Sends one append (or a snapshot) to `to` if flow control allows. With `allow_empty`
    /// false, nothing is sent when there are no new entries.
    /// Returns whether a message was sent.
    pub(crate) fn send_append(&mut self, to: NodeId, allow_empty: bool) -> bool {
        let Some(pr) = self.tracker.progress.get(&to) else {
            return false;
        };
        if pr.is_paused() {
            return false;
        }
        let next = pr.next;
        let prev_index = next - 1;
        let prev_term = self.log.term(prev_index);
        let max_bytes = self.config.max_size_per_msg;
        let entries = self.log.slice(next, self.log.last_index() + 1, max_bytes);
        let (Some(prev_term), Ok(entries)) = (prev_term, entries) else {
            return self.send_snapshot(to);
        };
        if entries.is_empty() && !allow_empty {
            return false;
        }
        let entries = entries.to_vec();
        let last = entries.last().map_or(prev_index, |e| e.index);
        let count = entries.len();
        let bytes: u64 = entries.iter().map(|e| e.size_hint() as u64).sum();
        let commit = self.log.committed;
        self.send(
            to,
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            },
        );
        if let Some(pr) = self.tracker.progress.get_mut(&to) {
            pr.sent_entries(last, count, bytes);
        }
        true
    }

    /// Sends the newest snapshot to a follower whose next entry was compacted away.
    fn send_snapshot(&mut self, to: NodeId) -> bool {
        let Some(snapshot) = self.log.snapshot.clone() else {
            return false;
        };
        let index = snapshot.meta.index;
        let ticks = self.config.election_tick;
        self.send(to, MessageBody::InstallSnapshot { snapshot });
        if let Some(pr) = self.tracker.progress.get_mut(&to) {
            pr.become_snapshot(index, ticks);
        }
        true
    }

    /// Keeps sending to `to` while it can take more.
    pub(crate) fn send_append_loop(&mut self, to: NodeId) {
        while self.send_append(to, false) {}
    }

    /// A follower accepted entries up to `match_index`.
    pub(crate) fn handle_append_accepted(&mut self, from: NodeId, match_index: LogIndex) {
        let Some(pr) = self.tracker.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        if !pr.maybe_update(match_index) {
            return;
        }
        match pr.state {
            ProgressState::Probe => pr.become_replicate(),
            ProgressState::Snapshot { pending, .. } if pr.matched >= pending => pr.become_probe(),
            ProgressState::Replicate => pr.inflights.free_up_to(match_index),
            ProgressState::Snapshot { .. } => {}
        }
        let matched = pr.matched;
        if self.maybe_commit() {
            self.broadcast_append();
        } else {
            self.send_append_loop(from);
        }
        if self.lead_transferee == Some(from) && matched == self.log.last_index() {
            self.send(from, MessageBody::TimeoutNow);
        }
    }

    /// A follower rejected the append after `rejected`; back-track using its hint.
    pub(crate) fn handle_append_rejected(
        &mut self,
        from: NodeId,
        rejected: LogIndex,
        hint_index: LogIndex,
        hint_term: u64,
    ) {
        let probe_at = if hint_term > 0 {
            self.log.find_conflict_by_term(hint_index, hint_term)
        } else {
            hint_index
        };
        let Some(pr) = self.tracker.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        if pr.maybe_decrease_to(rejected, probe_at) {
            if pr.state == ProgressState::Replicate {
                pr.become_probe();
            }
            self.send_append(from, true);
        }
    }

    /// The host made a `Ready` durable, its entries up to `last` (index, term) if it had any:
    /// the leader counts its own copy towards the quorum, which may commit entries.
    pub(crate) fn on_persisted(&mut self, last: Option<(LogIndex, Term)>) {
        // An entry replaced since it was handed out is not the one made durable.
        if let Some((index, term)) = last {
            if self.log.term(index) == Some(term) {
                self.log.persisted = self.log.persisted.max(index);
            }
        }
        if self.role == Role::Leader {
            let (id, persisted) = (self.id, self.log.persisted);
            if let Some(own) = self.tracker.progress.get_mut(&id) {
                own.maybe_update(persisted);
            }
            if self.maybe_commit() {
                self.needs_broadcast = true;
            }
        }
    }

    /// Advances the commit index to what a quorum of voters holds, if that entry is of the
    /// current term (thesis §3.6.2: older entries commit only indirectly). Returns whether it moved.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        let quorum_index = self.tracker.quorum_matched_index();
        if quorum_index <= self.log.committed || self.log.term(quorum_index) != Some(self.term) {
            return false;
        }
        let first_commit_of_term = self.log.term(self.log.committed) != Some(self.term);
        self.log.commit_to(quorum_index);
        if first_commit_of_term {
            self.release_reads_awaiting_commit();
        }
        true
    }
}
