//! What applying a command answers: the body an API returns.

use serde::{Deserialize, Serialize};

use super::deployment::DeploymentState;
use super::election::ElectionLeader;
use super::error::OrchestratorError;
use super::lock::LockHolder;
use super::txn::TxnResult;

/// The result of applying one log entry.
pub type Output = Result<Response, OrchestratorError>;

/// A successful command's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// `Tick` advanced the clock.
    Ticked,
    /// `LeaderChanged` refreshed every lease and healthy instance deadline.
    LeasesRefreshed,
    /// The instance is registered (or updated).
    Registered {
        /// Index of this entry.
        index: u64,
        /// Whether it is new (not an update).
        created: bool,
    },
    /// The instance is gone.
    Deregistered,
    /// The heartbeat was recorded.
    HeartbeatAccepted {
        /// The new deadline; `None` for an instance without TTL.
        deadline_ms: Option<u64>,
    },
    /// A deployment command took effect.
    Deployment {
        /// The deployment's new state.
        state: DeploymentState,
        /// Its canary percentage now.
        canary_percent: u8,
    },
    /// The key is written.
    KvPut {
        /// Its new `mod_revision` (this entry's index).
        revision: u64,
        /// Its version.
        version: u64,
    },
    /// The delete was applied.
    KvDeleted {
        /// Whether the key existed.
        deleted: bool,
    },
    /// A lease was granted.
    LeaseGranted {
        /// Its id.
        lease_id: u64,
        /// Its TTL.
        ttl_ms: u64,
        /// When it expires without a keep-alive.
        deadline_ms: u64,
    },
    /// The lease was kept alive.
    LeaseKeptAlive {
        /// The lease.
        lease_id: u64,
        /// Its new deadline.
        deadline_ms: u64,
    },
    /// The lease was revoked, with what it carried.
    LeaseRevoked {
        /// The lease.
        lease_id: u64,
        /// Keys deleted with it.
        keys_deleted: u64,
    },
    /// The lock is held by the requesting lease.
    LockAcquired {
        /// Present it to every resource the lock guards.
        fencing_token: u64,
    },
    /// The lock is held by another lease; the request waits in line.
    LockQueued {
        /// 1-based place in the queue.
        position: u32,
    },
    /// The lock was released (or the lease left the queue).
    LockReleased {
        /// The waiter that got it, if any.
        next_holder: Option<LockHolder>,
    },
    /// The candidate leads the election.
    Elected {
        /// Its term (a fencing token).
        term: u64,
    },
    /// Another candidate leads; this one waits in line.
    CampaignQueued {
        /// 1-based place in the queue.
        position: u32,
    },
    /// The candidate resigned (or left the queue).
    Resigned {
        /// The candidate that took over, if any.
        next_leader: Option<ElectionLeader>,
    },
    /// A member's address record is set.
    MemberAddressSet {
        /// Whether the member had no record before.
        created: bool,
    },
    /// A member's address record is gone.
    MemberAddressRemoved {
        /// Whether there was one.
        removed: bool,
    },
    /// A transaction ran one of its branches.
    Txn {
        /// Whether every compare held (the `success` branch ran).
        succeeded: bool,
        /// What each operation of that branch did, in order.
        results: alloc::vec::Vec<TxnResult>,
    },
    /// A space alarm is active (it was, or now is, raised).
    AlarmRaised,
    /// Alarms were cleared.
    AlarmsDisarmed {
        /// How many.
        count: u64,
    },
}
