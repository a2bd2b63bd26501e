//! The record of everything that happened in a simulation, with simulated timestamps.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh64::Xxh64;

use crate::raft::{LogIndex, MessageKind, NodeId, Role, Term};

/// What kind of packet travelled: a Raft message, or a host forwarding a client write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireKind {
    /// A Raft message.
    Raft(MessageKind),
    /// A client write forwarded from a follower to the leader.
    Forward,
    /// The leader's answer to a forwarded write.
    ForwardReply,
    /// A piece of a snapshot, leader to follower.
    SnapshotChunk,
    /// A follower's acknowledgement of snapshot chunks.
    SnapshotAck,
}

impl WireKind {
    /// A short lowercase name for legends and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            WireKind::Raft(kind) => kind.as_str(),
            WireKind::Forward => "forward",
            WireKind::ForwardReply => "forward-reply",
            WireKind::SnapshotChunk => "snapshot-chunk",
            WireKind::SnapshotAck => "snapshot-ack",
        }
    }
}

/// Why a message never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DropReason {
    /// Random loss.
    Lost,
    /// The sender and receiver are in different partitions, or the link is cut.
    Partitioned,
    /// The receiver is down.
    NodeDown,
    /// A person dropped it while it was in flight (the visualizer's "drop" button).
    ByHand,
}

/// One thing that happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TraceEvent {
    /// A message left `from`.
    Sent {
        /// Message id, unique in the run.
        id: u64,
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// What kind of message.
        kind: WireKind,
        /// Number of log entries it carries.
        entries: u32,
        /// When it will arrive (if it is not dropped).
        deliver_at: u64,
    },
    /// A message reached its receiver.
    Delivered {
        /// Message id.
        id: u64,
    },
    /// A message was lost.
    Dropped {
        /// Message id.
        id: u64,
        /// Why.
        reason: DropReason,
    },
    /// A node's role, term or known leader changed.
    RoleChanged {
        /// The node.
        node: NodeId,
        /// New role.
        role: Role,
        /// Its term.
        term: Term,
        /// The leader it knows.
        leader: Option<NodeId>,
    },
    /// A node's commit index moved.
    Committed {
        /// The node.
        node: NodeId,
        /// New commit index.
        index: LogIndex,
    },
    /// A node appended (persisted) entries up to `last`.
    Appended {
        /// The node.
        node: NodeId,
        /// First new index.
        first: LogIndex,
        /// Last new index.
        last: LogIndex,
    },
    /// A node took a snapshot of its state machine.
    SnapshotTaken {
        /// The node.
        node: NodeId,
        /// Snapshot index.
        index: LogIndex,
    },
    /// A node installed a snapshot from the leader.
    SnapshotInstalled {
        /// The node.
        node: NodeId,
        /// Snapshot index.
        index: LogIndex,
    },
    /// A node crashed (volatile state lost, durable state kept).
    Crashed {
        /// The node.
        node: NodeId,
    },
    /// A node restarted from its durable state.
    Restarted {
        /// The node.
        node: NodeId,
    },
    /// A node stopped processing (like a long GC pause), or resumed.
    Paused {
        /// The node.
        node: NodeId,
        /// Paused (true) or resumed (false).
        paused: bool,
    },
    /// The network was split: `groups[i]` is node `i+1`'s partition.
    Partitioned {
        /// Partition of each node.
        groups: Vec<u8>,
    },
    /// One direction of one link was cut or restored.
    LinkChanged {
        /// Sender side.
        from: NodeId,
        /// Receiver side.
        to: NodeId,
        /// Whether it now works.
        up: bool,
    },
    /// All partitions and link cuts were removed.
    Healed,
    /// A client request reached a node.
    RequestReceived {
        /// Request id.
        request: u64,
        /// The node.
        node: NodeId,
        /// Whether it is a write (else a read).
        write: bool,
    },
    /// A client request was answered.
    RequestCompleted {
        /// Request id.
        request: u64,
        /// The node that answered.
        node: NodeId,
        /// Whether it succeeded.
        ok: bool,
    },
    /// Leadership transfer requested.
    TransferRequested {
        /// Current leader.
        from: NodeId,
        /// Target.
        to: NodeId,
    },
}

/// A timestamped event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// Simulated milliseconds since the start.
    pub time: u64,
    /// What happened.
    pub event: TraceEvent,
}

/// The full history of a run, kept in memory for replay, scrubbing and checks.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    records: Vec<TraceRecord>,
    enabled: bool,
    digest: Xxh64Digest,
}

/// A running xxh64 over every record's postcard encoding: two runs with the same digest
/// produced byte-identical traces.
#[derive(Clone, Debug, Default)]
struct Xxh64Digest {
    value: u64,
    count: u64,
}

impl Trace {
    /// An empty trace; when `enabled` is false only the digest is kept.
    pub fn new(enabled: bool) -> Self {
        Trace {
            records: Vec::new(),
            enabled,
            digest: Xxh64Digest::default(),
        }
    }

    /// Appends a record.
    pub fn record(&mut self, time: u64, event: TraceEvent) {
        let record = TraceRecord { time, event };
        if let Ok(bytes) = postcard::to_allocvec(&record) {
            let mut hasher = Xxh64::new(self.digest.value);
            hasher.update(&bytes);
            self.digest.value = hasher.digest();
            self.digest.count += 1;
        }
        if self.enabled {
            self.records.push(record);
        }
    }

    /// Every record, oldest first.
    pub fn records(&self) -> &[TraceRecord] {
        &self.records
    }

    /// Takes the records kept so far, leaving none; the digest and count still cover them.
    /// Long-running hosts (the browser visualizer) drain the trace so memory and clones stay small.
    pub fn take_records(&mut self) -> Vec<TraceRecord> {
        core::mem::take(&mut self.records)
    }

    /// A digest of the whole trace (maintained even when records are not kept).
    pub fn digest(&self) -> u64 {
        self.digest.value
    }

    /// How many events happened.
    pub fn len(&self) -> u64 {
        self.digest.count
    }

    /// Whether nothing happened yet.
    pub fn is_empty(&self) -> bool {
        self.digest.count == 0
    }
}
