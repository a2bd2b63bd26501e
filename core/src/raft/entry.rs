//! Log entries, membership changes and snapshots: what the log holds and what is persisted.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::types::{ConfState, LogIndex, NodeId, Term};

/// One record of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The entry's position in the log.
    pub index: LogIndex,
    /// What the entry carries.
    pub payload: EntryPayload,
}

impl Entry {
    /// Approximate encoded size, used for flow control (max bytes per message).
    pub fn size_hint(&self) -> usize {
        24 + match &self.payload {
            EntryPayload::Noop => 0,
            EntryPayload::Normal(data) => data.len(),
            EntryPayload::ConfChange(_) => 16,
        }
    }
}

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryPayload {
    /// Appended by a new leader so that it can commit an entry of its own term.
    Noop,
    /// Application data, opaque to Raft. Shared: cloning an entry does not copy its data.
    Normal(Bytes),
    /// A membership change, applied when the entry is applied.
    ConfChange(ConfChange),
}

/// A single-step membership change (one server at a time, Raft thesis §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfChange {
    /// Adds a voter, or promotes an existing learner to voter.
    AddVoter(NodeId),
    /// Adds a learner that receives the log without voting.
    AddLearner(NodeId),
    /// Removes a voter or learner.
    RemoveNode(NodeId),
}

/// Where a snapshot sits in the log, and the membership at that point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// The last log index the snapshot covers.
    pub index: LogIndex,
    /// The term of the entry at `index`.
    pub term: Term,
    /// The membership as of `index`.
    pub conf: ConfState,
}

/// A state machine snapshot that replaces the log up to `meta.index`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Position and membership.
    pub meta: SnapshotMeta,
    /// The serialized application state, opaque to Raft. Shared, so the copies the log, the
    /// host's storage and a transfer in progress hold are one buffer.
    pub data: Bytes,
}
