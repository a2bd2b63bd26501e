//! The replicated orchestration state machine: registry, routing, deployments, kv, leases, locks,
//! elections and watches.
//!
//! Every Raft node applies the same [`Envelope`]s in log order through
//! [`StateMachine::apply`](crate::state_machine::StateMachine::apply) and ends in the same
//! [`Orchestrator`] state. Nothing here reads a clock or a random source: time comes from the
//! leaders' clock readings stamped in the envelopes, but only as differences between readings of
//! one leader (between its `LeaderChanged` and its later entries), never by comparing the
//! readings of two nodes; it never moves backwards, and everything with a deadline (instance
//! heartbeats, leases) expires on the first entry whose time is past it.
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

pub mod alarm;
mod application;
mod apply;
mod command;
mod counts;
mod cursor;
mod dedup;
mod deployment;
mod election;
mod election_values;
mod envelope;
mod error;
mod fenced;
mod fenced_slots;
mod kv;
mod lease;
mod lock;
mod members;
mod page;
mod query;
mod reads;
mod registry;
mod response;
pub mod routing;
mod snapshot;
mod snapshot_legacy;
mod txn;
pub mod validate;
mod watch;
mod write_fence;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use alarm::{Alarm, AlarmKind};
pub use command::Command;
pub use counts::StateCounts;
pub use cursor::{BadCursor, Cursor, EventFilter};
pub use dedup::{DEDUP_CLIENTS, DEDUP_CLIENTS_MAX, DEDUP_RETAIN_MS};
pub use deployment::{Deployment, DeploymentAction, DeploymentState};
pub use election::ElectionLeader;
pub use election_values::MAX_ELECTION_VALUE_LEN;
pub use envelope::{Envelope, RequestId};
pub use error::OrchestratorError;
pub use kv::KeyValue;
pub use lease::Lease;
pub use lock::LockHolder;
pub use members::MemberAddress;
pub use page::{Page, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
pub use query::{Query, QueryAnswer, QueryResult};
pub use registry::{ServiceInstance, UNHEALTHY_GRACE_TTLS};
pub use response::{Output, Response};
pub use routing::{
    canary_bucket, rendezvous_score, RouteDecision, CANARY_BUCKETS, CANARY_SEED, ROUTE_SEED,
};
pub use snapshot::SNAPSHOT_FORMAT;
pub use txn::{
    Compare, CompareOp, CompareTarget, Txn, TxnOp, TxnResult, MAX_TXN_COMPARES, MAX_TXN_OPS,
};
pub use watch::{
    EventKind, EventPage, WatchEvent, WATCH_HISTORY, WATCH_PAGE_VALUE_BYTES, WATCH_VALUE_BYTES,
};
pub use write_fence::WriteFence;

/// The whole replicated state. Two replicas that applied the same entries compare equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orchestrator {
    /// Index of the last applied entry.
    applied_index: u64,
    /// The replicated clock, in ms. It is not any node's clock: it starts at the first applied
    /// stamp, stands still at each `LeaderChanged`, and in between advances by the time the
    /// current leader's own clock moved since that leader's `LeaderChanged` (see
    /// [`ClockEpoch`]). It never moves backwards.
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
    /// How the current leader's stamps map to the replicated clock; `None` until the first
    /// envelope is applied. Encoded by the snapshot after the member book (format 3), so
    /// snapshots of formats 1 and 2 still restore.
    #[serde(skip)]
    clock_epoch: Option<ClockEpoch>,
    /// The values candidates campaign with. Encoded by the snapshot after the clock epoch
    /// (format 4), so snapshots of formats 1 to 3 still restore (with no values).
    #[serde(skip)]
    election_values: election_values::ElectionValues,
    /// The active space alarms. Encoded by the snapshot after the election values (format 6),
    /// so snapshots of formats 1 to 5 still restore (with none).
    #[serde(skip)]
    alarms: alarm::Alarms,
    /// Set by `apply` when the entry just applied repeated a request applied before: where it
    /// first applied (see `StateMachine::applied_at`). Not state: only the last entry's, so
    /// it takes no part in comparisons or snapshots.
    #[serde(skip)]
    repeated_from: dedup::RepeatedFrom,
}

/// The start of the current leader's stretch of the log: at the entry that began it (the
/// leader's `LeaderChanged`, or the first entry ever applied) the replicated clock read
/// `clock_ms` and the leader stamped `stamp_ms`.
///
/// A later entry stamped `s` moves the clock to `clock_ms + (s - stamp_ms)` unless it is already
/// past that: the elapsed time on that one leader's clock. A term has one leader and every leader
/// logs `LeaderChanged` before any other orchestrator entry of its term, so the stamps compared
/// here always come from the same clock, and a leader whose clock is hours ahead of (or behind)
/// the others moves time only as fast as its clock runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ClockEpoch {
    /// The replicated clock when the epoch began.
    pub(crate) clock_ms: u64,
    /// The leader's stamp on the entry that began it.
    pub(crate) stamp_ms: u64,
}

impl ClockEpoch {
    /// The replicated time a stamp of this epoch's leader stands for (saturating; a stamp before
    /// the epoch's own counts as no time elapsed).
    pub(crate) fn time_at(self, stamp_ms: u64) -> u64 {
        self.clock_ms
            .saturating_add(stamp_ms.saturating_sub(self.stamp_ms))
    }
}

impl Orchestrator {
    /// An empty state at index 0, time 0.
    pub fn new() -> Self {
        Self::default()
    }
}
