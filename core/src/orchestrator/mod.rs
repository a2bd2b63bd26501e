//! The replicated orchestration state machine: registry, routing, deployments, kv, leases, locks,
//! elections and watches.
//!
//! Every Raft node applies the same [`Envelope`]s in log order through
//! [`StateMachine::apply`](crate::state_machine::StateMachine::apply) and ends in the same
//! [`Orchestrator`] state. Nothing here reads a clock or a random source: time is the leader's
//! clock reading stamped in each envelope (never moving backwards), and everything with a
//! deadline (instance heartbeats, leases) expires on the first entry whose time is past it.
//!
//! ```
//! use raftorch_core::orchestrator::{Command, Envelope, Orchestrator, Response};
//! use raftorch_core::state_machine::StateMachine;
//!
//! let mut sm = Orchestrator::new();
//! let grant = Envelope::new(1_000, Command::GrantLease { ttl_ms: 5_000 }).with_request(7, 1);
//! assert!(matches!(sm.apply(1, &grant.encode()), Ok(Response::LeaseGranted { lease_id: 1, .. })));
//! let lock = Envelope::new(1_001, Command::AcquireLock { name: "db".into(), lease_id: 1 });
//! assert_eq!(sm.apply(2, &lock.encode()), Ok(Response::LockAcquired { fencing_token: 2 }));
//! assert_eq!(sm.lock_holder("db").map(|h| h.fencing_token), Some(2));
//! ```

mod application;
mod apply;
mod command;
mod dedup;
mod deployment;
mod election;
mod envelope;
mod error;
mod fenced;
mod fenced_slots;
mod kv;
mod lease;
mod lock;
mod members;
mod query;
mod reads;
mod registry;
mod response;
pub mod routing;
mod snapshot;
pub mod validate;
mod watch;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use command::Command;
pub use dedup::{DEDUP_CLIENTS, DEDUP_CLIENTS_MAX, DEDUP_RETAIN_MS};
pub use deployment::{Deployment, DeploymentAction, DeploymentState};
pub use election::ElectionLeader;
pub use envelope::{Envelope, RequestId};
pub use error::OrchestratorError;
pub use kv::KeyValue;
pub use lease::Lease;
pub use lock::LockHolder;
pub use members::MemberAddress;
pub use query::{Query, QueryAnswer, QueryResult};
pub use registry::{ServiceInstance, UNHEALTHY_GRACE_TTLS};
pub use response::{Output, Response};
pub use routing::{
    canary_bucket, rendezvous_score, RouteDecision, CANARY_BUCKETS, CANARY_SEED, ROUTE_SEED,
};
pub use snapshot::SNAPSHOT_FORMAT;
pub use watch::{EventKind, WatchEvent, WATCH_HISTORY};

/// The whole replicated state. Two replicas that applied the same entries compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orchestrator {
    /// Index of the last applied entry.
    applied_index: u64,
    /// The replicated clock: the largest `now_ms` of any applied envelope.
    now_ms: u64,
    registry: registry::Registry,
    deployments: deployment::Deployments,
    kv: kv::KvStore,
    leases: lease::Leases,
    locks: lock::Locks,
    elections: election::Elections,
    /// Shared by locks and elections, so every token is unique and increasing.
    fence: fenced::Fence,
    watch: watch::WatchLog,
    dedup: dedup::Dedup,
    /// Where the Raft members listen. Encoded by the snapshot after the other fields (not by
    /// this derive), so snapshots of format 1, taken before it existed, still restore.
    #[serde(skip)]
    members: members::MemberBook,
}

impl Orchestrator {
    /// An empty state at index 0, time 0.
    pub fn new() -> Self {
        Self::default()
    }
}
