//! One simulated node: its consensus state (lost on a crash), its durable storage (kept), its
//! application state (rebuilt from storage on restart) and the client requests it is serving.

use alloc::vec::Vec;

use super::event::Packet;
use crate::engine::{Application, Engine, ReceivedSnapshot, SnapshotJob};
use crate::raft::{LogIndex, MemStorage, NodeId, RawNode, Role, Term};

/// A client request id, unique in the run; it is also the logical moment the request was made
/// (see [`super::Completion::moment`]).
pub type RequestId = u64;

/// What a simulated node's engine keeps for a write until it ends: the client's request.
pub type SimWrite = RequestId;
/// What a simulated node's engine keeps for a read until it may be served.
pub type SimRead<A> = (RequestId, <A as Application>::Query);
/// The engine a simulated node runs: the same one the native node runs.
pub type SimEngine<A> = Engine<A, SimWrite, SimRead<A>>;

/// A simulated node.
#[derive(Clone, Debug)]
pub struct SimNode<A: Application> {
    /// Node id.
    pub id: NodeId,
    /// The running node (consensus, application, requests in flight); `None` while down.
    pub engine: Option<SimEngine<A>>,
    /// Durable state: survives crashes.
    pub storage: MemStorage,
    /// Whether the node is paused (alive but not processing).
    pub paused: bool,
    /// Messages that arrived while paused, processed on resume.
    pub(crate) inbox: Vec<Packet<A>>,
    /// How many times the node restarted (varies its RNG seed).
    pub restarts: u64,
    /// Role, term and leader as last traced.
    pub(crate) shown: Option<(Role, Term, Option<NodeId>)>,
    /// Commit index as last traced.
    pub(crate) shown_commit: LogIndex,
    /// A snapshot the engine began, encoded and finished at the node's next round (as the
    /// native node encodes it on another thread while the loop goes on); lost on a crash.
    pub(crate) snapshot_job: Option<SnapshotJob<A>>,
    /// A snapshot received whole from the leader, decoded and installed at the node's next
    /// round (as the native node decodes it on another thread); lost on a crash.
    pub(crate) received_snapshot: Option<ReceivedSnapshot<A>>,
}

impl<A: Application> SimNode<A> {
    /// A fresh node with the given storage; not started.
    pub(crate) fn new(id: NodeId, storage: MemStorage) -> Self {
        SimNode {
            id,
            engine: None,
            storage,
            paused: false,
            inbox: Vec::new(),
            restarts: 0,
            shown: None,
            shown_commit: 0,
            snapshot_job: None,
            received_snapshot: None,
        }
    }

    /// Whether the node is running (not crashed).
    pub fn is_up(&self) -> bool {
        self.engine.is_some()
    }

    /// The node's Raft state, or `None` while down.
    pub fn raw(&self) -> Option<&RawNode> {
        self.engine.as_ref().map(Engine::raw)
    }

    /// The application as applied on this node, or `None` while down.
    pub fn app(&self) -> Option<&A> {
        self.engine.as_ref().map(Engine::app)
    }

    /// Index of the last entry applied to the application (0 while down).
    pub fn applied(&self) -> LogIndex {
        self.engine.as_ref().map_or(0, Engine::applied)
    }

    /// The node's role, or `None` while down.
    pub fn role(&self) -> Option<Role> {
        self.raw().map(RawNode::role)
    }
}
