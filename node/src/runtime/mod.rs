//! The node runtime: one task owns the Raft node, the disk and the state machine; everything else
//! talks to it through channels ([`NodeHandle`]) and watches its [`NodeStatus`].

mod addresses;
mod clock;
mod disk_thread;
mod owner;
mod round_phases;
mod round_trips;
mod snapshot_work;
mod space_duty;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use raftorch_core::orchestrator::{Command, Orchestrator, Output, RequestId};
use raftorch_core::raft::{ConfChange, LogIndex, NodeId, Role, Term};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

pub use addresses::AddressTable;
pub use clock::Clock;
pub use owner::{detached_handle, start, Started};
pub use raftorch_core::engine::Consistency;

use crate::metrics::Metrics;

/// What the owner task publishes after every round of work.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    /// This node.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its term.
    pub term: Term,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
    /// Commit index.
    pub commit: LogIndex,
    /// Applied index.
    pub applied: LogIndex,
    /// Last log index.
    pub last_index: LogIndex,
    /// Snapshot index.
    pub snapshot_index: LogIndex,
    /// Voting members.
    pub voters: Vec<NodeId>,
    /// Learners.
    pub learners: Vec<NodeId>,
    /// Leader only: the highest log index each member is known to hold.
    pub matched: Vec<(NodeId, LogIndex)>,
}

/// Why a request to the node did not produce an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// This node is not the leader; the leader it knows of, if any.
    NotLeader(Option<NodeId>),
    /// Raft refused the proposal for now (leadership transfer, pending membership change).
    Dropped(String),
    /// Another leader's entry took the proposal's place: it did not take effect.
    Lost,
    /// The read could not be confirmed (leadership changed, or it took too long); retry.
    Aborted,
    /// The node is stopping.
    ShuttingDown,
    /// This node's disk is full: a write to its log was refused for want of space, and until
    /// a retry succeeds it refuses writes and serves only stale reads.
    DiskFull,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotLeader(Some(l)) => write!(f, "not the leader; node {l} is"),
            Self::NotLeader(None) => f.write_str("no leader is known"),
            Self::Dropped(why) => write!(f, "proposal dropped: {why}"),
            Self::Lost => f.write_str("the proposal was replaced by another leader's entry"),
            Self::Aborted => f.write_str("the read could not be confirmed; retry"),
            Self::ShuttingDown => f.write_str("the node is shutting down"),
            Self::DiskFull => f.write_str(
                "no space: this node's disk is full (a log write failed with ENOSPC); it refuses writes and serves only reads at consistency=stale until space is freed on its data dir",
            ),
        }
    }
}

/// A committed, applied proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Its log index.
    pub index: LogIndex,
    /// What the state machine answered.
    pub output: Output,
}

/// A read run against the state machine by the owner task once it may be served: given the state
/// and the applied index, or the reason it cannot be.
pub type ReadFn =
    Box<dyn for<'a> FnOnce(Result<(&'a Orchestrator, LogIndex), RequestError>) + Send>;

/// A request to the owner task.
pub enum Request {
    /// Propose a command (leader only).
    Propose {
        /// The command.
        command: Command,
        /// Exactly-once tag.
        request_id: Option<RequestId>,
        /// Answered once the entry is applied (or lost).
        reply: oneshot::Sender<Result<Applied, RequestError>>,
        /// The API request's span, when tracing is on: the write's spans descend from it.
        trace: Option<Box<opentelemetry::trace::SpanContext>>,
    },
    /// Run a read at the given consistency.
    Read {
        /// How fresh.
        consistency: Consistency,
        /// The read.
        read: ReadFn,
    },
    /// Propose a membership change (leader only).
    ConfChange {
        /// The change.
        change: ConfChange,
        /// Answered once proposed, with the entry's index (it applies once committed).
        reply: oneshot::Sender<Result<LogIndex, RequestError>>,
    },
    /// Hand leadership to another voter.
    TransferLeader {
        /// The new leader.
        to: NodeId,
        /// Answered at once (the transfer completes later).
        reply: oneshot::Sender<Result<(), RequestError>>,
    },
}

/// Sampled `(index, digest)` pairs of the replicated state, oldest first.
pub type StateDigests = Arc<[(LogIndex, u64)]>;

/// A cheap, cloneable way to talk to the running node.
#[derive(Clone)]
pub struct NodeHandle {
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<NodeStatus>,
    digests: watch::Receiver<StateDigests>,
    addresses: watch::Receiver<AddressTable>,
    /// The node's counters.
    pub metrics: Arc<Metrics>,
}

impl NodeHandle {
    /// The newest published status.
    pub fn status(&self) -> NodeStatus {
        self.status.borrow().clone()
    }

    /// Where every known node listens: the configured peers and this node, overlaid with the
    /// replicated address book as applied so far.
    pub fn addresses(&self) -> AddressTable {
        self.addresses.borrow().clone()
    }

    /// The sampled `(index, digest)` pairs of the state, oldest first (empty unless
    /// `--digest-every` is set).
    pub fn state_digests(&self) -> StateDigests {
        self.digests.borrow().clone()
    }

    /// A receiver that wakes on every status change (e.g. the applied index moving).
    pub fn watch_status(&self) -> watch::Receiver<NodeStatus> {
        self.status.clone()
    }

    /// Proposes `command` and waits until it is applied, for at most `timeout`.
    pub async fn propose(
        &self,
        command: Command,
        request_id: Option<RequestId>,
        timeout: Duration,
    ) -> Result<Applied, RequestError> {
        let (reply, rx) = oneshot::channel();
        let request = Request::Propose {
            command,
            request_id,
            reply,
            trace: crate::telemetry::current_span_context().map(Box::new),
        };
        self.requests
            .send(request)
            .await
            .map_err(|_| RequestError::ShuttingDown)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(RequestError::ShuttingDown),
            Err(_) => Err(RequestError::Aborted),
        }
    }

    /// Runs `f` against the state machine at the given consistency, for at most `timeout`;
    /// returns its result and the applied index it saw.
    pub async fn read<T: Send + 'static>(
        &self,
        consistency: Consistency,
        timeout: Duration,
        f: impl FnOnce(&Orchestrator) -> T + Send + 'static,
    ) -> Result<(T, LogIndex), RequestError> {
        let (tx, rx) = oneshot::channel();
        let read: ReadFn = Box::new(move |state| {
            let _ = tx.send(state.map(|(sm, index)| (f(sm), index)));
        });
        self.requests
            .send(Request::Read { consistency, read })
            .await
            .map_err(|_| RequestError::ShuttingDown)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(RequestError::Aborted),
            Err(_) => Err(RequestError::Aborted),
        }
    }

    /// Proposes a membership change (leader only); the index of its entry.
    pub async fn conf_change(&self, change: ConfChange) -> Result<LogIndex, RequestError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request::ConfChange { change, reply })
            .await
            .map_err(|_| RequestError::ShuttingDown)?;
        rx.await.map_err(|_| RequestError::ShuttingDown)?
    }

    /// Asks the leader to hand leadership to `to`.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), RequestError> {
        let (reply, rx) = oneshot::channel();
        self.requests
            .send(Request::TransferLeader { to, reply })
            .await
            .map_err(|_| RequestError::ShuttingDown)?;
        rx.await.map_err(|_| RequestError::ShuttingDown)?
    }
}

/// The channels the owner task reads from.
pub struct Inputs {
    /// Messages from peers' engines.
    pub messages: mpsc::Receiver<crate::transport::Received>,
    /// Client requests.
    pub requests: mpsc::Receiver<Request>,
}
