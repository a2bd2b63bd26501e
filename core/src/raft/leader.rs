//! The leader's timers, message handling, proposals and leadership transfer.

use alloc::vec::Vec;

use super::entry::{Entry, EntryPayload};
use super::error::Error;
use super::message::MessageBody;
use super::node::Raft;
use super::progress::ProgressState;
use super::types::{LogIndex, NodeId, Role};

impl Raft {
    pub(crate) fn tick_leader(&mut self) {
        self.heartbeat_elapsed = self.heartbeat_elapsed.saturating_add(1);
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        self.tick_snapshot_progress();
        if self.election_elapsed >= self.config.election_tick {
            self.election_elapsed = 0;
            if self.config.check_quorum && !self.quorum_recently_active() {
                // Partitioned away from a majority: stop acting as leader (thesis §6.2).
                self.become_follower(self.term, None);
                return;
            }
            // A transfer that did not finish within an election timeout is abandoned.
            self.lead_transferee = None;
        }
        if self.heartbeat_elapsed >= self.config.heartbeat_tick {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat();
        }
    }

    /// Followers waiting on a snapshot that seems lost go back to probing.
    fn tick_snapshot_progress(&mut self) {
        for pr in self.tracker.progress.values_mut() {
            if let ProgressState::Snapshot {
                pending,
                ticks_left,
            } = pr.state
            {
                if ticks_left <= 1 {
                    pr.become_probe();
                } else {
                    pr.state = ProgressState::Snapshot {
                        pending,
                        ticks_left: ticks_left - 1,
                    };
                }
            }
        }
    }

    /// Whether a quorum of voters answered since the last check; resets the marks.
    fn quorum_recently_active(&mut self) -> bool {
        self.tracker.take_quorum_recently_active(self.id)
    }

    /// Starts a heartbeat round; its acknowledgements confirm leadership for pending reads.
    pub(crate) fn broadcast_heartbeat(&mut self) {
        self.start_heartbeat_round();
        // A single-voter cluster confirms its reads on its own.
        self.release_confirmed_reads();
    }

    /// Queues a heartbeat to every peer under a new round number, which it returns. Until the
    /// host takes the outbox, reads join this round (see [`ReadOnly::unsent_round`]).
    ///
    /// [`ReadOnly::unsent_round`]: super::read_only::ReadOnly::unsent_round
    pub(crate) fn start_heartbeat_round(&mut self) -> u64 {
        let keep = u64::from(self.config.election_tick) * 2;
        let seq = self.read_only.next_round(self.now_ticks, keep);
        self.read_only.set_unsent_round(seq);
        if let Some(own) = self.tracker.progress.get_mut(&self.id) {
            own.acked_seq = seq;
        }
        for id in self.peers() {
            let commit = self.tracker.progress[&id].matched.min(self.log.committed);
            self.send(id, MessageBody::Heartbeat { commit, seq });
        }
        seq
    }

    /// Leader message handling (vote requests are handled in `step`).
    pub(crate) fn step_leader(&mut self, from: NodeId, body: MessageBody) {
        match body {
            MessageBody::AppendAccepted { match_index } => {
                self.handle_append_accepted(from, match_index)
            }
            MessageBody::AppendRejected {
                rejected_index,
                hint_index,
                hint_term,
            } => self.handle_append_rejected(from, rejected_index, hint_index, hint_term),
            MessageBody::HeartbeatResponse { seq } => self.handle_heartbeat_response(from, seq),
            MessageBody::ReadIndex { ctx } => {
                self.handle_read_request(ctx, Some(from), super::ReadMode::Linearizable)
            }
            _ => {}
        }
    }

    fn handle_heartbeat_response(&mut self, from: NodeId, seq: u64) {
        let last = self.log.last_index();
        let Some(pr) = self.tracker.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        pr.acked_seq = pr.acked_seq.max(seq);
        pr.probe_sent = false;
        if pr.state == ProgressState::Replicate && pr.inflights.is_full() {
            // Acknowledgements were lost; let one more append through.
            pr.inflights.free_first();
        }
        let behind = pr.matched < last;
        if behind {
            self.send_append(from, true);
        }
        self.release_confirmed_reads();
    }

    /// The heartbeat round a quorum of voters has acknowledged.
    pub(crate) fn quorum_acked_seq(&self) -> u64 {
        self.tracker.quorum_acked_seq()
    }

    /// Appends proposals to the log; they are sent on the next `ready()` so that many proposals
    /// made together travel in one message (batching). Returns the index of the last one.
    pub(crate) fn propose(&mut self, payloads: Vec<EntryPayload>) -> Result<LogIndex, Error> {
        if self.role != Role::Leader {
            return Err(Error::NotLeader {
                leader_hint: self.leader,
            });
        }
        if self.lead_transferee.is_some() {
            return Err(Error::ProposalDropped("leadership transfer in progress"));
        }
        let mut index = self.log.last_index();
        let term = self.term;
        self.log.append(payloads.into_iter().map(|payload| {
            index += 1;
            Entry {
                term,
                index,
                payload,
            }
        }));
        self.needs_broadcast = true;
        Ok(index)
    }

    /// Hands leadership to `to` once its log is caught up (thesis §3.10).
    pub(crate) fn transfer_leader(&mut self, to: NodeId) -> Result<(), Error> {
        if self.role != Role::Leader {
            return Err(Error::NotLeader {
                leader_hint: self.leader,
            });
        }
        if to == self.id {
            return Ok(());
        }
        if !self.tracker.is_voter(to) {
            return Err(Error::UnknownNode(to));
        }
        if self.lead_transferee == Some(to) {
            return Ok(());
        }
        self.lead_transferee = Some(to);
        // The transfer must finish within an election timeout.
        self.election_elapsed = 0;
        if self.tracker.progress[&to].matched == self.log.last_index() {
            self.send(to, MessageBody::TimeoutNow);
        } else {
            self.send_append(to, true);
        }
        Ok(())
    }
}
