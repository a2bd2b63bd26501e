//! A whole Raft cluster in one deterministic value: nodes running the real core, a virtual
//! clock, a network with latency, loss, duplication, reordering, partitions and one-way cuts,
//! crashes, restarts and pauses, client requests, a trace of every event, and Raft's safety
//! properties checked after every step. Same seed and same inputs give the same trace.

mod chaos;
mod cluster;
mod config;
mod event;
mod faults;
mod host;
mod invariants;
mod kv_app;
pub mod linearizability;
mod nemesis;
mod network;
mod node;
mod trace;
mod workload;

pub use crate::engine::{Application, Consistency};
pub use chaos::{run_chaos, ChaosConfig, ChaosReport};
pub use cluster::{Cluster, Completion, Outcome};
pub use config::SimConfig;
pub use event::{Packet, Payload};
pub use host::Request;
pub use invariants::Violation;
pub use kv_app::{KvApp, KvCommand, KvOutput};
pub use nemesis::{heal_everything, inject_random_fault, FaultSet};
pub use network::Topology;
pub use node::{RequestId, SimEngine, SimNode, SimRead, SimWrite};
pub use trace::{DropReason, Trace, TraceEvent, TraceRecord, WireKind};
pub use workload::{KvHistoryOp, KvWorkload};
