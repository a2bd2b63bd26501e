//! The engine's own guarantees, each on a node or two driven by hand.

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;

use super::{Answer, Engine, EngineConfig, WriteEnd};
use crate::orchestrator::{Command, Envelope, Orchestrator, Response};
use crate::raft::{
    ConfState, Config, EntryPayload, MemStorage, Message, MessageBody, RawNode, Snapshot,
    SnapshotMeta,
};

type TestEngine = Engine<Orchestrator, u32, u32>;

fn engine(id: u64, voters: &[u64]) -> (TestEngine, MemStorage) {
    let storage = MemStorage::new_with_voters(voters);
    let raw = RawNode::new(Config::new(id), &storage).unwrap();
    let config = EngineConfig::default();
    (Engine::new(raw, Orchestrator::new(), 0, config), storage)
}

/// Runs the host loop until the engine has nothing to do; what it persisted, in order.
fn drive(engine: &mut TestEngine, storage: &mut MemStorage, now_ms: u64) -> Vec<bool> {
    let mut synced = Vec::new();
    while let Some(mut ready) = engine.ready(now_ms) {
        synced.push(ready.must_sync());
        if ready.must_sync() {
            storage.persist(&ready.raft);
        }
        engine.apply(&mut ready).unwrap();
        engine.advance(ready);
    }
    synced
}

fn put(key: &str) -> Vec<u8> {
    let command = Command::Put {
        key: key.into(),
        value: vec![1],
        lease: None,
        expected_revision: None,
    };
    Envelope::new(0, command).encode()
}

fn elect(engine: &mut TestEngine, storage: &mut MemStorage) {
    for now in 0..100 {
        engine.tick(now * 10);
        drive(engine, storage, now * 10);
        if engine.raw().is_leader() {
            return;
        }
    }
    panic!("no leader");
}

#[test]
fn a_new_leader_logs_leader_changed_before_any_client_write() {
    let (mut engine, mut storage) = engine(1, &[1]);
    elect(&mut engine, &mut storage);
    engine.propose(1_000, put("a"), 7).unwrap();
    drive(&mut engine, &mut storage, 1_000);
    let commands: Vec<Command> = storage
        .all_entries()
        .iter()
        .filter_map(|e| match &e.payload {
            EntryPayload::Normal(data) => Envelope::decode(data).ok().map(|e| e.command),
            _ => None,
        })
        .collect();
    assert_eq!(commands.first(), Some(&Command::LeaderChanged));
    assert!(matches!(commands.get(1), Some(Command::Put { .. })));
    let answers = engine.take_answers();
    assert!(matches!(
        answers.as_slice(),
        [Answer::Write(
            7,
            WriteEnd::Applied {
                output: Ok(Response::KvPut { .. }),
                ..
            }
        )]
    ));
}

#[test]
fn a_commit_index_alone_is_not_synced() {
    let (mut engine, mut storage) = engine(1, &[1]);
    elect(&mut engine, &mut storage);
    engine.propose(1_000, put("a"), 1).unwrap();
    let synced = drive(&mut engine, &mut storage, 1_000);
    // The entry is synced; the round that only commits and applies it is not.
    assert_eq!(synced.first(), Some(&true));
    assert!(synced.iter().skip(1).all(|s| !s), "{synced:?}");
    assert!(storage.hard_state().commit < engine.raw().commit_index());
}

#[test]
fn a_snapshot_that_does_not_restore_is_never_persisted() {
    let (mut engine, mut storage) = engine(2, &[1, 2, 3]);
    let snapshot = |data: Vec<u8>| Message {
        from: 1,
        to: 2,
        term: 5,
        body: MessageBody::InstallSnapshot {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    index: 50,
                    term: 5,
                    conf: ConfState {
                        voters: BTreeSet::from([1, 2, 3]),
                        learners: BTreeSet::new(),
                    },
                },
                data: data.into(),
            },
        },
    };
    let term_before = engine.raw().term();
    engine.step(snapshot(vec![0xff, 0x00, 0x13]));
    drive(&mut engine, &mut storage, 0);
    assert_eq!(engine.refused_snapshots(), 1);
    assert!(crate::raft::Storage::snapshot(&storage).is_none());
    assert_eq!(
        engine.raw().term(),
        term_before,
        "the refused message moved nothing"
    );
    // A snapshot that restores is installed, from the state checked on receipt.
    let mut leader_state = Orchestrator::new();
    let applied = crate::state_machine::StateMachine::apply(&mut leader_state, 50, &put("k"));
    assert!(applied.is_ok());
    let data = crate::state_machine::StateMachine::snapshot(&leader_state);
    engine.step(snapshot(data));
    drive(&mut engine, &mut storage, 0);
    assert_eq!(engine.applied(), 50);
    assert!(engine.app().kv_get("k").is_some());
    assert_eq!(
        crate::raft::Storage::snapshot(&storage).map(|s| s.meta.index),
        Some(50)
    );
}

#[test]
fn a_forward_carries_the_hosts_traceparent_and_the_leader_reports_its_index() {
    use super::forward::{PeerMessage, Submitted};
    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    // Node 2 learns of leader 1 from a heartbeat, then forwards a traced write to it.
    let (mut follower, mut follower_storage) = engine(2, &[1, 2]);
    follower.step(Message {
        from: 1,
        to: 2,
        term: 1,
        body: MessageBody::Heartbeat { commit: 0, seq: 0 },
    });
    drive(&mut follower, &mut follower_storage, 0);
    let submitted = follower.propose_traced(0, put("a"), Some(TRACEPARENT.into()), 7);
    assert!(matches!(submitted, Ok(Submitted::Forwarded { to: 1 })));
    let forward = follower.take_outbox().pop().expect("a forward");
    let (to, message) = forward;
    assert_eq!(to, 1);
    assert!(matches!(
        &message,
        PeerMessage::Forward { traceparent: Some(t), .. } if t == TRACEPARENT
    ));
    // A leader proposes it and says where; the same forward delivered again is not.
    let (mut leader, mut leader_storage) = engine(1, &[1]);
    elect(&mut leader, &mut leader_storage);
    let proposed = leader.receive(1_000, 2, message.clone()).expect("proposed");
    assert!(proposed.index > 0);
    assert!(leader.receive(1_000, 2, message).is_none());
}

/// Puts `key` with a value of `len` bytes.
fn put_sized(key: &str, len: usize) -> Vec<u8> {
    let command = Command::Put {
        key: key.into(),
        value: vec![7; len],
        lease: None,
        expected_revision: None,
    };
    Envelope::new(0, command).encode()
}

#[test]
fn snapshots_follow_the_log_bytes_and_a_large_state_waits_for_its_share() {
    let storage = MemStorage::new_with_voters(&[1]);
    let raw = RawNode::new(Config::new(1), &storage).unwrap();
    let config = EngineConfig {
        snapshot_every: 4,
        snapshot_log_share_percent: 50,
        snapshot_log_bytes: 40_000,
        ..EngineConfig::default()
    };
    let (mut engine, mut storage) = (Engine::new(raw, Orchestrator::new(), 0, config), storage);
    elect(&mut engine, &mut storage);
    engine.take_snapshot(); // the election's entries
    let mut taken = Vec::new();
    for i in 0..40 {
        engine
            .propose(2_000, put_sized(&alloc::format!("k{i:02}"), 1_000), i)
            .unwrap();
        drive(&mut engine, &mut storage, 2_000);
        if let Some(s) = engine.take_snapshot() {
            taken.push((i, s.meta.index, engine.app().live_bytes()));
        }
    }
    // Four small entries make a snapshot while the state is small; as it grows the count no
    // longer suffices, and 50% of the state's size in log is needed: the gaps widen.
    let gaps: Vec<u32> = taken.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.first() == Some(&4), "{taken:?}");
    assert!(gaps.windows(2).all(|w| w[1] >= w[0]), "{taken:?}");
    assert!(gaps.last().is_some_and(|&g| g > 4), "{taken:?}");
    // Past the byte bound a snapshot is due whatever the state's size.
    let bounded = EngineConfig {
        snapshot_every: 0,
        ..config
    };
    let storage = MemStorage::new_with_voters(&[1]);
    let raw = RawNode::new(Config::new(1), &storage).unwrap();
    let (mut engine, mut storage) = (Engine::new(raw, Orchestrator::new(), 0, bounded), storage);
    elect(&mut engine, &mut storage);
    let mut at = Vec::new();
    for i in 0..100 {
        engine
            .propose(2_000, put_sized(&alloc::format!("k{i:02}"), 1_000), i)
            .unwrap();
        drive(&mut engine, &mut storage, 2_000);
        if engine.take_snapshot().is_some() {
            at.push(i);
        }
    }
    assert_eq!(at.len(), 2, "one snapshot per ~40 KB of log: {at:?}");
}

#[test]
fn applies_go_on_while_a_snapshot_is_encoded_and_it_covers_its_own_index() {
    let storage = MemStorage::new_with_voters(&[1]);
    let raw = RawNode::new(Config::new(1), &storage).unwrap();
    let config = EngineConfig {
        snapshot_every: 5,
        snapshot_keep_entries: 2,
        ..EngineConfig::default()
    };
    let (mut engine, mut storage) = (Engine::new(raw, Orchestrator::new(), 0, config), storage);
    elect(&mut engine, &mut storage);
    for i in 0..5 {
        engine
            .propose(2_000, put(&alloc::format!("a{i}")), i)
            .unwrap();
        drive(&mut engine, &mut storage, 2_000);
    }
    let job = engine.begin_snapshot().expect("five entries applied: due");
    let at = job.index();
    assert_eq!(engine.snapshot_in_flight(), Some(at));
    // The state moves on while the job is encoded; no second job starts meanwhile.
    for i in 0..10 {
        engine
            .propose(2_000, put(&alloc::format!("b{i}")), 10 + i)
            .unwrap();
        drive(&mut engine, &mut storage, 2_000);
        assert!(engine.begin_snapshot().is_none(), "one snapshot at a time");
    }
    assert!(engine.applied() >= at + 10);
    let snapshot = engine
        .finish_snapshot(job.encode())
        .expect("still the newest");
    assert_eq!(snapshot.meta.index, at);
    assert_eq!(engine.snapshot_index(), at);
    assert_eq!(
        engine.raw().snapshot_index(),
        at - 2,
        "keeps 2 entries behind it"
    );
    // The snapshot holds the state as of its index: the `a` keys, none of the `b` keys.
    let mut restored = Orchestrator::new();
    crate::state_machine::StateMachine::restore(&mut restored, &snapshot.data).unwrap();
    assert_eq!(restored.kv_range("a").len(), 5);
    assert_eq!(restored.kv_range("b").len(), 0);
    assert_eq!(engine.app().kv_range("b").len(), 10);
    // The next one is due again (ten entries since the last began) and starts.
    assert!(engine.snapshot_in_flight().is_none());
    let next = engine.begin_snapshot().expect("due again");
    assert!(next.index() > at);
    // A job overtaken by a newer snapshot is dropped at finish.
    let newer = engine.finish_snapshot(next.clone().encode()).unwrap();
    assert!(
        engine.finish_snapshot(next.encode()).is_none(),
        "not newer: dropped"
    );
    assert_eq!(engine.snapshot_index(), newer.meta.index);
}

/// One host round for `engine`: every `Ready`, persisted and applied; the messages it sends.
fn drive_sending(
    engine: &mut TestEngine,
    storage: &mut MemStorage,
    now_ms: u64,
) -> Vec<(u64, super::PeerMessage<crate::orchestrator::Output>)> {
    let mut out = Vec::new();
    while let Some(mut ready) = engine.ready(now_ms) {
        if ready.must_sync() {
            storage.persist(&ready.raft);
        }
        let mut messages = core::mem::take(&mut ready.raft.messages);
        messages.append(&mut ready.raft.persisted_messages);
        engine.apply(&mut ready).unwrap();
        engine.advance(ready);
        out.extend(engine.peer_messages(messages));
    }
    out.extend(engine.take_outbox());
    out
}

#[test]
fn keepalives_repeat_the_last_heartbeats_and_keep_a_follower_from_campaigning() {
    let (mut leader, mut leader_storage) = engine(1, &[1, 2]);
    let (mut follower, mut follower_storage) = engine(2, &[1, 2]);
    let mut now = 0;
    // Only node 1's clock runs: it campaigns, wins, and node 2 answers its heartbeats.
    let mut to_follower = drive_sending(&mut leader, &mut leader_storage, now);
    for _ in 0..100 {
        now += 10;
        for (_, m) in to_follower.drain(..) {
            follower.receive(now, 1, m);
        }
        for (_, m) in drive_sending(&mut follower, &mut follower_storage, now) {
            leader.receive(now, 2, m);
        }
        leader.tick(now);
        to_follower = drive_sending(&mut leader, &mut leader_storage, now);
    }
    assert!(leader.raw().is_leader());
    let term = leader.raw().term();
    let beats = leader.keepalives();
    assert!(
        matches!(beats.as_slice(), [(2, super::PeerMessage::Raft(Message { body: MessageBody::Heartbeat { .. }, term: t, .. }))] if *t == term),
        "{beats:?}"
    );
    let answers = follower.keepalives();
    assert!(
        matches!(
            answers.as_slice(),
            [(
                1,
                super::PeerMessage::Raft(Message {
                    body: MessageBody::HeartbeatResponse { .. },
                    ..
                })
            )]
        ),
        "{answers:?}"
    );
    // The leader's loop is stuck on its disk: only its keepalives reach the follower, for many
    // election timeouts, and the follower stays a follower of the same term.
    for _ in 0..200 {
        now += 10;
        follower.tick(now);
        for (_, m) in leader.keepalives() {
            follower.receive(now, 1, m);
        }
        drive_sending(&mut follower, &mut follower_storage, now);
    }
    assert_eq!(follower.raw().term(), term);
    assert_eq!(follower.raw().leader(), Some(1));
    // Without them it campaigns (a pre-vote: the term moves only if it wins one); then its old
    // heartbeat responses are not given out again.
    for _ in 0..200 {
        now += 10;
        follower.tick(now);
        drive_sending(&mut follower, &mut follower_storage, now);
    }
    assert_ne!(follower.raw().leader(), Some(1));
    assert!(follower.keepalives().is_empty());
}
