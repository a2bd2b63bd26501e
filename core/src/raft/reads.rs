//! Read requests: ReadIndex on the leader, lease reads, and forwarding from followers.

use core::mem;

use super::error::Error;
use super::message::MessageBody;
use super::node::Raft;
use super::read_only::{PendingRead, ReadMode, ReadState};
use super::types::{LogIndex, NodeId, Role};

impl Raft {
    /// A local read request. On a follower it is forwarded to the leader.
    pub(crate) fn read_index(&mut self, ctx: u64, mode: ReadMode) -> Result<(), Error> {
        match self.role {
            Role::Leader => {
                self.handle_read_request(ctx, None, mode);
                Ok(())
            }
            _ => match self.leader {
                Some(leader) => {
                    self.send(leader, MessageBody::ReadIndex { ctx });
                    Ok(())
                }
                None => Err(Error::NotLeader { leader_hint: None }),
            },
        }
    }

    /// A read on the leader, local (`from == None`) or forwarded by a follower.
    pub(crate) fn handle_read_request(&mut self, ctx: u64, from: Option<NodeId>, mode: ReadMode) {
        // Until an entry of this term commits, the commit index may lag what earlier leaders
        // committed (thesis §6.4): wait for the no-op.
        if self.log.term(self.log.committed) != Some(self.term) {
            self.read_only.awaiting_commit.push((ctx, from, mode));
            return;
        }
        let index = self.log.committed;
        if self.tracker.conf.voters.len() == 1 && self.tracker.is_voter(self.id) {
            self.answer_read(ctx, from, index);
            return;
        }
        if mode == ReadMode::Lease && self.lease_is_valid() {
            self.answer_read(ctx, from, index);
            return;
        }
        // Reads share a round whose heartbeats have not left yet: they leave after every
        // read that joins, which is all ReadIndex needs.
        let seq = match self.read_only.unsent_round() {
            Some(seq) => seq,
            None => self.start_heartbeat_round(),
        };
        self.read_only.add(PendingRead {
            seq,
            index,
            ctx,
            from,
        });
    }

    /// Whether no other leader can have been elected: a quorum acknowledged a heartbeat sent
    /// less than an election timeout ago (voters refuse to vote for that long, by check-quorum).
    fn lease_is_valid(&self) -> bool {
        if !self.config.check_quorum {
            return false;
        }
        let seq = self.quorum_acked_seq();
        match self.read_only.round_sent_at(seq) {
            // One tick of margin for clock drift between nodes.
            Some(sent) => sent + u64::from(self.config.election_tick) > self.now_ticks + 1,
            None => false,
        }
    }

    fn answer_read(&mut self, ctx: u64, from: Option<NodeId>, index: LogIndex) {
        match from {
            None => self.read_states.push(ReadState { ctx, index }),
            Some(follower) => self.send(follower, MessageBody::ReadIndexResponse { ctx, index }),
        }
    }

    /// Answers every read whose heartbeat round a quorum has acknowledged.
    pub(crate) fn release_confirmed_reads(&mut self) {
        let acked = self.quorum_acked_seq();
        for read in self.read_only.release(acked) {
            self.answer_read(read.ctx, read.from, read.index);
        }
    }

    /// The first entry of this term committed: serve the reads that waited for it.
    pub(crate) fn release_reads_awaiting_commit(&mut self) {
        for (ctx, from, mode) in mem::take(&mut self.read_only.awaiting_commit) {
            self.handle_read_request(ctx, from, mode);
        }
    }

    /// A follower receives the leader's answer to a forwarded read.
    pub(crate) fn handle_read_response(&mut self, ctx: u64, index: LogIndex) {
        self.read_states.push(ReadState { ctx, index });
    }
}
