//! Fenced locks held by leases, with FIFO waiters.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;
use super::fenced::{Claimed, Fence, FencedQueue, Holder, Left};
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

/// Every lock that is held or waited for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Locks {
    // Invariant: no queue is empty.
    by_name: BTreeMap<String, FencedQueue<u64>>,
}

impl Locks {
    /// Takes or queues for `name` (validated) on behalf of a live lease.
    pub(crate) fn acquire(
        &mut self,
        name: &str,
        lease_id: u64,
        index: u64,
        fence: &mut Fence,
        watch: &mut WatchLog,
    ) -> Claimed {
        let queue = self.by_name.entry(name.into()).or_default();
        // A lease is its own identity, so the same claimant can never come with another lease.
        let claimed = queue
            .claim(lease_id, index, fence)
            .unwrap_or(Claimed::Queued(0));
        if let Claimed::Granted(fencing_token) = claimed {
            watch.push(
                index,
                format!("locks/{name}"),
                EventKind::LockGranted {
                    lease_id,
                    fencing_token,
                },
            );
        }
        claimed
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
        let not_holder = || OrchestratorError::NotLockHolder {
            name: name.into(),
            lease_id,
        };
        let queue = self.by_name.get_mut(name).ok_or_else(not_holder)?;
        let left = queue.leave(|&l| l == lease_id);
        if left == Left::NotFound {
            return Err(not_holder());
        }
        Ok(self.settle(name, left, index, fence, is_live, watch))
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
        let names: Vec<String> = self
            .by_name
            .iter()
            .filter(|(_, q)| {
                q.holder.as_ref().is_some_and(|h| h.claim == lease_id)
                    || q.waiters().any(|&w| w == lease_id)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in names {
            if let Some(queue) = self.by_name.get_mut(&name) {
                let left = queue.leave(|&l| l == lease_id);
                self.settle(&name, left, index, fence, &is_live, watch);
            }
        }
    }

    /// After a claim left: pass a freed lock on, and forget a lock nobody wants.
    fn settle(
        &mut self,
        name: &str,
        left: Left<u64>,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) -> Option<LockHolder> {
        let queue = self.by_name.get_mut(name)?;
        let mut granted = None;
        if let Left::Holder(old) = left {
            watch.push(
                index,
                format!("locks/{name}"),
                EventKind::LockReleased {
                    lease_id: old.claim,
                },
            );
            if let Some(h) = queue.promote(index, fence, is_live) {
                let h = LockHolder::from(h);
                watch.push(
                    index,
                    format!("locks/{name}"),
                    EventKind::LockGranted {
                        lease_id: h.lease_id,
                        fencing_token: h.fencing_token,
                    },
                );
                granted = Some(h);
            }
        }
        if queue.is_empty() {
            self.by_name.remove(name);
        }
        granted
    }

    /// The holder of `name`.
    pub(crate) fn holder(&self, name: &str) -> Option<LockHolder> {
        self.by_name
            .get(name)?
            .holder
            .as_ref()
            .map(LockHolder::from)
    }

    /// The leases waiting for `name`, first in line first.
    pub(crate) fn waiters(&self, name: &str) -> Vec<u64> {
        self.by_name
            .get(name)
            .map(|q| q.waiters().copied().collect())
            .unwrap_or_default()
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
            l.by_name.is_empty(),
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
