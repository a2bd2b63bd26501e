//! Forwarding: a follower passes a client's write to the leader as a message between engines
//! (on the same peer connection as Raft's messages), and the leader answers with how it ended.
//! Each forward carries a request id, numbered per incarnation of the follower; the leader
//! proposes a forward it has seen once only (the network may deliver it twice), and the follower
//! gives up on it after [`FORWARD_TIMEOUT_MS`] (its outcome is then unknown: the client retries
//! under its exactly-once tag).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::answer::{Answer, WriteEnd};
use super::application::Application;
use super::{Engine, Waiter};
use crate::raft::{Error, LogIndex, Message, NodeId, Proposed};

/// How long (ms of host time) a follower waits for the leader's answer to a forward.
pub const FORWARD_TIMEOUT_MS: u64 = 1_000;

/// What one node's engine sends another's: Raft's messages and forwarded client writes. `O` is
/// the application's output (a forwarded write's answer).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PeerMessage<O> {
    /// A Raft message.
    Raft(Message),
    /// A client write received by a follower, forwarded to the leader it knows.
    Forward {
        /// The follower's id for it (unique per incarnation of the follower).
        request: u64,
        /// The write's payload, as the client gave it (the leader stamps it).
        data: Vec<u8>,
        /// The client's W3C `traceparent`, if any, so one request is one trace across nodes.
        traceparent: Option<String>,
    },
    /// The leader's answer to a forwarded write.
    ForwardReply {
        /// The follower's id for the write.
        request: u64,
        /// How it ended at the leader.
        end: WriteEnd<O>,
    },
    /// A piece of a snapshot, from the leader to a follower (see `engine::transfer`).
    SnapshotChunk(super::Chunk),
    /// The follower's acknowledgement of snapshot chunks.
    SnapshotAck(super::ChunkAck),
}

/// Why a write was refused without effect: a leader's refusal crosses the wire in this form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// Not the leader; the leader this node knows of, if any.
    NotLeader {
        /// Where to retry.
        leader_hint: Option<NodeId>,
    },
    /// Refused for now (a leadership transfer, a pending membership change); retry later.
    Dropped(String),
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        match e {
            Error::NotLeader { leader_hint } => Refusal::NotLeader { leader_hint },
            other => Refusal::Dropped(other.to_string()),
        }
    }
}

/// Where a client write went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// Proposed here, at this index and term.
    Proposed {
        /// The entry's index.
        index: LogIndex,
        /// The entry's term.
        term: u64,
    },
    /// Forwarded to the leader, node `to`.
    Forwarded {
        /// The leader it went to.
        to: NodeId,
    },
}

impl<A: Application, W, R> Engine<A, W, R> {
    /// A message from peer `from`. When it is a forwarded write that this leader proposed, the
    /// entry's index and term come back, so a host that traces requests can follow the write
    /// (the forward's `traceparent` is the host's to read before it passes the message on).
    pub fn receive(
        &mut self,
        now_ms: u64,
        from: NodeId,
        message: PeerMessage<A::Output>,
    ) -> Option<Proposed> {
        self.now_ms = self.now_ms.max(now_ms);
        match message {
            PeerMessage::Raft(m) => self.step_checked(m),
            PeerMessage::Forward { request, data, .. } => {
                return self.on_forward(now_ms, from, request, data)
            }
            PeerMessage::ForwardReply { request, end } => {
                if let Some((waiter, _, _)) = self.forwarded.remove(&request) {
                    self.answers.push(Answer::Write(waiter, end));
                }
            }
            PeerMessage::SnapshotChunk(chunk) => self.on_chunk(from, chunk),
            PeerMessage::SnapshotAck(ack) => self.on_chunk_ack(from, ack),
        }
        None
    }

    /// Takes the engine's own messages to peers (forwards and their answers; Raft's messages
    /// come in each `Ready`).
    pub fn take_outbox(&mut self) -> Vec<(NodeId, PeerMessage<A::Output>)> {
        core::mem::take(&mut self.outbox)
    }

    /// Sends a write this follower cannot propose to the leader it knows.
    pub(super) fn forward(
        &mut self,
        now_ms: u64,
        leader: NodeId,
        data: Vec<u8>,
        traceparent: Option<String>,
        waiter: W,
    ) {
        let request = self.next_forward_id;
        self.next_forward_id = self.next_forward_id.wrapping_add(1);
        let deadline = now_ms.saturating_add(FORWARD_TIMEOUT_MS);
        self.forwarded.insert(request, (waiter, deadline, leader));
        let message = PeerMessage::Forward {
            request,
            data,
            traceparent,
        };
        self.outbox.push((leader, message));
    }

    /// The leader's side: propose a forwarded write once, answer it when it ends. A node that
    /// is not the leader never forwards again: it answers with where it thinks the leader is.
    fn on_forward(
        &mut self,
        now_ms: u64,
        from: NodeId,
        request: u64,
        data: Vec<u8>,
    ) -> Option<Proposed> {
        let key = (from, request);
        if self.seen_forwards.contains_key(&key) {
            return None; // a duplicate delivery of a forward already handled
        }
        let remembered_until = now_ms.saturating_add(2 * FORWARD_TIMEOUT_MS);
        self.seen_forwards.insert(key, remembered_until);
        match self.propose_here(now_ms, data, Waiter::Remote { from, request }) {
            Ok(proposed) => Some(proposed),
            Err((e, _, _)) => {
                let end = WriteEnd::Refused(Refusal::from(e));
                self.outbox
                    .push((from, PeerMessage::ForwardReply { request, end }));
                None
            }
        }
    }

    /// Gives up on forwards the leader never answered, and forgets forwards seen long ago (their
    /// followers gave up on them).
    pub(super) fn expire_forwards(&mut self, now_ms: u64) {
        let expired: Vec<u64> = self
            .forwarded
            .iter()
            .filter(|(_, (_, deadline, _))| *deadline <= now_ms)
            .map(|(&request, _)| request)
            .collect();
        for request in expired {
            if let Some((waiter, _, _)) = self.forwarded.remove(&request) {
                self.answers.push(Answer::Write(waiter, WriteEnd::Unknown));
            }
        }
        self.seen_forwards.retain(|_, until| *until > now_ms);
    }

    /// The leader changed: forwards that went to another node will most likely never be
    /// answered (it may be gone). Their outcome is unknown now, so their clients retry at once
    /// (under the same exactly-once tag) instead of waiting out [`FORWARD_TIMEOUT_MS`].
    pub(super) fn leader_changed(&mut self) {
        let leader = self.raw.leader();
        let stale: Vec<u64> = self
            .forwarded
            .iter()
            .filter(|(_, (_, _, to))| Some(*to) != leader)
            .map(|(&request, _)| request)
            .collect();
        for request in stale {
            if let Some((waiter, _, _)) = self.forwarded.remove(&request) {
                self.answers.push(Answer::Write(waiter, WriteEnd::Unknown));
            }
        }
    }
}
