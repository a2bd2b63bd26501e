//! Leases: TTLs kept alive by clients; what is attached to one dies with it.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;
use super::watch::{EventKind, WatchLog};

/// A granted lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Its id: the index of the entry that granted it.
    pub id: u64,
    /// Time to live without a keep-alive.
    pub ttl_ms: u64,
    /// It expires once the replicated clock passes this.
    pub deadline_ms: u64,
}

/// Live leases, plus a deadline index so expiry never scans them all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Leases {
    by_id: BTreeMap<u64, Lease>,
    // Invariant: holds exactly (l.deadline_ms, l.id) for every lease l.
    by_deadline: BTreeSet<(u64, u64)>,
}

impl Leases {
    /// Grants lease `id` (the entry's index, so unique) with a validated TTL.
    pub(crate) fn grant(&mut self, id: u64, ttl_ms: u64, now: u64, watch: &mut WatchLog) -> &Lease {
        let lease = Lease {
            id,
            ttl_ms,
            deadline_ms: now.saturating_add(ttl_ms),
        };
        self.by_deadline.insert((lease.deadline_ms, id));
        watch.push(id, format!("leases/{id}"), EventKind::LeaseGranted);
        self.by_id.entry(id).or_insert(lease)
    }

    /// Pushes the deadline to `now + ttl`.
    pub(crate) fn keep_alive(&mut self, id: u64, now: u64) -> Result<&Lease, OrchestratorError> {
        let lease = self
            .by_id
            .get_mut(&id)
            .ok_or(OrchestratorError::LeaseNotFound { lease_id: id })?;
        self.by_deadline.remove(&(lease.deadline_ms, id));
        lease.deadline_ms = now.saturating_add(lease.ttl_ms);
        self.by_deadline.insert((lease.deadline_ms, id));
        Ok(lease)
    }

    /// Removes a lease; the caller releases what was attached to it.
    pub(crate) fn remove(&mut self, id: u64) -> Result<Lease, OrchestratorError> {
        let lease = self
            .by_id
            .remove(&id)
            .ok_or(OrchestratorError::LeaseNotFound { lease_id: id })?;
        self.by_deadline.remove(&(lease.deadline_ms, id));
        Ok(lease)
    }

    /// Removes every lease whose deadline is before `now`, and returns their ids, earliest
    /// deadline first (ties by id). All are removed before the caller releases anything, so no
    /// lock or candidacy can pass to a lease that expires in the same step.
    pub(crate) fn take_expired(&mut self, now: u64) -> Vec<u64> {
        let mut expired = Vec::new();
        while let Some(&(deadline, id)) = self.by_deadline.first() {
            if deadline >= now {
                break;
            }
            self.by_deadline.pop_first();
            self.by_id.remove(&id);
            expired.push(id);
        }
        expired
    }

    /// A new leader took over: every lease gets a full TTL from `now`.
    pub(crate) fn leader_changed(&mut self, now: u64) {
        self.by_deadline.clear();
        for lease in self.by_id.values_mut() {
            lease.deadline_ms = now.saturating_add(lease.ttl_ms);
            self.by_deadline.insert((lease.deadline_ms, lease.id));
        }
    }

    /// Whether `id` exists and has not passed its deadline at `now`.
    pub(crate) fn is_live(&self, id: u64, now: u64) -> bool {
        self.by_id.get(&id).is_some_and(|l| l.deadline_ms >= now)
    }

    /// One lease.
    pub(crate) fn get(&self, id: u64) -> Option<&Lease> {
        self.by_id.get(&id)
    }

    /// How many leases are live.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_keep_alive_expire() {
        let (mut l, mut w) = (Leases::default(), WatchLog::default());
        assert_eq!(l.grant(5, 100, 0, &mut w).deadline_ms, 100);
        l.grant(6, 50, 0, &mut w);
        assert_eq!(l.keep_alive(5, 60).unwrap().deadline_ms, 160);
        assert!(
            l.take_expired(50).is_empty(),
            "a deadline equal to now is still live"
        );
        assert!(l.is_live(6, 50) && !l.is_live(6, 51));
        assert_eq!(l.take_expired(200), [6, 5]);
        assert!(l.by_deadline.is_empty() && l.by_id.is_empty());
        assert_eq!(
            l.keep_alive(5, 0),
            Err(OrchestratorError::LeaseNotFound { lease_id: 5 })
        );
        assert_eq!(
            l.remove(5),
            Err(OrchestratorError::LeaseNotFound { lease_id: 5 })
        );
    }

    #[test]
    fn leader_change_refreshes() {
        let (mut l, mut w) = (Leases::default(), WatchLog::default());
        l.grant(1, 100, 0, &mut w);
        l.leader_changed(1_000);
        assert!(l.take_expired(1_100).is_empty());
        assert_eq!(l.get(1).unwrap().deadline_ms, 1_100);
        assert_eq!(l.remove(1).unwrap().id, 1);
    }
}
