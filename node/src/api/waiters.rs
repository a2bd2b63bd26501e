//! Long-poll waiters (watches, blocking lock acquires, election waits): a cap on how many wait
//! at once (`--max-watchers`; beyond it 503 `too_many_waiters` with `Retry-After`), and for
//! watches a wake-up only when an event they pass arrives.
//!
//! One dispatcher task per node reads the keys of the events applied since it last looked, once
//! for every waiter, and wakes only the watches whose filter passes one of them; before it, each
//! watch woke on every status change (a heartbeat's commit index included) and read its page
//! again. A watch registers before it reads its first page, so an event applied in between is
//! not missed: the dispatcher's read sees what the watch's read saw or later, and a wake-up that
//! comes before the watch waits is kept (a [`Notify`] permit).
//!
//! Lock and election waits take a slot under the cap but still wake on every change of the
//! node's status: what they wait for (a lease expiring hands a lock on) is not always an event
//! of their key.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use raftorch_core::orchestrator::EventFilter;
use tokio::sync::Notify;

use super::error::ApiError;
use crate::runtime::{Consistency, NodeHandle};

/// Event keys the dispatcher reads per round; past it (or when the history was compacted
/// under it) every watch is woken to look for itself.
const KEYS_PER_ROUND: usize = 4096;
/// How long the dispatcher's read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// The node's long-poll waiters.
pub(super) struct Waiters {
    max: u64,
    node: NodeHandle,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Slots taken (watches and other waits).
    active: u64,
    next_id: u64,
    /// The watches to wake, by registration id.
    watches: HashMap<u64, (EventFilter, Arc<Notify>)>,
    /// Whether the dispatcher task runs.
    dispatching: bool,
}

/// A slot under the cap, given back on drop.
pub(super) struct Slot {
    waiters: Arc<Waiters>,
    /// The watch's registration, if it is one.
    watch: Option<u64>,
    wake: Arc<Notify>,
}

impl Slot {
    /// Waits until an event the watch's filter passes was applied, or the node stopped (a
    /// watch's slot only: other waits watch the node's status themselves). The caller bounds
    /// it with its deadline.
    pub(super) async fn woken(&self) {
        self.wake.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.waiters.lock();
        inner.active -= 1;
        if let Some(id) = self.watch {
            inner.watches.remove(&id);
        }
        self.waiters.publish(&inner);
    }
}

impl Waiters {
    /// At most `max` waiters at once (at least 1) on `node`.
    pub(super) fn new(node: NodeHandle, max: usize) -> Arc<Self> {
        Arc::new(Waiters {
            max: (max as u64).max(1),
            node,
            inner: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, inner: &Inner) {
        self.node
            .metrics
            .long_poll_waiters
            .store(inner.active, Relaxed);
    }

    /// A slot for a wait that is not a watch, or 503 `too_many_waiters` at the cap.
    pub(super) fn admit(self: &Arc<Self>) -> Result<Slot, ApiError> {
        self.take(None)
    }

    /// A slot for a watch of `filter`, registered for its wake-ups, or 503 at the cap.
    pub(super) fn watch(self: &Arc<Self>, filter: EventFilter) -> Result<Slot, ApiError> {
        self.take(Some(filter))
    }

    fn take(self: &Arc<Self>, filter: Option<EventFilter>) -> Result<Slot, ApiError> {
        let mut inner = self.lock();
        if inner.active >= self.max {
            crate::metrics::Metrics::inc(&self.node.metrics.long_poll_refused);
            return Err(ApiError::unavailable(
                "too_many_waiters",
                format!(
                    "this node already holds {} long-polls (--max-watchers); retry later or at another node",
                    self.max
                ),
            ));
        }
        inner.active += 1;
        let wake = Arc::new(Notify::new());
        let watch = filter.map(|filter| {
            inner.next_id += 1;
            let id = inner.next_id;
            inner.watches.insert(id, (filter, wake.clone()));
            id
        });
        if !inner.dispatching {
            inner.dispatching = true;
            tokio::spawn(dispatch(self.clone()));
        }
        self.publish(&inner);
        drop(inner);
        Ok(Slot {
            waiters: self.clone(),
            watch,
            wake,
        })
    }

    /// Wakes the watches that `keys` concern (all of them when `keys` is `None`).
    fn wake_watches(&self, keys: Option<&[String]>) {
        let inner = self.lock();
        for (filter, wake) in inner.watches.values() {
            if keys.is_none_or(|keys| keys.iter().any(|k| filter.matches(k))) {
                wake.notify_one();
                crate::metrics::Metrics::inc(&self.node.metrics.long_poll_wakeups);
            }
        }
    }
}

/// The dispatcher: on every change of the node's status, wakes the watches concerned by the
/// events applied since the last round.
async fn dispatch(waiters: Arc<Waiters>) {
    let node = waiters.node.clone();
    let mut status = node.watch_status();
    let mut seen = status.borrow_and_update().applied;
    loop {
        if status.changed().await.is_err() {
            waiters.wake_watches(None);
            return; // the node stopped
        }
        let applied = status.borrow_and_update().applied;
        if applied <= seen {
            continue;
        }
        let after = seen;
        let read = node
            .read(Consistency::Stale, READ_TIMEOUT, move |sm| {
                sm.events_after("", after, KEYS_PER_ROUND)
                    .ok()
                    .filter(|events| events.len() < KEYS_PER_ROUND)
                    .map(|events| events.into_iter().map(|e| e.key).collect::<Vec<_>>())
            })
            .await;
        match read {
            Ok((keys, index)) => {
                waiters.wake_watches(keys.as_deref());
                seen = index.max(seen);
            }
            Err(_) => {
                waiters.wake_watches(None);
                seen = applied;
            }
        }
    }
}
