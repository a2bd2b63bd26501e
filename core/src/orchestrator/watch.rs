//! The bounded history of changes that watchers read with `events_after`.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;

/// How many events the history keeps; older ones are compacted away.
pub const WATCH_HISTORY: usize = 10_000;

/// What happened to the thing named by a [`WatchEvent`]'s key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A new instance was registered.
    InstanceRegistered,
    /// An existing instance re-registered with new fields.
    InstanceUpdated,
    /// An instance was deregistered.
    InstanceDeregistered,
    /// An instance missed its heartbeat deadline.
    InstanceUnhealthy,
    /// An unhealthy instance heartbeated (a re-registration reports `InstanceUpdated`).
    InstanceHealthy,
    /// An instance stayed unhealthy past the grace period and was removed.
    InstanceExpired,
    /// A deployment was started, moved, paused, resumed, promoted or rolled back.
    DeploymentChanged {
        /// The canary percentage after the change.
        canary_percent: u8,
    },
    /// A key was written.
    KvPut {
        /// The key's new `mod_revision`.
        mod_revision: u64,
        /// The key's new version.
        version: u64,
    },
    /// A key was deleted (by a client or with its lease).
    KvDeleted,
    /// A lease was granted.
    LeaseGranted,
    /// A lease was revoked by a client.
    LeaseRevoked,
    /// A lease passed its deadline.
    LeaseExpired,
    /// A lock was granted.
    LockGranted {
        /// The lease that holds it.
        lease_id: u64,
        /// Its fencing token.
        fencing_token: u64,
    },
    /// A lock's holder released it or lost its lease.
    LockReleased {
        /// The lease that held it.
        lease_id: u64,
    },
    /// An election got a new leader.
    ElectionLeader {
        /// The new leader.
        candidate: String,
        /// Its term (a fencing token).
        term: u64,
    },
    /// An election's leader resigned or lost its lease.
    ElectionResigned {
        /// The leader that left.
        candidate: String,
    },
}

/// One applied change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// The log index of the entry that caused it (several events may share one).
    pub index: u64,
    /// What changed: `services/<svc>/<inst>`, `kv/<key>`, `deployments/<svc>`, `locks/<name>`,
    /// `elections/<name>` or `leases/<id>`.
    pub key: String,
    /// How it changed.
    pub kind: EventKind,
}

/// A ring of the last [`WATCH_HISTORY`] events, in index order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WatchLog {
    events: VecDeque<WatchEvent>,
    /// Index of the newest event dropped from the history (0 when none was).
    // Invariant: every retained event has index >= compacted_through.
    compacted_through: u64,
}

impl WatchLog {
    /// Appends an event, dropping the oldest when full.
    pub(crate) fn push(&mut self, index: u64, key: String, kind: EventKind) {
        if self.events.len() == WATCH_HISTORY {
            if let Some(old) = self.events.pop_front() {
                self.compacted_through = old.index;
            }
        }
        self.events.push_back(WatchEvent { index, key, kind });
    }

    /// Up to `limit` events with index > `after_index` whose key starts with `prefix`, oldest
    /// first; [`OrchestratorError::Compacted`] when some of them may have been dropped.
    pub(crate) fn after(
        &self,
        prefix: &str,
        after_index: u64,
        limit: usize,
    ) -> Result<Vec<WatchEvent>, OrchestratorError> {
        // An event at `compacted_through` was dropped, so only a watcher that had seen that index
        // in full is sure to miss nothing.
        if after_index < self.compacted_through {
            return Err(OrchestratorError::Compacted {
                oldest: self.compacted_through,
            });
        }
        let start = self.events.partition_point(|e| e.index <= after_index);
        Ok(self
            .events
            .range(start..)
            .filter(|e| e.key.starts_with(prefix))
            .take(limit)
            .cloned()
            .collect())
    }

    /// Number of retained events.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn filters_by_prefix_and_index() {
        let mut w = WatchLog::default();
        w.push(1, "kv/a".into(), EventKind::KvDeleted);
        w.push(2, "locks/x".into(), EventKind::LockReleased { lease_id: 1 });
        w.push(2, "kv/b".into(), EventKind::KvDeleted);
        w.push(3, "kv/a".into(), EventKind::KvDeleted);
        let keys = |v: Vec<WatchEvent>| v.into_iter().map(|e| (e.index, e.key)).collect::<Vec<_>>();
        assert_eq!(
            keys(w.after("kv/", 0, 10).unwrap()),
            [(1, "kv/a".into()), (2, "kv/b".into()), (3, "kv/a".into())]
        );
        assert_eq!(
            keys(w.after("kv/", 1, 10).unwrap()),
            [(2, "kv/b".into()), (3, "kv/a".into())]
        );
        assert_eq!(keys(w.after("", 1, 1).unwrap()), [(2, "locks/x".into())]);
        assert!(w.after("", 3, 10).unwrap().is_empty());
    }

    #[test]
    fn reports_compaction() {
        let mut w = WatchLog::default();
        for i in 1..=(WATCH_HISTORY as u64 + 5) {
            w.push(i, format!("kv/{i}"), EventKind::KvDeleted);
        }
        assert_eq!(w.len(), WATCH_HISTORY);
        assert_eq!(
            w.after("", 4, 1),
            Err(OrchestratorError::Compacted { oldest: 5 })
        );
        let got = w.after("", 5, 1).unwrap();
        assert_eq!(got[0].index, 6);
    }
}
