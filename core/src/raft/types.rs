//! Identifiers and small value types shared by every part of the consensus core.

use alloc::collections::BTreeSet;
use serde::{Deserialize, Serialize};

/// Identifies a node of the cluster. `0` is never a valid id.
pub type NodeId = u64;
/// A Raft term: a logical epoch with at most one leader.
pub type Term = u64;
/// A position in the replicated log; the first entry has index 1.
pub type LogIndex = u64;

/// The role a node plays in its current term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asks for pre-votes without raising its term (Raft thesis §9.6).
    PreCandidate,
    /// Asks for votes in a new term.
    Candidate,
    /// Replicates the log and decides what is committed.
    Leader,
}

impl Role {
    /// A short lowercase name, as used in traces and the web UI's `data-role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate => "precandidate",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// State that must be durable before any message that depends on it is sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardState {
    /// The latest term this node has seen.
    pub term: Term,
    /// Whom this node voted for in `term`, if anyone.
    pub vote: Option<NodeId>,
    /// The highest index known to be committed.
    pub commit: LogIndex,
}

/// Volatile state a host may display; it is never persisted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftState {
    /// The leader this node knows of, if any.
    pub leader: Option<NodeId>,
    /// This node's role.
    pub role: Role,
}

/// The cluster membership: who votes and who only receives the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfState {
    /// Members whose acknowledgements count towards quorums and who may become leader.
    pub voters: BTreeSet<NodeId>,
    /// Members that replicate the log but neither vote nor count towards quorums.
    pub learners: BTreeSet<NodeId>,
}

impl ConfState {
    /// A configuration made of the given voters and no learners.
    pub fn with_voters(voters: &[NodeId]) -> Self {
        ConfState {
            voters: voters.iter().copied().collect(),
            learners: BTreeSet::new(),
        }
    }

    /// Whether `id` is a voter or a learner.
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }

    /// Every member, voters first then learners, each group in id order.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(self.learners.iter()).copied()
    }
}
