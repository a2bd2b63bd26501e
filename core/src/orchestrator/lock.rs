//! Fenced locks held by leases, with FIFO waiters.

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;
use super::fenced::{Claimed, Fence, Holder};
use super::fenced_slots::{FencedSlots, WatchedClaim};
use super::watch::{EventKind, WatchLog};

/// Who holds a lock, and the token that resources must check to refuse a stale holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The lease that holds it.
    pub lease_id: u64,
    /// Strictly greater than every token granted before, for any lock.
    pub fencing_token: u64,
    /// Index of the entry that granted it.
    pub since_index: u64,
}

impl From<&Holder<u64>> for LockHolder {
    fn from(h: &Holder<u64>) -> Self {
        Self {
            lease_id: h.claim,
            fencing_token: h.token,
            since_index: h.since_index,
        }
    }
}

impl WatchedClaim for u64 {
    const PREFIX: &'static str = "locks";
    fn granted(holder: &Holder<u64>) -> EventKind {
        EventKind::LockGranted {
            lease_id: holder.claim,
            fencing_token: holder.token,
        }
    }
    fn released(self) -> EventKind {
        EventKind::LockReleased { lease_id: self }
    }
}

/// Every lock that is held or waited for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Locks {
    slots: FencedSlots<u64>,
}

impl Locks {
    /// How many locks are held.
    pub(crate) fn held(&self) -> usize {
        self.slots.held()
    }

    /// Takes or queues for `name` (validated) on behalf of a live lease.
    pub(crate) fn acquire(
        &mut self,
        name: &str,
        lease_id: u64,
        index: u64,
        fence: &mut Fence,
        watch: &mut WatchLog,
    ) -> Claimed {
        // A lease is its own identity, so the same claimant can never come with another lease.
        self.slots
            .claim(name, lease_id, index, fence, watch)
            .unwrap_or(Claimed::Queued(0))
    }

    /// Releases the lock held by `lease_id`, or takes it out of the queue. Returns the new
    /// holder, if the lock passed to a waiter.
    pub(crate) fn release(
        &mut self,
        name: &str,
        lease_id: u64,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) -> Result<Option<LockHolder>, OrchestratorError> {
        let next = self
            .slots
            .leave(name, |&l| l == lease_id, index, fence, is_live, watch)
            .ok_or_else(|| OrchestratorError::NotLockHolder {
                name: name.into(),
                lease_id,
            })?;
        Ok(next.as_ref().map(LockHolder::from))
    }

    /// Takes `lease_id` out of every lock, held or waited for, in lock-name order.
    pub(crate) fn withdraw_lease(
        &mut self,
        lease_id: u64,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) {
        self.slots
            .withdraw_lease(lease_id, index, fence, is_live, watch);
    }

    /// The holder of `name`.
    pub(crate) fn holder(&self, name: &str) -> Option<LockHolder> {
        self.slots.holder(name).map(LockHolder::from)
    }

    /// The leases waiting for `name`, first in line first.
    pub(crate) fn waiters(&self, name: &str) -> Vec<u64> {
        self.slots.waiters(name).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_passes_to_next_live_waiter() {
        let (mut l, mut f, mut w) = (Locks::default(), Fence::default(), WatchLog::default());
        assert_eq!(l.acquire("db", 1, 10, &mut f, &mut w), Claimed::Granted(10));
        assert_eq!(l.acquire("db", 2, 11, &mut f, &mut w), Claimed::Queued(1));
        assert_eq!(l.acquire("db", 3, 12, &mut f, &mut w), Claimed::Queued(2));
        assert_eq!(l.waiters("db"), [2, 3]);
        let next = l
            .release("db", 1, 13, &mut f, |id| id == 3, &mut w)
            .unwrap();
        assert_eq!(
            next,
            Some(LockHolder {
                lease_id: 3,
                fencing_token: 13,
                since_index: 13
            })
        );
        assert_eq!(l.holder("db"), next);
        assert_eq!(
            l.release("db", 1, 14, &mut f, |_| true, &mut w),
            Err(OrchestratorError::NotLockHolder {
                name: "db".into(),
                lease_id: 1
            })
        );
        assert_eq!(l.release("db", 3, 15, &mut f, |_| true, &mut w), Ok(None));
        assert!(
            l.slots.is_empty(),
            "a free lock with no waiters is forgotten"
        );
        assert!(l.release("db", 3, 16, &mut f, |_| true, &mut w).is_err());
    }

    #[test]
    fn withdraw_lease_everywhere() {
        let (mut l, mut f, mut w) = (Locks::default(), Fence::default(), WatchLog::default());
        l.acquire("a", 1, 1, &mut f, &mut w);
        l.acquire("b", 2, 2, &mut f, &mut w);
        l.acquire("b", 1, 3, &mut f, &mut w);
        l.acquire("a", 2, 4, &mut f, &mut w);
        l.withdraw_lease(1, 5, &mut f, |id| id == 2, &mut w);
        assert_eq!(
            l.holder("a").map(|h| (h.lease_id, h.fencing_token)),
            Some((2, 5))
        );
        assert!(l.waiters("b").is_empty());
        let kinds: Vec<_> = w
            .after("locks/a", 4, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [
                EventKind::LockReleased { lease_id: 1 },
                EventKind::LockGranted {
                    lease_id: 2,
                    fencing_token: 5
                }
            ]
        );
    }
}
