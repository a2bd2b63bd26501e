//! Raft messages between nodes over TCP: one outbound connection per peer (reconnecting with
//! exponential backoff, fed by a bounded queue that drops when full — Raft retransmits), and an
//! accept loop that reads frames from any peer and hands them to the node.

pub mod frame;
mod inbound;
mod outbound;

use std::collections::HashMap;
use std::sync::Arc;

use raftorch_core::raft::{Message, NodeId};
use tokio::sync::mpsc;

pub use inbound::serve;
pub use outbound::spawn_peer;

use crate::metrics::Metrics;

/// Messages queued per peer before new ones are dropped.
pub const PEER_QUEUE: usize = 1024;

/// The node's side of the outbound connections: one bounded queue per peer.
#[derive(Debug, Clone)]
pub struct Peers {
    queues: HashMap<NodeId, mpsc::Sender<Message>>,
    metrics: Arc<Metrics>,
}

impl Peers {
    /// Starts an outbound connection task for each `(id, address)`.
    pub fn start(peers: impl IntoIterator<Item = (NodeId, String)>, metrics: Arc<Metrics>) -> Self {
        let queues = peers
            .into_iter()
            .map(|(id, addr)| {
                let (tx, rx) = mpsc::channel(PEER_QUEUE);
                spawn_peer(id, addr, rx);
                (id, tx)
            })
            .collect();
        Peers { queues, metrics }
    }

    /// Queues `message` for its recipient; drops it if the queue is full or the peer unknown.
    pub fn send(&self, message: Message) {
        let Some(queue) = self.queues.get(&message.to) else {
            tracing::debug!(to = message.to, "no address for peer; message dropped");
            Metrics::inc(&self.metrics.messages_dropped);
            return;
        };
        match queue.try_send(message) {
            Ok(()) => Metrics::inc(&self.metrics.messages_sent),
            Err(_) => Metrics::inc(&self.metrics.messages_dropped),
        }
    }
}
