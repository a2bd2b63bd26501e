//! Scenario tests written from the sections of the Raft paper (Ongaro & Ousterhout, 2014) and
//! thesis, each a short script on the simulated cluster. The simulator checks election safety,
//! log matching, leader completeness and state machine safety after every step of each script.

use raftorch_core::raft::{ConfChange, NodeId, Role};
use raftorch_core::sim::{
    Cluster, Consistency, KvApp, KvCommand, Outcome, Request, SimConfig, TraceEvent,
};

fn cluster(nodes: u64, seed: u64) -> Cluster<KvApp> {
    Cluster::new(SimConfig::new(nodes, seed))
}

fn put(key: &str, value: &str) -> Request<KvApp> {
    Request::Write(
        KvCommand::Put {
            key: key.into(),
            value: value.into(),
        }
        .encode(),
    )
}

/// Submits a write and runs until it is answered; returns the index it committed at.
fn write(c: &mut Cluster<KvApp>, at: NodeId, key: &str, value: &str) -> Option<u64> {
    let request = c.submit(at, put(key, value));
    for _ in 0..300 {
        for done in c.take_completions() {
            if done.request == request {
                return match done.outcome {
                    Outcome::Written { index, .. } => Some(index),
                    _ => None,
                };
            }
        }
        c.run_for(10);
    }
    None
}

/// Submits a read and runs until it is answered.
fn read(
    c: &mut Cluster<KvApp>,
    at: NodeId,
    key: &str,
    consistency: Consistency,
) -> Option<Option<String>> {
    let request = c.submit(at, Request::Read(key.into(), consistency));
    for _ in 0..300 {
        for done in c.take_completions() {
            if done.request == request {
                return match done.outcome {
                    Outcome::Read { output, .. } => Some(output),
                    _ => None,
                };
            }
        }
        c.run_for(10);
    }
    None
}

fn term_of(c: &Cluster<KvApp>, id: NodeId) -> u64 {
    c.node(id).raw().map_or(0, |raw| raw.term())
}

fn assert_safe(c: &Cluster<KvApp>) {
    assert_eq!(c.violation(), None, "a safety property broke");
}

// §5.2 Leader election

#[test]
fn s5_2_a_leader_is_elected_and_all_others_follow_it() {
    let mut c = cluster(5, 1);
    let leader = c.run_until_leader(3_000).expect("leader");
    for node in c.nodes() {
        let raw = node.raw().unwrap();
        assert_eq!(raw.leader(), Some(leader));
        assert_eq!(raw.role() == Role::Leader, node.id == leader);
    }
    assert_safe(&c);
}

#[test]
fn s5_2_when_the_leader_crashes_a_new_one_is_elected_in_a_higher_term() {
    for seed in 1..=20 {
        let mut c = cluster(5, seed);
        let old = c.run_until_leader(3_000).expect("leader");
        let old_term = term_of(&c, old);
        c.crash(old);
        let new = c.run_until_leader(3_000).expect("new leader");
        assert_ne!(new, old);
        assert!(term_of(&c, new) > old_term);
        assert_safe(&c);
    }
}

#[test]
fn s5_2_split_votes_are_resolved_by_randomized_timeouts() {
    // Two nodes of four down leaves no majority; bring one back and a leader must emerge even
    // though the survivors may have split votes along the way.
    for seed in 1..=10 {
        let mut c = cluster(4, seed);
        c.run_until_leader(3_000).expect("leader");
        c.crash(1);
        c.crash(2);
        c.run_for(2_000);
        assert!(c.stable_leader().is_none(), "no majority, no leader");
        c.restart(1);
        assert!(c.run_until_leader(5_000).is_some(), "seed {seed}");
        assert_safe(&c);
    }
}

#[test]
fn thesis_9_6_prevote_keeps_a_rejoining_node_from_disrupting_the_leader() {
    let mut c = cluster(3, 3);
    let leader = c.run_until_leader(3_000).expect("leader");
    let term = term_of(&c, leader);
    let isolated = if leader == 1 { 2 } else { 1 };
    let groups = (1..=3).map(|id| u8::from(id == isolated)).collect();
    c.partition(groups);
    c.run_for(3_000); // the isolated node times out again and again
    assert_eq!(
        term_of(&c, isolated),
        term,
        "pre-vote: its term must not grow while isolated"
    );
    c.heal();
    c.run_for(1_000);
    assert_eq!(c.stable_leader(), Some(leader), "the leader keeps leading");
    assert_eq!(term_of(&c, leader), term);
    assert_safe(&c);
}

#[test]
fn thesis_6_2_check_quorum_a_leader_cut_off_from_the_majority_steps_down() {
    let mut c = cluster(5, 4);
    let leader = c.run_until_leader(3_000).expect("leader");
    c.partition((1..=5).map(|id| u8::from(id == leader)).collect());
    c.run_for(2_000);
    let raw = c.node(leader).raw().unwrap();
    assert_ne!(raw.role(), Role::Leader, "minority leader stepped down");
    let majority_leader = c.leader().expect("the majority elected a leader");
    assert_ne!(majority_leader, leader);
    // The old leader cannot commit anything: a write to it is refused or never answered.
    assert_eq!(write(&mut c, leader, "x", "lost"), None);
    assert_safe(&c);
}

// §5.3 Log replication

#[test]
fn s5_3_committed_entries_reach_every_node_and_lagging_followers_catch_up() {
    let mut c = cluster(5, 5);
    let leader = c.run_until_leader(3_000).expect("leader");
    let lagging = if leader == 5 { 4 } else { 5 };
    c.crash(lagging);
    for i in 0..20 {
        write(&mut c, leader, &format!("k{i}"), "v").expect("committed with 4 of 5");
    }
    c.restart(lagging);
    c.run_for(1_000);
    let leader_applied = c.applied_index(leader);
    assert_eq!(c.applied_index(lagging), leader_applied);
    assert_eq!(
        c.node(lagging).app().cloned(),
        c.node(leader).app().cloned()
    );
    assert_safe(&c);
}

#[test]
fn s5_3_a_deposed_leaders_uncommitted_entries_are_overwritten() {
    let mut c = cluster(5, 6);
    let old = c.run_until_leader(3_000).expect("leader");
    write(&mut c, old, "a", "1").expect("committed");
    // Isolate the leader, then give it writes it can never commit.
    c.partition((1..=5).map(|id| u8::from(id == old)).collect());
    for i in 0..5 {
        c.submit(old, put("doomed", &i.to_string()));
    }
    c.run_for(1_500);
    let new = c.leader().filter(|&l| l != old).expect("majority leader");
    write(&mut c, new, "b", "2").expect("committed on the majority side");
    c.heal();
    c.run_for(1_500);
    assert_eq!(c.node(old).app().cloned(), c.node(new).app().cloned());
    assert_eq!(
        read(&mut c, new, "doomed", Consistency::Linearizable),
        Some(None)
    );
    assert_safe(&c);
}

// §5.4 Safety: the simulator checks leader completeness at every election; stress it.

#[test]
fn s5_4_leader_completeness_holds_across_repeated_failovers() {
    let mut c = cluster(5, 7);
    for round in 0..8 {
        let leader = c.run_until_leader(5_000).expect("leader");
        write(&mut c, leader, "round", &round.to_string()).expect("write");
        c.crash(leader);
        c.run_for(50);
        c.restart(leader);
    }
    assert_safe(&c);
}

// §6 Cluster membership changes

#[test]
fn s6_a_learner_catches_up_is_promoted_and_a_removed_leader_steps_down() {
    let mut config = SimConfig::new(4, 8);
    config.voters = 3;
    let mut c: Cluster<KvApp> = Cluster::new(config);
    let leader = c.run_until_leader(3_000).expect("leader");
    for i in 0..10 {
        write(&mut c, leader, &format!("k{i}"), "v").expect("write");
    }
    c.propose_conf_change(leader, ConfChange::AddLearner(4))
        .expect("add learner");
    c.run_for(500);
    assert_eq!(
        c.applied_index(4),
        c.applied_index(leader),
        "the learner caught up"
    );
    assert!(c.node(4).raw().unwrap().conf_state().learners.contains(&4));
    c.propose_conf_change(leader, ConfChange::AddVoter(4))
        .expect("promote");
    c.run_for(500);
    assert!(c
        .node(leader)
        .raw()
        .unwrap()
        .conf_state()
        .voters
        .contains(&4));
    // Remove the leader itself: it steps down and the rest elect a new one.
    c.propose_conf_change(leader, ConfChange::RemoveNode(leader))
        .expect("remove leader");
    c.run_for(2_000);
    let new = c.leader().expect("new leader");
    assert_ne!(new, leader);
    write(&mut c, new, "after", "removal").expect("the new configuration commits");
    assert_safe(&c);
}

#[test]
fn s6_only_one_membership_change_at_a_time() {
    let mut c = cluster(3, 9);
    let leader = c.run_until_leader(3_000).expect("leader");
    c.run_for(100);
    c.propose_conf_change(leader, ConfChange::AddLearner(7))
        .expect("first change");
    let second = c.propose_conf_change(leader, ConfChange::AddLearner(8));
    assert!(
        second.is_err(),
        "a second change while the first is pending is refused"
    );
}

// §7 Log compaction

#[test]
fn s7_a_follower_behind_the_compaction_point_is_sent_a_snapshot() {
    let mut config = SimConfig::new(3, 10);
    config.snapshot_every = 20;
    config.snapshot_keep_entries = 5;
    let mut c: Cluster<KvApp> = Cluster::new(config);
    let leader = c.run_until_leader(3_000).expect("leader");
    let behind = if leader == 3 { 2 } else { 3 };
    c.crash(behind);
    for i in 0..60 {
        write(&mut c, leader, &format!("k{}", i % 7), &i.to_string()).expect("write");
    }
    c.restart(behind);
    c.run_for(1_000);
    let installed =
        c.trace().records().iter().any(
            |r| matches!(r.event, TraceEvent::SnapshotInstalled { node, .. } if node == behind),
        );
    assert!(
        installed,
        "the follower was brought up to date by a snapshot"
    );
    assert_eq!(c.node(behind).app().cloned(), c.node(leader).app().cloned());
    assert_safe(&c);
}

// Thesis §3.10 Leadership transfer

#[test]
fn thesis_3_10_leadership_transfer_hands_over_to_a_caught_up_target() {
    let mut c = cluster(5, 11);
    let leader = c.run_until_leader(3_000).expect("leader");
    let target = if leader == 5 { 1 } else { leader + 1 };
    write(&mut c, leader, "k", "v").expect("write");
    c.transfer_leader(leader, target)
        .expect("transfer accepted");
    c.run_for(500);
    assert_eq!(c.stable_leader(), Some(target));
    assert_eq!(
        read(&mut c, target, "k", Consistency::Linearizable),
        Some(Some("v".into()))
    );
    assert_safe(&c);
}

// Thesis §6.4 Linearizable reads

#[test]
fn thesis_6_4_reads_on_followers_and_lease_reads_see_the_latest_write() {
    let mut c = cluster(3, 12);
    let leader = c.run_until_leader(3_000).expect("leader");
    let follower = if leader == 1 { 2 } else { 1 };
    write(&mut c, leader, "k", "fresh").expect("write");
    assert_eq!(
        read(&mut c, follower, "k", Consistency::Linearizable),
        Some(Some("fresh".into()))
    );
    assert_eq!(
        read(&mut c, leader, "k", Consistency::Lease),
        Some(Some("fresh".into()))
    );
    assert_safe(&c);
}

#[test]
fn thesis_6_4_a_partitioned_leader_cannot_serve_a_linearizable_read() {
    let mut c = cluster(3, 13);
    let leader = c.run_until_leader(3_000).expect("leader");
    write(&mut c, leader, "k", "old").expect("write");
    c.partition((1..=3).map(|id| u8::from(id == leader)).collect());
    // Before check-quorum deposes it, the old leader still thinks it leads; the new side
    // writes a newer value. The old leader's ReadIndex cannot gather a quorum: no stale answer.
    let stale_read = c.submit(leader, Request::Read("k".into(), Consistency::Linearizable));
    c.run_for(1_500);
    let new = c.leader().filter(|&l| l != leader).expect("new leader");
    write(&mut c, new, "k", "new").expect("write on the majority");
    c.run_for(500);
    for done in c.take_completions() {
        if done.request == stale_read {
            assert!(
                !matches!(done.outcome, Outcome::Read { .. }),
                "served a stale read: {done:?}"
            );
        }
    }
    assert_safe(&c);
}
