//! Fenced locks and elections through `apply`.

use super::*;

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
