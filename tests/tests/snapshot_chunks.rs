//! A follower that was down catches up through a snapshot sent in many small chunks, over a
//! network that loses and duplicates messages; the simulator checks election safety, log
//! matching, leader completeness and state machine safety after every step.

use raftorch_core::engine::TransferConfig;
use raftorch_core::raft::NodeId;
use raftorch_core::sim::{
    Cluster, KvApp, KvCommand, Outcome, Request, SimConfig, TraceEvent, WireKind,
};

fn put(key: &str, value: &str) -> Request<KvApp> {
    Request::Write(
        KvCommand::Put {
            key: key.into(),
            value: value.into(),
        }
        .encode(),
    )
}

/// Submits a write (retrying at whoever leads) until it is applied.
fn write(c: &mut Cluster<KvApp>, key: &str, value: &str) {
    for _ in 0..20 {
        let Some(leader) = c.run_until_leader(3_000) else {
            continue;
        };
        let request = c.submit(leader, put(key, value));
        for _ in 0..100 {
            let done = c.take_completions();
            if let Some(d) = done.iter().find(|d| d.request == request) {
                if matches!(d.outcome, Outcome::Written { .. }) {
                    return;
                }
                break;
            }
            c.run_for(10);
        }
    }
    panic!("write {key} never applied");
}

fn chunks_sent_to(c: &Cluster<KvApp>, to: NodeId) -> usize {
    c.trace()
        .records()
        .iter()
        .filter(|r| {
            matches!(r.event, TraceEvent::Sent { kind: WireKind::SnapshotChunk, to: t, .. } if t == to)
        })
        .count()
}

#[test]
fn a_follower_that_was_down_catches_up_through_many_chunks_under_message_loss() {
    for seed in [1, 2, 3, 4, 5] {
        let mut config = SimConfig::new(3, seed);
        config.snapshot_every = 30;
        config.snapshot_keep_entries = 5;
        config.drop_per_mille = 100;
        config.duplicate_per_mille = 20;
        config.snapshot_transfer = TransferConfig {
            chunk_bytes: 32,
            window: 4,
            retransmit_ms: 100,
            abandon_ms: 3_000,
        };
        let mut c: Cluster<KvApp> = Cluster::new(config);
        let leader = c.run_until_leader(5_000).expect("leader");
        let behind = if leader == 3 { 2 } else { 3 };
        c.crash(behind);
        for i in 0..120 {
            write(
                &mut c,
                &format!("key-{}", i % 40),
                &format!("value-{i}-{}", "x".repeat(20)),
            );
        }
        c.restart(behind);
        let mut caught_up = false;
        for _ in 0..600 {
            c.run_for(50);
            let leader = c.leader();
            if let Some(l) = leader {
                if l != behind && c.applied_index(behind) >= c.applied_index(l) {
                    caught_up = true;
                    break;
                }
            }
        }
        assert!(caught_up, "seed {seed}: the follower never caught up");
        let chunks = chunks_sent_to(&c, behind);
        assert!(
            chunks >= 30,
            "seed {seed}: a many-chunk snapshot, got {chunks} chunks"
        );
        let installed = c.trace().records().iter().any(
            |r| matches!(r.event, TraceEvent::SnapshotInstalled { node, .. } if node == behind),
        );
        assert!(installed, "seed {seed}: caught up through a snapshot");
        let stats = c.node(behind).engine.as_ref().unwrap().transfer_stats();
        eprintln!("seed {seed}: {chunks} chunks sent, receiver {stats:?}");
        assert!(stats.chunks_received >= 30, "seed {seed}: {stats:?}");
        let leader = c.leader().unwrap();
        assert_eq!(
            c.node(behind).app().cloned(),
            c.node(leader).app().cloned(),
            "seed {seed}"
        );
        assert_eq!(c.violation(), None, "seed {seed}: a safety property broke");
    }
}
