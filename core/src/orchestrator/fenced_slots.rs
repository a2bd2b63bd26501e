//! Named fenced slots: the map of [`FencedQueue`]s behind locks and elections, with the watch
//! events their grants and releases produce. Only the kind of claim differs between the two.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::fenced::{Claim, Claimed, Fence, FencedQueue, Holder, Left};
use super::watch::{EventKind, WatchLog};

/// A claim whose grants and releases are watch events under `PREFIX/NAME`.
pub(crate) trait WatchedClaim: Claim {
    /// The watch key prefix, e.g. `locks`.
    const PREFIX: &'static str;
    /// The event when `holder` is granted the slot.
    fn granted(holder: &Holder<Self>) -> EventKind;
    /// The event when this claim lets go of a slot it held.
    fn released(self) -> EventKind;
}

/// Every slot that is held or waited for, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct FencedSlots<C> {
    // Invariant: no queue is empty.
    by_name: BTreeMap<String, FencedQueue<C>>,
}

impl<C> Default for FencedSlots<C> {
    fn default() -> Self {
        Self {
            by_name: BTreeMap::new(),
        }
    }
}

impl<C: WatchedClaim> FencedSlots<C> {
    /// Claims `name` for `claim` (its lease checked live by the caller). `Err` carries the lease
    /// of the same claimant's existing claim under another lease.
    pub(crate) fn claim(
        &mut self,
        name: &str,
        claim: C,
        index: u64,
        fence: &mut Fence,
        watch: &mut WatchLog,
    ) -> Result<Claimed, u64> {
        let queue = self.by_name.entry(name.into()).or_default();
        let claimed = queue.claim(claim, index, fence);
        if let Ok(Claimed::Granted(_)) = claimed {
            if let Some(h) = &queue.holder {
                watch.push(index, key::<C>(name), C::granted(h));
            }
        }
        if queue.is_empty() {
            self.by_name.remove(name);
        }
        claimed
    }

    /// Takes the claims matching `which` out of `name`, held or waiting. `None` when there were
    /// none; otherwise the new holder, if the slot passed to a live waiter.
    pub(crate) fn leave(
        &mut self,
        name: &str,
        which: impl Fn(&C) -> bool,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) -> Option<Option<Holder<C>>> {
        let left = self.by_name.get_mut(name)?.leave(which);
        if matches!(left, Left::NotFound) {
            return None;
        }
        Some(self.settle(name, left, index, fence, is_live, watch))
    }

    /// Hands `name` to the waiting claim matching `to`; the old holder queues at the back.
    /// `None` when no waiter matches; otherwise the new holder.
    pub(crate) fn transfer(
        &mut self,
        name: &str,
        to: impl Fn(&C) -> bool,
        index: u64,
        fence: &mut Fence,
        watch: &mut WatchLog,
    ) -> Option<Holder<C>> {
        let queue = self.by_name.get_mut(name)?;
        let old = queue.transfer(to, index, fence)?;
        if let Some(old) = old {
            watch.push(index, key::<C>(name), old.claim.released());
        }
        let holder = queue.holder.clone()?;
        watch.push(index, key::<C>(name), C::granted(&holder));
        Some(holder)
    }

    /// Takes every claim of `lease_id` out of every slot, in name order. Returns the names of
    /// the slots it was in.
    pub(crate) fn withdraw_lease(
        &mut self,
        lease_id: u64,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) -> Vec<String> {
        let names: Vec<String> = self
            .by_name
            .iter()
            .filter(|(_, q)| {
                q.holder
                    .as_ref()
                    .is_some_and(|h| h.claim.lease_id() == lease_id)
                    || q.waiters().any(|c| c.lease_id() == lease_id)
            })
            .map(|(n, _)| n.clone())
            .collect();
        for name in &names {
            self.leave(
                name,
                |c| c.lease_id() == lease_id,
                index,
                fence,
                &is_live,
                watch,
            );
        }
        names
    }

    /// After a claim left: pass a freed slot on, and forget a slot nobody wants.
    fn settle(
        &mut self,
        name: &str,
        left: Left<C>,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
        watch: &mut WatchLog,
    ) -> Option<Holder<C>> {
        let queue = self.by_name.get_mut(name)?;
        let mut granted = None;
        if let Left::Holder(old) = left {
            watch.push(index, key::<C>(name), old.claim.released());
            if let Some(h) = queue.promote(index, fence, is_live) {
                watch.push(index, key::<C>(name), C::granted(h));
                granted = Some(h.clone());
            }
        }
        if queue.is_empty() {
            self.by_name.remove(name);
        }
        granted
    }

    /// The holder of `name`.
    pub(crate) fn holder(&self, name: &str) -> Option<&Holder<C>> {
        self.by_name.get(name)?.holder.as_ref()
    }

    /// The claims waiting for `name`, first in line first.
    pub(crate) fn waiters(&self, name: &str) -> impl Iterator<Item = &C> {
        self.by_name.get(name).into_iter().flat_map(|q| q.waiters())
    }

    /// Whether no slot is held or waited for.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// How many slots have a holder.
    pub(crate) fn held(&self) -> usize {
        self.by_name.values().filter(|q| q.holder.is_some()).count()
    }
}

/// The watch key of slot `name`.
fn key<C: WatchedClaim>(name: &str) -> String {
    format!("{}/{name}", C::PREFIX)
}
