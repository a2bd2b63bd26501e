//! Replication properties: dedup, watches, fencing over random workloads, snapshots.

use proptest::prelude::*;

use super::support::workload;
use super::*;
use alloc::collections::BTreeMap;
use alloc::format;

#[test]
fn dedup_applies_once() {
    let mut d = Driver::new();
    let put_once = Envelope::new(0, put("a", None, None)).with_request(9, 1);
    assert_eq!(
        d.envelope(&put_once),
        Ok(Response::KvPut {
            revision: 1,
            version: 1
        })
    );
    assert_eq!(
        d.envelope(&put_once),
        Ok(Response::KvPut {
            revision: 1,
            version: 1
        }),
        "cached answer"
    );
    assert_eq!(d.sm.kv_get("a").unwrap().version, 1, "not applied twice");
    let next = Envelope::new(0, put("a", None, None)).with_request(9, 2);
    assert_eq!(
        d.envelope(&next),
        Ok(Response::KvPut {
            revision: 3,
            version: 2
        })
    );
    assert!(matches!(
        d.envelope(&put_once),
        Err(OrchestratorError::StaleRequest { last_seq: 2, .. })
    ));
    // Errors are cached too: a retried CAS failure does not turn into a success.
    let cas = Envelope::new(0, put("b", None, Some(7))).with_request(10, 1);
    assert_eq!(
        d.envelope(&cas),
        Err(OrchestratorError::CasFailed {
            current_revision: 0
        })
    );
    d.at(0, put("b", None, None)).unwrap();
    assert_eq!(
        d.envelope(&cas),
        Err(OrchestratorError::CasFailed {
            current_revision: 0
        })
    );
}

#[test]
fn a_retry_is_answered_with_the_index_its_request_first_applied_at() {
    let mut d = Driver::new();
    let put_once = Envelope::new(0, put("a", None, None)).with_request(9, 1);
    d.envelope(&put_once).unwrap();
    assert_eq!(d.sm.applied_at(), None, "its own output");
    d.at(0, put("other", None, None)).unwrap();
    // The retry is a later entry, with a later stamp: same output, and the first index.
    let retry = Envelope::new(5, put("a", None, None)).with_request(9, 1);
    assert_eq!(
        d.envelope(&retry),
        Ok(Response::KvPut {
            revision: 1,
            version: 1
        })
    );
    assert_eq!(
        d.sm.applied_at(),
        Some(1),
        "the revision the answer carries"
    );
    d.at(0, put("b", None, None)).unwrap();
    assert_eq!(d.sm.applied_at(), None, "reset by the next entry");
    // A snapshot keeps where each client's last request applied.
    let mut restored = Orchestrator::new();
    restored.restore(&d.sm.snapshot()).unwrap();
    assert_eq!(restored, d.sm);
    let mut index = d.sm.applied_index();
    index += 1;
    assert!(restored.apply(index, &retry.encode()).is_ok());
    assert_eq!(restored.applied_at(), Some(1));
}

#[test]
fn a_request_id_reused_for_another_command_is_refused() {
    let mut d = Driver::new();
    d.envelope(&Envelope::new(0, put("a", None, None)).with_request(9, 1))
        .unwrap();
    let other = Envelope::new(0, put("b", None, None)).with_request(9, 1);
    assert_eq!(
        d.envelope(&other),
        Err(OrchestratorError::RequestIdReused {
            client_id: 9,
            seq: 1
        })
    );
    assert_eq!(d.sm.kv_get("b"), None, "not applied");
    assert_eq!(d.sm.applied_at(), None);
}

#[test]
fn a_format_6_snapshot_restores_without_origins() {
    let mut d = Driver::new();
    let put_once = Envelope::new(0, put("a", None, None)).with_request(9, 1);
    d.envelope(&put_once).unwrap();
    d.at(0, put("b", None, None)).unwrap();
    let mut old = d.sm.snapshot();
    // Format 6 is format 7 without the trailing origins: one client, index 1, some digest.
    let origins = postcard::to_allocvec(d.sm.dedup.origins()).unwrap();
    old.truncate(old.len() - origins.len());
    old[0] = 6;
    let mut restored = Orchestrator::new();
    restored.restore(&old).unwrap();
    assert!(restored.dedup.origins().is_empty());
    // A retry is still answered from the table, with the retry's own index as before, and no
    // command digest to compare.
    let next = d.sm.applied_index() + 1;
    let output = restored.apply(next, &put_once.encode());
    assert_eq!(
        output,
        Ok(Response::KvPut {
            revision: 1,
            version: 1
        })
    );
    assert_eq!(restored.applied_at(), None);
}

#[test]
fn watch_events_and_compaction() {
    let mut d = Driver::new();
    d.at(0, put("x", None, None)).unwrap();
    d.at(0, register("web", "a", "v1", 1, None)).unwrap();
    let all = d.sm.events_after("", 0, 10).unwrap();
    assert_eq!(
        all.iter()
            .map(|e| (e.index, e.key.as_str()))
            .collect::<Vec<_>>(),
        [(1, "kv/x"), (2, "services/web/a")]
    );
    assert_eq!(d.sm.events_after("kv/", 1, 10).unwrap(), []);
    for _ in 0..WATCH_HISTORY {
        d.at(0, put("y", None, None)).unwrap();
    }
    assert_eq!(
        d.sm.events_after("", 0, 1),
        Err(OrchestratorError::Compacted { oldest: 2 })
    );
    assert_eq!(d.sm.events_after("", 2, 1).unwrap()[0].index, 3);
}

/// Runs a workload and checks that every fencing token and election term ever granted is
/// strictly greater than the one before.
/// Also counts the events of each kind, to show the workload reaches every feature.
fn run_checking_fences(seed: u64, len: usize) -> (Driver, BTreeMap<String, usize>) {
    let mut d = Driver::new();
    let mut last_token = 0;
    let mut seen = BTreeMap::new();
    for bytes in workload(seed, len) {
        let before = d.index;
        let _ = d.raw(&bytes);
        for e in d.sm.events_after("", before, usize::MAX).unwrap() {
            let name = format!("{:?}", e.kind);
            let name = name.split([' ', '{']).next().unwrap_or_default();
            *seen.entry(String::from(name)).or_insert(0) += 1;
            let token = match e.kind {
                EventKind::LockGranted { fencing_token, .. } => fencing_token,
                EventKind::ElectionLeader { term, .. } => term,
                _ => continue,
            };
            assert!(
                token > last_token,
                "token {token} after {last_token} at index {}",
                e.index
            );
            last_token = token;
        }
    }
    (d, seen)
}

#[test]
fn replicas_given_the_same_entries_end_identical() {
    for seed in 0..4 {
        let ((a, seen), (b, _)) = (
            run_checking_fences(seed, 3_000),
            run_checking_fences(seed, 3_000),
        );
        assert_eq!(a.sm, b.sm);
        assert_eq!(a.sm.snapshot(), b.sm.snapshot());
        for kind in [
            "InstanceRegistered",
            "InstanceUnhealthy",
            "InstanceExpired",
            "DeploymentChanged",
            "KvPut",
            "KvDeleted",
            "LeaseExpired",
            "LeaseRevoked",
            "LockGranted",
            "LockReleased",
            "ElectionLeader",
            "ElectionResigned",
        ] {
            assert!(
                seen.contains_key(kind),
                "seed {seed}: the workload never caused {kind}: {seen:?}"
            );
        }
    }
}

#[test]
fn restore_refuses_bad_snapshots() {
    let mut sm = Orchestrator::new();
    assert!(sm.restore(&[]).is_err());
    assert!(sm.restore(&[SNAPSHOT_FORMAT + 1]).is_err());
    assert!(sm.restore(&[SNAPSHOT_FORMAT, 0xff, 0xff]).is_err());
    assert_eq!(sm, Orchestrator::new());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// A snapshot restores to an equal state, and the restored replica, fed the same following
    /// entries, stays equal to the original.
    #[test]
    fn snapshot_round_trip_and_catch_up(seed in any::<u64>(), split in 100usize..1_500) {
        let entries = workload(seed, 2_000);
        let mut original = Driver::new();
        for bytes in &entries[..split] {
            let _ = original.raw(bytes);
        }
        let mut restored = Driver { sm: Orchestrator::new(), index: original.index };
        restored.sm.restore(&original.sm.snapshot()).unwrap();
        prop_assert_eq!(&restored.sm, &original.sm);
        for bytes in &entries[split..] {
            prop_assert_eq!(original.raw(bytes), restored.raw(bytes));
        }
        prop_assert_eq!(&restored.sm, &original.sm);
    }
}

#[test]
fn restored_replica_remembers_applied_requests() {
    let mut d = Driver::new();
    let grant = Envelope::new(0, Command::GrantLease { ttl_ms: 1_000 }).with_request(3, 1);
    let first = d.envelope(&grant);
    let mut restored = Driver {
        sm: Orchestrator::new(),
        index: d.index,
    };
    restored.sm.restore(&d.sm.snapshot()).unwrap();
    assert_eq!(
        restored.envelope(&grant),
        first,
        "the retry is answered from the dedup table"
    );
    assert_eq!(restored.sm.lease(2), None, "and grants no second lease");
    assert_eq!(restored.sm.now_ms(), d.sm.now_ms());
}
