//! `RawNode` fed a sequence of well-formed inputs from its peers: node 1 of a 3-voter cluster,
//! brought into a role the input picks (follower, pre-candidate, candidate, leader), then
//! stepped with messages of every kind (any sender, recipient, term, index and commit, with
//! members, strangers, 0 and `u64::MAX` well represented; appends half honest, half not;
//! snapshots of any shape), ticks, proposals, compactions and restarts. After every input the
//! host loop runs (`ready`, persist into `MemStorage`, `advance`) and the node keeps its
//! invariants: commit within the log, applied within commit, term never decreasing, a
//! contiguous log in memory and in storage, a persisted commit within the persisted log, and
//! storage it can restart from.
//!
//! (`core`'s own `raft::tests::fuzz` is the same idea with proptest strategies; this one reads
//! its choices from bytes, so libFuzzer can steer it.)

use std::collections::BTreeSet;

use raftorch_core::raft::{
    ConfChange, ConfState, Config, Entry, EntryPayload, MemStorage, Message, MessageBody, RawNode,
    Role, Snapshot, SnapshotMeta, Storage,
};

use crate::bytes::Bytes;

/// The node under test; 2 and 3 are the other voters.
const ME: u64 = 1;
/// Inputs per run at most, so one input stays fast.
const MAX_INPUTS: usize = 64;

fn node_id(b: &mut Bytes<'_>) -> u64 {
    match b.below(10) {
        0..=5 => 1 + u64::from(b.below(3)),
        6 => 0,
        7 => 4,
        8 => 9,
        _ => u64::MAX,
    }
}

fn payload(b: &mut Bytes<'_>) -> EntryPayload {
    match b.below(7) {
        0 | 1 => EntryPayload::Noop,
        2 | 3 => EntryPayload::Normal(b.take(4).to_vec().into()),
        4 => EntryPayload::ConfChange(ConfChange::AddVoter(node_id(b))),
        5 => EntryPayload::ConfChange(ConfChange::AddLearner(node_id(b))),
        _ => EntryPayload::ConfChange(ConfChange::RemoveNode(node_id(b))),
    }
}

/// An append: half shaped like an honest leader's (contiguous after `prev_index`, terms
/// non-decreasing), the rest with arbitrary indexes and terms.
fn append(b: &mut Bytes<'_>) -> MessageBody {
    let prev_index = b.number();
    let prev_term = b.number();
    let commit = b.number();
    let shaped = b.bool();
    let count = b.below(5);
    let mut term = prev_term;
    let entries = (0..count)
        .map(|i| {
            let (index, t, payload) = (b.number(), b.number(), payload(b));
            if shaped {
                term = term.max(t % 8);
                Entry {
                    term,
                    index: prev_index.saturating_add(1 + u64::from(i)),
                    payload,
                }
            } else {
                Entry {
                    term: t,
                    index,
                    payload,
                }
            }
        })
        .collect();
    MessageBody::Append {
        prev_index,
        prev_term,
        entries,
        commit,
    }
}

fn conf(b: &mut Bytes<'_>) -> ConfState {
    let voters: BTreeSet<u64> = (0..b.below(4)).map(|_| node_id(b)).collect();
    let learners: BTreeSet<u64> = (0..b.below(2)).map(|_| node_id(b)).collect();
    ConfState { voters, learners }
}

fn body(b: &mut Bytes<'_>) -> MessageBody {
    match b.below(16) {
        0 => MessageBody::PreVote {
            last_index: b.number(),
            last_term: b.number(),
        },
        1 => MessageBody::PreVoteResponse { granted: b.bool() },
        2 => MessageBody::Vote {
            last_index: b.number(),
            last_term: b.number(),
            transfer: b.bool(),
        },
        3 => MessageBody::VoteResponse { granted: b.bool() },
        4..=6 => append(b),
        7 | 8 => MessageBody::AppendAccepted {
            match_index: b.number(),
        },
        9 => MessageBody::AppendRejected {
            rejected_index: b.number(),
            hint_index: b.number(),
            hint_term: b.number(),
        },
        10 => MessageBody::Heartbeat {
            commit: b.number(),
            seq: b.number(),
        },
        11 => MessageBody::HeartbeatResponse { seq: b.number() },
        12 => MessageBody::InstallSnapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index: b.number(),
                    term: b.number(),
                    conf: conf(b),
                },
                data: b.take(3).to_vec().into(),
            },
        },
        13 => MessageBody::TimeoutNow,
        14 => MessageBody::ReadIndex { ctx: b.number() },
        _ => MessageBody::ReadIndexResponse {
            ctx: b.number(),
            index: b.number(),
        },
    }
}

fn message(b: &mut Bytes<'_>) -> Message {
    let from = node_id(b);
    let to = if b.below(9) == 0 { node_id(b) } else { ME };
    let term = if b.below(7) == 0 {
        b.number()
    } else {
        u64::from(b.below(8))
    };
    Message {
        from,
        to,
        term,
        body: body(b),
    }
}

fn config(pre_vote: bool) -> Config {
    let mut config = Config::new(ME);
    config.pre_vote = pre_vote;
    config
}

/// Runs the host loop until the node has nothing more to say.
fn drain(node: &mut RawNode, storage: &mut MemStorage) {
    for _ in 0..64 {
        if !node.has_ready() {
            return;
        }
        let ready = node.ready();
        storage.persist(&ready);
        node.advance(ready);
    }
    panic!("the node never ran out of work");
}

/// Node 1 in `role`: 0 follower, 1 pre-candidate, 2 candidate, 3 leader.
fn node_in_role(role: u8) -> (RawNode, MemStorage, bool) {
    let pre_vote = role == 1;
    let mut storage = MemStorage::new_with_voters(&[1, 2, 3]);
    let mut node = RawNode::new(config(pre_vote), &storage).expect("a fresh node starts");
    drain(&mut node, &mut storage);
    if role >= 1 {
        node.campaign().expect("a voter campaigns");
        drain(&mut node, &mut storage);
    }
    if role == 3 {
        let term = node.term();
        node.step(Message {
            from: 2,
            to: ME,
            term,
            body: MessageBody::VoteResponse { granted: true },
        });
        drain(&mut node, &mut storage);
    }
    let expected = [
        Role::Follower,
        Role::PreCandidate,
        Role::Candidate,
        Role::Leader,
    ];
    assert_eq!(node.role(), expected[usize::from(role)], "set-up role");
    (node, storage, pre_vote)
}

/// Panics unless entries follow each other from `first` with non-decreasing terms.
fn contiguous<'a>(what: &str, first: u64, entries: impl Iterator<Item = &'a Entry>) {
    let mut prev_term = 0;
    for (i, e) in entries.enumerate() {
        let index = first + i as u64;
        assert!(
            e.index == index && e.term >= prev_term,
            "{what}: entry at {index} is {e:?} after term {prev_term}"
        );
        prev_term = e.term;
    }
}

fn check(node: &RawNode, storage: &MemStorage, prev_term: u64) {
    let (commit, last) = (node.commit_index(), node.last_index());
    assert!(commit <= last, "commit {commit} beyond last index {last}");
    assert!(node.applied_index() <= commit, "applied beyond commit");
    assert!(
        node.term() >= prev_term,
        "term went from {prev_term} to {}",
        node.term()
    );
    let first = node.snapshot_index() + 1;
    let held: Option<Vec<&Entry>> = (first..=last).map(|i| node.entry(i)).collect();
    let held = held.expect("a hole in the log");
    contiguous("memory", first, held.into_iter());
    contiguous(
        "storage",
        storage.first_index(),
        storage.all_entries().iter(),
    );
    let hs = storage.hard_state();
    assert!(
        hs.commit <= storage.last_index(),
        "persisted commit beyond the persisted log"
    );
    assert_eq!(hs.term, node.term(), "persisted term");
}

/// The target.
pub fn run(data: &[u8]) {
    let mut b = Bytes::new(data);
    let (mut node, mut storage, pre_vote) = node_in_role(b.below(4));
    let mut term = node.term();
    for _ in 0..MAX_INPUTS {
        if b.is_empty() {
            break;
        }
        match b.below(17) {
            0..=11 => node.step(message(&mut b)),
            12 | 13 => {
                for _ in 0..1 + b.below(24) {
                    node.tick();
                    drain(&mut node, &mut storage);
                }
            }
            14 => {
                let _ = node.propose(b"p".to_vec());
            }
            15 => {
                let snapshot = node.compact(vec![], u64::from(b.below(3)));
                storage.compact(snapshot);
            }
            _ => {
                node = RawNode::new(config(pre_vote), &storage)
                    .unwrap_or_else(|e| panic!("cannot restart: {e}"));
            }
        }
        drain(&mut node, &mut storage);
        check(&node, &storage, term);
        term = node.term();
    }
}
