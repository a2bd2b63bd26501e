//! Messages exchanged between Raft nodes.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::entry::{Entry, Snapshot};
use super::types::{LogIndex, NodeId, Term};

/// A message from one node to another. Every message carries the sender's term.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// The sender's term (for a pre-vote request: the term it would campaign in).
    pub term: Term,
    /// What the message says.
    pub body: MessageBody,
}

/// The kinds of Raft messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody {
    /// "Would you vote for me?", asked without raising terms (pre-vote).
    PreVote {
        /// Index of the candidate's last entry.
        last_index: LogIndex,
        /// Term of the candidate's last entry.
        last_term: Term,
    },
    /// Answer to [`MessageBody::PreVote`].
    PreVoteResponse {
        /// Whether the pre-vote was granted.
        granted: bool,
    },
    /// A vote request for the sender's term.
    Vote {
        /// Index of the candidate's last entry.
        last_index: LogIndex,
        /// Term of the candidate's last entry.
        last_term: Term,
        /// Set when the campaign follows a leadership transfer: voters disregard their leader lease.
        transfer: bool,
    },
    /// Answer to [`MessageBody::Vote`].
    VoteResponse {
        /// Whether the vote was granted.
        granted: bool,
    },
    /// Log replication: entries following `prev_index`.
    Append {
        /// Index of the entry just before `entries`.
        prev_index: LogIndex,
        /// Term of the entry at `prev_index`.
        prev_term: Term,
        /// Entries to append (may be empty: a probe).
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: LogIndex,
    },
    /// The follower's log now matches the leader's up to `match_index`.
    AppendAccepted {
        /// Highest index known to match the leader's log.
        match_index: LogIndex,
    },
    /// The follower's log does not contain the leader's entry at `rejected_index`.
    AppendRejected {
        /// The `prev_index` of the rejected append.
        rejected_index: LogIndex,
        /// Fast back-tracking: the follower's best guess of where the logs may match.
        hint_index: LogIndex,
        /// The term of the follower's entry at `hint_index`.
        hint_term: Term,
    },
    /// Leader liveness and commit propagation; `seq` is echoed to confirm leadership for reads.
    Heartbeat {
        /// `min(follower's match, leader's commit)`.
        commit: LogIndex,
        /// The leader's heartbeat round.
        seq: u64,
    },
    /// Answer to [`MessageBody::Heartbeat`].
    HeartbeatResponse {
        /// The round being acknowledged.
        seq: u64,
    },
    /// A snapshot replacing the follower's log up to its index.
    InstallSnapshot {
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Leadership transfer: campaign immediately.
    TimeoutNow,
    /// A follower asks the leader for a read index on behalf of its client.
    ReadIndex {
        /// Opaque request id chosen by the follower's host.
        ctx: u64,
    },
    /// The leader's answer to [`MessageBody::ReadIndex`].
    ReadIndexResponse {
        /// The request id.
        ctx: u64,
        /// The index the read must wait for.
        index: LogIndex,
    },
}

impl MessageBody {
    /// A short name for traces and the visualizer's legend.
    pub fn kind(&self) -> MessageKind {
        match self {
            MessageBody::PreVote { .. } => MessageKind::PreVote,
            MessageBody::PreVoteResponse { .. } => MessageKind::PreVoteResponse,
            MessageBody::Vote { .. } => MessageKind::Vote,
            MessageBody::VoteResponse { .. } => MessageKind::VoteResponse,
            MessageBody::Append { .. } => MessageKind::Append,
            MessageBody::AppendAccepted { .. } | MessageBody::AppendRejected { .. } => {
                MessageKind::AppendResponse
            }
            MessageBody::Heartbeat { .. } => MessageKind::Heartbeat,
            MessageBody::HeartbeatResponse { .. } => MessageKind::HeartbeatResponse,
            MessageBody::InstallSnapshot { .. } => MessageKind::Snapshot,
            MessageBody::TimeoutNow => MessageKind::TimeoutNow,
            MessageBody::ReadIndex { .. } => MessageKind::ReadIndex,
            MessageBody::ReadIndexResponse { .. } => MessageKind::ReadIndexResponse,
        }
    }
}

/// The kind of a message without its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum MessageKind {
    PreVote,
    PreVoteResponse,
    Vote,
    VoteResponse,
    Append,
    AppendResponse,
    Heartbeat,
    HeartbeatResponse,
    Snapshot,
    TimeoutNow,
    ReadIndex,
    ReadIndexResponse,
}

impl MessageKind {
    /// A short lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::PreVote => "prevote",
            MessageKind::PreVoteResponse => "prevote-resp",
            MessageKind::Vote => "vote",
            MessageKind::VoteResponse => "vote-resp",
            MessageKind::Append => "append",
            MessageKind::AppendResponse => "append-resp",
            MessageKind::Heartbeat => "heartbeat",
            MessageKind::HeartbeatResponse => "heartbeat-resp",
            MessageKind::Snapshot => "snapshot",
            MessageKind::TimeoutNow => "timeout-now",
            MessageKind::ReadIndex => "read-index",
            MessageKind::ReadIndexResponse => "read-index-resp",
        }
    }
}
