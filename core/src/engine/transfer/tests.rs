//! The chunk protocol between two engines driven by hand: order, window, duplicates, corrupt
//! chunks, a wrong whole checksum, resuming after loss, and compaction during a transfer.

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;

use super::super::{Engine, EngineConfig, PeerMessage};
use super::{checksum, Chunk, ChunkAck, TransferConfig};
use crate::orchestrator::{Command, Envelope, Orchestrator};
use crate::raft::{
    ConfState, Config, MemStorage, Message, MessageBody, NodeId, RawNode, Snapshot, SnapshotMeta,
};
use crate::state_machine::StateMachine;

type TestEngine = Engine<Orchestrator, u32, u32>;
type Outbox = Vec<(NodeId, PeerMessage<<Orchestrator as StateMachine>::Output>)>;

const CHUNK: u32 = 64;
const RETRANSMIT_MS: u64 = 100;

fn config() -> EngineConfig {
    EngineConfig {
        transfer: TransferConfig {
            chunk_bytes: CHUNK,
            window: 2,
            retransmit_ms: RETRANSMIT_MS,
            abandon_ms: 10_000,
        },
        ..EngineConfig::default()
    }
}

fn engine(id: u64, voters: &[u64]) -> (TestEngine, MemStorage) {
    let storage = MemStorage::new_with_voters(voters);
    let raw = RawNode::new(Config::new(id), &storage).unwrap();
    (Engine::new(raw, Orchestrator::new(), 0, config()), storage)
}

fn put(key: &str) -> Vec<u8> {
    let command = Command::Put {
        key: key.into(),
        value: vec![7; 40],
        lease: None,
        expected_revision: None,
    };
    Envelope::new(0, command).encode()
}

/// A leader's state with `keys` keys, as a snapshot at index 50 of term 5.
fn snapshot(keys: usize) -> Snapshot {
    let mut state = Orchestrator::new();
    for i in 0..keys {
        let _ = state.apply(i as u64 + 1, &put(&alloc::format!("key-{i}")));
    }
    Snapshot {
        meta: SnapshotMeta {
            index: 50,
            term: 5,
            conf: ConfState {
                voters: BTreeSet::from([1, 2, 3]),
                learners: BTreeSet::new(),
            },
        },
        data: state.snapshot().into(),
    }
}

/// Node 1 starts sending `snapshot` to node 2 (as if its Raft asked to).
fn start(sender: &mut TestEngine, snapshot: Snapshot) {
    sender.snapshot_to_chunks(Message {
        from: 1,
        to: 2,
        term: 5,
        body: MessageBody::InstallSnapshot { snapshot },
    });
}

fn chunks(outbox: Outbox) -> Vec<Chunk> {
    outbox
        .into_iter()
        .filter_map(|(_, m)| match m {
            PeerMessage::SnapshotChunk(c) => Some(c),
            _ => None,
        })
        .collect()
}

fn acks(outbox: Outbox) -> Vec<ChunkAck> {
    outbox
        .into_iter()
        .filter_map(|(_, m)| match m {
            PeerMessage::SnapshotAck(a) => Some(a),
            _ => None,
        })
        .collect()
}

/// The receiver takes `chunk`; its acknowledgements.
fn deliver(receiver: &mut TestEngine, chunk: Chunk) -> Vec<ChunkAck> {
    receiver.receive(0, 1, PeerMessage::SnapshotChunk(chunk));
    acks(receiver.take_outbox())
}

fn install(receiver: &mut TestEngine, storage: &mut MemStorage) {
    receiver.install_received_now();
    while let Some(mut ready) = receiver.ready(0) {
        if ready.must_sync() {
            storage.persist(&ready.raft);
        }
        receiver.apply(&mut ready).unwrap();
        receiver.advance(ready);
    }
}

/// Moves chunks and acknowledgements between the two until neither has anything to say.
fn pump(sender: &mut TestEngine, receiver: &mut TestEngine, now_ms: u64) {
    loop {
        let sent = chunks(sender.take_outbox());
        if sent.is_empty() {
            return;
        }
        for chunk in sent {
            for ack in deliver(receiver, chunk) {
                sender.receive(now_ms, 2, PeerMessage::SnapshotAck(ack));
            }
        }
    }
}

#[test]
fn a_snapshot_goes_in_order_within_the_window_and_installs_whole() {
    let snapshot = snapshot(20);
    let total = snapshot.data.len() as u64;
    assert!(total > 8 * u64::from(CHUNK), "many chunks: {total} bytes");
    let (mut sender, _) = engine(1, &[1]);
    let (mut receiver, mut storage) = engine(2, &[1, 2, 3]);
    start(&mut sender, snapshot.clone());
    let first = chunks(sender.take_outbox());
    // The window: two chunks before any acknowledgement, in order, each checksummed.
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].offset, 0);
    assert_eq!(first[1].offset, u64::from(CHUNK));
    for c in &first {
        assert_eq!(c.total_len, total);
        assert_eq!(c.checksum, checksum(&c.data));
        // Only the last chunk carries the whole checksum.
        assert_eq!(c.total_checksum, None);
    }
    for chunk in first {
        for ack in deliver(&mut receiver, chunk) {
            sender.receive(0, 2, PeerMessage::SnapshotAck(ack));
        }
    }
    pump(&mut sender, &mut receiver, 0);
    assert_eq!(sender.transfers().count(), 0, "the transfer ended");
    install(&mut receiver, &mut storage);
    assert_eq!(receiver.applied(), 50);
    assert!(receiver.app().kv_get("key-19").is_some());
    assert_eq!(
        crate::raft::Storage::snapshot(&storage).map(|s| s.data),
        Some(snapshot.data)
    );
    let (sent, got) = (sender.transfer_stats(), receiver.transfer_stats());
    assert_eq!(sent.completed, 1);
    assert_eq!(sent.bytes_sent, total);
    assert_eq!(got.bytes_received, total);
    assert_eq!(got.chunks_received, total.div_ceil(u64::from(CHUNK)));
    // Raft on the receiver answered the snapshot as installed.
    let raft_acks = receiver.take_outbox();
    assert!(raft_acks.is_empty(), "{raft_acks:?}");
}

#[test]
fn duplicate_and_out_of_order_chunks_are_ignored() {
    let (mut sender, _) = engine(1, &[1]);
    let (mut receiver, mut storage) = engine(2, &[1, 2, 3]);
    start(&mut sender, snapshot(20));
    let first = chunks(sender.take_outbox());
    // The second chunk first: not taken, the acknowledgement says 0 bytes held.
    assert_eq!(deliver(&mut receiver, first[1].clone())[0].received, 0);
    let c = u64::from(CHUNK);
    assert_eq!(deliver(&mut receiver, first[0].clone())[0].received, c);
    assert_eq!(deliver(&mut receiver, first[0].clone())[0].received, c);
    assert_eq!(deliver(&mut receiver, first[1].clone())[0].received, 2 * c);
    assert_eq!(deliver(&mut receiver, first[1].clone())[0].received, 2 * c);
    assert_eq!(receiver.transfer_stats().chunks_received, 2);
    // A duplicate acknowledgement moves the sender by nothing.
    let ack = ChunkAck {
        index: 50,
        snapshot_term: 5,
        received: 2 * c,
    };
    sender.receive(0, 2, PeerMessage::SnapshotAck(ack));
    let next = chunks(sender.take_outbox());
    assert_eq!(
        next.iter().map(|c| c.offset).collect::<Vec<_>>(),
        [2 * c, 3 * c]
    );
    sender.receive(0, 2, PeerMessage::SnapshotAck(ack));
    assert!(sender.take_outbox().is_empty());
    for chunk in next {
        for ack in deliver(&mut receiver, chunk) {
            sender.receive(0, 2, PeerMessage::SnapshotAck(ack));
        }
    }
    pump(&mut sender, &mut receiver, 0);
    install(&mut receiver, &mut storage);
    assert_eq!(receiver.applied(), 50);
    // A late duplicate after the install is acknowledged as complete, not started over.
    let late = deliver(&mut receiver, first[0].clone());
    assert_eq!(late[0].received, first[0].total_len);
}

#[test]
fn a_corrupt_chunk_is_dropped_and_a_wrong_whole_checksum_starts_over() {
    let (mut receiver, mut storage) = engine(2, &[1, 2, 3]);
    let (mut sender, _) = engine(1, &[1]);
    start(&mut sender, snapshot(20));
    let mut first = chunks(sender.take_outbox());
    first[0].data[3] ^= 0x40;
    assert!(
        deliver(&mut receiver, first[0].clone()).is_empty(),
        "no ack"
    );
    assert_eq!(receiver.transfer_stats().corrupt_chunks, 1);
    // A snapshot whose chunks are each consistent but whose whole checksum is wrong (a sender
    // that cut it wrong): the receiver discards it and asks for it from 0.
    let snap = snapshot(20);
    let total = snap.data.len() as u64;
    let mut received = Vec::new();
    for (i, piece) in snap.data.chunks(CHUNK as usize).enumerate() {
        let offset = (i * CHUNK as usize) as u64;
        let last = offset + piece.len() as u64 == total;
        let chunk = Chunk {
            term: 5,
            meta: snap.meta.clone(),
            offset,
            total_len: total,
            total_checksum: last.then_some(checksum(&snap.data) ^ 1),
            checksum: checksum(piece),
            data: piece.to_vec(),
        };
        received.extend(deliver(&mut receiver, chunk));
    }
    assert_eq!(received.last().map(|a| a.received), Some(0));
    assert_eq!(receiver.transfer_stats().corrupt_snapshots, 1);
    install(&mut receiver, &mut storage);
    assert!(receiver.applied() < 50, "never installed");
    assert!(crate::raft::Storage::snapshot(&storage).is_none());
    // A sender told 0 after progress rewinds to 0.
    let ack = |received| ChunkAck {
        index: 50,
        snapshot_term: 5,
        received,
    };
    sender.receive(0, 2, PeerMessage::SnapshotAck(ack(u64::from(CHUNK))));
    let _ = sender.take_outbox();
    sender.receive(0, 2, PeerMessage::SnapshotAck(ack(0)));
    let again = chunks(sender.take_outbox());
    assert_eq!(again.first().map(|c| c.offset), Some(0));
    assert_eq!(sender.transfer_stats().restarted, 1);
}

#[test]
fn a_lost_window_is_resent_from_the_acknowledged_offset() {
    let (mut sender, _) = engine(1, &[1]);
    let (mut receiver, mut storage) = engine(2, &[1, 2, 3]);
    start(&mut sender, snapshot(20));
    let first = chunks(sender.take_outbox());
    // The first chunk arrives and is acknowledged; everything after it is lost (the
    // connection dropped).
    for ack in deliver(&mut receiver, first[0].clone()) {
        sender.receive(10, 2, PeerMessage::SnapshotAck(ack));
    }
    let _lost = chunks(sender.take_outbox());
    sender.tick(10 + RETRANSMIT_MS / 2);
    assert!(chunks(sender.take_outbox()).is_empty(), "not yet");
    sender.tick(10 + RETRANSMIT_MS);
    let resent = chunks(sender.take_outbox());
    assert_eq!(resent.first().map(|c| c.offset), Some(u64::from(CHUNK)));
    assert_eq!(sender.transfer_stats().resumed, 1);
    for chunk in resent {
        for ack in deliver(&mut receiver, chunk) {
            sender.receive(200, 2, PeerMessage::SnapshotAck(ack));
        }
    }
    pump(&mut sender, &mut receiver, 200);
    install(&mut receiver, &mut storage);
    assert_eq!(receiver.applied(), 50);
    assert_eq!(
        receiver.transfer_stats().bytes_received,
        snapshot(20).data.len() as u64
    );
}

#[test]
fn a_stale_leaders_chunks_are_ignored_and_a_silent_transfer_is_abandoned() {
    let (mut receiver, _) = engine(2, &[1, 2, 3]);
    let (mut sender, _) = engine(1, &[1]);
    start(&mut sender, snapshot(20));
    let mut first = chunks(sender.take_outbox());
    // The receiver has seen term 5 from a heartbeat; a chunk of term 4 is ignored.
    receiver.step(Message {
        from: 1,
        to: 2,
        term: 5,
        body: MessageBody::Heartbeat { commit: 0, seq: 1 },
    });
    first[0].term = 4;
    assert!(deliver(&mut receiver, first[0].clone()).is_empty());
    assert_eq!(receiver.transfer_stats().chunks_received, 0);
    sender.tick(10_000);
    assert_eq!(sender.transfers().count(), 0);
}

#[test]
fn compaction_keeps_the_entries_after_a_snapshot_in_transfer() {
    let storage = MemStorage::new_with_voters(&[1]);
    let raw = RawNode::new(Config::new(1), &storage).unwrap();
    let mut config = config();
    config.snapshot_every = 20;
    config.snapshot_keep_entries = 2;
    let mut leader: TestEngine = Engine::new(raw, Orchestrator::new(), 0, config);
    let mut storage = storage;
    let mut now = 0;
    let run = |leader: &mut TestEngine, storage: &mut MemStorage, now: u64| {
        while let Some(mut ready) = leader.ready(now) {
            if ready.must_sync() {
                storage.persist(&ready.raft);
            }
            leader.apply(&mut ready).unwrap();
            leader.advance(ready);
            if let Some(s) = leader.take_snapshot() {
                storage.compact(s);
            }
        }
    };
    while !leader.raw().is_leader() {
        now += 10;
        leader.tick(now);
        run(&mut leader, &mut storage, now);
    }
    for i in 0..25 {
        leader
            .propose(now, put(&alloc::format!("a{i}")), i)
            .unwrap();
        run(&mut leader, &mut storage, now);
    }
    let first = leader.snapshot_index();
    assert!(first > 0);
    // A transfer of that snapshot to node 2 progresses.
    let snap = crate::raft::Storage::snapshot(&storage).unwrap();
    start(&mut leader, snap);
    let _ = leader.take_outbox();
    let ack = ChunkAck {
        index: first,
        snapshot_term: leader.raw().term(),
        received: u64::from(CHUNK),
    };
    leader.receive(now, 2, PeerMessage::SnapshotAck(ack));
    for i in 0..30 {
        leader
            .propose(now, put(&alloc::format!("b{i}")), i)
            .unwrap();
        run(&mut leader, &mut storage, now);
    }
    assert!(
        leader.snapshot_index() > first + 2,
        "a newer snapshot was taken"
    );
    assert!(
        leader.raw().entry(first + 1).is_some(),
        "the entries after the snapshot in transfer are kept"
    );
    // Once the transfer is abandoned, compaction goes back to its own policy.
    leader.tick(now + 10_000);
    for i in 0..30 {
        leader
            .propose(now + 10_000, put(&alloc::format!("c{i}")), i)
            .unwrap();
        run(&mut leader, &mut storage, now + 10_000);
    }
    assert!(leader.raw().entry(first + 1).is_none());
}

#[test]
fn the_whole_checksum_is_fed_a_chunk_at_a_time_and_survives_odd_rewinds() {
    let snapshot = snapshot(20);
    let data = &snapshot.data;
    let mut whole = super::RunningChecksum::default();
    whole.feed_from(0, &data[..100]);
    whole.feed_from(50, &data[50..300]); // overlaps: only the new part counts
    whole.feed_from(500, &data[500..600]); // a gap: ignored
    whole.feed_from(300, &data[300..]);
    assert_eq!(whole.fed(), data.len() as u64);
    assert_eq!(whole.digest(), checksum(data));
    // A receiver that acknowledges an offset inside a chunk: the sender rewinds there, and the
    // last chunk still carries the checksum of the whole.
    let (mut sender, _) = engine(1, &[1]);
    start(&mut sender, snapshot.clone());
    let first = chunks(sender.take_outbox());
    let ack = |received| ChunkAck {
        index: 50,
        snapshot_term: 5,
        received,
    };
    sender.receive(0, 2, PeerMessage::SnapshotAck(ack(u64::from(CHUNK) + 7)));
    sender.receive(0, 2, PeerMessage::SnapshotAck(ack(3)));
    let mut last = None;
    let mut acked = 3;
    for _ in 0..1000 {
        let out = chunks(sender.take_outbox());
        let Some(end) = out.last().map(|c| c.offset + c.data.len() as u64) else {
            break;
        };
        if let Some(c) = out
            .iter()
            .find(|c| c.offset + c.data.len() as u64 == c.total_len)
        {
            last = Some(c.clone());
        }
        acked = end;
        sender.receive(0, 2, PeerMessage::SnapshotAck(ack(acked)));
    }
    assert_eq!(acked, data.len() as u64);
    assert!(first.iter().all(|c| c.total_checksum.is_none()));
    assert_eq!(last.and_then(|c| c.total_checksum), Some(checksum(data)));
}

#[test]
fn a_snapshot_that_does_not_decode_is_taken_from_its_first_chunk_when_sent_again() {
    // Every chunk and the whole checksum are right, but the bytes are no state.
    let mut bad = snapshot(20);
    bad.data = vec![0xff; 3 * CHUNK as usize + 5].into();
    let (mut sender, _) = engine(1, &[1]);
    let (mut receiver, mut storage) = engine(2, &[1, 2, 3]);
    start(&mut sender, bad.clone());
    pump(&mut sender, &mut receiver, 0);
    assert_eq!(sender.transfers().count(), 0, "the transfer ended");
    install(&mut receiver, &mut storage);
    assert_eq!(receiver.refused_snapshots(), 1);
    assert!(crate::raft::Storage::snapshot(&storage).is_none());
    // Raft asks again: the receiver takes it from the start rather than answer "complete".
    start(&mut sender, bad);
    let again = chunks(sender.take_outbox());
    let acks = deliver(&mut receiver, again[0].clone());
    assert_eq!(acks.first().map(|a| a.received), Some(u64::from(CHUNK)));
}
