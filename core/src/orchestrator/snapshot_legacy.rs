//! Reading the state of snapshots taken before watch cursors (formats 1 to 3), whose watch
//! events had an index but no position and no value.

use alloc::collections::VecDeque;
use alloc::string::{String, ToString};

use serde::Deserialize;

use super::watch::{EventKind, WatchLog};
use super::{dedup, deployment, election, fenced, kv, lease, lock, registry, Orchestrator};

/// A watch event as formats 1 to 3 stored it.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct IndexedEvent {
    index: u64,
    key: String,
    kind: EventKind,
}

/// The watch history as formats 1 to 3 stored it.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct IndexedWatchLog {
    events: VecDeque<IndexedEvent>,
    compacted_through: u64,
}

/// [`Orchestrator`]'s derived fields as formats 1 to 3 stored them (the same order; only the
/// watch history differs).
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct StateBeforeCursors {
    applied_index: u64,
    now_ms: u64,
    registry: registry::Registry,
    deployments: deployment::Deployments,
    kv: kv::KvStore,
    leases: lease::Leases,
    locks: lock::Locks,
    elections: election::Elections,
    fence: fenced::Fence,
    watch: IndexedWatchLog,
    dedup: dedup::Dedup,
}

/// Decodes the state part of a format 1 to 3 snapshot; returns it and the bytes after it.
pub(crate) fn take_state(body: &[u8]) -> Result<(Orchestrator, &[u8]), String> {
    let (old, rest) =
        postcard::take_from_bytes::<StateBeforeCursors>(body).map_err(|e| e.to_string())?;
    let watch = WatchLog::from_indexed(
        old.watch
            .events
            .into_iter()
            .map(|e| (e.index, e.key, e.kind)),
        old.watch.compacted_through,
    );
    let state = Orchestrator {
        applied_index: old.applied_index,
        now_ms: old.now_ms,
        registry: old.registry,
        deployments: old.deployments,
        kv: old.kv,
        leases: old.leases,
        locks: old.locks,
        elections: old.elections,
        fence: old.fence,
        watch,
        dedup: old.dedup,
        // Trailing sections of the snapshot (members, clock epoch, ...) are read by the caller.
        ..Orchestrator::default()
    };
    Ok((state, rest))
}

/// `postcard(state)` as formats 1 to 3 wrote it, for tests of their decoding.
#[cfg(test)]
pub(crate) fn encode_state(sm: &Orchestrator) -> alloc::vec::Vec<u8> {
    let (events, compacted_through) = sm.watch.to_indexed();
    let events = events.into_iter();
    let events = events.map(|(index, key, kind)| IndexedEvent { index, key, kind });
    let old = StateBeforeCursors {
        applied_index: sm.applied_index,
        now_ms: sm.now_ms,
        registry: sm.registry.clone(),
        deployments: sm.deployments.clone(),
        kv: sm.kv.clone(),
        leases: sm.leases.clone(),
        locks: sm.locks.clone(),
        elections: sm.elections.clone(),
        fence: sm.fence,
        watch: IndexedWatchLog {
            events: events.collect(),
            compacted_through,
        },
        dedup: sm.dedup.clone(),
    };
    postcard::to_allocvec(&old).unwrap_or_default()
}
