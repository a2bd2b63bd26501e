//! The engines' messages between nodes over TCP — Raft's, and client writes a follower forwards
//! to the leader with the leader's answers: one outbound connection per peer (reconnecting with
//! exponential backoff, fed by a bounded queue that drops when full — Raft retransmits, and a
//! forward's client retries), and an accept loop that reads frames from any peer and hands them
//! to the node.
//!
//! Every connection starts with a [`handshake`] (protocol version, cluster id, node id): a node
//! of another cluster or protocol is refused, and the frames that follow must be from the node
//! the handshake named to this node. Without TLS that node id is a claim, not a proof; with
//! [`tls_wrap`] (mutual TLS around the handshake) the peer's certificate must name it.

pub mod frame;
pub mod handshake;
mod inbound;
mod outbound;
mod resolve;
pub mod tls_wrap;

use std::collections::HashMap;
use std::sync::Arc;

use raftorch_core::engine::PeerMessage;
use raftorch_core::orchestrator::Output;
use raftorch_core::raft::{Message, NodeId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

pub use inbound::{bound_to, serve, Inbound, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT, INBOX_BYTES};
pub use outbound::{spawn_peer, Sender};
pub use tls_wrap::PeerTls;

use crate::metrics::Metrics;

/// One message between two nodes' engines, as it travels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Wire {
    /// The sender.
    pub from: NodeId,
    /// The recipient.
    pub to: NodeId,
    /// What it says.
    pub message: PeerMessage<Output>,
}

impl Wire {
    /// A Raft message, addressed as it says.
    pub fn raft(message: Message) -> Self {
        Wire {
            from: message.from,
            to: message.to,
            message: PeerMessage::Raft(message),
        }
    }
}

/// A peer's message on its way to the owner task, holding its share of the inbox's byte budget
/// until it is dropped (after it is stepped).
#[derive(Debug)]
pub struct Received {
    /// The message.
    pub wire: Wire,
    /// Released on drop; `None` for messages that did not come through the accept loop.
    _budget: Option<OwnedSemaphorePermit>,
}

impl From<Wire> for Received {
    fn from(wire: Wire) -> Self {
        Received {
            wire,
            _budget: None,
        }
    }
}

/// Messages queued per peer before new ones are dropped.
pub const PEER_QUEUE: usize = 1024;
/// Bytes of encoded frames queued per peer before new ones are dropped (a frame larger than
/// this is charged this much, so it still fits an empty queue). With [`PEER_QUEUE`] it bounds
/// what a slow or unreachable peer can make this node hold: without it, 1,024 frames of up to
/// 64 MiB.
pub const PEER_QUEUE_BYTES: usize = 64 << 20;

/// One encoded frame in a peer's queue, holding its share of the queue's byte budget until
/// the connection task has taken it for writing.
#[derive(Debug)]
pub struct QueuedFrame {
    /// The frame's bytes, as [`frame::encode`] wrote them.
    pub bytes: Vec<u8>,
    /// Released on drop.
    _budget: OwnedSemaphorePermit,
}

/// The node's side of the outbound connections: one bounded queue per peer, each drained by its
/// own connection task. Peers can be added, readdressed and removed while the node runs (the
/// owner does it when the replicated address book changes); dropping a peer's queue ends its
/// task.
#[derive(Debug)]
pub struct Peers {
    queues: HashMap<NodeId, Peer>,
    sender: Sender,
    metrics: Arc<Metrics>,
    /// Each peer queue's byte budget.
    queue_bytes: usize,
}

/// One outbound peer: where its task connects, its queue and the queue's byte budget.
#[derive(Debug)]
struct Peer {
    addr: String,
    queue: mpsc::Sender<QueuedFrame>,
    budget: Arc<Semaphore>,
}

impl Peers {
    /// No peers yet; add them with [`Peers::set`]. `sender` is who the connections introduce.
    pub fn new(sender: Sender, metrics: Arc<Metrics>) -> Self {
        Self::with_queue_bytes(sender, metrics, PEER_QUEUE_BYTES)
    }

    /// As [`Peers::new`], with a byte budget of `queue_bytes` (at least 1) per peer queue.
    pub fn with_queue_bytes(sender: Sender, metrics: Arc<Metrics>, queue_bytes: usize) -> Self {
        Peers {
            queues: HashMap::new(),
            sender,
            metrics,
            queue_bytes: queue_bytes.clamp(1, Semaphore::MAX_PERMITS),
        }
    }

    /// Sends to `id` at `addr` from now on: a new peer gets a connection task; a peer whose
    /// address changed gets a fresh task (what its old queue held is dropped: Raft resends);
    /// the same address again changes nothing. Returns whether anything changed.
    pub fn set(&mut self, id: NodeId, addr: String) -> bool {
        if self.queues.get(&id).is_some_and(|p| p.addr == addr) {
            return false;
        }
        let (tx, rx) = mpsc::channel(PEER_QUEUE);
        spawn_peer(self.sender.clone(), id, addr.clone(), rx);
        // Replacing the old sender closes its queue, which ends its task.
        let budget = Arc::new(Semaphore::new(self.queue_bytes));
        self.queues.insert(
            id,
            Peer {
                addr,
                queue: tx,
                budget,
            },
        );
        true
    }

    /// Stops sending to `id`; whether it was a peer.
    pub fn remove(&mut self, id: NodeId) -> bool {
        self.queues.remove(&id).is_some()
    }

    /// Every peer and the address its task connects to.
    pub fn addresses(&self) -> impl Iterator<Item = (NodeId, &str)> + '_ {
        self.queues.iter().map(|(&id, p)| (id, p.addr.as_str()))
    }

    /// Queues `message` for its recipient, encoded; drops it (and counts it) if the peer is
    /// unknown or its queue is full, in messages or in bytes. Never waits: the owner task calls
    /// this, and a slow peer must not hold up the others.
    pub fn send(&self, message: Wire) {
        let Some(peer) = self.queues.get(&message.to) else {
            tracing::debug!(to = message.to, "no address for peer; message dropped");
            Metrics::inc(&self.metrics.messages_dropped);
            return;
        };
        let mut bytes = Vec::new();
        frame::encode(&message, &mut bytes);
        let cost = u32::try_from(bytes.len().min(self.queue_bytes)).unwrap_or(u32::MAX);
        let queued = peer
            .budget
            .clone()
            .try_acquire_many_owned(cost)
            .ok()
            .map(|permit| QueuedFrame {
                bytes,
                _budget: permit,
            })
            .map(|frame| peer.queue.try_send(frame));
        match queued {
            Some(Ok(())) => Metrics::inc(&self.metrics.messages_sent),
            // Raft retransmits; a forwarded write's client retries.
            _ => {
                Metrics::inc(&self.metrics.messages_dropped);
                Metrics::inc(&self.metrics.peer_queue_full);
            }
        }
    }

    /// Bytes queued to `id` and not yet taken by its connection task.
    pub fn queued_bytes(&self, id: NodeId) -> usize {
        self.queues
            .get(&id)
            .map_or(0, |p| self.queue_bytes - p.budget.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster_id::ClusterIdentity;
    use handshake::Hello;
    use raftorch_core::raft::MessageBody;
    use tokio::io::{AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    fn heartbeat(to: NodeId, seq: u64) -> Wire {
        Wire::raft(Message {
            from: 1,
            to,
            term: 1,
            body: MessageBody::Heartbeat { commit: 0, seq },
        })
    }

    /// The next message that arrives at `listener`, after a handshake as node 4 of `cluster`.
    async fn receive(listener: &TcpListener, cluster: &ClusterIdentity) -> Wire {
        let (stream, _) = listener.accept().await.unwrap();
        let mut reader = BufReader::new(stream);
        let hello = Hello::read(&mut reader).await.unwrap();
        assert_eq!(hello.node, 1);
        handshake::admit(cluster, 4, &hello).unwrap();
        let answer = Hello::ours(cluster, 4).encode();
        reader.get_mut().write_all(&answer).await.unwrap();
        frame::read(&mut reader).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn peers_are_added_readdressed_and_removed_at_run_time() {
        let within = std::time::Duration::from_secs(5);
        let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let identity = Arc::new(ClusterIdentity::resolve(dir.path(), Some("t"), &[1, 4]).unwrap());
        let sender = Sender {
            me: 1,
            identity: identity.clone(),
            tls: None,
        };
        let mut peers = Peers::new(sender, Arc::new(Metrics::default()));
        peers.send(heartbeat(4, 0)); // unknown: dropped
        assert!(peers.set(4, a.local_addr().unwrap().to_string()));
        assert!(!peers.set(4, a.local_addr().unwrap().to_string()));
        peers.send(heartbeat(4, 1));
        let got = tokio::time::timeout(within, receive(&a, &identity))
            .await
            .unwrap();
        assert_eq!(got, heartbeat(4, 1));
        // A new address: messages go there from now on.
        assert!(peers.set(4, b.local_addr().unwrap().to_string()));
        peers.send(heartbeat(4, 2));
        let got = tokio::time::timeout(within, receive(&b, &identity))
            .await
            .unwrap();
        assert_eq!(got, heartbeat(4, 2));
        assert_eq!(peers.addresses().count(), 1);
        assert!(peers.remove(4));
        assert!(!peers.remove(4));
        assert_eq!(peers.addresses().count(), 0);
        let m = &peers.metrics;
        assert_eq!(
            m.messages_dropped
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    /// An append carrying `len` bytes of entry data.
    fn big_append(to: NodeId, len: usize) -> Wire {
        use raftorch_core::raft::{Entry, EntryPayload};
        Wire::raft(Message {
            from: 1,
            to,
            term: 1,
            body: MessageBody::Append {
                prev_index: 0,
                prev_term: 0,
                entries: vec![Entry {
                    index: 1,
                    term: 1,
                    payload: EntryPayload::Normal(vec![7; len].into()),
                }],
                commit: 0,
            },
        })
    }

    #[tokio::test]
    async fn a_peer_queue_is_bounded_in_bytes_and_drops_beyond_it() {
        // A peer that takes the TCP connection but never answers the handshake: its task waits
        // for the answer, so nothing leaves the queue.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let identity = Arc::new(ClusterIdentity::resolve(dir.path(), Some("t"), &[1, 4]).unwrap());
        let sender = Sender {
            me: 1,
            identity,
            tls: None,
        };
        let budget = 1 << 20;
        let metrics = Arc::new(Metrics::default());
        let mut peers = Peers::with_queue_bytes(sender, metrics.clone(), budget);
        assert!(peers.set(4, silent.local_addr().unwrap().to_string()));
        // 100 frames of 64 KiB: 6.4 MiB offered, far under the count bound, over the bytes one.
        for _ in 0..100 {
            peers.send(big_append(4, 64 << 10));
            assert!(peers.queued_bytes(4) <= budget, "{}", peers.queued_bytes(4));
        }
        let sent = metrics
            .messages_sent
            .load(std::sync::atomic::Ordering::Relaxed);
        let full = metrics
            .peer_queue_full
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(sent + full, 100);
        assert_eq!(
            sent, 15,
            "1 MiB holds 15 frames of 64 KiB and their headers"
        );
        assert!(peers.queued_bytes(4) > budget - (64 << 10));
        // A frame larger than the whole budget is charged the budget: it needs an empty queue.
        peers.send(big_append(4, 2 << 20));
        assert_eq!(
            metrics
                .peer_queue_full
                .load(std::sync::atomic::Ordering::Relaxed),
            full + 1
        );
        // Readdressing drops the old queue and its bytes.
        let other = TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(peers.set(4, other.local_addr().unwrap().to_string()));
        assert_eq!(peers.queued_bytes(4), 0);
        peers.send(big_append(4, 2 << 20));
        assert_eq!(peers.queued_bytes(4), budget);
    }

    #[tokio::test]
    async fn a_peer_name_that_moves_is_found_at_its_new_address() {
        let within = std::time::Duration::from_secs(10);
        let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let name = "node-4.fake.test:7000";
        resolve::fake::point(name, a.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let identity = Arc::new(ClusterIdentity::resolve(dir.path(), Some("t"), &[1, 4]).unwrap());
        let sender = Sender {
            me: 1,
            identity: identity.clone(),
            tls: None,
        };
        let mut peers = Peers::new(sender, Arc::new(Metrics::default()));
        assert!(peers.set(4, name.to_owned()));
        peers.send(heartbeat(4, 1));
        let got = tokio::time::timeout(within, receive(&a, &identity))
            .await
            .unwrap();
        assert_eq!(got, heartbeat(4, 1));
        // The name moves; the old address stops answering and the connection there is gone
        // (`receive` dropped it). The same connection task, with the same name, reconnects.
        resolve::fake::point(name, b.local_addr().unwrap());
        drop(a);
        let at_b = {
            let identity = identity.clone();
            tokio::spawn(async move { receive(&b, &identity).await })
        };
        let deadline = tokio::time::Instant::now() + within;
        let mut seq = 2;
        while !at_b.is_finished() {
            assert!(tokio::time::Instant::now() < deadline, "never reached b");
            peers.send(heartbeat(4, seq));
            seq += 1;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let got = at_b.await.unwrap();
        assert!(
            matches!(&got.message, PeerMessage::Raft(m) if m.to == 4),
            "{got:?}"
        );
        assert_eq!(peers.addresses().collect::<Vec<_>>(), [(4, name)]);
    }
}
