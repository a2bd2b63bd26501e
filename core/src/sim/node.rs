//! One simulated node: its consensus state (lost on a crash), its durable storage (kept), its
//! application state (rebuilt from storage on restart) and the client requests it is serving.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use super::application::Application;
use super::event::Packet;
use crate::raft::{LogIndex, MemStorage, NodeId, RawNode, Role, Term};

/// A client request id, unique in the run; it is also the logical moment the request was made
/// (see [`super::Completion::moment`]).
pub type RequestId = u64;

/// A simulated node.
#[derive(Clone, Debug)]
pub struct SimNode<A: Application> {
    /// Node id.
    pub id: NodeId,
    /// The running consensus state; `None` while the node is down.
    pub raw: Option<RawNode>,
    /// Durable state: survives crashes.
    pub storage: MemStorage,
    /// The application as applied on this node.
    pub app: A,
    /// Index of the last entry applied to `app`.
    pub applied: LogIndex,
    /// Whether the node is paused (alive but not processing).
    pub paused: bool,
    /// Messages that arrived while paused, processed on resume.
    pub(crate) inbox: Vec<Packet<A>>,
    /// Writes proposed here, by log index: (request, term of the proposal, the follower that
    /// forwarded it if any).
    pub(crate) pending_writes: BTreeMap<LogIndex, (RequestId, Term, Option<NodeId>)>,
    /// Writes this node forwarded to the leader, with the time it gives up waiting.
    pub(crate) forwarded: BTreeMap<RequestId, u64>,
    /// Forwarded writes already proposed here, by (follower, request): the network may deliver a
    /// forward twice, and a write must not be proposed twice.
    pub(crate) seen_forwards: BTreeSet<(NodeId, RequestId)>,
    /// When this node, as leader, next proposes the application's periodic entry.
    pub(crate) next_periodic_at: u64,
    /// Reads waiting for the leader's read index.
    pub(crate) pending_reads: BTreeMap<RequestId, A::Query>,
    /// Reads with a read index, waiting for `applied` to reach it.
    pub(crate) confirmed_reads: Vec<(LogIndex, RequestId, A::Query)>,
    /// How many times the node restarted (varies its RNG seed).
    pub restarts: u64,
    /// Role, term and leader as last traced.
    pub(crate) shown: Option<(Role, Term, Option<NodeId>)>,
    /// Commit index as last traced.
    pub(crate) shown_commit: LogIndex,
}

impl<A: Application> SimNode<A> {
    /// A fresh node with the given storage; not started.
    pub(crate) fn new(id: NodeId, storage: MemStorage) -> Self {
        SimNode {
            id,
            raw: None,
            storage,
            app: A::default(),
            applied: 0,
            paused: false,
            inbox: Vec::new(),
            pending_writes: BTreeMap::new(),
            forwarded: BTreeMap::new(),
            seen_forwards: BTreeSet::new(),
            next_periodic_at: 0,
            pending_reads: BTreeMap::new(),
            confirmed_reads: Vec::new(),
            restarts: 0,
            shown: None,
            shown_commit: 0,
        }
    }

    /// Whether the node is running (not crashed).
    pub fn is_up(&self) -> bool {
        self.raw.is_some()
    }

    /// The node's role, or `None` while down.
    pub fn role(&self) -> Option<Role> {
        self.raw.as_ref().map(RawNode::role)
    }
}
