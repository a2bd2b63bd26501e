use super::harness::Net;
use crate::raft::{EntryPayload, MessageBody, MessageKind, Role, Storage};

#[test]
fn entries_commit_on_a_majority_and_apply_everywhere_in_order() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    let index = net.propose(1, b"a");
    assert_eq!(
        net.node(1).commit_index(),
        index,
        "two of three is a majority"
    );
    net.heal();
    net.tick_all(2);
    for id in [1, 2, 3] {
        let data: alloc::vec::Vec<_> = net.applied[&id]
            .iter()
            .filter_map(|e| match &e.payload {
                EntryPayload::Normal(d) => Some(d.to_vec()),
                _ => None,
            })
            .collect();
        assert_eq!(data, [b"a".to_vec()], "node {id}");
    }
}

#[test]
fn figure_8_an_old_term_entry_is_not_committed_by_counting_replicas() {
    // One entry per append, so replicas of the old entry are counted before the new no-op's.
    // Check-quorum off: the voters would otherwise honour the deposed leader's lease.
    let mut net = Net::with_config(&[1, 2, 3, 4, 5], |c| {
        c.max_size_per_msg = 1;
        c.check_quorum = false;
    });
    net.elect(1);
    for id in [3, 4, 5] {
        net.cut.insert((1, id));
    }
    let old = net.node(1).propose(b"old".to_vec()).unwrap().index;
    net.process(1);
    net.stabilize();
    assert!(
        net.node(1).commit_index() < old,
        "only nodes 1 and 2 hold it"
    );
    // A higher term deposes node 1; it wins the next election with nodes 2 and 3.
    net.deliver(crate::raft::Message {
        from: 4,
        to: 1,
        term: 5,
        body: MessageBody::HeartbeatResponse { seq: 0 },
    });
    net.heal();
    for id in [4, 5] {
        for other in [1, 2, 3] {
            net.cut.insert((id, other));
            net.cut.insert((other, id));
        }
    }
    net.node(1).campaign().unwrap();
    net.process(1);
    let mut steps = 0;
    while !net.queue.is_empty() {
        let message = net.queue.remove(0);
        net.deliver(message);
        steps += 1;
        let leader = net.node(1);
        let commit = leader.commit_index();
        if leader.is_leader() && commit >= old {
            let term = leader.term();
            assert_eq!(
                leader.entry(commit).map(|e| e.term),
                Some(term),
                "committed {commit} by counting old-term replicas"
            );
        }
    }
    assert!(steps > 0);
    assert!(net.node(1).is_leader());
    assert!(
        net.node(1).commit_index() > old,
        "committed indirectly by the new term's no-op"
    );
}

#[test]
fn a_diverged_follower_is_repaired_in_few_round_trips() {
    // Check-quorum off so that leaders can change without waiting out leases.
    let mut net = Net::with_config(&[1, 2, 3], |c| c.check_quorum = false);
    net.elect(2);
    // Node 2 leads alone for a while: 50 entries nobody else gets.
    net.isolate(2);
    for i in 0..50u8 {
        net.node(2).propose(alloc::vec![i]).unwrap();
        net.process(2);
    }
    net.queue.clear();
    // Nodes 1 and 3 move on in a new term and commit entries of their own.
    net.heal();
    net.isolate(2);
    net.elect(1);
    for i in 0..60u8 {
        net.propose(1, &[i]);
    }
    // A new term for node 1, so its view of node 2 starts from its own (long) log's end.
    net.deliver(crate::raft::Message {
        from: 3,
        to: 1,
        term: 7,
        body: MessageBody::HeartbeatResponse { seq: 0 },
    });
    net.elect(1);
    net.heal();
    net.delivered.clear();
    net.tick_all(3);
    let (status1, status2) = (net.node(1).status(), net.node(2).status());
    assert_eq!(
        (status2.last_index, status2.last_term),
        (status1.last_index, status1.last_term),
        "the divergent tail was replaced"
    );
    let rejections = net
        .delivered
        .iter()
        .filter(|m| matches!(m.body, MessageBody::AppendRejected { .. }))
        .count();
    assert!(
        (1..=3).contains(&rejections),
        "fast back-tracking: {rejections} rejections for a 50-entry conflict"
    );
}

#[test]
fn the_inflight_window_bounds_unacknowledged_appends() {
    let mut net = Net::with_config(&[1, 2], |c| c.max_inflight_msgs = 2);
    net.elect(1);
    net.tick_all(1);
    // Hold every message: propose and flush one at a time, the follower never answering.
    for i in 0..10u8 {
        net.node(1).propose(alloc::vec![i]).unwrap();
        net.process(1);
    }
    let appends = net
        .queue
        .iter()
        .filter(|m| matches!(&m.body, MessageBody::Append { entries, .. } if !entries.is_empty()))
        .count();
    assert!(
        appends <= 2,
        "{appends} appends in flight with a window of 2"
    );
    net.stabilize();
    assert_eq!(
        net.node(2).status().last_index,
        net.node(1).status().last_index,
        "the rest follows once acknowledged"
    );
}

#[test]
fn max_size_per_msg_splits_large_batches() {
    let mut net = Net::with_config(&[1, 2], |c| c.max_size_per_msg = 1_000);
    net.elect(1);
    for _ in 0..20 {
        net.node(1).propose(alloc::vec![0u8; 200]).unwrap();
    }
    net.process(1);
    net.stabilize();
    let biggest = net
        .delivered
        .iter()
        .filter_map(|m| match &m.body {
            MessageBody::Append { entries, .. } => {
                Some(entries.iter().map(|e| e.size_hint()).sum::<usize>())
            }
            _ => None,
        })
        .max()
        .unwrap();
    assert!(biggest <= 1_000 + 224, "an append carried {biggest} bytes");
    assert_eq!(
        net.node(2).status().last_index,
        net.node(1).status().last_index
    );
}

#[test]
fn a_restarted_node_recovers_exactly_its_durable_state() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    for i in 0..5u8 {
        net.propose(1, &[i]);
    }
    let before = net.node(2).status();
    let storage = net.storage[&2].clone();
    let restarted = crate::raft::RawNode::new(crate::raft::Config::new(2), &storage).unwrap();
    let after = restarted.status();
    assert_eq!(
        (after.term, after.vote, after.last_index, after.last_term),
        (
            before.term,
            before.vote,
            before.last_index,
            before.last_term
        )
    );
    assert_eq!(after.commit, storage.hard_state().commit);
    assert_eq!(after.role, Role::Follower);
    assert_eq!(storage.last_index(), before.last_index);
}

#[test]
fn a_follower_behind_the_compaction_point_gets_a_snapshot() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    for i in 0..10u8 {
        net.propose(1, &[i]);
    }
    let snapshot = net.node(1).compact(b"state".to_vec(), 0);
    net.storage.get_mut(&1).unwrap().compact(snapshot.clone());
    net.heal();
    net.tick_all(3);
    assert!(net.count(MessageKind::Snapshot) >= 1);
    let storage3 = &net.storage[&3];
    assert_eq!(
        storage3.snapshot().map(|s| s.meta.index),
        Some(snapshot.meta.index)
    );
    assert_eq!(
        net.node(3).status().last_index,
        net.node(1).status().last_index
    );
}
