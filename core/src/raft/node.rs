//! The Raft state machine of one node: its state, `step` (every term check in one place, then a
//! dispatch on the role) and `tick`. Role-specific handling lives in `election`, `leader`,
//! `follower` and `membership`.

use alloc::vec::Vec;
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::config::Config;
use super::log::RaftLog;
use super::message::{Message, MessageBody};
use super::read_only::{ReadOnly, ReadState};
use super::tracker::Tracker;
use super::types::{ConfState, HardState, LogIndex, NodeId, Role, SoftState, Term};

/// One node's consensus state. Hosts use it through [`super::RawNode`].
#[derive(Clone, Debug)]
pub(crate) struct Raft {
    pub(crate) id: NodeId,
    pub(crate) term: Term,
    pub(crate) vote: Option<NodeId>,
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) log: RaftLog,
    /// The configuration, the members' progress and the votes, with the quorum questions.
    pub(crate) tracker: Tracker,
    /// Messages that may be sent before persisting.
    pub(crate) msgs: Vec<Message>,
    /// Messages to send after persisting.
    pub(crate) msgs_after_persist: Vec<Message>,
    pub(crate) read_states: Vec<ReadState>,
    pub(crate) read_only: ReadOnly,
    pub(crate) election_elapsed: u32,
    pub(crate) heartbeat_elapsed: u32,
    pub(crate) randomized_election_timeout: u32,
    /// Ticks since this node started; the leader's clock for lease reads.
    pub(crate) now_ticks: u64,
    pub(crate) lead_transferee: Option<NodeId>,
    /// Index of the latest membership change proposed; no other may be proposed until applied.
    pub(crate) pending_conf_index: LogIndex,
    /// Proposals were appended since the last broadcast.
    pub(crate) needs_broadcast: bool,
    /// Messages refused by `step` (misaddressed, from a sender with no business sending them,
    /// or malformed; see `validate`).
    pub(crate) dropped: u64,
    pub(crate) rng: Xoshiro256PlusPlus,
    pub(crate) config: Config,
}

impl Raft {
    /// A node in the given persisted state.
    pub(crate) fn new(
        config: Config,
        hard_state: HardState,
        conf: ConfState,
        log: RaftLog,
    ) -> Self {
        let mut raft = Raft {
            id: config.id,
            term: hard_state.term,
            vote: hard_state.vote,
            role: Role::Follower,
            leader: None,
            log,
            tracker: Tracker::new(conf),
            msgs: Vec::new(),
            msgs_after_persist: Vec::new(),
            read_states: Vec::new(),
            read_only: ReadOnly::default(),
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_election_timeout: config.election_tick,
            now_ticks: 0,
            lead_transferee: None,
            pending_conf_index: 0,
            needs_broadcast: false,
            dropped: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(config.seed),
            config,
        };
        raft.reset_randomized_election_timeout();
        raft
    }

    /// The state that must be durable.
    pub(crate) fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed,
        }
    }

    /// The state a host may display.
    pub(crate) fn soft_state(&self) -> SoftState {
        SoftState {
            leader: self.leader,
            role: self.role,
        }
    }

    /// Whether this node may campaign: it is a voter in the current membership.
    pub(crate) fn is_promotable(&self) -> bool {
        self.tracker.is_voter(self.id)
    }

    pub(crate) fn reset_randomized_election_timeout(&mut self) {
        let base = self.config.election_tick;
        self.randomized_election_timeout = base + (self.rng.next_u32() % base);
    }

    /// Queues a message from this node in term `self.term`.
    pub(crate) fn send(&mut self, to: NodeId, body: MessageBody) {
        self.send_with_term(to, self.term, body);
    }

    /// Queues a message. A leader's replication traffic may leave before persisting; everything
    /// else promises persisted state and waits for it.
    pub(crate) fn send_with_term(&mut self, to: NodeId, term: Term, body: MessageBody) {
        let before_persist = self.role == Role::Leader
            && matches!(
                body,
                MessageBody::Append { .. }
                    | MessageBody::Heartbeat { .. }
                    | MessageBody::InstallSnapshot { .. }
                    | MessageBody::TimeoutNow
                    | MessageBody::ReadIndexResponse { .. }
            );
        let message = Message {
            from: self.id,
            to,
            term,
            body,
        };
        if before_persist {
            self.msgs.push(message);
        } else {
            self.msgs_after_persist.push(message);
        }
    }

    /// Advances logical time by one tick.
    pub(crate) fn tick(&mut self) {
        self.now_ticks = self.now_ticks.saturating_add(1);
        if self.role == Role::Leader {
            self.tick_leader();
        } else {
            self.tick_election();
        }
    }

    fn tick_election(&mut self) {
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        if self.is_promotable() && self.election_elapsed >= self.randomized_election_timeout {
            self.election_elapsed = 0;
            self.campaign(false);
        }
    }

    /// Whether this node heard from a leader within the election timeout (its leader lease,
    /// under check-quorum: it will not help depose a leader it still hears from).
    fn in_leader_lease(&self) -> bool {
        self.config.check_quorum
            && self.leader.is_some()
            && self.election_elapsed < self.config.election_tick
    }

    /// Feeds one message. Messages a peer had no business sending, or that no honest peer could
    /// send, are counted and dropped first (`validate`); all term checks happen here, once; then
    /// the role decides.
    pub(crate) fn step(&mut self, m: Message) {
        if m.to != self.id || !self.admits(&m) {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        if m.term > self.term {
            match &m.body {
                MessageBody::PreVote { .. } => {}
                // A granted pre-vote is for the term we would campaign in: not a newer leader.
                MessageBody::PreVoteResponse { granted: true } => {}
                MessageBody::Vote { transfer, .. } if !transfer && self.in_leader_lease() => {
                    // Ignore without raising our term: a leader is alive (thesis §4.2.3).
                    return;
                }
                MessageBody::Append { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::InstallSnapshot { .. } => self.become_follower(m.term, Some(m.from)),
                _ => self.become_follower(m.term, None),
            }
        } else if m.term < self.term {
            match m.body {
                MessageBody::Append { .. } | MessageBody::Heartbeat { .. }
                    if self.config.check_quorum || self.config.pre_vote =>
                {
                    // A stale leader (e.g. healed from a partition) learns our term and steps down.
                    self.send(m.from, MessageBody::HeartbeatResponse { seq: 0 });
                }
                MessageBody::PreVote { .. } => {
                    self.send(m.from, MessageBody::PreVoteResponse { granted: false });
                }
                _ => {}
            }
            return;
        }

        match m.body {
            MessageBody::PreVote {
                last_index,
                last_term,
            } => self.handle_vote_request(m.from, m.term, last_index, last_term, true),
            MessageBody::Vote {
                last_index,
                last_term,
                ..
            } => self.handle_vote_request(m.from, m.term, last_index, last_term, false),
            body => match self.role {
                Role::Leader => self.step_leader(m.from, body),
                Role::Candidate | Role::PreCandidate => self.step_candidate(m.from, m.term, body),
                Role::Follower => self.step_follower(m.from, body),
            },
        }
    }

    /// Grants or refuses a (pre-)vote.
    fn handle_vote_request(
        &mut self,
        from: NodeId,
        term: Term,
        last_index: LogIndex,
        last_term: Term,
        pre_vote: bool,
    ) {
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none())
            || (pre_vote && term > self.term);
        let lease_blocks = pre_vote && self.in_leader_lease();
        let granted = can_vote && !lease_blocks && self.log.is_up_to_date(last_index, last_term);
        if pre_vote {
            // Answer in the term asked about, so the pre-candidate counts it.
            let reply_term = if granted { term } else { self.term };
            self.send_with_term(from, reply_term, MessageBody::PreVoteResponse { granted });
        } else {
            if granted {
                self.election_elapsed = 0;
                self.vote = Some(from);
            }
            self.send(from, MessageBody::VoteResponse { granted });
        }
    }

    /// Becomes a follower of `leader` (if known) in `term`.
    pub(crate) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        if term != self.term {
            self.term = term;
            self.vote = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.reset_role_state();
    }

    /// Clears what belongs to one term in one role.
    pub(crate) fn reset_role_state(&mut self) {
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_randomized_election_timeout();
        self.tracker.reset();
        self.lead_transferee = None;
        self.read_only.reset();
        self.needs_broadcast = false;
    }
}
