//! Fenced writes, transactions, try-locks, election values and transfers through `apply`.

use alloc::boxed::Box;
use alloc::vec;

use super::*;

fn lease(d: &mut Driver) -> u64 {
    match d.at(0, Command::GrantLease { ttl_ms: 10_000 }) {
        Ok(Response::LeaseGranted { lease_id, .. }) => lease_id,
        other => panic!("{other:?}"),
    }
}

fn campaign(election: &str, candidate: &str, lease_id: u64) -> Command {
    Command::Campaign {
        election: election.into(),
        candidate: candidate.into(),
        lease_id,
    }
}

fn fenced(fence: &str, command: Command) -> Command {
    Command::Fenced {
        fence: fence.parse().unwrap(),
        command: Box::new(command),
    }
}

fn value(d: &Driver, key: &str) -> Option<Vec<u8>> {
    d.sm.kv_get(key).map(|kv| kv.value.clone())
}

#[test]
fn election_fence_refuses_a_deposed_leaders_write() {
    let mut d = Driver::new();
    let (a, b) = (lease(&mut d), lease(&mut d));
    let Ok(Response::Elected { term }) = d.at(0, campaign("sched", "a", a)) else {
        panic!()
    };
    d.at(0, campaign("sched", "b", b)).unwrap();
    let fence = alloc::format!("election:sched:{term}");
    assert!(matches!(
        d.at(0, fenced(&fence, put("k", None, None))),
        Ok(Response::KvPut { .. })
    ));
    let resign = Command::Resign {
        election: "sched".into(),
        candidate: "a".into(),
    };
    d.at(0, resign).unwrap();
    let new_term = d.sm.election_leader("sched").unwrap().term;
    assert!(new_term > term);
    refused(
        &mut d,
        fenced(&fence, put("k", None, None)),
        OrchestratorError::FencedOut {
            fence: fence.clone(),
            current: Some(new_term),
        },
    );
    refused(
        &mut d,
        fenced(&fence, Command::Txn(Txn::default())),
        OrchestratorError::FencedOut {
            fence: fence.clone(),
            current: Some(new_term),
        },
    );
    refused(
        &mut d,
        fenced("election:nobody:1", put("k", None, None)),
        OrchestratorError::FencedOut {
            fence: "election:nobody:1".into(),
            current: None,
        },
    );
}

#[test]
fn lock_fence_follows_the_holder() {
    let mut d = Driver::new();
    let (a, b) = (lease(&mut d), lease(&mut d));
    let Ok(Response::LockAcquired { fencing_token }) = d.at(0, acquire("db", a)) else {
        panic!()
    };
    d.at(0, acquire("db", b)).unwrap();
    let fence = alloc::format!("lock:db:{fencing_token}");
    d.at(0, fenced(&fence, put("k", None, None))).unwrap();
    assert!(matches!(
        d.at(
            0,
            fenced(
                &fence,
                Command::Delete {
                    key: "k".into(),
                    expected_revision: None
                }
            )
        ),
        Ok(Response::KvDeleted { deleted: true })
    ));
    d.at(0, Command::RevokeLease { lease_id: a }).unwrap();
    let now = d.sm.lock_holder("db").unwrap();
    assert_eq!(now.lease_id, b);
    refused(
        &mut d,
        fenced(&fence, put("k", None, None)),
        OrchestratorError::FencedOut {
            fence,
            current: Some(now.fencing_token),
        },
    );
    assert_eq!(value(&d, "k"), None);
}

#[test]
fn only_writes_can_be_fenced() {
    let mut d = Driver::new();
    let a = lease(&mut d);
    d.at(0, acquire("db", a)).unwrap();
    refused(
        &mut d,
        fenced("lock:db:2", Command::GrantLease { ttl_ms: 10 }),
        invalid(Field::Fence, Rule::NotFenceable),
    );
    refused(
        &mut d,
        fenced("lock:db:2", fenced("lock:db:2", put("k", None, None))),
        invalid(Field::Fence, Rule::NotFenceable),
    );
}

fn cmp(key: &str, op: CompareOp, target: CompareTarget) -> Compare {
    Compare {
        key: key.into(),
        op,
        target,
    }
}

fn tput(key: &str, v: &str) -> TxnOp {
    TxnOp::Put {
        key: key.into(),
        value: v.as_bytes().to_vec(),
        lease: None,
    }
}

#[test]
fn txn_runs_one_branch_in_one_entry() {
    let mut d = Driver::new();
    d.at(0, put("a", None, None)).unwrap(); // index 1, value "v"
    let txn = |expect: &str| Txn {
        compare: vec![
            cmp(
                "a",
                CompareOp::Equal,
                CompareTarget::Value(expect.as_bytes().to_vec()),
            ),
            cmp("a", CompareOp::Equal, CompareTarget::Revision(1)),
            cmp("b", CompareOp::Equal, CompareTarget::Exists(false)),
        ],
        success: vec![
            tput("a", "new"),
            tput("b", "made"),
            TxnOp::Get { key: "a".into() },
        ],
        failure: vec![
            TxnOp::Delete { key: "a".into() },
            TxnOp::Get { key: "a".into() },
        ],
    };
    let out = d.at(0, Command::Txn(txn("v"))).unwrap();
    assert_eq!(
        out,
        Response::Txn {
            succeeded: true,
            results: vec![
                TxnResult::Put {
                    revision: 2,
                    version: 2
                },
                TxnResult::Put {
                    revision: 2,
                    version: 1
                },
                TxnResult::Get {
                    key: "a".into(),
                    value: Some(b"new".to_vec()),
                    mod_revision: 2,
                    version: 2
                },
            ]
        }
    );
    let events = d.sm.events_after("kv/", 1, 100).unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.index == 2), "one entry");
    let out = d.at(0, Command::Txn(txn("v"))).unwrap();
    assert_eq!(
        out,
        Response::Txn {
            succeeded: false,
            results: vec![
                TxnResult::Delete { deleted: true },
                TxnResult::Get {
                    key: "a".into(),
                    value: None,
                    mod_revision: 0,
                    version: 0
                },
            ]
        }
    );
    assert_eq!(value(&d, "b"), Some(b"made".to_vec()));
}

#[test]
fn txn_compare_targets() {
    let mut d = Driver::new();
    let l = lease(&mut d);
    d.at(0, put("a", Some(l), None)).unwrap();
    d.at(0, put("a", Some(l), None)).unwrap();
    let holds = |d: &mut Driver, c: Compare| match d.at(
        0,
        Command::Txn(Txn {
            compare: vec![c],
            ..Txn::default()
        }),
    ) {
        Ok(Response::Txn { succeeded, .. }) => succeeded,
        other => panic!("{other:?}"),
    };
    use CompareOp::*;
    use CompareTarget::*;
    assert!(holds(&mut d, cmp("a", Equal, Version(2))));
    assert!(holds(&mut d, cmp("a", Greater, Version(1))));
    assert!(holds(&mut d, cmp("a", Less, Revision(100))));
    assert!(holds(&mut d, cmp("a", Equal, Lease(l))));
    assert!(holds(&mut d, cmp("a", NotEqual, Value(b"x".to_vec()))));
    assert!(holds(&mut d, cmp("a", Greater, Value(b"u".to_vec()))));
    assert!(holds(&mut d, cmp("zz", Equal, Version(0))));
    assert!(holds(&mut d, cmp("zz", Equal, Lease(0))));
    assert!(!holds(&mut d, cmp("zz", Equal, Value(Vec::new()))));
    assert!(holds(&mut d, cmp("zz", NotEqual, Value(Vec::new()))));
    assert!(!holds(&mut d, cmp("zz", Equal, Exists(true))));
}

#[test]
fn a_refused_txn_changes_nothing() {
    let mut d = Driver::new();
    d.at(0, put("a", None, None)).unwrap();
    let bad_lease = Txn {
        success: vec![
            tput("a", "x"),
            TxnOp::Put {
                key: "b".into(),
                value: Vec::new(),
                lease: Some(99),
            },
        ],
        ..Txn::default()
    };
    refused(
        &mut d,
        Command::Txn(bad_lease),
        OrchestratorError::LeaseNotFound { lease_id: 99 },
    );
    let bad_key = Txn {
        failure: vec![TxnOp::Delete { key: String::new() }],
        success: vec![tput("a", "x")],
        ..Txn::default()
    };
    refused(
        &mut d,
        Command::Txn(bad_key),
        invalid(Field::Key, Rule::Empty),
    );
    let too_many = Txn {
        success: vec![tput("a", "x"); MAX_TXN_OPS + 1],
        ..Txn::default()
    };
    refused(
        &mut d,
        Command::Txn(too_many),
        invalid(
            Field::TxnOps,
            Rule::TooLong {
                max: MAX_TXN_OPS as u64,
            },
        ),
    );
}

#[test]
fn try_lock_never_queues() {
    let mut d = Driver::new();
    let (a, b) = (lease(&mut d), lease(&mut d));
    let try_lock = |lease_id| Command::TryLock {
        name: "db".into(),
        lease_id,
    };
    let Ok(Response::LockAcquired { fencing_token }) = d.at(0, try_lock(a)) else {
        panic!()
    };
    assert_eq!(
        d.at(0, try_lock(a)),
        Ok(Response::LockAcquired { fencing_token })
    );
    refused(
        &mut d,
        try_lock(b),
        OrchestratorError::LockHeld {
            name: "db".into(),
            lease_id: a,
        },
    );
    assert!(d.sm.lock_waiters("db").is_empty());
}

#[test]
fn campaign_values_and_transfer() {
    let mut d = Driver::new();
    let (a, b) = (lease(&mut d), lease(&mut d));
    let with_value = |c: &str, l, v: &str| Command::CampaignWithValue {
        election: "x".into(),
        candidate: c.into(),
        lease_id: l,
        value: v.into(),
    };
    let Ok(Response::Elected { term }) = d.at(0, with_value("a", a, "http://a")) else {
        panic!()
    };
    d.at(0, with_value("b", b, "http://b")).unwrap();
    assert_eq!(d.sm.election_value("x", "a"), Some("http://a"));
    refused(
        &mut d,
        with_value("c", b, &"v".repeat(MAX_ELECTION_VALUE_LEN + 1)),
        invalid(
            Field::ElectionValue,
            Rule::TooLong {
                max: MAX_ELECTION_VALUE_LEN as u64,
            },
        ),
    );
    let transfer = |to: &str| Command::TransferElection {
        election: "x".into(),
        to: to.into(),
    };
    refused(
        &mut d,
        transfer("c"),
        OrchestratorError::NotQueuedCandidate {
            election: "x".into(),
            candidate: "c".into(),
        },
    );
    let Ok(Response::Elected { term: new }) = d.at(0, transfer("b")) else {
        panic!()
    };
    assert!(new > term);
    let leader = d.sm.election_leader("x").unwrap();
    assert_eq!((leader.candidate.as_str(), leader.term), ("b", new));
    assert_eq!(d.sm.election_candidates("x"), ["a"]);
    assert_eq!(d.at(0, transfer("b")), Ok(Response::Elected { term: new }));
    // The value goes with the candidacy.
    d.at(0, Command::RevokeLease { lease_id: a }).unwrap();
    assert_eq!(d.sm.election_value("x", "a"), None);
    assert_eq!(d.sm.election_value("x", "b"), Some("http://b"));
    d.at(
        0,
        Command::Resign {
            election: "x".into(),
            candidate: "b".into(),
        },
    )
    .unwrap();
    assert_eq!(d.sm.election_value("x", "b"), None);
    assert!(d.sm.election_values.by_election_is_empty());
}

#[test]
fn election_values_survive_a_snapshot_and_format_3_restores() {
    let mut d = Driver::new();
    let a = lease(&mut d);
    d.at(
        0,
        Command::CampaignWithValue {
            election: "x".into(),
            candidate: "a".into(),
            lease_id: a,
            value: "http://a".into(),
        },
    )
    .unwrap();
    let snapshot = d.sm.snapshot();
    let mut restored = Orchestrator::new();
    restored.restore(&snapshot).unwrap();
    assert_eq!(restored, d.sm);
    assert_eq!(restored.election_value("x", "a"), Some("http://a"));
    // Format 3: the same without the trailing values.
    let values = postcard::to_allocvec(&d.sm.election_values).unwrap();
    let mut v3 = snapshot[..snapshot.len() - values.len()].to_vec();
    v3[0] = 3;
    let mut old = Orchestrator::new();
    old.restore(&v3).unwrap();
    assert_eq!(old.election_value("x", "a"), None);
    assert_eq!(old.election_leader("x"), d.sm.election_leader("x"));
}
