//! Space alarms: the live-state accounting, what an alarm refuses and lets through, how it
//! clears, and that it survives a snapshot.

use alloc::vec;
use alloc::vec::Vec;

use super::support::Driver;
use super::*;
use crate::orchestrator::alarm::{disk_duty, key_bytes, may_grow, quota_duty, KEY_OVERHEAD_BYTES};

const T: u64 = 1_000;

fn put_value(key: &str, len: usize) -> Command {
    Command::Put {
        key: key.into(),
        value: vec![7; len],
        lease: None,
        expected_revision: None,
    }
}

fn raise(kind: AlarmKind, member: u64, quota_bytes: u64) -> Command {
    Command::RaiseAlarm {
        member,
        kind,
        quota_bytes,
    }
}

#[test]
fn live_bytes_follow_puts_overwrites_deletes_and_leases() {
    let mut d = Driver::new();
    assert_eq!(d.sm.live_bytes(), 0);
    d.at(T, put_value("a", 100)).unwrap();
    assert_eq!(d.sm.live_bytes(), 1 + 100 + KEY_OVERHEAD_BYTES);
    d.at(T, put_value("a", 10)).unwrap();
    assert_eq!(
        d.sm.live_bytes(),
        key_bytes("a", 10),
        "an overwrite replaces"
    );
    d.at(T, put_value("bb", 0)).unwrap();
    d.at(
        T,
        Command::Delete {
            key: "a".into(),
            expected_revision: None,
        },
    )
    .unwrap();
    assert_eq!(d.sm.live_bytes(), key_bytes("bb", 0));
    d.at(T, Command::GrantLease { ttl_ms: 60_000 }).unwrap();
    assert!(d.sm.live_bytes() > key_bytes("bb", 0), "a lease counts");
    // A snapshot recounts the same total.
    let mut restored = Orchestrator::new();
    restored.restore(&d.sm.snapshot()).unwrap();
    assert_eq!(restored.live_bytes(), d.sm.live_bytes());
    assert_eq!(restored, d.sm);
}

#[test]
fn admit_refuses_what_would_pass_the_quota_and_counts_overwrites_by_their_growth() {
    let mut d = Driver::new();
    d.at(T, put_value("k", 900)).unwrap();
    let quota = key_bytes("k", 900) + 50;
    assert!(
        d.sm.admit(&put_value("k", 940), quota).is_ok(),
        "grows by 40"
    );
    assert_eq!(
        d.sm.admit(&put_value("k", 1_000), quota),
        Err(OrchestratorError::NoSpace {
            alarm: AlarmKind::Quota,
            member: 0
        })
    );
    assert!(d.sm.admit(&put_value("other", 0), quota).is_err());
    let delete = Command::Delete {
        key: "k".into(),
        expected_revision: None,
    };
    assert!(d.sm.admit(&delete, 0).is_ok(), "a delete never grows");
    // Near the quota, the refused host raises a Quota alarm; far from it, it does not.
    assert!(quota_duty(&d.sm, 2, quota).is_some());
    assert!(quota_duty(&d.sm, 2, quota * 4).is_none());
}

#[test]
fn an_alarm_refuses_growth_on_every_replica_and_lets_deletes_reads_and_revokes_through() {
    let mut d = Driver::new();
    d.at(T, Command::GrantLease { ttl_ms: 60_000 }).unwrap();
    d.at(T, put_value("a", 10)).unwrap();
    assert_eq!(
        d.at(T, raise(AlarmKind::DiskReserve, 3, 0)),
        Ok(Response::AlarmRaised)
    );
    let no_space = OrchestratorError::NoSpace {
        alarm: AlarmKind::DiskReserve,
        member: 3,
    };
    for grows in [
        put_value("a", 1),
        put_value("b", 1),
        Command::GrantLease { ttl_ms: 1_000 },
        acquire("db", 1),
        Command::Txn(Txn {
            compare: Vec::new(),
            success: vec![TxnOp::Put {
                key: "c".into(),
                value: Vec::new(),
                lease: None,
            }],
            failure: Vec::new(),
        }),
    ] {
        assert!(may_grow(&grows));
        super::refused(&mut d, grows, no_space.clone());
    }
    assert!(d.sm.admit(&put_value("x", 0), u64::MAX).is_err());
    assert!(d.sm.kv_get("a").is_some(), "reads still answer");
    d.at(
        T,
        Command::Delete {
            key: "a".into(),
            expected_revision: None,
        },
    )
    .unwrap();
    d.at(T, Command::KeepAlive { lease_id: 1 }).unwrap();
    d.at(T, Command::RevokeLease { lease_id: 1 }).unwrap();
    assert_eq!(d.sm.alarms().count(), 1);
    assert_eq!(
        d.at(
            T,
            Command::DisarmAlarm {
                member: None,
                kind: None
            }
        ),
        Ok(Response::AlarmsDisarmed { count: 1 })
    );
    assert!(d.at(T, put_value("b", 1)).is_ok(), "writes work again");
}

#[test]
fn a_quota_alarm_clears_itself_under_ninety_percent_of_its_quota() {
    let mut d = Driver::new();
    for i in 0..10 {
        d.at(T, put_value(&alloc::format!("k{i}"), 34)).unwrap();
    }
    assert_eq!(d.sm.live_bytes(), 1_000, "10 keys of 100 bytes");
    d.at(T, raise(AlarmKind::Quota, 1, 990)).unwrap();
    let delete = |i: u32| Command::Delete {
        key: alloc::format!("k{i}"),
        expected_revision: None,
    };
    d.at(T, delete(0)).unwrap();
    assert_eq!(d.sm.live_bytes(), 900);
    assert_eq!(d.sm.alarms().count(), 1, "900 > 90% of 990: not yet");
    d.at(T, delete(1)).unwrap();
    assert_eq!(d.sm.alarms().count(), 0, "800: cleared at apply");
}

#[test]
fn disk_duty_raises_under_the_reserve_and_clears_above_twice_it() {
    let mut d = Driver::new();
    assert_eq!(disk_duty(&d.sm, 2, 150, 100), None);
    let raise_it = disk_duty(&d.sm, 2, 99, 100).unwrap();
    assert_eq!(raise_it, raise(AlarmKind::DiskReserve, 2, 0));
    d.at(T, raise_it).unwrap();
    assert_eq!(disk_duty(&d.sm, 2, 99, 100), None, "raised already");
    assert_eq!(disk_duty(&d.sm, 2, 200, 100), None, "hysteresis");
    assert_eq!(disk_duty(&d.sm, 3, 500, 100), None, "not node 3's alarm");
    let clear = disk_duty(&d.sm, 2, 201, 100).unwrap();
    d.at(T, clear).unwrap();
    assert_eq!(d.sm.alarms().count(), 0);
}

#[test]
fn alarms_survive_a_snapshot_and_a_format_5_snapshot_restores_without_them() {
    let mut d = Driver::new();
    d.at(T, put_value("a", 3)).unwrap();
    d.at(T, raise(AlarmKind::DiskReserve, 2, 0)).unwrap();
    let snapshot = d.sm.snapshot();
    assert_eq!(snapshot[0], SNAPSHOT_FORMAT);
    let mut restored = Orchestrator::new();
    restored.restore(&snapshot).unwrap();
    assert_eq!(restored, d.sm);
    assert_eq!(
        restored.alarms().next().map(|a| a.kind),
        Some(AlarmKind::DiskReserve)
    );
    // Format 5 is format 7 without the trailing alarms and dedup origins.
    let mut clean = Driver::new();
    clean.at(T, put_value("a", 3)).unwrap();
    let mut old = clean.sm.snapshot();
    assert_eq!(
        old.pop(),
        Some(0),
        "no request ids: an empty origin map is one byte"
    );
    assert_eq!(old.pop(), Some(0), "an empty alarm map is one byte");
    old[0] = 5;
    let mut from_old = Orchestrator::new();
    from_old.restore(&old).unwrap();
    assert_eq!(from_old, clean.sm);
    assert_eq!(from_old.live_bytes(), key_bytes("a", 3));
}
