//! With real processes: a follower that was down catches up through a snapshot sent in many
//! small chunks (`--snapshot-chunk-bytes`), and the leader keeps its leadership meanwhile; chunks
//! damaged on the way (`--debug-corrupt-chunk-every`) are refused and sent again.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::time::Duration;

use proc::Cluster;

const ELECT: Duration = Duration::from_secs(15);
const CATCH_UP: Duration = Duration::from_secs(30);
const CHUNK_BYTES: u64 = 512;

#[test]
fn a_follower_that_was_down_catches_up_through_a_snapshot_of_many_chunks() {
    let chunk = CHUNK_BYTES.to_string();
    let mut c = Cluster::start(
        3,
        &["--snapshot-every", "50", "--snapshot-chunk-bytes", &chunk],
    );
    let leader = c.wait_leader(ELECT);
    let behind = (1..=3).find(|&id| id != leader).expect("a follower");
    let a = c.put_kv(leader, "before/down", "kept");
    assert_eq!(a.status, 200, "{a:?}");
    c.kill(behind);
    let value = "v".repeat(100);
    // More than the 1,000 entries the leader keeps behind a snapshot: only a snapshot helps.
    for i in 0..1300 {
        let a = c.put_kv(leader, &format!("fill/{i:04}"), &value);
        assert_eq!(a.status, 200, "write {i}: {a:?}");
    }
    let status = c.get(leader, "/v1/status").body;
    let term = status["term"].as_u64().expect("term");
    let target = status["applied_index"].as_u64().expect("applied");
    assert!(
        c.metric(leader, "raftorch_snapshots_total").unwrap_or(0) > 0,
        "the leader compacted its log past the follower"
    );
    c.spawn(behind);
    c.eventually(CATCH_UP, "the restarted follower to catch up", || {
        let s = c.request(behind, "GET", "/v1/status", None)?;
        (s.body["applied_index"].as_u64()? >= target).then_some(())
    });
    let a = c.get(behind, "/v1/kv/before/down?consistency=stale");
    assert_eq!(a.body["value"], "kept", "{a:?}");
    let a = c.get(behind, "/v1/kv/fill/1299?consistency=stale");
    assert_eq!(a.body["value"], value.as_str(), "{a:?}");
    // The state is many chunks: ~130 KB of values in 512-byte chunks.
    let received = c
        .metric(behind, "raftorch_snapshot_chunks_received_total")
        .unwrap_or(0);
    let bytes = c
        .metric(behind, "raftorch_snapshot_chunk_bytes_received_total")
        .unwrap_or(0);
    assert!(received >= 50, "chunks received: {received}");
    assert!(bytes >= 50 * CHUNK_BYTES, "bytes received: {bytes}");
    let sent = c
        .metric(leader, "raftorch_snapshot_chunks_sent_total")
        .unwrap_or(0);
    assert!(sent >= received, "chunks sent: {sent}");
    // No election meanwhile: the same leader, in the same term.
    let status = c.get(leader, "/v1/status").body;
    assert_eq!(status["term"].as_u64(), Some(term), "{status}");
    assert_eq!(c.wait_leader(ELECT), leader);
}

#[test]
fn corrupt_chunks_are_refused_and_sent_again_and_the_state_arrives_whole() {
    // Every node damages every 5th chunk it sends, after its checksum was taken. A damaged
    // chunk is not acknowledged, so the sender resends from it after its retransmit timeout
    // (1 s): 4 KiB chunks keep those waits few.
    let mut c = Cluster::start(
        3,
        &[
            "--snapshot-every",
            "50",
            "--snapshot-chunk-bytes",
            "4096",
            "--debug-corrupt-chunk-every",
            "5",
        ],
    );
    let leader = c.wait_leader(ELECT);
    let behind = (1..=3).find(|&id| id != leader).expect("a follower");
    c.kill(behind);
    for i in 0..1300 {
        let a = c.put_kv(leader, &format!("fill/{i:04}"), &format!("value {i}"));
        assert_eq!(a.status, 200, "write {i}: {a:?}");
    }
    let target = c.get(leader, "/v1/status").body["applied_index"]
        .as_u64()
        .expect("applied");
    c.spawn(behind);
    c.eventually(CATCH_UP, "the restarted follower to catch up", || {
        let s = c.request(behind, "GET", "/v1/status", None)?;
        (s.body["applied_index"].as_u64()? >= target).then_some(())
    });
    let corrupt = c
        .metric(behind, "raftorch_snapshot_chunks_corrupt_total")
        .unwrap_or(0);
    assert!(corrupt > 0, "the receiver refused the damaged chunks");
    // Refused, sent again, and the state is whole: every value as written.
    for i in (0..1300).step_by(97).chain([1299]) {
        let a = c.get(behind, &format!("/v1/kv/fill/{i:04}?consistency=stale"));
        assert_eq!(a.body["value"], format!("value {i}").as_str(), "{a:?}");
    }
    assert_eq!(
        c.metric(behind, "raftorch_snapshot_failures_total"),
        Some(0)
    );
}
