//! Space alarms (etcd's NOSPACE): while one is active, every replica refuses the commands that
//! can grow the state, and keeps applying reads, deletes, revokes and everything that frees or
//! keeps state the same size.
//!
//! An alarm is raised through the log ([`super::Command::RaiseAlarm`]), so every replica agrees
//! on when it began and on what it refuses. Two causes:
//! - [`AlarmKind::Quota`]: a write would take the live state past the raising node's
//!   `--quota-bytes` ([`Orchestrator::admit`] decides it before proposing). It clears itself, at
//!   apply, once the live state is back under [`QUOTA_CLEAR_PERCENT`] of that quota (hysteresis:
//!   a delete or two do not make it flap), or by an admin's disarm.
//! - [`AlarmKind::DiskReserve`]: a member's data dir has less free space than its reserve. The
//!   member clears it when free space is back above twice the reserve ([`disk_duty`]).
//!
//! New kinds go last: alarms are encoded in snapshots.

use alloc::collections::BTreeMap;
use core::fmt;

use serde::{Deserialize, Serialize};

use super::command::Command;
use super::error::OrchestratorError;
use super::txn::TxnOp;
use super::Orchestrator;

/// A Quota alarm clears once the live state is at most this share (in percent) of the quota.
pub const QUOTA_CLEAR_PERCENT: u64 = 90;
/// What one key costs beyond its key and value bytes (its revisions, lease, map node).
pub const KEY_OVERHEAD_BYTES: u64 = 64;
/// What any other record (a lease, a lock, an instance, a candidacy, a deployment) is counted
/// as when a command would add one; its names and fields come on top.
pub const RECORD_BYTES: u64 = 128;

/// Why the cluster refuses writes that grow the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlarmKind {
    /// The live state reached the storage quota.
    Quota,
    /// A member's disk has less free space than its reserve.
    DiskReserve,
}

impl AlarmKind {
    /// Every kind, in order (for metrics).
    pub const ALL: [AlarmKind; 2] = [Self::Quota, Self::DiskReserve];

    /// `quota` or `disk_reserve`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quota => "quota",
            Self::DiskReserve => "disk_reserve",
        }
    }

    /// The kind named by [`AlarmKind::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One active alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// The member that raised it.
    pub member: u64,
    /// Why.
    pub kind: AlarmKind,
    /// The index of the entry that raised it.
    pub raised_index: u64,
    /// For a Quota alarm, the quota it was raised against (what the clearing compares with).
    pub quota_bytes: u64,
}

/// The active alarms, one per (member, kind).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Alarms {
    active: BTreeMap<(u64, AlarmKind), Alarm>,
}

impl Alarms {
    /// Raises an alarm; raising one that is active keeps its first index (and takes the
    /// smaller quota).
    pub(crate) fn raise(&mut self, alarm: Alarm) {
        self.active
            .entry((alarm.member, alarm.kind))
            .and_modify(|a| a.quota_bytes = a.quota_bytes.min(alarm.quota_bytes))
            .or_insert(alarm);
    }

    /// Clears the alarms that match (`None` matches any); returns how many.
    pub(crate) fn disarm(&mut self, member: Option<u64>, kind: Option<AlarmKind>) -> u64 {
        let before = self.active.len();
        self.active
            .retain(|(m, k), _| !(member.is_none_or(|x| x == *m) && kind.is_none_or(|x| x == *k)));
        (before - self.active.len()) as u64
    }

    /// Clears the Quota alarms whose quota the live state is back under, with hysteresis.
    pub(crate) fn clear_quota_below(&mut self, live_bytes: u64) {
        self.active.retain(|(_, kind), a| {
            *kind != AlarmKind::Quota
                || live_bytes.saturating_mul(100)
                    > a.quota_bytes.saturating_mul(QUOTA_CLEAR_PERCENT)
        });
    }

    /// The active alarms, by member then kind.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Alarm> {
        self.active.values()
    }

    /// The refusal a command gets while an alarm is active, if it can grow the state.
    pub(crate) fn refusal(&self, command: &Command) -> Option<OrchestratorError> {
        let alarm = self.active.values().next()?;
        may_grow(command).then_some(OrchestratorError::NoSpace {
            alarm: alarm.kind,
            member: alarm.member,
        })
    }
}

/// Whether a command can add to the state: puts (even of a smaller value: etcd refuses them
/// too, and a refusal that does not depend on the value is the same on every replica), new
/// instances, leases, locks, candidacies and deployments. Deletes, revokes, releases,
/// resignations, keep-alives, heartbeats and deployment steps never grow it.
pub fn may_grow(command: &Command) -> bool {
    match command {
        Command::Put { .. }
        | Command::Register { .. }
        | Command::StartDeployment { .. }
        | Command::GrantLease { .. }
        | Command::AcquireLock { .. }
        | Command::TryLock { .. }
        | Command::Campaign { .. }
        | Command::CampaignWithValue { .. } => true,
        Command::Txn(txn) => txn
            .success
            .iter()
            .chain(&txn.failure)
            .any(|op| matches!(op, TxnOp::Put { .. })),
        Command::Fenced { command, .. } => may_grow(command),
        _ => false,
    }
}

/// The bytes a key and value count for in the live state.
pub(crate) fn key_bytes(key: &str, value_len: usize) -> u64 {
    (key.len() as u64)
        .saturating_add(value_len as u64)
        .saturating_add(KEY_OVERHEAD_BYTES)
}

impl Orchestrator {
    /// The live state's size, as the quota counts it: every key and value plus
    /// [`KEY_OVERHEAD_BYTES`] per key, and [`RECORD_BYTES`] per lease. (Instances, locks and
    /// elections are small beside the kv store and not counted.)
    pub fn live_bytes(&self) -> u64 {
        self.kv
            .bytes()
            .saturating_add((self.leases.len() as u64).saturating_mul(RECORD_BYTES))
    }

    /// The active alarms, by member then kind.
    pub fn alarms(&self) -> impl Iterator<Item = &Alarm> {
        self.alarms.iter()
    }

    /// Whether a host should propose `command` under a quota of `quota_bytes`: refused with
    /// [`OrchestratorError::NoSpace`] while an alarm is active and the command may grow the state,
    /// or when it would add to a live state that is, or would then be, past the quota (the host then raises a Quota alarm).
    /// The same refusal is made at apply for the first case, so writes in flight when the alarm
    /// was raised are refused on every replica.
    pub fn admit(&self, command: &Command, quota_bytes: u64) -> Result<(), OrchestratorError> {
        if let Some(refusal) = self.alarms.refusal(command) {
            return Err(refusal);
        }
        let growth = self.growth(command);
        if growth > 0 && self.live_bytes().saturating_add(growth) > quota_bytes {
            return Err(OrchestratorError::NoSpace {
                alarm: AlarmKind::Quota,
                member: 0,
            });
        }
        Ok(())
    }

    /// An upper bound on how much `command` would add to [`Orchestrator::live_bytes`].
    fn growth(&self, command: &Command) -> u64 {
        let replaced = |key: &str| {
            self.kv
                .get(key)
                .map_or(0, |kv| key_bytes(key, kv.value.len()))
        };
        match command {
            Command::Put { key, value, .. } => {
                key_bytes(key, value.len()).saturating_sub(replaced(key))
            }
            Command::Txn(txn) => {
                let branch = |ops: &[TxnOp]| -> u64 {
                    ops.iter()
                        .map(|op| match op {
                            TxnOp::Put { key, value, .. } => {
                                key_bytes(key, value.len()).saturating_sub(replaced(key))
                            }
                            _ => 0,
                        })
                        .fold(0, u64::saturating_add)
                };
                branch(&txn.success).max(branch(&txn.failure))
            }
            Command::Fenced { command, .. } => self.growth(command),
            Command::GrantLease { .. } => RECORD_BYTES,
            _ => 0,
        }
    }

    /// Applies `RaiseAlarm`.
    pub(crate) fn raise_alarm(&mut self, member: u64, kind: AlarmKind, quota: u64, index: u64) {
        self.alarms.raise(Alarm {
            member,
            kind,
            raised_index: index,
            quota_bytes: quota,
        });
    }

    /// Applies `DisarmAlarm`; returns how many alarms it cleared.
    pub(crate) fn disarm_alarms(&mut self, member: Option<u64>, kind: Option<AlarmKind>) -> u64 {
        self.alarms.disarm(member, kind)
    }
}

/// What a member should propose after [`Orchestrator::admit`] refused a write for the quota:
/// a Quota alarm, unless one is active or the live state is not near the quota (a single write
/// too big for what is left is refused without stopping every other write; the alarm would
/// clear at once anyway).
pub fn quota_duty(state: &Orchestrator, me: u64, quota_bytes: u64) -> Option<Command> {
    let raised = state.alarms().any(|a| a.kind == AlarmKind::Quota);
    let near =
        state.live_bytes().saturating_mul(100) > quota_bytes.saturating_mul(QUOTA_CLEAR_PERCENT);
    (!raised && near).then_some(Command::RaiseAlarm {
        member: me,
        kind: AlarmKind::Quota,
        quota_bytes,
    })
}

/// What a member should propose about its own disk alarm, given its data dir's free space and
/// its reserve: raise [`AlarmKind::DiskReserve`] when free space is under the reserve, clear it
/// once free space is back above twice the reserve, nothing in between or when the state
/// already says so.
pub fn disk_duty(state: &Orchestrator, me: u64, free_bytes: u64, reserve: u64) -> Option<Command> {
    let raised = state
        .alarms()
        .any(|a| a.member == me && a.kind == AlarmKind::DiskReserve);
    if !raised && free_bytes < reserve {
        Some(Command::RaiseAlarm {
            member: me,
            kind: AlarmKind::DiskReserve,
            quota_bytes: 0,
        })
    } else if raised && free_bytes > reserve.saturating_mul(2) {
        Some(Command::DisarmAlarm {
            member: Some(me),
            kind: Some(AlarmKind::DiskReserve),
        })
    } else {
        None
    }
}
