//! Whole-state-machine tests: every command through `apply`, expiry, determinism, dedup,
//! fencing and snapshots.

use alloc::string::String;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::test_support::{register, workload, Driver};
use super::validate::{Field, Rule, ValidationError};
use super::*;
use crate::state_machine::StateMachine;

fn put(key: &str, lease: Option<u64>, expected_revision: Option<u64>) -> Command {
    Command::Put {
        key: key.into(),
        value: Vec::from(*b"v"),
        lease,
        expected_revision,
    }
}

fn acquire(name: &str, lease_id: u64) -> Command {
    Command::AcquireLock {
        name: name.into(),
        lease_id,
    }
}

fn kinds(sm: &Orchestrator, prefix: &str, after: u64) -> Vec<EventKind> {
    sm.events_after(prefix, after, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Applies `command` and checks it was refused with `expected` and changed nothing but the
/// applied index.
fn refused(d: &mut Driver, command: Command, expected: OrchestratorError) {
    let before = d.sm.clone();
    let now = d.sm.now_ms;
    assert_eq!(d.at(now, command), Err(expected));
    let mut after = d.sm.clone();
    after.applied_index = before.applied_index;
    assert_eq!(after, before, "a refused command changed the state");
}

fn invalid(field: Field, rule: Rule) -> OrchestratorError {
    OrchestratorError::Invalid(ValidationError { field, rule })
}

#[test]
fn registry_commands() {
    let mut d = Driver::new();
    assert_eq!(
        d.at(0, register("web", "a", "v1", 10, Some(100))),
        Ok(Response::Registered {
            index: 1,
            created: true
        })
    );
    assert_eq!(
        d.at(0, register("web", "a", "v1", 20, Some(100))),
        Ok(Response::Registered {
            index: 2,
            created: false
        })
    );
    assert_eq!(d.sm.instance("web", "a").unwrap().weight, 20);
    d.at(0, register("api", "b", "v1", 1, None)).unwrap();
    assert_eq!(d.sm.services(), ["api", "web"]);
    assert_eq!(
        d.at(
            50,
            Command::Heartbeat {
                service: "web".into(),
                instance_id: "a".into()
            }
        ),
        Ok(Response::HeartbeatAccepted {
            deadline_ms: Some(150)
        })
    );
    assert_eq!(
        d.at(
            60,
            Command::Deregister {
                service: "web".into(),
                instance_id: "a".into()
            }
        ),
        Ok(Response::Deregistered)
    );
    assert_eq!(d.sm.services(), ["api"]);
    let gone = OrchestratorError::InstanceNotFound {
        service: "web".into(),
        instance_id: "a".into(),
    };
    refused(
        &mut d,
        Command::Deregister {
            service: "web".into(),
            instance_id: "a".into(),
        },
        gone.clone(),
    );
    refused(
        &mut d,
        Command::Heartbeat {
            service: "web".into(),
            instance_id: "a".into(),
        },
        gone,
    );
    assert_eq!(
        kinds(&d.sm, "services/web/", 0),
        [
            EventKind::InstanceRegistered,
            EventKind::InstanceUpdated,
            EventKind::InstanceDeregistered
        ]
    );
}

#[test]
fn registry_validation() {
    let mut d = Driver::new();
    let cases = [
        (
            register(".web", "a", "v1", 1, None),
            invalid(Field::Service, Rule::LeadingDot),
        ),
        (
            register("web", "a/b", "v1", 1, None),
            invalid(Field::InstanceId, Rule::BadChar),
        ),
        (
            register("web", "a", "", 1, None),
            invalid(Field::Version, Rule::Empty),
        ),
        (
            register("web", "a", "v1", 1001, None),
            invalid(Field::Weight, Rule::OutOfRange { min: 0, max: 1000 }),
        ),
        (
            register("web", "a", "v1", 1, Some(0)),
            invalid(
                Field::TtlMs,
                Rule::OutOfRange {
                    min: 1,
                    max: validate::MAX_TTL_MS,
                },
            ),
        ),
    ];
    for (command, error) in cases {
        refused(&mut d, command, error);
    }
    let mut bad_port = register("web", "a", "v1", 1, None);
    if let Command::Register { port, .. } = &mut bad_port {
        *port = 0;
    }
    refused(
        &mut d,
        bad_port,
        invalid(Field::Port, Rule::OutOfRange { min: 1, max: 65535 }),
    );
    let mut bad_tags = register("web", "a", "v1", 1, None);
    if let Command::Register { tags, .. } = &mut bad_tags {
        *tags = (0..33).map(|_| String::from("t")).collect();
    }
    refused(
        &mut d,
        bad_tags,
        invalid(Field::Tags, Rule::TooLong { max: 32 }),
    );
    refused(
        &mut d,
        Command::Heartbeat {
            service: "web".into(),
            instance_id: "".into(),
        },
        invalid(Field::InstanceId, Rule::Empty),
    );
}

#[test]
fn instance_ttl_expiry() {
    let mut d = Driver::new();
    d.at(0, register("web", "a", "v1", 1, Some(100))).unwrap();
    d.at(0, register("web", "b", "v1", 1, None)).unwrap();
    d.at(100, Command::Tick).unwrap();
    assert_eq!(d.sm.instances("web", true).len(), 2);
    d.at(101, Command::Tick).unwrap();
    assert_eq!(d.sm.instances("web", true).len(), 1);
    assert_eq!(d.sm.instances("web", false).len(), 2);
    d.at(100 + UNHEALTHY_GRACE_TTLS * 100 + 1, Command::Tick)
        .unwrap();
    assert_eq!(d.sm.instances("web", false).len(), 1);
    assert_eq!(
        kinds(&d.sm, "services/web/a", 0),
        [
            EventKind::InstanceRegistered,
            EventKind::InstanceUnhealthy,
            EventKind::InstanceExpired
        ]
    );
}

#[test]
fn clock_never_goes_backwards() {
    let mut d = Driver::new();
    d.at(1_000, Command::Tick).unwrap();
    d.at(500, Command::Tick).unwrap();
    assert_eq!(d.sm.now_ms(), 1_000);
    assert_eq!(d.sm.applied_index(), 2);
    assert_eq!(
        d.at(500, Command::GrantLease { ttl_ms: 10 }),
        Ok(Response::LeaseGranted {
            lease_id: 3,
            ttl_ms: 10,
            deadline_ms: 1_010
        })
    );
}

#[test]
fn leader_change_refreshes_deadlines() {
    let mut d = Driver::new();
    d.at(0, register("web", "a", "v1", 1, Some(100))).unwrap();
    d.at(0, Command::GrantLease { ttl_ms: 100 }).unwrap();
    // The new leader's clock is far ahead, but its first entry refreshes everything.
    assert_eq!(
        d.at(90, Command::LeaderChanged),
        Ok(Response::LeasesRefreshed)
    );
    d.envelope(&Envelope::new(150, Command::Tick)).unwrap();
    assert!(d.sm.lease(2).is_some());
    assert!(d.sm.instance("web", "a").unwrap().healthy);
    d.at(191, Command::Tick).unwrap();
    assert!(d.sm.lease(2).is_none());
    assert!(!d.sm.instance("web", "a").unwrap().healthy);
}

#[test]
fn undecodable_and_stale_entries_change_nothing() {
    let mut d = Driver::new();
    d.at(5, Command::Tick).unwrap();
    let before = d.sm.clone();
    assert!(matches!(
        d.raw(&[1, 2, 3, 4, 5, 6]),
        Err(OrchestratorError::Decode { .. })
    ));
    assert_eq!(d.sm.applied_index(), 2);
    let mut after = d.sm.clone();
    after.applied_index = 1;
    assert_eq!(after, before);
    let tick = Envelope::new(9, Command::Tick).encode();
    assert_eq!(
        d.sm.apply(2, &tick),
        Err(OrchestratorError::StaleIndex { applied: 2, got: 2 })
    );
    assert_eq!(d.sm.now_ms(), 5);
}

#[test]
fn deployment_commands() {
    let mut d = Driver::new();
    let start = |steps: &[u8]| Command::StartDeployment {
        service: "web".into(),
        stable_version: "v1".into(),
        canary_version: "v2".into(),
        steps: steps.to_vec(),
    };
    refused(&mut d, start(&[]), invalid(Field::Steps, Rule::Empty));
    refused(
        &mut d,
        Command::Advance {
            service: "web".into(),
        },
        OrchestratorError::NoDeployment {
            service: "web".into(),
        },
    );
    let progressing = |step| DeploymentState::Progressing { step };
    assert_eq!(
        d.at(0, start(&[10, 50])),
        Ok(Response::Deployment {
            state: progressing(0),
            canary_percent: 10
        })
    );
    refused(
        &mut d,
        start(&[20]),
        OrchestratorError::InvalidTransition {
            service: "web".into(),
            action: DeploymentAction::Start,
            state: progressing(0),
        },
    );
    d.at(
        0,
        Command::Pause {
            service: "web".into(),
        },
    )
    .unwrap();
    refused(
        &mut d,
        Command::Advance {
            service: "web".into(),
        },
        OrchestratorError::InvalidTransition {
            service: "web".into(),
            action: DeploymentAction::Advance,
            state: DeploymentState::Paused { step: 0 },
        },
    );
    d.at(
        0,
        Command::Resume {
            service: "web".into(),
        },
    )
    .unwrap();
    assert_eq!(
        d.at(
            0,
            Command::Advance {
                service: "web".into()
            }
        ),
        Ok(Response::Deployment {
            state: progressing(1),
            canary_percent: 50
        })
    );
    assert_eq!(
        d.sm.deployment("web").unwrap().percent_changed_index,
        d.index
    );
    assert_eq!(
        d.at(
            0,
            Command::Rollback {
                service: "web".into()
            }
        ),
        Ok(Response::Deployment {
            state: DeploymentState::RolledBack,
            canary_percent: 0
        })
    );
    d.at(0, start(&[100])).unwrap();
    assert_eq!(
        d.at(
            0,
            Command::Promote {
                service: "web".into()
            }
        ),
        Ok(Response::Deployment {
            state: DeploymentState::Promoted,
            canary_percent: 100
        })
    );
    assert_eq!(kinds(&d.sm, "deployments/web", 0).len(), 7);
}

#[test]
fn kv_commands() {
    let mut d = Driver::new();
    assert_eq!(
        d.at(0, put("a/1", None, Some(0))),
        Ok(Response::KvPut {
            revision: 1,
            version: 1
        })
    );
    refused(
        &mut d,
        put("a/1", None, Some(0)),
        OrchestratorError::CasFailed {
            current_revision: 1,
        },
    );
    assert_eq!(
        d.at(0, put("a/1", None, Some(1))),
        Ok(Response::KvPut {
            revision: 3,
            version: 2
        })
    );
    assert_eq!(
        d.at(0, put("a/2", None, None)),
        Ok(Response::KvPut {
            revision: 4,
            version: 1
        })
    );
    assert_eq!(d.sm.kv_range("a/").len(), 2);
    refused(
        &mut d,
        Command::Delete {
            key: "a/1".into(),
            expected_revision: Some(1),
        },
        OrchestratorError::CasFailed {
            current_revision: 3,
        },
    );
    assert_eq!(
        d.at(
            0,
            Command::Delete {
                key: "a/1".into(),
                expected_revision: Some(3)
            }
        ),
        Ok(Response::KvDeleted { deleted: true })
    );
    assert_eq!(
        d.at(
            0,
            Command::Delete {
                key: "a/1".into(),
                expected_revision: None
            }
        ),
        Ok(Response::KvDeleted { deleted: false })
    );
    assert!(d.sm.kv_get("a/1").is_none());
    refused(
        &mut d,
        put("has space", None, None),
        invalid(Field::Key, Rule::BadChar),
    );
    refused(
        &mut d,
        Command::Put {
            key: "big".into(),
            value: alloc::vec![0; validate::MAX_VALUE_LEN + 1],
            lease: None,
            expected_revision: None,
        },
        invalid(
            Field::Value,
            Rule::TooLong {
                max: validate::MAX_VALUE_LEN as u64,
            },
        ),
    );
    refused(
        &mut d,
        put("a", Some(42), None),
        OrchestratorError::LeaseNotFound { lease_id: 42 },
    );
    refused(
        &mut d,
        Command::Delete {
            key: "".into(),
            expected_revision: None,
        },
        invalid(Field::Key, Rule::Empty),
    );
}

#[test]
fn lease_commands_and_attached_keys() {
    let mut d = Driver::new();
    refused(
        &mut d,
        Command::GrantLease { ttl_ms: 0 },
        invalid(
            Field::TtlMs,
            Rule::OutOfRange {
                min: 1,
                max: validate::MAX_TTL_MS,
            },
        ),
    );
    let lease = 2;
    assert_eq!(
        d.at(0, Command::GrantLease { ttl_ms: 100 }),
        Ok(Response::LeaseGranted {
            lease_id: lease,
            ttl_ms: 100,
            deadline_ms: 100
        })
    );
    d.at(0, put("a", Some(lease), None)).unwrap();
    d.at(0, put("b", Some(lease), None)).unwrap();
    assert_eq!(
        d.at(80, Command::KeepAlive { lease_id: lease }),
        Ok(Response::LeaseKeptAlive {
            lease_id: lease,
            deadline_ms: 180
        })
    );
    d.at(180, Command::Tick).unwrap();
    assert!(d.sm.kv_get("a").is_some());
    d.at(181, Command::Tick).unwrap();
    assert!(d.sm.kv_get("a").is_none() && d.sm.kv_get("b").is_none());
    refused(
        &mut d,
        Command::KeepAlive { lease_id: lease },
        OrchestratorError::LeaseNotFound { lease_id: lease },
    );
    let lease = d.index + 1;
    d.at(200, Command::GrantLease { ttl_ms: 100 }).unwrap();
    d.at(200, put("c", Some(lease), None)).unwrap();
    assert_eq!(
        d.at(200, Command::RevokeLease { lease_id: lease }),
        Ok(Response::LeaseRevoked {
            lease_id: lease,
            keys_deleted: 1
        })
    );
    refused(
        &mut d,
        Command::RevokeLease { lease_id: lease },
        OrchestratorError::LeaseNotFound { lease_id: lease },
    );
    assert_eq!(
        kinds(&d.sm, "leases/", 0),
        [
            EventKind::LeaseGranted,
            EventKind::LeaseExpired,
            EventKind::LeaseGranted,
            EventKind::LeaseRevoked
        ]
    );
}

#[test]
fn lock_commands() {
    let mut d = Driver::new();
    d.at(0, Command::GrantLease { ttl_ms: 1_000 }).unwrap(); // lease 1
    d.at(0, Command::GrantLease { ttl_ms: 1_000 }).unwrap(); // lease 2
    refused(
        &mut d,
        acquire("db", 9),
        OrchestratorError::LeaseNotFound { lease_id: 9 },
    );
    refused(
        &mut d,
        acquire(".db", 1),
        invalid(Field::LockName, Rule::LeadingDot),
    );
    assert_eq!(
        d.at(0, acquire("db", 1)),
        Ok(Response::LockAcquired { fencing_token: 5 })
    );
    assert_eq!(
        d.at(0, acquire("db", 1)),
        Ok(Response::LockAcquired { fencing_token: 5 }),
        "idempotent"
    );
    assert_eq!(
        d.at(0, acquire("db", 2)),
        Ok(Response::LockQueued { position: 1 })
    );
    assert_eq!(d.sm.lock_waiters("db"), [2]);
    refused(
        &mut d,
        Command::ReleaseLock {
            name: "db".into(),
            lease_id: 9,
        },
        OrchestratorError::NotLockHolder {
            name: "db".into(),
            lease_id: 9,
        },
    );
    let next = LockHolder {
        lease_id: 2,
        fencing_token: 9,
        since_index: 9,
    };
    assert_eq!(
        d.at(
            0,
            Command::ReleaseLock {
                name: "db".into(),
                lease_id: 1
            }
        ),
        Ok(Response::LockReleased {
            next_holder: Some(next)
        })
    );
    assert_eq!(d.sm.lock_holder("db"), Some(next));
}

/// The Jepsen etcd bug: a waiter whose lease died while it waited must not be granted the lock.
#[test]
fn lease_expiry_passes_lock_to_next_live_waiter() {
    let mut d = Driver::new();
    d.at(0, Command::GrantLease { ttl_ms: 100 }).unwrap(); // 1: holder
    d.at(0, Command::GrantLease { ttl_ms: 100 }).unwrap(); // 2: dies with the holder
    d.at(0, Command::GrantLease { ttl_ms: 1_000 }).unwrap(); // 3: survives
    d.at(0, acquire("db", 1)).unwrap();
    d.at(0, acquire("db", 2)).unwrap();
    d.at(0, acquire("db", 3)).unwrap();
    d.at(
        0,
        Command::Campaign {
            election: "boss".into(),
            candidate: "x".into(),
            lease_id: 1,
        },
    )
    .unwrap();
    d.at(
        0,
        Command::Campaign {
            election: "boss".into(),
            candidate: "y".into(),
            lease_id: 3,
        },
    )
    .unwrap();
    d.at(101, Command::Tick).unwrap();
    let holder = d.sm.lock_holder("db").unwrap();
    assert_eq!((holder.lease_id, holder.fencing_token), (3, 9));
    assert!(d.sm.lock_waiters("db").is_empty());
    let leader = d.sm.election_leader("boss").unwrap();
    assert_eq!(
        (leader.candidate.as_str(), leader.term),
        ("y", 10),
        "tokens stay unique within one entry"
    );
}

#[test]
fn election_commands() {
    let mut d = Driver::new();
    d.at(0, Command::GrantLease { ttl_ms: 1_000 }).unwrap(); // 1
    d.at(0, Command::GrantLease { ttl_ms: 1_000 }).unwrap(); // 2
    let campaign = |c: &str, lease_id| Command::Campaign {
        election: "sched".into(),
        candidate: c.into(),
        lease_id,
    };
    refused(
        &mut d,
        campaign("a", 7),
        OrchestratorError::LeaseNotFound { lease_id: 7 },
    );
    refused(
        &mut d,
        campaign("a b", 1),
        invalid(Field::Candidate, Rule::BadChar),
    );
    assert_eq!(d.at(0, campaign("a", 1)), Ok(Response::Elected { term: 5 }));
    assert_eq!(d.at(0, campaign("a", 1)), Ok(Response::Elected { term: 5 }));
    refused(
        &mut d,
        campaign("a", 2),
        OrchestratorError::CandidateLeaseMismatch {
            election: "sched".into(),
            candidate: "a".into(),
            lease_id: 1,
        },
    );
    assert_eq!(
        d.at(0, campaign("b", 2)),
        Ok(Response::CampaignQueued { position: 1 })
    );
    assert_eq!(d.sm.election_candidates("sched"), ["b"]);
    let resign = |c: &str| Command::Resign {
        election: "sched".into(),
        candidate: c.into(),
    };
    refused(
        &mut d,
        resign("z"),
        OrchestratorError::NotCandidate {
            election: "sched".into(),
            candidate: "z".into(),
        },
    );
    let Ok(Response::Resigned {
        next_leader: Some(l),
    }) = d.at(0, resign("a"))
    else {
        panic!("b should lead")
    };
    assert_eq!((l.candidate.as_str(), l.term, l.since_index), ("b", 10, 10));
    assert_eq!(d.sm.election_leader("sched"), Some(l));
    assert_eq!(
        d.at(0, resign("b")),
        Ok(Response::Resigned { next_leader: None })
    );
    assert!(d.sm.election_leader("sched").is_none());
}

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
fn run_checking_fences(seed: u64, len: usize) -> Driver {
    let mut d = Driver::new();
    let mut last_token = 0;
    for bytes in workload(seed, len) {
        let before = d.index;
        let _ = d.raw(&bytes);
        for e in d.sm.events_after("", before, usize::MAX).unwrap() {
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
    d
}

#[test]
fn replicas_given_the_same_entries_end_identical() {
    for seed in 0..4 {
        let (a, b) = (
            run_checking_fences(seed, 3_000),
            run_checking_fences(seed, 3_000),
        );
        assert_eq!(a.sm, b.sm);
        assert_eq!(a.sm.snapshot(), b.sm.snapshot());
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
