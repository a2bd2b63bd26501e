//! The follower's side: accepting appends, heartbeats and snapshots from the leader.

use alloc::vec::Vec;

use super::entry::{Entry, Snapshot};
use super::message::MessageBody;
use super::node::Raft;
use super::types::{LogIndex, NodeId, Term};

impl Raft {
    /// Follower message handling (vote requests are handled in `step`).
    pub(crate) fn step_follower(&mut self, from: NodeId, body: MessageBody) {
        match body {
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.hear_from_leader(from);
                self.handle_append(from, prev_index, prev_term, entries, commit);
            }
            MessageBody::Heartbeat { commit, seq } => {
                self.hear_from_leader(from);
                self.log.commit_to(commit.min(self.log.last_index()));
                self.send(from, MessageBody::HeartbeatResponse { seq });
            }
            MessageBody::InstallSnapshot { snapshot } => {
                self.hear_from_leader(from);
                self.handle_snapshot(from, snapshot);
            }
            MessageBody::TimeoutNow => self.campaign(true),
            MessageBody::ReadIndexResponse { ctx, index } => self.handle_read_response(ctx, index),
            _ => {}
        }
    }

    fn hear_from_leader(&mut self, leader: NodeId) {
        self.election_elapsed = 0;
        self.leader = Some(leader);
    }

    fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: LogIndex,
        prev_term: Term,
        entries: Vec<Entry>,
        commit: LogIndex,
    ) {
        if prev_index < self.log.committed {
            // Everything up to our commit point already matches.
            let match_index = self.log.committed;
            self.send(from, MessageBody::AppendAccepted { match_index });
            return;
        }
        if self.log.matches(prev_index, prev_term) {
            let last_new = self.log.append_after(prev_index, entries);
            self.log.commit_to(commit.min(last_new));
            self.send(
                from,
                MessageBody::AppendAccepted {
                    match_index: last_new,
                },
            );
            return;
        }
        // Fast back-tracking: tell the leader the last index that could match (etcd §raft.go).
        let hint_index = self
            .log
            .find_conflict_by_term(prev_index.min(self.log.last_index()), prev_term);
        let hint_term = self.log.term(hint_index).unwrap_or(0);
        self.send(
            from,
            MessageBody::AppendRejected {
                rejected_index: prev_index,
                hint_index,
                hint_term,
            },
        );
    }

    fn handle_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        let (index, term) = (snapshot.meta.index, snapshot.meta.term);
        if index <= self.log.committed {
            let match_index = self.log.committed;
            self.send(from, MessageBody::AppendAccepted { match_index });
            return;
        }
        if self.log.matches(index, term) {
            // Our log already has the snapshot's last entry: just commit up to it.
            self.log.commit_to(index);
        } else {
            self.tracker.conf = snapshot.meta.conf.clone();
            self.log.restore_snapshot(snapshot);
        }
        self.send(from, MessageBody::AppendAccepted { match_index: index });
    }
}
