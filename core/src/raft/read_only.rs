//! Linearizable reads by ReadIndex: a read is answered with the commit index once a quorum has
//! acknowledged a heartbeat round sent after the read arrived, proving the leader was still leader.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::types::{LogIndex, NodeId};

/// How a read is confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReadMode {
    /// ReadIndex: confirm leadership with a quorum heartbeat round. Always safe.
    Linearizable,
    /// Lease read: answer at once while the leader's lease (a quorum acknowledged a heartbeat
    /// within the last election timeout) holds. Needs `check_quorum` and bounded clock drift;
    /// falls back to ReadIndex when the lease is not known to hold.
    Lease,
}

/// A read that may be served once the host has applied up to `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The host's request id.
    pub ctx: u64,
    /// Serve the read after applying at least this index.
    pub index: LogIndex,
}

/// A read waiting for its heartbeat round to be acknowledged by a quorum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PendingRead {
    /// The heartbeat round that confirms it.
    pub(crate) seq: u64,
    /// The commit index when the read arrived.
    pub(crate) index: LogIndex,
    /// The host's request id.
    pub(crate) ctx: u64,
    /// The follower that forwarded it, or `None` for a local read.
    pub(crate) from: Option<NodeId>,
}

/// The leader's queue of reads and its record of heartbeat rounds.
#[derive(Clone, Debug, Default)]
pub(crate) struct ReadOnly {
    /// Reads in arrival order; their `seq` is non-decreasing.
    pending: VecDeque<PendingRead>,
    /// Reads that arrived before this leader committed an entry of its term.
    pub(crate) awaiting_commit: Vec<(u64, Option<NodeId>, ReadMode)>,
    /// The last heartbeat round started.
    pub(crate) seq: u64,
    /// (round, leader tick when sent), for rounds still inside a lease window.
    rounds: VecDeque<(u64, u64)>,
    /// A round started for reads whose heartbeats still wait in the outbox: reads arriving
    /// before the host takes them join it instead of starting a round of their own, since
    /// those heartbeats leave after they arrived.
    unsent_round: Option<u64>,
}

impl ReadOnly {
    /// Starts a new heartbeat round at leader tick `now`, returning its number.
    pub(crate) fn next_round(&mut self, now: u64, keep_ticks: u64) -> u64 {
        self.seq += 1;
        self.rounds.push_back((self.seq, now));
        while self
            .rounds
            .front()
            .is_some_and(|&(_, tick)| tick + keep_ticks < now)
        {
            self.rounds.pop_front();
        }
        self.seq
    }

    /// The round that reads arriving now can join, if its heartbeats are not sent yet.
    pub(crate) fn unsent_round(&self) -> Option<u64> {
        self.unsent_round
    }

    /// Records that round `seq` was started for reads and is not sent yet.
    pub(crate) fn set_unsent_round(&mut self, seq: u64) {
        self.unsent_round = Some(seq);
    }

    /// The host took the outbox: every round started so far is on its way.
    pub(crate) fn rounds_sent(&mut self) {
        self.unsent_round = None;
    }

    /// The leader tick at which round `seq` was sent, if still remembered.
    pub(crate) fn round_sent_at(&self, seq: u64) -> Option<u64> {
        let pos = self.rounds.binary_search_by_key(&seq, |&(s, _)| s).ok()?;
        Some(self.rounds[pos].1)
    }

    /// Queues a read confirmed by round `seq`.
    pub(crate) fn add(&mut self, read: PendingRead) {
        self.pending.push_back(read);
    }

    /// Removes and returns every read confirmed once a quorum acknowledged round `acked`.
    pub(crate) fn release(&mut self, acked: u64) -> Vec<PendingRead> {
        let mut out = Vec::new();
        while self.pending.front().is_some_and(|r| r.seq <= acked) {
            out.extend(self.pending.pop_front());
        }
        out
    }

    /// Forgets all state (on losing leadership).
    pub(crate) fn reset(&mut self) {
        *self = ReadOnly::default();
    }
}
