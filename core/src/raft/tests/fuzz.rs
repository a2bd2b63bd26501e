//! A fuzz harness for the Raft layer: a node of a 3-voter cluster, in each role, is fed arbitrary
//! well-typed messages (any sender, receiver, term, index, commit and entries, with 0, `u64::MAX`
//! and non-members well represented), ticks, proposals, compactions and restarts. After every
//! input the host loop runs (`ready`, persist into `MemStorage`, `advance`) and the node must not
//! panic and must keep its invariants: commit within the log, term never decreasing, a
//! contiguous log in memory and in storage, and storage a node can restart from.
//!
//! The case count is proptest's: 256 by default, `PROPTEST_CASES=10000` for a long run.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use crate::raft::{
    ConfChange, ConfState, Config, Entry, EntryPayload, MemStorage, Message, MessageBody, RawNode,
    Role, Snapshot, SnapshotMeta, Storage,
};

/// The node under test; 2 and 3 are the other voters.
const ME: u64 = 1;

/// One input to the node.
#[derive(Clone, Debug)]
enum Input {
    Step(Message),
    Tick(u8),
    Propose,
    Compact(u8),
    Restart,
}

/// Numbers that matter: small ones (the log is short), the edges, and anything at all.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..12,
        1 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        1 => Just(1u64 << 62),
        1 => Just((1u64 << 62) - 1),
        1 => any::<u64>(),
    ]
}

/// Node ids: members, a stranger, the reserved 0 and extremes.
fn node_id() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 1u64..=3,
        1 => Just(0u64),
        1 => Just(4u64),
        1 => Just(9u64),
        1 => Just(u64::MAX),
    ]
}

fn payload() -> impl Strategy<Value = EntryPayload> {
    prop_oneof![
        2 => Just(EntryPayload::Noop),
        2 => proptest::collection::vec(any::<u8>(), 0..4)
            .prop_map(|d| EntryPayload::Normal(d.into())),
        1 => node_id().prop_map(|id| EntryPayload::ConfChange(ConfChange::AddVoter(id))),
        1 => node_id().prop_map(|id| EntryPayload::ConfChange(ConfChange::AddLearner(id))),
        1 => node_id().prop_map(|id| EntryPayload::ConfChange(ConfChange::RemoveNode(id))),
    ]
}

/// An append: half of them shaped like an honest leader's (contiguous after `prev_index`, terms
/// non-decreasing), the rest with arbitrary indexes and terms.
fn append() -> impl Strategy<Value = MessageBody> {
    let entry = (number(), number(), payload());
    (
        number(),
        number(),
        number(),
        any::<bool>(),
        proptest::collection::vec(entry, 0..5),
    )
        .prop_map(|(prev_index, prev_term, commit, shaped, raw)| {
            let mut term = prev_term;
            let entries = raw
                .into_iter()
                .enumerate()
                .map(|(i, (index, t, payload))| {
                    if shaped {
                        term = term.max(t % 8);
                        Entry {
                            term,
                            index: prev_index.saturating_add(1 + i as u64),
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
        })
}

fn conf() -> impl Strategy<Value = ConfState> {
    (
        proptest::collection::btree_set(node_id(), 0..4),
        proptest::collection::btree_set(node_id(), 0..2),
    )
        .prop_map(|(voters, learners)| ConfState { voters, learners })
}

fn body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        1 => (number(), number()).prop_map(|(last_index, last_term)| MessageBody::PreVote {
            last_index,
            last_term
        }),
        1 => any::<bool>().prop_map(|granted| MessageBody::PreVoteResponse { granted }),
        1 => (number(), number(), any::<bool>()).prop_map(|(last_index, last_term, transfer)| {
            MessageBody::Vote {
                last_index,
                last_term,
                transfer,
            }
        }),
        1 => any::<bool>().prop_map(|granted| MessageBody::VoteResponse { granted }),
        3 => append(),
        2 => number().prop_map(|match_index| MessageBody::AppendAccepted { match_index }),
        1 => (number(), number(), number()).prop_map(|(rejected_index, hint_index, hint_term)| {
            MessageBody::AppendRejected {
                rejected_index,
                hint_index,
                hint_term,
            }
        }),
        1 => (number(), number()).prop_map(|(commit, seq)| MessageBody::Heartbeat { commit, seq }),
        1 => number().prop_map(|seq| MessageBody::HeartbeatResponse { seq }),
        1 => (number(), number(), conf(), proptest::collection::vec(any::<u8>(), 0..3)).prop_map(
            |(index, term, conf, data)| MessageBody::InstallSnapshot {
                snapshot: Snapshot {
                    meta: SnapshotMeta { index, term, conf },
                    data: data.into(),
                },
            }
        ),
        1 => Just(MessageBody::TimeoutNow),
        1 => number().prop_map(|ctx| MessageBody::ReadIndex { ctx }),
        1 => (number(), number()).prop_map(|(ctx, index)| MessageBody::ReadIndexResponse { ctx, index }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let to = prop_oneof![8 => Just(ME), 1 => node_id()];
    let term = prop_oneof![6 => 0u64..8, 1 => number()];
    (node_id(), to, term, body()).prop_map(|(from, to, term, body)| Message {
        from,
        to,
        term,
        body,
    })
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        12 => message().prop_map(Input::Step),
        2 => (1u8..25).prop_map(Input::Tick),
        1 => Just(Input::Propose),
        1 => (0u8..3).prop_map(Input::Compact),
        1 => Just(Input::Restart),
    ]
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

/// Node 1 of a 3-voter cluster in the given role: 0 follower, 1 pre-candidate, 2 candidate,
/// 3 leader.
fn node_in_role(role: u8) -> (RawNode, MemStorage, bool) {
    let pre_vote = role == 1;
    let mut storage = MemStorage::new_with_voters(&[1, 2, 3]);
    let mut node = RawNode::new(config(pre_vote), &storage).unwrap();
    drain(&mut node, &mut storage);
    if role >= 1 {
        node.campaign().unwrap();
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
    assert_eq!(node.role(), expected[role as usize]);
    (node, storage, pre_vote)
}

/// Whether entries follow each other from `first` with non-decreasing terms.
fn contiguous<'a>(first: u64, entries: impl Iterator<Item = &'a Entry>) -> Result<(), String> {
    let mut prev_term = 0;
    for (i, e) in entries.enumerate() {
        let index = first + i as u64;
        if e.index != index || e.term < prev_term {
            return Err(alloc::format!(
                "entry at {index} is {e:?} after term {prev_term}"
            ));
        }
        prev_term = e.term;
    }
    Ok(())
}

fn check(node: &RawNode, storage: &MemStorage, prev_term: u64) -> Result<(), TestCaseError> {
    let (commit, last) = (node.commit_index(), node.last_index());
    prop_assert!(
        commit <= last,
        "commit {} beyond last index {}",
        commit,
        last
    );
    prop_assert!(node.applied_index() <= commit);
    prop_assert!(
        node.term() >= prev_term,
        "term went from {} to {}",
        prev_term,
        node.term()
    );
    let first = node.snapshot_index() + 1;
    let held: Option<Vec<&Entry>> = (first..=last).map(|i| node.entry(i)).collect();
    let held = held.ok_or_else(|| TestCaseError::fail("a hole in the log"))?;
    contiguous(first, held.into_iter()).map_err(TestCaseError::fail)?;
    contiguous(storage.first_index(), storage.all_entries().iter()).map_err(TestCaseError::fail)?;
    let hs = storage.hard_state();
    prop_assert!(
        hs.commit <= storage.last_index(),
        "persisted commit beyond the persisted log"
    );
    prop_assert_eq!(hs.term, node.term());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn no_message_crashes_a_node_or_breaks_its_log(
        role in 0u8..4,
        inputs in proptest::collection::vec(input(), 1..40),
    ) {
        let (mut node, mut storage, pre_vote) = node_in_role(role);
        let mut term = node.term();
        for input in inputs {
            match input {
                Input::Step(m) => node.step(m),
                Input::Tick(n) => {
                    for _ in 0..n {
                        node.tick();
                        drain(&mut node, &mut storage);
                    }
                }
                Input::Propose => {
                    let _ = node.propose(b"p".to_vec());
                }
                Input::Compact(keep) => {
                    let snapshot = node.compact(vec![], u64::from(keep));
                    storage.compact(snapshot);
                }
                Input::Restart => {
                    let restarted = RawNode::new(config(pre_vote), &storage);
                    prop_assert!(restarted.is_ok(), "cannot restart: {:?}", restarted.err());
                    node = restarted.unwrap();
                }
            }
            drain(&mut node, &mut storage);
            check(&node, &storage, term)?;
            term = node.term();
        }
    }
}
