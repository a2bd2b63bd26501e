//! One error enum for everything the orchestrator can refuse, with a variant per cause.

use alloc::string::String;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::alarm::AlarmKind;
use super::deployment::{DeploymentAction, DeploymentState};
use super::validate::ValidationError;

/// Why a command was refused or a read could not be answered.
///
/// A command that returns an error changed nothing (apart from advancing the applied index and
/// the replicated clock, which every entry does).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrchestratorError {
    /// The entry's bytes are not a valid [`super::Envelope`].
    Decode {
        /// The decoder's message.
        message: String,
    },
    /// The entry's index is not past the applied index (Raft never does this; a buggy host might).
    StaleIndex {
        /// The last applied index.
        applied: u64,
        /// The index that was offered.
        got: u64,
    },
    /// A request id older than the last one applied for this client: a late retry.
    StaleRequest {
        /// The client that sent it.
        client_id: u64,
        /// The sequence number it carried.
        seq: u64,
        /// The last sequence number applied for that client.
        last_seq: u64,
    },
    /// A field broke a validation rule.
    Invalid(ValidationError),
    /// No instance of this service is registered.
    ServiceNotFound {
        /// The service asked for.
        service: String,
    },
    /// The instance is not registered (or was removed after missing heartbeats).
    InstanceNotFound {
        /// The service asked for.
        service: String,
        /// The instance asked for.
        instance_id: String,
    },
    /// The service has instances but none is healthy with a non-zero weight.
    NoHealthyInstance {
        /// The service asked for.
        service: String,
    },
    /// No deployment was ever started for this service.
    NoDeployment {
        /// The service asked for.
        service: String,
    },
    /// The deployment's state does not allow this action.
    InvalidTransition {
        /// The service whose deployment it is.
        service: String,
        /// What was asked.
        action: DeploymentAction,
        /// The state it was in (unchanged).
        state: DeploymentState,
    },
    /// Compare-and-swap failed: the key's `mod_revision` was not the expected one.
    CasFailed {
        /// The key's current `mod_revision`, 0 when it does not exist.
        current_revision: u64,
    },
    /// The lease does not exist: never granted, revoked, or expired.
    LeaseNotFound {
        /// The lease asked for.
        lease_id: u64,
    },
    /// The lease neither holds nor waits for this lock.
    NotLockHolder {
        /// The lock.
        name: String,
        /// The lease that tried to release it.
        lease_id: u64,
    },
    /// The candidate neither leads nor waits in this election.
    NotCandidate {
        /// The election.
        election: String,
        /// The candidate that tried to resign.
        candidate: String,
    },
    /// The candidate already campaigns in this election under another lease.
    CandidateLeaseMismatch {
        /// The election.
        election: String,
        /// The candidate.
        candidate: String,
        /// The lease it campaigns with already.
        lease_id: u64,
    },
    /// The watch history no longer holds events right after `after_index`.
    Compacted {
        /// The smallest `after_index` that can still be served; resynchronize with a full read.
        oldest: u64,
    },
    /// A fenced write's fence no longer holds: the election has another term (or no leader),
    /// or the lock another fencing token (or no holder). Nothing was written.
    FencedOut {
        /// The fence, as `election:NAME:TERM` or `lock:NAME:TOKEN`.
        fence: String,
        /// The current term or token; `None` when nobody leads or holds.
        current: Option<u64>,
    },
    /// A try-lock found the lock held by another lease (it did not queue).
    LockHeld {
        /// The lock.
        name: String,
        /// The lease that holds it.
        lease_id: u64,
    },
    /// A transfer's target neither waits in the election's queue nor leads it.
    NotQueuedCandidate {
        /// The election.
        election: String,
        /// The named candidate.
        candidate: String,
    },
    /// Another member's address record already holds this address (or a record would give one
    /// address to both of a member's listeners).
    AddressInUse {
        /// The address.
        address: String,
        /// The member whose record holds it.
        node_id: u64,
    },
    /// A space alarm is active: the command could grow the state and was refused. Reads,
    /// deletes, lease revokes and releases still work; see [`super::Orchestrator::alarms`].
    NoSpace {
        /// The first active alarm's cause.
        alarm: AlarmKind,
        /// The member that raised it (0: not raised yet, the quota would be exceeded).
        member: u64,
    },
    /// A request id that was applied already, carried by a different command: a client bug
    /// (ids are per request), refused rather than answered with the other command's output.
    RequestIdReused {
        /// The client that sent it.
        client_id: u64,
        /// The sequence number it carried.
        seq: u64,
    },
}

impl fmt::Display for OrchestratorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode { message } => write!(f, "undecodable log entry: {message}"),
            Self::StaleIndex { applied, got } => {
                write!(f, "entry index {got} is not past the applied index {applied}")
            }
            Self::StaleRequest { client_id, seq, last_seq } => write!(
                f,
                "request {seq} of client {client_id} is older than its last applied request {last_seq}"
            ),
            Self::RequestIdReused { client_id, seq } => write!(
                f,
                "request {seq} of client {client_id} was applied already with a different command"
            ),
            Self::Invalid(e) => write!(f, "invalid command: {e}"),
            Self::ServiceNotFound { service } => write!(f, "service {service:?} has no instances"),
            Self::InstanceNotFound { service, instance_id } => {
                write!(f, "instance {instance_id:?} of service {service:?} is not registered")
            }
            Self::NoHealthyInstance { service } => {
                write!(f, "service {service:?} has no healthy instance with a non-zero weight")
            }
            Self::NoDeployment { service } => write!(f, "service {service:?} has no deployment"),
            Self::InvalidTransition { service, action, state } => {
                write!(f, "cannot {action} the deployment of {service:?}: it is {state}")
            }
            Self::CasFailed { current_revision } => {
                write!(f, "compare-and-swap failed: the key's revision is {current_revision}")
            }
            Self::LeaseNotFound { lease_id } => write!(f, "lease {lease_id} does not exist"),
            Self::NotLockHolder { name, lease_id } => {
                write!(f, "lease {lease_id} neither holds nor waits for lock {name:?}")
            }
            Self::NotCandidate { election, candidate } => {
                write!(f, "{candidate:?} neither leads nor waits in election {election:?}")
            }
            Self::CandidateLeaseMismatch { election, candidate, lease_id } => write!(
                f,
                "{candidate:?} already campaigns in election {election:?} with lease {lease_id}"
            ),
            Self::Compacted { oldest } => {
                write!(f, "watch history compacted: resume from index {oldest} or later")
            }
            Self::FencedOut { fence, current: Some(c) } => {
                write!(f, "fenced out: {fence} no longer holds (current: {c})")
            }
            Self::FencedOut { fence, current: None } => {
                write!(f, "fenced out: {fence} no longer holds (nobody leads or holds it)")
            }
            Self::LockHeld { name, lease_id } => {
                write!(f, "lock {name:?} is held by lease {lease_id}")
            }
            Self::NotQueuedCandidate { election, candidate } => {
                write!(f, "{candidate:?} is not a queued candidate of election {election:?}")
            }
            Self::AddressInUse { address, node_id } => {
                write!(f, "address {address} is already node {node_id}'s")
            }
            Self::NoSpace { alarm, member: 0 } => write!(
                f,
                "no space: the write would take the state past the storage quota ({alarm} alarm); delete keys or revoke leases to free space"
            ),
            Self::NoSpace { alarm, member } => write!(
                f,
                "no space: the {alarm} alarm raised by node {member} is active; the cluster refuses writes that grow the state until it clears (delete keys, free disk space, or `raftorch ctl alarm disarm`)"
            ),
        }
    }
}

impl core::error::Error for OrchestratorError {}

impl From<ValidationError> for OrchestratorError {
    fn from(e: ValidationError) -> Self {
        Self::Invalid(e)
    }
}
