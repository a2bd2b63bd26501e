use super::harness::Net;
use crate::raft::{MessageKind, ReadMode};
use alloc::vec::Vec;

#[test]
fn read_index_confirms_leadership_with_a_quorum_round() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let commit = net.node(1).commit_index();
    let heartbeats = net.count(MessageKind::Heartbeat);
    net.node(1).read_index(7, ReadMode::Linearizable).unwrap();
    net.process(1);
    assert!(
        net.reads.get(&1).is_none_or(|r| r.is_empty()),
        "not answered before the round"
    );
    net.stabilize();
    assert!(net.count(MessageKind::Heartbeat) > heartbeats);
    assert_eq!(
        net.reads[&1].last().map(|r| (r.ctx, r.index)),
        Some((7, commit))
    );
}

#[test]
fn reads_before_the_outbox_is_taken_share_one_heartbeat_round() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let commit = net.node(1).commit_index();
    for ctx in 1..=5 {
        net.node(1).read_index(ctx, ReadMode::Linearizable).unwrap();
    }
    net.process(1);
    assert_eq!(
        queued_heartbeats(&net),
        2,
        "one heartbeat per peer for all five reads"
    );
    net.stabilize();
    let answered: Vec<(u64, u64)> = net.reads[&1].iter().map(|r| (r.ctx, r.index)).collect();
    assert_eq!(answered, (1..=5).map(|c| (c, commit)).collect::<Vec<_>>());
    // A read after the round left starts a new one.
    net.node(1).read_index(6, ReadMode::Linearizable).unwrap();
    net.process(1);
    assert_eq!(queued_heartbeats(&net), 2);
}

fn queued_heartbeats(net: &Net) -> usize {
    net.queue
        .iter()
        .filter(|m| m.body.kind() == MessageKind::Heartbeat)
        .count()
}

#[test]
fn an_isolated_leader_cannot_confirm_a_read() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(1);
    net.node(1).read_index(1, ReadMode::Linearizable).unwrap();
    net.process(1);
    net.stabilize();
    assert!(net.reads.get(&1).is_none_or(|r| r.is_empty()));
}

#[test]
fn a_new_leader_serves_reads_only_after_its_noop_commits() {
    let mut net = Net::new(&[1, 2, 3]);
    net.node(1).campaign().unwrap();
    net.process(1);
    // Deliver only the election traffic, not the no-op's replication.
    for _ in 0..4 {
        let queue = core::mem::take(&mut net.queue);
        for m in queue {
            if !matches!(
                m.body.kind(),
                MessageKind::Append | MessageKind::AppendResponse
            ) {
                net.deliver(m);
            }
        }
    }
    assert!(net.node(1).is_leader());
    net.node(1).read_index(5, ReadMode::Linearizable).unwrap();
    net.process(1);
    assert!(
        net.reads.get(&1).is_none_or(|r| r.is_empty()),
        "held until the no-op commits"
    );
    net.queue.clear();
    net.tick_all(2);
    let read = net.reads[&1]
        .last()
        .copied()
        .expect("answered after the commit");
    assert!(read.index >= net.node(1).status().last_index - 1);
}

#[test]
fn followers_forward_reads_and_lease_reads_need_check_quorum() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.tick_all(2);
    net.node(2).read_index(9, ReadMode::Linearizable).unwrap();
    net.process(2);
    net.stabilize();
    assert_eq!(
        net.reads[&2].last().map(|r| r.ctx),
        Some(9),
        "answered through the leader"
    );
    // With check-quorum and a fresh lease, a lease read needs no new round.
    let heartbeats = net.count(MessageKind::Heartbeat);
    net.node(1).read_index(10, ReadMode::Lease).unwrap();
    net.process(1);
    assert_eq!(net.reads[&1].last().map(|r| r.ctx), Some(10));
    assert_eq!(net.count(MessageKind::Heartbeat), heartbeats);
    // Without check-quorum, a lease read falls back to a quorum round.
    let mut net = Net::with_config(&[1, 2, 3], |c| c.check_quorum = false);
    net.elect(1);
    net.tick_all(2);
    net.node(1).read_index(11, ReadMode::Lease).unwrap();
    net.process(1);
    assert!(
        net.reads[&1].iter().all(|r| r.ctx != 11),
        "no lease without check-quorum"
    );
    net.stabilize();
    assert!(net.reads[&1].iter().any(|r| r.ctx == 11));
}
