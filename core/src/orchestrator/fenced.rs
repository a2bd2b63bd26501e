//! A slot held by one claimant at a time, with a FIFO of waiters and fencing tokens: the shared
//! mechanics of locks and application elections.

use alloc::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Hands out fencing tokens: the index of the entry that caused the grant, bumped past the last
/// token when one entry grants several slots (a lease expiry can), so that tokens strictly
/// increase across the whole state machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Fence {
    last: u64,
}

impl Fence {
    /// The next token for a grant caused by entry `index`.
    pub(crate) fn next(&mut self, index: u64) -> u64 {
        self.last = index.max(self.last + 1);
        self.last
    }
}

/// Who can claim a slot: it has an identity and dies with a lease.
pub(crate) trait Claim: Clone {
    /// The lease the claim dies with.
    fn lease_id(&self) -> u64;
    /// Whether `other` is the same claimant (maybe under another lease).
    fn same_claimant(&self, other: &Self) -> bool;
}

/// Locks are claimed by leases.
impl Claim for u64 {
    fn lease_id(&self) -> u64 {
        *self
    }
    fn same_claimant(&self, other: &Self) -> bool {
        self == other
    }
}

/// The current holder of a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Holder<C> {
    pub(crate) claim: C,
    pub(crate) token: u64,
    pub(crate) since_index: u64,
}

/// What a claim got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimed {
    /// The slot was free: granted with this token.
    Granted(u64),
    /// The claimant already holds it, with this token.
    AlreadyHeld(u64),
    /// Waiting at this 1-based position (also when it was waiting already).
    Queued(u32),
}

/// What leaving a slot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Left<C> {
    /// The claimant neither held nor waited.
    NotFound,
    /// It only waited; it waits no more.
    Waiter,
    /// It held the slot, which is free now (call [`FencedQueue::promote`]).
    Holder(Holder<C>),
}

/// A slot and its waiters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FencedQueue<C> {
    pub(crate) holder: Option<Holder<C>>,
    // Invariant: no waiter is the same claimant as the holder or as another waiter.
    waiters: VecDeque<C>,
}

impl<C> Default for FencedQueue<C> {
    fn default() -> Self {
        Self {
            holder: None,
            waiters: VecDeque::new(),
        }
    }
}

impl<C: Claim> FencedQueue<C> {
    /// Claims the slot for `claim`, whose lease the caller checked is live. `Err` carries the
    /// lease of an existing claim by the same claimant under a different lease.
    pub(crate) fn claim(
        &mut self,
        claim: C,
        index: u64,
        fence: &mut Fence,
    ) -> Result<Claimed, u64> {
        let mismatch = |c: &C| c.same_claimant(&claim) && c.lease_id() != claim.lease_id();
        if let Some(h) = &self.holder {
            if mismatch(&h.claim) {
                return Err(h.claim.lease_id());
            }
            if h.claim.same_claimant(&claim) {
                return Ok(Claimed::AlreadyHeld(h.token));
            }
        } else {
            let token = fence.next(index);
            self.holder = Some(Holder {
                claim,
                token,
                since_index: index,
            });
            return Ok(Claimed::Granted(token));
        }
        if let Some(pos) = self.waiters.iter().position(|w| w.same_claimant(&claim)) {
            if mismatch(&self.waiters[pos]) {
                return Err(self.waiters[pos].lease_id());
            }
            return Ok(Claimed::Queued(pos as u32 + 1));
        }
        self.waiters.push_back(claim);
        Ok(Claimed::Queued(self.waiters.len() as u32))
    }

    /// Removes every claim matching `which`, held or waiting.
    pub(crate) fn leave(&mut self, which: impl Fn(&C) -> bool) -> Left<C> {
        let waited = self.waiters.len();
        self.waiters.retain(|w| !which(w));
        if self.holder.as_ref().is_some_and(|h| which(&h.claim)) {
            if let Some(h) = self.holder.take() {
                return Left::Holder(h);
            }
        }
        if self.waiters.len() < waited {
            Left::Waiter
        } else {
            Left::NotFound
        }
    }

    /// When the slot is free, grants it to the first waiter whose lease is live *now*, dropping
    /// the dead ones before it (the re-check etcd's lock once missed).
    pub(crate) fn promote(
        &mut self,
        index: u64,
        fence: &mut Fence,
        is_live: impl Fn(u64) -> bool,
    ) -> Option<&Holder<C>> {
        if self.holder.is_some() {
            return None;
        }
        while let Some(next) = self.waiters.pop_front() {
            if is_live(next.lease_id()) {
                let token = fence.next(index);
                self.holder = Some(Holder {
                    claim: next,
                    token,
                    since_index: index,
                });
                return self.holder.as_ref();
            }
        }
        None
    }

    /// Hands the slot to the first waiter matching `to`, with a new token; the old holder (if
    /// any) goes to the back of the queue, its claim intact. Returns the old holder, or `None`
    /// (nothing changed) when no waiter matches.
    pub(crate) fn transfer(
        &mut self,
        to: impl Fn(&C) -> bool,
        index: u64,
        fence: &mut Fence,
    ) -> Option<Option<Holder<C>>> {
        let pos = self.waiters.iter().position(to)?;
        let next = self.waiters.remove(pos)?;
        let old = self.holder.take();
        if let Some(h) = &old {
            self.waiters.push_back(h.claim.clone());
        }
        let token = fence.next(index);
        self.holder = Some(Holder {
            claim: next,
            token,
            since_index: index,
        });
        Some(old)
    }

    /// Whether nobody holds or waits (the slot can be forgotten).
    pub(crate) fn is_empty(&self) -> bool {
        self.holder.is_none() && self.waiters.is_empty()
    }

    /// The waiters, first in line first.
    pub(crate) fn waiters(&self) -> impl Iterator<Item = &C> {
        self.waiters.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_strictly_increases() {
        let mut f = Fence::default();
        assert_eq!(
            [f.next(5), f.next(5), f.next(5), f.next(6), f.next(10)],
            [5, 6, 7, 8, 10]
        );
    }

    #[test]
    fn grant_queue_and_promote_skipping_dead() {
        let (mut q, mut f) = (FencedQueue::<u64>::default(), Fence::default());
        assert_eq!(q.claim(1, 10, &mut f), Ok(Claimed::Granted(10)));
        assert_eq!(q.claim(1, 11, &mut f), Ok(Claimed::AlreadyHeld(10)));
        assert_eq!(q.claim(2, 12, &mut f), Ok(Claimed::Queued(1)));
        assert_eq!(q.claim(3, 13, &mut f), Ok(Claimed::Queued(2)));
        assert_eq!(q.claim(2, 14, &mut f), Ok(Claimed::Queued(1)));
        assert!(
            q.promote(15, &mut f, |_| true).is_none(),
            "held: nothing to promote"
        );
        assert!(matches!(
            q.leave(|&c| c == 1),
            Left::Holder(Holder {
                claim: 1,
                token: 10,
                ..
            })
        ));
        let h = q.promote(16, &mut f, |l| l != 2).unwrap();
        assert_eq!((h.claim, h.token, h.since_index), (3, 16, 16));
        assert_eq!(q.waiters().count(), 0, "the dead waiter was dropped");
        assert_eq!(q.leave(|&c| c == 9), Left::NotFound);
        q.claim(4, 17, &mut f).unwrap();
        assert_eq!(q.leave(|&c| c == 4), Left::Waiter);
        assert!(matches!(q.leave(|&c| c == 3), Left::Holder(_)));
        assert!(q.is_empty());
    }

    #[test]
    fn transfer_swaps_holder_and_waiter() {
        let (mut q, mut f) = (FencedQueue::<u64>::default(), Fence::default());
        q.claim(1, 10, &mut f).unwrap();
        q.claim(2, 11, &mut f).unwrap();
        q.claim(3, 12, &mut f).unwrap();
        assert_eq!(q.transfer(|&c| c == 9, 13, &mut f), None, "not queued");
        let old = q.transfer(|&c| c == 3, 13, &mut f).unwrap().unwrap();
        assert_eq!((old.claim, old.token), (1, 10));
        let h = q.holder.clone().unwrap();
        assert_eq!((h.claim, h.token, h.since_index), (3, 13, 13));
        assert_eq!(q.waiters().copied().collect::<alloc::vec::Vec<_>>(), [2, 1]);
    }
}
