use super::harness::Net;
use crate::raft::{Config, MemStorage, Message, MessageBody, MessageKind, RawNode, Role};

#[test]
fn a_campaign_wins_with_a_majority_and_everyone_follows() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    assert_eq!(
        net.node(1).term(),
        2,
        "bootstrap is term 1; the first election is term 2"
    );
    for id in [2, 3] {
        assert_eq!(net.node(id).leader(), Some(1));
        assert_eq!(net.node(id).role(), Role::Follower);
    }
}

#[test]
fn prevote_does_not_raise_terms_when_it_fails() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    for _ in 0..5 {
        net.node(3).campaign().unwrap();
        net.process(3);
        net.stabilize();
    }
    assert_eq!(
        net.node(3).term(),
        2,
        "an isolated pre-candidate never raises its term"
    );
    assert_eq!(net.node(3).role(), Role::PreCandidate);
    net.heal();
    net.tick_all(3);
    assert_eq!(
        net.node(1).role(),
        Role::Leader,
        "the rejoining node did not depose the leader"
    );
    assert_eq!(net.node(1).term(), 2);
}

#[test]
fn a_vote_goes_only_to_a_log_at_least_as_up_to_date() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.isolate(3);
    net.propose(1, b"x"); // 1 and 2 have an entry 3 lacks
    net.heal();
    net.queue.clear();
    // Node 3 asks node 2 directly, for a higher term: refused because its log is behind.
    let (last_index, last_term) = {
        let status = net.node(3).status();
        (status.last_index, status.last_term)
    };
    net.deliver(Message {
        from: 3,
        to: 2,
        term: 9,
        body: MessageBody::Vote {
            last_index,
            last_term,
            transfer: true,
        },
    });
    let answer = net
        .queue
        .iter()
        .find(|m| m.from == 2 && m.to == 3)
        .expect("answered");
    assert_eq!(answer.body, MessageBody::VoteResponse { granted: false });
    assert_eq!(
        net.node(2).term(),
        9,
        "the higher term is adopted even when the vote is refused"
    );
}

#[test]
fn check_quorum_leader_steps_down_alone_and_voters_honour_its_lease() {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    // While followers hear from the leader, a disruptive vote request is ignored (no term raise).
    net.deliver(Message {
        from: 3,
        to: 2,
        term: 10,
        body: MessageBody::Vote {
            last_index: 99,
            last_term: 9,
            transfer: false,
        },
    });
    assert_eq!(net.node(2).term(), 2);
    net.isolate(1);
    net.tick_all(25);
    assert_ne!(
        net.node(1).role(),
        Role::Leader,
        "cut off from the quorum, it stepped down"
    );
}

#[test]
fn single_voter_commits_only_after_its_own_write_is_durable() {
    let storage = MemStorage::new_with_voters(&[1]);
    let mut node = RawNode::new(Config::new(1), &storage).unwrap();
    let ready = node.ready();
    node.advance(ready);
    node.campaign().unwrap();
    let ready = node.ready();
    assert!(
        ready.committed_entries.iter().all(|e| e.index <= 1),
        "the no-op is not committed before persisting"
    );
    node.advance(ready);
    let ready = node.ready();
    assert!(
        ready.committed_entries.iter().any(|e| e.index == 2),
        "committed once durable"
    );
}

#[test]
fn same_seed_same_election_timeouts() {
    let timeouts = |seed: u64| {
        let storage = MemStorage::new_with_voters(&[1, 2, 3]);
        let mut config = Config::new(1);
        config.seed = seed;
        let node = RawNode::new(config, &storage).unwrap();
        node.status().election_timeout
    };
    assert_eq!(timeouts(7), timeouts(7));
    let spread: alloc::collections::BTreeSet<u32> = (0..50).map(timeouts).collect();
    assert!(spread.len() > 3, "timeouts are randomized across seeds");
    assert!(spread.iter().all(|&t| (10..20).contains(&t)));
}

#[test]
fn vote_grants_wait_for_persistence() {
    let mut net = Net::new(&[1, 2, 3]);
    net.node(1).campaign().unwrap();
    let ready = net.node(1).ready();
    let prevotes: alloc::vec::Vec<Message> = ready.persisted_messages.clone();
    net.storage.get_mut(&1).unwrap().persist(&ready);
    net.node(1).advance(ready);
    assert!(prevotes
        .iter()
        .all(|m| m.body.kind() == MessageKind::PreVote));
    let to = prevotes[0].to;
    net.node(to).step(prevotes[0].clone());
    let ready = net.node(to).ready();
    assert!(
        ready.messages.is_empty(),
        "a follower sends nothing before persisting"
    );
    assert_eq!(ready.persisted_messages.len(), 1);
}
