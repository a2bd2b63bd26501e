//! Watch pages through `apply`: one entry with more events than a page, exact keys, values,
//! empty answers that advance, and histories restored from snapshots before cursors.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::support::Driver;
use super::{acquire, put};
use crate::orchestrator::{
    Command, Cursor, EventFilter, EventKind, EventPage, Orchestrator, OrchestratorError,
    WatchEvent, WATCH_VALUE_BYTES,
};
use crate::state_machine::StateMachine;

const KEYS: usize = 1_500;

fn every() -> EventFilter {
    EventFilter::Prefix(String::new())
}

/// Reads every page after `from` with pages of `limit`, checking each page's `next`.
fn read_all(
    sm: &Orchestrator,
    filter: &EventFilter,
    from: Cursor,
    limit: usize,
) -> Vec<WatchEvent> {
    let (mut after, mut all) = (from, Vec::new());
    loop {
        let EventPage { events, next, more } = sm.events_page(filter, after, limit, false).unwrap();
        assert!(events.len() <= limit);
        if more {
            assert_eq!(
                events.len(),
                limit,
                "only the limit cuts a page without values"
            );
            assert_eq!(Some(next), events.last().map(WatchEvent::cursor));
        } else {
            assert_eq!(next, Cursor::after_entry(sm.applied_index()));
        }
        assert!(
            next > after || (!more && next == after),
            "the cursor never goes back"
        );
        all.extend(events);
        after = next;
        if !more {
            return all;
        }
    }
}

/// A lease holding `KEYS` keys and `KEYS` locks, expired by one tick: returns the driver and the
/// index of that tick.
fn mass_expiry() -> (Driver, u64) {
    let mut d = Driver::new();
    d.at(0, Command::GrantLease { ttl_ms: 1_000 }).unwrap();
    for i in 0..KEYS {
        d.at(1, put(&format!("k/{i:04}"), Some(1), None)).unwrap();
        d.at(1, acquire(&format!("l{i:04}"), 1)).unwrap();
    }
    d.at(2_000, Command::Tick).unwrap();
    let expiry = d.index;
    assert!(d.sm.lease(1).is_none());
    (d, expiry)
}

#[test]
fn one_entry_with_more_events_than_a_page_is_read_whole_across_pages() {
    let (d, expiry) = mass_expiry();
    let from = Cursor::after_entry(expiry - 1);
    let whole = d.sm.events_page(&every(), from, usize::MAX, false).unwrap();
    assert!(!whole.more);
    // The lease's own event, then its keys deleted, then its locks released.
    assert_eq!(whole.events.len(), 1 + 2 * KEYS);
    for (i, e) in whole.events.iter().enumerate() {
        assert_eq!(
            (e.index, e.pos),
            (expiry, i as u32),
            "positions count the entry's events"
        );
    }
    assert_eq!(whole.events[0].kind, EventKind::LeaseExpired);
    assert_eq!(whole.events[KEYS].kind, EventKind::KvDeleted);
    assert_eq!(
        whole.events[KEYS + 1].kind,
        EventKind::LockReleased { lease_id: 1 }
    );
    for limit in [1_000, 7, 1] {
        let paged = read_all(&d.sm, &every(), from, limit);
        assert_eq!(
            paged, whole.events,
            "pages of {limit} lose or repeat nothing"
        );
    }
    // Only the locks, in pages of 1000: the second page starts inside the entry.
    let locks = EventFilter::Prefix("locks/".into());
    let first = d.sm.events_page(&locks, from, 1_000, false).unwrap();
    assert!(first.more);
    assert_eq!(first.next, Cursor::new(expiry, 1_000 + KEYS as u32));
    let second = d.sm.events_page(&locks, first.next, 1_000, false).unwrap();
    assert_eq!((second.events.len(), second.more), (KEYS - 1_000, false));
    assert_eq!(
        second.events[0].cursor(),
        Cursor::new(expiry, 1_001 + KEYS as u32)
    );
    // The old index-only cursor would have skipped the rest of the entry.
    let by_index =
        d.sm.events_page(&locks, Cursor::after_entry(expiry), 1_000, false);
    assert!(by_index.unwrap().events.is_empty());
}

#[test]
fn exact_key_matches_only_that_key() {
    let mut d = Driver::new();
    for key in ["locks/db", "locks/db2", "locks/d", "locks/db/x", "locks/db"] {
        d.at(0, put(key, None, None)).unwrap();
    }
    let exact = EventFilter::Exact("kv/locks/db".into());
    let page =
        d.sm.events_page(&exact, Cursor::default(), 100, false)
            .unwrap();
    let got: Vec<_> = page
        .events
        .iter()
        .map(|e| (e.index, e.key.as_str()))
        .collect();
    assert_eq!(got, [(1, "kv/locks/db"), (5, "kv/locks/db")]);
    let prefix = EventFilter::Prefix("kv/locks/db".into());
    let page =
        d.sm.events_page(&prefix, Cursor::default(), 100, false)
            .unwrap();
    assert_eq!(page.events.len(), 4);
}

#[test]
fn empty_answers_advance_and_never_go_back() {
    let mut d = Driver::new();
    d.at(0, put("a", None, None)).unwrap();
    for _ in 0..5 {
        d.at(0, Command::Tick).unwrap();
    }
    let services = EventFilter::Prefix("services/".into());
    let page =
        d.sm.events_page(&services, Cursor::default(), 10, false)
            .unwrap();
    assert_eq!((page.events.len(), page.more), (0, false));
    assert_eq!(page.next, Cursor::after_entry(6));
    // A watcher ahead of this replica (resuming on a lagging node) keeps its cursor.
    let ahead = Cursor::new(9, 2);
    let page = d.sm.events_page(&services, ahead, 10, false).unwrap();
    assert_eq!(page.next, ahead);
}

#[test]
fn values_come_when_asked_and_only_while_kept() {
    let mut d = Driver::new();
    let big = |b: u8| Command::Put {
        key: "big".into(),
        value: alloc::vec![b; 1 << 20],
        lease: None,
        expected_revision: None,
    };
    d.at(0, put("small", None, None)).unwrap();
    let page =
        d.sm.events_page(&every(), Cursor::default(), 10, true)
            .unwrap();
    assert_eq!(page.events[0].value.as_deref(), Some(&b"v"[..]));
    let page =
        d.sm.events_page(&every(), Cursor::default(), 10, false)
            .unwrap();
    assert_eq!(page.events[0].value, None);
    // Past the history's value budget the oldest values go, the events stay.
    let puts = WATCH_VALUE_BYTES / (1 << 20) + 2;
    for i in 0..puts {
        d.at(0, big(i as u8)).unwrap();
    }
    let without =
        d.sm.events_page(&every(), Cursor::default(), 100, false)
            .unwrap();
    assert_eq!(without.events.len(), 1 + puts);
    assert!(matches!(
        d.sm.events_page(&every(), Cursor::default(), 100, true),
        Err(OrchestratorError::Compacted { oldest: 3 })
    ));
    // From the compaction point on, every put has its value; a page stops at about 4 MiB.
    let mut after = Cursor::after_entry(3);
    let mut seen = Vec::new();
    loop {
        let page = d.sm.events_page(&every(), after, 100, true).unwrap();
        let bytes: usize = page
            .events
            .iter()
            .map(|e| e.value.as_ref().unwrap().len())
            .sum();
        assert!(bytes <= crate::orchestrator::WATCH_PAGE_VALUE_BYTES + (1 << 20));
        seen.extend(
            page.events
                .iter()
                .map(|e| (e.index, e.value.as_ref().unwrap()[0])),
        );
        after = page.next;
        if !page.more {
            break;
        }
    }
    let want: Vec<_> = (4..=puts as u64 + 1).map(|i| (i, (i - 2) as u8)).collect();
    assert_eq!(seen, want);
}

#[test]
fn a_snapshot_keeps_cursors_and_values() {
    let (d, expiry) = mass_expiry();
    let mut restored = Orchestrator::new();
    restored.restore(&d.sm.snapshot()).unwrap();
    assert_eq!(restored, d.sm);
    let from = Cursor::new(expiry, 10);
    assert_eq!(
        restored.events_page(&every(), from, 100, true),
        d.sm.events_page(&every(), from, 100, true)
    );
}

#[test]
fn a_format_3_history_restores_whole_entries_with_positions() {
    let (mut d, expiry) = mass_expiry();
    // Fill the history until it has dropped the expiry entry's first 100 events.
    while d
        .sm
        .events_page(&every(), Cursor::new(expiry, 98), 1, false)
        .is_ok()
    {
        d.at(2_000, put("fill", None, None)).unwrap();
    }
    let mut v3 = Vec::from([3u8]);
    v3.extend(crate::orchestrator::snapshot_legacy::encode_state(&d.sm));
    v3.extend(postcard::to_allocvec(&d.sm.members).unwrap());
    v3.extend(postcard::to_allocvec(&d.sm.clock_epoch).unwrap());
    let mut restored = Orchestrator::new();
    restored.restore(&v3).unwrap();
    // The partly dropped entry is dropped whole, so no cursor inside it is served...
    assert_eq!(
        restored.events_page(&every(), Cursor::new(expiry, 100), 1, false),
        Err(OrchestratorError::Compacted { oldest: expiry })
    );
    // ... and what follows has the positions the live replica gave it.
    let after_expiry = Cursor::after_entry(expiry);
    let rest = restored.events_page(&every(), after_expiry, usize::MAX, false);
    let live = d.sm.events_page(&every(), after_expiry, usize::MAX, false);
    assert_eq!(rest, live);
    let keys: BTreeSet<_> = rest.unwrap().events.into_iter().map(|e| e.key).collect();
    assert_eq!(keys.into_iter().collect::<Vec<_>>(), ["kv/fill"]);
    // The old puts have no values: a watch with values must resync, one without need not.
    assert!(matches!(
        restored.events_page(&every(), after_expiry, 1, true),
        Err(OrchestratorError::Compacted { .. })
    ));
    assert!(d.sm.events_page(&every(), after_expiry, 1, true).is_ok());
}
