//! The commands a client (or the leader itself) can put in the log.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::alarm::AlarmKind;
use super::txn::Txn;
use super::write_fence::WriteFence;

/// One state change, as proposed to Raft inside an [`super::Envelope`].
///
/// Every command is validated before it touches state: a refused command changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Advances the replicated clock by the time that passed on the leader's clock since its
    /// `LeaderChanged` (as every entry does) and expires what is due. The leader proposes it
    /// periodically, so TTLs lapse without client traffic.
    Tick,
    /// The first orchestrator entry of every leader's term, which hosts must propose before any
    /// other: it begins the leader's clock epoch (the replicated clock stands still here, and
    /// the following entries of the term advance it by the elapsed time between this entry's
    /// stamp and theirs), then extends every lease and every healthy instance's heartbeat
    /// deadline to `now + ttl`, so that the election's pause does not expire everything at once
    /// (etcd does the same). The refresh happens before this entry expires anything.
    LeaderChanged,
    /// Registers an instance, or updates it when it exists (and counts as a heartbeat).
    Register {
        /// The service: a name (`[A-Za-z0-9._-]`, 1..=128, not starting with `.`).
        service: String,
        /// The instance, unique within its service; a name.
        instance_id: String,
        /// Where to reach it: host name or IP address.
        address: String,
        /// Its port, 1..=65535.
        port: u16,
        /// The version it runs; deployments split traffic by version.
        version: String,
        /// Routing weight 0..=1000; 0 takes it out of routing without deregistering it.
        weight: u16,
        /// Free-form tags, at most 32.
        tags: Vec<String>,
        /// Free-form metadata, at most 64 entries.
        metadata: BTreeMap<String, String>,
        /// When given (1 ms..=24 h), the instance must heartbeat within this time to stay healthy.
        ttl_ms: Option<u64>,
    },
    /// Removes an instance.
    Deregister {
        /// The service.
        service: String,
        /// The instance.
        instance_id: String,
    },
    /// Pushes an instance's heartbeat deadline to `now + ttl` and makes it healthy again.
    Heartbeat {
        /// The service.
        service: String,
        /// The instance.
        instance_id: String,
    },
    /// Starts a canary deployment from `stable_version` to `canary_version`.
    StartDeployment {
        /// The service.
        service: String,
        /// The version that serves traffic now.
        stable_version: String,
        /// The version being rolled out.
        canary_version: String,
        /// Canary percentages, strictly increasing, each 1..=100; the deployment starts at the
        /// first.
        steps: Vec<u8>,
    },
    /// Moves a progressing deployment to its next step.
    Advance {
        /// The service.
        service: String,
    },
    /// Pauses a progressing deployment (its percentage stays).
    Pause {
        /// The service.
        service: String,
    },
    /// Resumes a paused deployment.
    Resume {
        /// The service.
        service: String,
    },
    /// Makes the canary the new stable: all traffic goes to it; the deployment is done.
    Promote {
        /// The service.
        service: String,
    },
    /// Sends all traffic back to the stable version; the deployment is aborted.
    Rollback {
        /// The service.
        service: String,
    },
    /// Writes a key.
    Put {
        /// The key: 1..=512 bytes of printable ASCII without spaces.
        key: String,
        /// The value, at most 1 MiB (`validate::MAX_VALUE_LEN`).
        value: Vec<u8>,
        /// Attach the key to this lease (the key dies with it); `None` detaches it.
        lease: Option<u64>,
        /// Compare-and-swap on the key's `mod_revision`; `Some(0)` means "create only".
        expected_revision: Option<u64>,
    },
    /// Deletes a key.
    Delete {
        /// The key.
        key: String,
        /// Compare-and-swap on the key's `mod_revision`.
        expected_revision: Option<u64>,
    },
    /// Grants a lease; its id is the index of this entry.
    GrantLease {
        /// Time to live without keep-alive, 1 ms..=24 h.
        ttl_ms: u64,
    },
    /// Pushes a lease's deadline to `now + ttl`.
    KeepAlive {
        /// The lease.
        lease_id: u64,
    },
    /// Ends a lease now: its keys are deleted, its locks released, its candidacies withdrawn.
    RevokeLease {
        /// The lease.
        lease_id: u64,
    },
    /// Takes a lock for a lease, or queues for it.
    AcquireLock {
        /// The lock: a name.
        name: String,
        /// The lease that will hold it; the lock dies with it.
        lease_id: u64,
    },
    /// Releases a held lock, or leaves its wait queue.
    ReleaseLock {
        /// The lock.
        name: String,
        /// The lease that holds or waits for it.
        lease_id: u64,
    },
    /// Runs for leader of an application election, or queues behind the current one.
    Campaign {
        /// The election: a name.
        election: String,
        /// Who runs: a name, unique within the election.
        candidate: String,
        /// The candidacy dies with this lease.
        lease_id: u64,
    },
    /// Steps down as leader, or leaves the queue.
    Resign {
        /// The election.
        election: String,
        /// Who resigns.
        candidate: String,
    },
    /// Records where a Raft member listens, replacing its previous record. Hosts commit it
    /// before adding the node to the Raft configuration, so every replica can reach it.
    SetMemberAddress {
        /// The node id, 1 or more.
        id: u64,
        /// Its Raft transport address, `HOST:PORT`.
        peer_addr: String,
        /// Its HTTP API address, `HOST:PORT`.
        api_addr: String,
    },
    /// Drops a member's address record. Hosts do it after the node's removal from the Raft
    /// configuration is applied.
    RemoveMemberAddress {
        /// The node id.
        id: u64,
    },
    // New variants go last: entries already in logs keep decoding.
    /// Applies `command` (a `Put`, `Delete` or `Txn`) only while `fence` holds at apply time;
    /// otherwise refuses it with [`super::OrchestratorError::FencedOut`].
    Fenced {
        /// The election term or lock token the write was made under.
        fence: WriteFence,
        /// The write.
        command: Box<Command>,
    },
    /// Compares, then one branch of kv operations, atomically in this entry.
    Txn(Txn),
    /// Takes a lock when it is free (or already held by this lease); never queues: held by
    /// another lease it is refused with [`super::OrchestratorError::LockHeld`].
    TryLock {
        /// The lock: a name.
        name: String,
        /// The lease that will hold it.
        lease_id: u64,
    },
    /// `Campaign` with a value shown beside the leader (e.g. the candidate's endpoint); a
    /// candidate that campaigns again replaces its value.
    CampaignWithValue {
        /// The election: a name.
        election: String,
        /// Who runs: a name, unique within the election.
        candidate: String,
        /// The candidacy dies with this lease.
        lease_id: u64,
        /// At most 4 KiB.
        value: String,
    },
    /// Hands an election's leadership to a queued candidate, with a new term; the old leader
    /// queues at the back, its lease untouched.
    TransferElection {
        /// The election.
        election: String,
        /// The queued candidate to lead.
        to: String,
    },
    /// Raises a space alarm (an internal command: hosts propose it, clients cannot): while any
    /// alarm is active, commands that may grow the state are refused with
    /// [`super::OrchestratorError::NoSpace`] (see [`super::alarm`]).
    RaiseAlarm {
        /// The member that saw the cause.
        member: u64,
        /// The cause.
        kind: AlarmKind,
        /// For [`AlarmKind::Quota`], the quota that was reached (the alarm clears under 90% of
        /// it); 0 otherwise.
        quota_bytes: u64,
    },
    /// Clears the active alarms that match (`None` matches any). A cause that persists is raised
    /// again by the member that sees it.
    DisarmAlarm {
        /// Only this member's alarms.
        member: Option<u64>,
        /// Only alarms of this kind.
        kind: Option<AlarmKind>,
    },
}
