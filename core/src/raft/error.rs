//! The errors a host can get back from the consensus core.

use core::fmt;

use super::types::{LogIndex, NodeId};

/// Why a request to a node was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// Only the leader accepts this request; forward it to `leader_hint` if known.
    NotLeader {
        /// The leader this node knows of.
        leader_hint: Option<NodeId>,
    },
    /// The proposal was refused, e.g. during a leadership transfer or while a membership change
    /// is still pending; retry later.
    ProposalDropped(&'static str),
    /// The requested entries were compacted into a snapshot.
    Compacted,
    /// The requested entries are beyond the end of the log.
    Unavailable,
    /// The membership change makes no sense for the current configuration.
    InvalidConfChange(&'static str),
    /// A node id that is not a member of the cluster.
    UnknownNode(NodeId),
    /// The configuration is invalid.
    InvalidConfig(&'static str),
    /// Storage returned inconsistent data at the given index.
    Storage(LogIndex),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotLeader {
                leader_hint: Some(id),
            } => write!(f, "not the leader; the leader is node {id}"),
            Error::NotLeader { leader_hint: None } => write!(f, "not the leader; no leader known"),
            Error::ProposalDropped(why) => write!(f, "proposal dropped: {why}"),
            Error::Compacted => write!(f, "requested entries are compacted"),
            Error::Unavailable => write!(f, "requested entries are not in the log yet"),
            Error::InvalidConfChange(why) => write!(f, "invalid membership change: {why}"),
            Error::UnknownNode(id) => write!(f, "node {id} is not a member"),
            Error::InvalidConfig(why) => write!(f, "invalid config: {why}"),
            Error::Storage(index) => write!(f, "storage is inconsistent at index {index}"),
        }
    }
}

impl core::error::Error for Error {}
