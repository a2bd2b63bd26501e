//! A read-only summary of a node, for visualizers, metrics and invariant checks.

use alloc::vec::Vec;

use super::node::Raft;
use super::progress::ProgressState;
use super::types::{ConfState, LogIndex, NodeId, Role, Term};

/// A snapshot of one node's consensus state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// Node id.
    pub id: NodeId,
    /// Role.
    pub role: Role,
    /// Current term.
    pub term: Term,
    /// Vote in the current term.
    pub vote: Option<NodeId>,
    /// Known leader.
    pub leader: Option<NodeId>,
    /// Commit index.
    pub commit: LogIndex,
    /// Index handed to the host for applying.
    pub applied: LogIndex,
    /// Durable index.
    pub persisted: LogIndex,
    /// Snapshot point (entries up to here are compacted).
    pub snapshot_index: LogIndex,
    /// Last log index.
    pub last_index: LogIndex,
    /// Term of the last entry.
    pub last_term: Term,
    /// Membership.
    pub conf: ConfState,
    /// Ticks since the election timer was reset.
    pub election_elapsed: u32,
    /// The randomized election timeout in ticks.
    pub election_timeout: u32,
    /// Leader only: (member, matched, next, replication state).
    pub progress: Vec<(NodeId, LogIndex, LogIndex, ProgressState)>,
}

impl Status {
    pub(crate) fn of(raft: &Raft) -> Status {
        Status {
            id: raft.id,
            role: raft.role,
            term: raft.term,
            vote: raft.vote,
            leader: raft.leader,
            commit: raft.log.committed,
            applied: raft.log.applied,
            persisted: raft.log.persisted,
            snapshot_index: raft.log.offset(),
            last_index: raft.log.last_index(),
            last_term: raft.log.last_term(),
            conf: raft.tracker.conf.clone(),
            election_elapsed: raft.election_elapsed,
            election_timeout: if raft.role == Role::Leader {
                raft.config.election_tick
            } else {
                raft.randomized_election_timeout
            },
            progress: raft
                .tracker
                .progress
                .iter()
                .map(|(&id, pr)| (id, pr.matched, pr.next, pr.state))
                .collect(),
        }
    }
}
