//! The replicated clock: elapsed time on one leader's clock, never a comparison of two nodes'
//! clocks; leaders ahead, behind, leading twice; the epoch in snapshots.

use super::*;

/// A true clock reading at the start of every test (an arbitrary wall time, in ms).
const T0: u64 = 1_700_000_000_000;
const HOUR: u64 = 3_600_000;

fn tick(d: &mut Driver, stamp: u64) -> u64 {
    d.at(stamp, Command::Tick).unwrap();
    d.sm.now_ms()
}

#[test]
fn the_first_stamp_is_the_base_and_a_leader_change_stands_still() {
    let mut d = Driver::new();
    d.at(T0, Command::LeaderChanged).unwrap();
    assert_eq!(d.sm.now_ms(), T0);
    assert_eq!(tick(&mut d, T0 + 500), T0 + 500);
    // A new leader with a clock 10 s behind: no movement at its first entry, then its elapsed
    // time.
    d.at(T0 + 600 - 10_000, Command::LeaderChanged).unwrap();
    assert_eq!(d.sm.now_ms(), T0 + 500);
    assert_eq!(tick(&mut d, T0 + 900 - 10_000), T0 + 800);
}

#[test]
fn a_lease_expires_after_a_leader_an_hour_ahead() {
    let mut d = Driver::new();
    // Node 1, true clock.
    d.at(T0, Command::LeaderChanged).unwrap();
    tick(&mut d, T0 + 500);
    // Node 3, one hour ahead, leads for 1.5 s.
    d.at(T0 + 1_000 + HOUR, Command::LeaderChanged).unwrap();
    assert_eq!(
        d.sm.now_ms(),
        T0 + 500,
        "a leader change does not move the clock"
    );
    tick(&mut d, T0 + 1_500 + HOUR);
    assert_eq!(tick(&mut d, T0 + 2_500 + HOUR), T0 + 2_000);
    // Node 1 again, true clock.
    d.at(T0 + 3_000, Command::LeaderChanged).unwrap();
    assert_eq!(d.sm.now_ms(), T0 + 2_000, "never backwards");
    let Ok(Response::LeaseGranted { lease_id, .. }) =
        d.at(T0 + 3_100, Command::GrantLease { ttl_ms: 2_000 })
    else {
        panic!("lease not granted");
    };
    assert_eq!(
        d.at(T0 + 3_200, acquire("db", lease_id)),
        Ok(Response::LockAcquired {
            fencing_token: lease_id + 1
        })
    );
    let granted_at = d.sm.lease(lease_id).unwrap().deadline_ms - 2_000;
    assert_eq!(granted_at, T0 + 2_100, "elapsed 100 ms on node 1's clock");
    assert_eq!(tick(&mut d, T0 + 5_100), granted_at + 2_000);
    assert!(d.sm.lease(lease_id).is_some(), "live up to its deadline");
    // About 2 s of node 1's time after the grant, the lease and its lock are gone.
    tick(&mut d, T0 + 5_101);
    assert!(d.sm.lease(lease_id).is_none());
    assert!(d.sm.lock_holder("db").is_none());
}

#[test]
fn a_leader_behind_never_moves_time_backwards_and_leases_still_expire() {
    let mut d = Driver::new();
    d.at(T0, Command::LeaderChanged).unwrap();
    assert_eq!(tick(&mut d, T0 + 5_000), T0 + 5_000);
    // A leader one hour behind.
    let behind = T0 + 5_100 - HOUR;
    d.at(behind, Command::LeaderChanged).unwrap();
    assert_eq!(d.sm.now_ms(), T0 + 5_000);
    d.at(behind + 100, Command::GrantLease { ttl_ms: 2_000 })
        .unwrap();
    let lease_id = d.index;
    assert_eq!(d.sm.lease(lease_id).unwrap().deadline_ms, T0 + 7_100);
    // Its stamps are far below every earlier one; the clock still only goes forwards, and
    // a stamp before its own epoch's moves nothing.
    let mut last = d.sm.now_ms();
    for stamp in [
        behind + 50,
        behind,
        behind - 1_000,
        behind + 150,
        behind + 2_100,
    ] {
        let now = tick(&mut d, stamp);
        assert!(now >= last, "backwards from {last} to {now}");
        last = now;
    }
    assert_eq!(last, T0 + 7_100);
    assert!(d.sm.lease(lease_id).is_some());
    assert_eq!(tick(&mut d, behind + 2_101), T0 + 7_101);
    assert!(d.sm.lease(lease_id).is_none());
}

#[test]
fn a_node_that_leads_twice_counts_only_its_own_elapsed_time() {
    let mut d = Driver::new();
    let fast = |t: u64| t + HOUR;
    d.at(fast(T0), Command::LeaderChanged).unwrap(); // node 3 first: its stamp is the base
    assert_eq!(tick(&mut d, fast(T0 + 1_000)), fast(T0) + 1_000);
    d.at(T0 + 1_200, Command::LeaderChanged).unwrap(); // node 1
    assert_eq!(tick(&mut d, T0 + 2_200), fast(T0) + 2_000);
    d.at(fast(T0 + 2_400), Command::LeaderChanged).unwrap(); // node 3 again
    assert_eq!(d.sm.now_ms(), fast(T0) + 2_000);
    assert_eq!(tick(&mut d, fast(T0 + 2_900)), fast(T0) + 2_500);
}

#[test]
fn absurd_stamps_saturate() {
    let mut d = Driver::new();
    d.at(u64::MAX - 10, Command::LeaderChanged).unwrap();
    assert_eq!(tick(&mut d, u64::MAX), u64::MAX);
    d.at(0, Command::LeaderChanged).unwrap();
    assert_eq!(tick(&mut d, u64::MAX), u64::MAX);
    let mut d = Driver::new();
    d.at(0, Command::Tick).unwrap();
    d.at(u64::MAX, Command::LeaderChanged).unwrap();
    assert_eq!(tick(&mut d, 5), 0);
}

/// A state in the middle of a leader's epoch whose stamps are far from the clock.
fn skewed() -> Driver {
    let mut d = Driver::new();
    d.at(T0, Command::LeaderChanged).unwrap();
    tick(&mut d, T0 + 1_000);
    d.at(T0 + HOUR, Command::LeaderChanged).unwrap();
    d.at(T0 + HOUR + 10, Command::GrantLease { ttl_ms: 2_000 })
        .unwrap();
    d
}

#[test]
fn a_snapshot_keeps_the_epoch() {
    let mut d = skewed();
    let snapshot = d.sm.snapshot();
    assert_eq!(snapshot[0], SNAPSHOT_FORMAT);
    assert_eq!(SNAPSHOT_FORMAT, 7);
    let mut restored = Driver {
        sm: Orchestrator::new(),
        index: d.index,
    };
    restored.sm.restore(&snapshot).unwrap();
    assert_eq!(restored.sm, d.sm);
    // The next stamps of the same leader mean the same time on both.
    for replica in [&mut d, &mut restored] {
        assert_eq!(tick(replica, T0 + HOUR + 1_000), T0 + 2_000);
        assert!(replica.sm.lease(replica.index - 1).is_some());
        tick(replica, T0 + HOUR + 2_011);
        assert!(replica.sm.lease(replica.index - 2).is_none());
    }
    assert_eq!(restored.sm, d.sm);
    // Cut short (the epoch missing), or with a byte more, it is refused.
    assert!(Orchestrator::new()
        .restore(&snapshot[..snapshot.len() - 1])
        .is_err());
    let mut longer = snapshot.clone();
    longer.push(0);
    assert!(Orchestrator::new().restore(&longer).is_err());
}

#[test]
fn formats_1_and_2_restore_reading_stamps_as_the_old_rule_did() {
    let d = skewed();
    let mut v1 = Vec::from([1u8]);
    v1.extend(crate::orchestrator::snapshot_legacy::encode_state(&d.sm));
    let mut v2 = v1.clone();
    v2[0] = 2;
    v2.extend(postcard::to_allocvec(&d.sm.members).unwrap());
    for old in [v1, v2] {
        let mut restored = Driver {
            sm: Orchestrator::new(),
            index: d.index,
        };
        restored.sm.restore(&old).unwrap();
        let mut expected = d.sm.clone();
        expected.clock_epoch = Some(ClockEpoch {
            clock_ms: d.sm.now_ms(),
            stamp_ms: d.sm.now_ms(),
        });
        assert_eq!(restored.sm, expected);
        // Until the next leader change a stamp is an absolute time, never going backwards...
        assert_eq!(tick(&mut restored, T0), T0 + 1_010);
        assert_eq!(tick(&mut restored, T0 + 1_500), T0 + 1_500);
        // ... and the next leader change begins a real epoch.
        restored.at(T0 + 5 * HOUR, Command::LeaderChanged).unwrap();
        assert_eq!(restored.sm.now_ms(), T0 + 1_500);
        assert_eq!(tick(&mut restored, T0 + 5 * HOUR + 100), T0 + 1_600);
    }
}
