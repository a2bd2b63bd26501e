//! Hostile or buggy peers: absurd terms and indexes, malformed appends and snapshots, and
//! messages from nodes outside the configuration. None may crash a node, make it persist a log
//! that does not hold together, or move its term, commit index, votes or role.

use alloc::vec;

use super::harness::Net;
use crate::raft::{
    ConfState, Entry, EntryPayload, MemStorage, Message, MessageBody, ReadMode, Role, Snapshot,
    SnapshotMeta, Storage,
};

/// A node that is in no configuration of the test cluster.
const STRANGER: u64 = 9;

fn msg(from: u64, to: u64, term: u64, body: MessageBody) -> Message {
    Message {
        from,
        to,
        term,
        body,
    }
}

fn noop(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        payload: EntryPayload::Noop,
    }
}

/// Whether a storage's entries follow each other with non-decreasing terms.
fn holds_together(storage: &MemStorage) -> bool {
    let entries = storage.all_entries();
    let first = storage.first_index();
    entries
        .iter()
        .enumerate()
        .all(|(i, e)| e.index == first + i as u64)
        && entries.windows(2).all(|w| w[0].term <= w[1].term)
}

/// A 3-node cluster led by node 1, settled.
fn settled() -> Net {
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    net.tick_all(2);
    net
}

#[test]
fn a_term_that_cannot_be_incremented_is_refused() {
    let mut net = settled();
    let term = net.node(2).term();
    net.deliver(msg(
        1,
        2,
        u64::MAX,
        MessageBody::Heartbeat { commit: 0, seq: 1 },
    ));
    net.deliver(msg(3, 2, u64::MAX - 1, MessageBody::TimeoutNow));
    assert_eq!(net.node(2).term(), term, "the absurd term was not adopted");
    net.isolate(2);
    net.tick_all(50);
    assert!(net.node(2).term() < u64::MAX >> 1);
}

#[test]
fn an_ack_beyond_the_leaders_log_is_refused() {
    let mut net = settled();
    let term = net.node(1).term();
    let commit = net.node(1).commit_index();
    net.isolate(3);
    net.node(1).propose(b"x".to_vec()).unwrap();
    net.cut.insert((1, 2));
    net.process(1);
    net.stabilize();
    let accepted = MessageBody::AppendAccepted {
        match_index: u64::MAX,
    };
    net.deliver(msg(2, 1, term, accepted));
    let accepted = MessageBody::AppendAccepted { match_index: 1000 };
    net.deliver(msg(3, 1, term, accepted));
    assert_eq!(net.node(1).commit_index(), commit, "nobody holds the entry");
    assert!(net.node(1).is_leader());
}

#[test]
fn a_rejection_hint_beyond_the_rejected_index_is_refused() {
    let mut net = Net::new(&[1, 2, 3]);
    net.cut.insert((1, 2));
    net.elect(1);
    let term = net.node(1).term();
    let rejected = MessageBody::AppendRejected {
        rejected_index: 3,
        hint_index: u64::MAX,
        hint_term: 0,
    };
    net.deliver(msg(2, 1, term, rejected));
    let rejected = MessageBody::AppendRejected {
        rejected_index: u64::MAX,
        hint_index: u64::MAX,
        hint_term: u64::MAX,
    };
    net.deliver(msg(2, 1, term, rejected));
    assert!(net.node(1).is_leader());
    net.heal();
    let x = net.propose(1, b"x");
    net.tick_all(2);
    assert_eq!(net.node(2).commit_index(), x, "replication still works");
}

#[test]
fn an_append_far_beyond_our_log_is_a_rejection() {
    let mut net = settled();
    let term = net.node(2).term();
    let last = net.node(2).last_index();
    let append = MessageBody::Append {
        prev_index: u64::MAX,
        prev_term: term,
        entries: vec![noop(u64::MAX, term)],
        commit: u64::MAX,
    };
    net.deliver(msg(1, 2, term, append));
    assert_eq!(net.node(2).last_index(), last);
    assert!(net.node(2).commit_index() <= last);
}

#[test]
fn an_append_with_a_gap_is_refused_and_nothing_is_persisted() {
    let mut net = settled();
    let term = net.node(2).term();
    let last = net.node(2).last_index();
    let append = MessageBody::Append {
        prev_index: last,
        prev_term: term,
        entries: vec![noop(last + 5, term)],
        commit: 0,
    };
    net.deliver(msg(1, 2, term, append));
    assert_eq!(net.node(2).last_index(), last);
    assert!(holds_together(&net.storage[&2]));
    let append = MessageBody::Append {
        prev_index: last,
        prev_term: term,
        entries: vec![noop(last + 1, term), noop(last + 3, term)],
        commit: 0,
    };
    net.deliver(msg(1, 2, term, append));
    assert_eq!(net.node(2).last_index(), last);
    assert!(holds_together(&net.storage[&2]));
}

#[test]
fn an_append_whose_terms_go_backwards_or_ahead_of_the_leader_is_refused() {
    let mut net = settled();
    let term = net.node(2).term();
    let last = net.node(2).last_index();
    let bad = [
        // Terms go backwards.
        vec![noop(last + 1, term), noop(last + 2, term - 1)],
        // Below the term of the previous entry.
        vec![noop(last + 1, term - 1)],
        // Newer than the leader's own term.
        vec![noop(last + 1, term + 1)],
    ];
    for entries in bad {
        let append = MessageBody::Append {
            prev_index: last,
            prev_term: term,
            entries,
            commit: 0,
        };
        net.deliver(msg(1, 2, term, append));
        assert_eq!(net.node(2).last_index(), last);
        assert!(holds_together(&net.storage[&2]));
    }
    // The honest leader is unaffected.
    let x = net.propose(1, b"x");
    assert_eq!(net.node(2).commit_index(), x);
}

fn snapshot(index: u64, term: u64, conf: ConfState) -> MessageBody {
    MessageBody::InstallSnapshot {
        snapshot: Snapshot {
            meta: SnapshotMeta { index, term, conf },
            data: Default::default(),
        },
    }
}

#[test]
fn a_snapshot_with_inconsistent_metadata_is_refused() {
    let mut net = settled();
    let term = net.node(2).term();
    let last = net.node(2).last_index();
    let conf = net.node(2).conf_state().clone();
    let bad = [
        snapshot(0, term, conf.clone()),
        snapshot(last + 10, term + 1, conf.clone()),
        snapshot(last + 10, 0, conf.clone()),
        snapshot(last + 10, term, ConfState::default()),
        snapshot(u64::MAX, term, conf.clone()),
    ];
    for body in bad {
        net.deliver(msg(1, 2, term, body));
        assert_eq!(net.node(2).snapshot_index(), 0);
        assert_eq!(net.node(2).last_index(), last);
        assert_eq!(net.node(2).conf_state(), &conf);
        assert!(net.storage[&2].snapshot().is_none());
    }
}

#[test]
fn timeout_now_from_anyone_but_the_leader_starts_no_election() {
    let mut net = settled();
    let term = net.node(2).term();
    net.deliver(msg(STRANGER, 2, term, MessageBody::TimeoutNow));
    net.deliver(msg(3, 2, term, MessageBody::TimeoutNow));
    assert_eq!(net.node(2).term(), term);
    assert_eq!(net.node(2).role(), Role::Follower);
    assert_eq!(net.node(1).role(), Role::Leader);
}

#[test]
fn a_stranger_moves_no_state() {
    let mut net = settled();
    let term = net.node(1).term();
    let commit = net.node(1).commit_index();
    // A forged acknowledgement does not count toward a quorum, nor depose the leader.
    net.isolate(1);
    let x = net.node(1).propose(b"x".to_vec()).unwrap().index;
    net.process(1);
    net.stabilize();
    for t in [term, term + 1] {
        let ack = MessageBody::AppendAccepted { match_index: x };
        net.deliver(msg(STRANGER, 1, t, ack));
        let hb = MessageBody::HeartbeatResponse { seq: 1 };
        net.deliver(msg(STRANGER, 1, t, hb));
    }
    assert!(net.node(1).is_leader());
    assert_eq!(net.node(1).term(), term);
    assert_eq!(net.node(1).commit_index(), commit);
    net.heal();
    net.tick_all(2);
    // Leader traffic and vote requests from a stranger move nobody's term or vote.
    let term = net.node(2).term();
    let (last_index, last_term) = (u64::MAX >> 2, u64::MAX >> 2);
    let vote = MessageBody::Vote {
        last_index,
        last_term,
        transfer: true,
    };
    net.deliver(msg(STRANGER, 2, term + 1, vote));
    let hb = MessageBody::Heartbeat { commit: 0, seq: 1 };
    net.deliver(msg(STRANGER, 1, term + 1, hb.clone()));
    net.deliver(msg(STRANGER, 2, term + 1, hb));
    for id in [1, 2] {
        assert_eq!(net.node(id).term(), term, "node {id}");
        assert_eq!(net.storage[&id].hard_state().vote, Some(1), "node {id}");
    }
    assert!(net.node(1).is_leader());
    assert_eq!(net.node(2).leader(), Some(1));
}

#[test]
fn a_heartbeat_commit_beyond_our_log_stops_at_our_last_index() {
    let mut net = settled();
    let term = net.node(2).term();
    let hb = MessageBody::Heartbeat {
        commit: u64::MAX,
        seq: 1,
    };
    net.deliver(msg(1, 2, term, hb));
    assert!(net.node(2).commit_index() <= net.node(2).last_index());
}

#[test]
fn an_acknowledgement_of_a_round_never_sent_confirms_no_read() {
    let mut net = settled();
    let term = net.node(1).term();
    net.isolate(1);
    net.node(1).read_index(7, ReadMode::Linearizable).unwrap();
    net.process(1);
    let hb = MessageBody::HeartbeatResponse { seq: u64::MAX };
    // Straight into the node: the harness drops what crosses a cut link.
    net.node(1).step(msg(2, 1, term, hb));
    net.process(1);
    assert!(net.reads.get(&1).is_none_or(|r| r.is_empty()));
}

#[test]
fn messages_claiming_to_come_from_ourselves_or_node_zero_are_dropped() {
    let mut net = settled();
    let term = net.node(2).term();
    let dropped = net.node(2).dropped_messages();
    net.deliver(msg(2, 2, term + 1, MessageBody::TimeoutNow));
    net.deliver(msg(0, 2, term + 1, MessageBody::TimeoutNow));
    assert_eq!(net.node(2).term(), term);
    assert_eq!(net.node(2).dropped_messages(), dropped + 2, "counted");
}
