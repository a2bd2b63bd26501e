//! Heartbeats that keep flowing while the host waits on its disk.
//!
//! A host makes each `Ready` durable before it steps anything else, so while an fsync is slow
//! (a disk shared with a large snapshot being written, a device flush queued behind other
//! writes) nothing is ticked or stepped. For as long as that lasts the leader sends no
//! heartbeat and a follower answers none: past an election timeout the followers elect a new
//! leader, or the leader's check-quorum steps it down, though nothing failed but a disk being
//! slow for a moment.
//!
//! The engine remembers the last heartbeat (leader) or heartbeat response (follower) it handed
//! out to each peer, and [`Engine::keepalives`] gives them again. Sending a message already
//! sent is safe under Raft, whose network may duplicate any message: a follower that gets a
//! heartbeat again resets its election timer (it heard from a leader of that term, which is
//! still in charge: nothing was stepped since), applies a commit index it already had, and
//! acknowledges a heartbeat round it acknowledged before, which confirms no read that was
//! not confirmed already. A leader lease only grows more conservative, because a follower's
//! promise not to vote runs from when it hears a heartbeat, later for a repeat.

use alloc::vec::Vec;

use super::application::Application;
use super::forward::PeerMessage;
use super::Engine;
use crate::raft::{Message, MessageBody, NodeId};

impl<A: Application, W, R> Engine<A, W, R> {
    /// Remembers `message` if it is a heartbeat or a heartbeat response.
    pub(super) fn remember_keepalive(&mut self, message: &Message) {
        if matches!(
            message.body,
            MessageBody::Heartbeat { .. } | MessageBody::HeartbeatResponse { .. }
        ) {
            self.keepalives.insert(message.to, message.clone());
        }
    }

    /// For a host whose loop waits on its disk (a persist in flight, nothing stepped or ticked
    /// since the last `Ready`): the last heartbeat a leader sent to each follower, or the last
    /// heartbeat response a follower sent to its leader, to send again every heartbeat
    /// interval until the disk answers. Only messages of the current term and role come back.
    pub fn keepalives(&self) -> Vec<(NodeId, PeerMessage<A::Output>)> {
        let term = self.raw.term();
        let leading = self.raw.is_leader();
        let leader = self.raw.leader();
        self.keepalives
            .iter()
            .filter(|(&to, m)| {
                m.term == term
                    && match m.body {
                        MessageBody::Heartbeat { .. } => leading,
                        MessageBody::HeartbeatResponse { .. } => !leading && leader == Some(to),
                        _ => false,
                    }
            })
            .map(|(&to, m)| (to, PeerMessage::Raft(m.clone())))
            .collect()
    }
}
