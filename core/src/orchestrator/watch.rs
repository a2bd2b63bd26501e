//! The bounded history of changes that watchers read page by page with
//! [`super::Orchestrator::events_page`].
//!
//! Every event has a [`Cursor`]: the index of the entry that caused it and its position among
//! that entry's events. One entry can cause thousands of events (a lease expiry that deletes its
//! keys and releases its locks), so a page may end inside an entry, and a watcher that resumes
//! from the cursor of the last event it saw misses nothing and sees nothing twice.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::cursor::{Cursor, EventFilter};
use super::error::OrchestratorError;

/// How many events the history keeps; older ones are compacted away.
pub const WATCH_HISTORY: usize = 10_000;

/// How many bytes of written values the history keeps (for watches that ask for values); the
/// values of older puts are dropped first, while their events stay.
pub const WATCH_VALUE_BYTES: usize = 8 << 20;

/// A page stops adding events once it carries this many bytes of values (it always carries at
/// least one event).
pub const WATCH_PAGE_VALUE_BYTES: usize = 4 << 20;

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
    /// Its position among the events of entry `index`, from 0.
    pub pos: u32,
    /// What changed: `services/<svc>/<inst>`, `kv/<key>`, `deployments/<svc>`, `locks/<name>`,
    /// `elections/<name>` or `leases/<id>`.
    pub key: String,
    /// How it changed.
    pub kind: EventKind,
    /// The value a kv put wrote, when the history still holds it and the reader asked for it.
    pub value: Option<Vec<u8>>,
}

impl WatchEvent {
    /// Where it sits in the history.
    pub fn cursor(&self) -> Cursor {
        Cursor::new(self.index, self.pos)
    }
}

/// One answer to a watch: the events after a cursor, and where to resume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    /// Matching events, oldest first.
    pub events: Vec<WatchEvent>,
    /// Pass it as the next `after`: the last event's cursor when `more`, else the applied index
    /// (as a whole entry), so that a watcher that saw nothing still advances. Never before the
    /// `after` asked for.
    pub next: Cursor,
    /// The page was cut (by the event limit or the value bytes); more matching events follow
    /// `next` already.
    pub more: bool,
}

/// A ring of the last [`WATCH_HISTORY`] events, in cursor order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct WatchLog {
    events: VecDeque<WatchEvent>,
    /// The newest event dropped from the history (`0.0` when none was).
    // Invariant: every retained event's cursor is > compacted.
    compacted: Cursor,
    /// The newest event whose value was dropped (`0.0` when none was).
    // Invariant: no event at or before `values_dropped` holds a value; every put after it does.
    values_dropped: Cursor,
    /// Bytes of the values retained.
    // Invariant: the sum of the retained events' value lengths.
    value_bytes: usize,
    /// Position in `events` of the oldest event that may still hold a value.
    // Invariant: events[..value_front] hold no value.
    value_front: usize,
}

impl WatchLog {
    /// Appends an event, dropping the oldest when full.
    pub(crate) fn push(&mut self, index: u64, key: String, kind: EventKind) {
        self.push_event(index, key, kind, None);
    }

    /// Appends a kv put's event with the value it wrote, dropping the oldest values past
    /// [`WATCH_VALUE_BYTES`].
    pub(crate) fn push_put(&mut self, index: u64, key: String, kind: EventKind, value: Vec<u8>) {
        self.push_event(index, key, kind, Some(value));
    }

    fn push_event(&mut self, index: u64, key: String, kind: EventKind, value: Option<Vec<u8>>) {
        // Positions restart at every entry; an entry with u32::MAX events (far beyond any
        // history) would share its last position, the "whole entry" cursor.
        let pos = match self.events.back() {
            Some(last) if last.index == index => last.pos.saturating_add(1).min(u32::MAX - 1),
            _ => 0,
        };
        if self.events.len() >= WATCH_HISTORY {
            if let Some(old) = self.events.pop_front() {
                self.compacted = old.cursor();
                self.value_bytes -= old.value.as_ref().map_or(0, Vec::len);
                self.value_front = self.value_front.saturating_sub(1);
            }
        }
        self.value_bytes += value.as_ref().map_or(0, Vec::len);
        self.events.push_back(WatchEvent {
            index,
            pos,
            key,
            kind,
            value,
        });
        while self.value_bytes > WATCH_VALUE_BYTES {
            let Some(e) = self.events.get_mut(self.value_front) else {
                break;
            };
            if let Some(v) = e.value.take() {
                self.value_bytes -= v.len();
                self.values_dropped = e.cursor();
            }
            self.value_front += 1;
        }
    }

    /// Up to `limit` events after `after` that pass `filter`, oldest first, with their values
    /// when `values` (and at most about [`WATCH_PAGE_VALUE_BYTES`] of them); `applied` is the
    /// applied index, where a page that was not cut ends. [`OrchestratorError::Compacted`] when
    /// some events (or, with `values`, some values) after `after` were dropped.
    pub(crate) fn page(
        &self,
        filter: &EventFilter,
        after: Cursor,
        limit: usize,
        values: bool,
        applied: u64,
    ) -> Result<EventPage, OrchestratorError> {
        let floor = if values {
            self.compacted.max(self.values_dropped)
        } else {
            self.compacted
        };
        // The event at `floor` was dropped (or lost its value): only a watcher that had seen it
        // is sure to miss nothing.
        if after < floor {
            return Err(OrchestratorError::Compacted {
                oldest: floor.index,
            });
        }
        let start = self.events.partition_point(|e| e.cursor() <= after);
        let mut events = Vec::new();
        let mut bytes = 0;
        let mut more = false;
        for e in self
            .events
            .range(start..)
            .filter(|e| filter.matches(&e.key))
        {
            if events.len() >= limit || (bytes >= WATCH_PAGE_VALUE_BYTES && !events.is_empty()) {
                more = true;
                break;
            }
            let value = if values { e.value.clone() } else { None };
            bytes += value.as_ref().map_or(0, Vec::len);
            events.push(WatchEvent {
                index: e.index,
                pos: e.pos,
                key: e.key.clone(),
                kind: e.kind.clone(),
                value,
            });
        }
        let next = match events.last() {
            Some(last) if more => last.cursor(),
            _ if more => after,
            _ => after.max(Cursor::after_entry(applied)),
        };
        Ok(EventPage { events, next, more })
    }

    /// Up to `limit` events with index > `after_index` whose key starts with `prefix`, oldest
    /// first, without values.
    pub(crate) fn after(
        &self,
        prefix: &str,
        after_index: u64,
        limit: usize,
    ) -> Result<Vec<WatchEvent>, OrchestratorError> {
        let filter = EventFilter::Prefix(String::from(prefix));
        let page = self.page(&filter, Cursor::after_entry(after_index), limit, false, 0)?;
        Ok(page.events)
    }

    /// A history read from a snapshot taken before cursors (formats 1 to 3): `events` (index,
    /// key, kind) in index order, `compacted_through` the index of the newest dropped one. The
    /// leading events of an entry that was partly dropped are dropped too, so that every
    /// retained entry is whole and its positions are right; the old events have no values.
    pub(crate) fn from_indexed(
        events: impl IntoIterator<Item = (u64, String, EventKind)>,
        compacted_through: u64,
    ) -> Self {
        let mut log = WatchLog::default();
        if compacted_through > 0 {
            log.compacted = Cursor::after_entry(compacted_through);
        }
        for (index, key, kind) in events {
            if index > compacted_through {
                log.push(index, key, kind);
            }
        }
        let puts_before = log
            .events
            .iter()
            .rposition(|e| matches!(e.kind, EventKind::KvPut { .. }));
        if let Some(last_put) = puts_before {
            log.values_dropped = log.events[last_put].cursor();
            log.value_front = last_put + 1;
        }
        log
    }

    /// The history as formats 1 to 3 stored it (positions and values left out), for tests of
    /// their decoding.
    #[cfg(test)]
    pub(crate) fn to_indexed(&self) -> (Vec<(u64, String, EventKind)>, u64) {
        let events = self.events.iter();
        let events = events.map(|e| (e.index, e.key.clone(), e.kind.clone()));
        (events.collect(), self.compacted.index)
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
