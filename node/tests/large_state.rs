//! With real processes and a state of about 200 MiB (`RAFTORCH_LARGE_STATE_MIB` to change it),
//! sized for CI on 2 cores: one follower is down while the state fills; the term does not move
//! while it fills (snapshots of the growing state are taken meanwhile), while every key is read
//! page by page, nor while the follower catches up through a snapshot sent in chunks — its
//! first transfer cut half way by a `kill -9` of the receiver.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use proc::Cluster;

const MIB: u64 = 1 << 20;
const ELECT: Duration = Duration::from_secs(15);
/// Values of 1 KiB, as in the scale benchmark.
const VALUE_BYTES: usize = 1024;
const WRITERS: usize = 8;
/// A generous bound for a debug build on a busy 2-core machine; the 1 GiB goal (60 s) is the
/// release benchmark's (`cargo xtask scale`).
const CATCH_UP: Duration = Duration::from_secs(240);

fn target_bytes() -> u64 {
    let mib = std::env::var("RAFTORCH_LARGE_STATE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    mib * MIB
}

fn status(c: &Cluster, id: u64) -> Option<serde_json::Value> {
    let a = c.request(id, "GET", "/v1/status", None)?;
    (a.status == 200).then_some(a.body)
}

fn term(c: &Cluster, id: u64) -> u64 {
    status(c, id)
        .and_then(|s| s["term"].as_u64())
        .unwrap_or_else(|| panic!("node {id} reports no term\n{}", c.logs_tail()))
}

/// A metric's value as a float (gauges in seconds included).
fn metric_f64(c: &Cluster, id: u64, name: &str) -> Option<f64> {
    let text = c.request(id, "GET", "/metrics", None)?.body;
    text.as_str()?
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Writes `fill/NNNNNNNN` keys of [`VALUE_BYTES`] from [`WRITERS`] threads to `leader` until its
/// live state holds `target` bytes; how many keys.
fn fill(c: &Cluster, leader: u64, target: u64) -> u64 {
    let next = AtomicU64::new(0);
    let url = c.url(leader);
    let body = serde_json::json!({ "value": "x".repeat(VALUE_BYTES) }).to_string();
    // ~1,070 bytes per key: the value, the key and the per-key overhead the state counts.
    let keys = target / (VALUE_BYTES as u64 + 40) + 1;
    std::thread::scope(|s| {
        for _ in 0..WRITERS {
            let agent = c.agent(Duration::from_secs(30));
            let (next, url, body) = (&next, &url, &body);
            s.spawn(move || loop {
                let n = next.fetch_add(1, Relaxed);
                if n >= keys {
                    return;
                }
                let put = agent
                    .put(&format!("{url}/v1/kv/fill/{n:08}"))
                    .send_string(body);
                assert!(put.is_ok(), "write {n}: {put:?}");
            });
        }
    });
    keys
}

#[test]
fn a_large_state_fills_is_read_and_caught_up_without_a_leadership_change() {
    let target = target_bytes();
    let quota = (target * 4).max(1 << 30).to_string();
    let mut c = Cluster::start(3, &["--quota-bytes", &quota]);
    let leader = c.wait_leader(ELECT);
    let behind = (1..=3).rev().find(|&id| id != leader).expect("a follower");
    c.kill(behind);
    let first_term = term(&c, leader);

    let started = Instant::now();
    let keys = fill(&c, leader, target);
    let live = c.get(leader, "/v1/alarms").body["live_bytes"]
        .as_u64()
        .unwrap_or(0);
    eprintln!(
        "filled {} MiB ({keys} keys) in {:.1?}",
        live / MIB,
        started.elapsed()
    );
    assert!(live >= target, "live state {live} < {target}");
    assert_eq!(
        term(&c, leader),
        first_term,
        "filling with a follower down moved the term\n{}",
        c.logs_tail()
    );
    let snapshots = c.metric(leader, "raftorch_snapshots_total").unwrap_or(0);
    assert!(snapshots > 0, "the leader took snapshots while it filled");

    // Every key, page by page.
    let started = Instant::now();
    let (mut read, mut after) = (0, None::<String>);
    loop {
        let mut path = "/v1/kv?prefix=fill/&limit=1000".to_owned();
        if let Some(k) = &after {
            path.push_str(&format!("&start_after={k}"));
        }
        let page = c.get(leader, &path);
        assert_eq!(page.status, 200, "{:?}", page.body);
        read += page.body["items"].as_array().map_or(0, Vec::len) as u64;
        match page.body["next"].as_str() {
            Some(next) if page.body["more"] == true => after = Some(next.to_owned()),
            _ => break,
        }
    }
    eprintln!("read {read} keys in pages in {:.1?}", started.elapsed());
    assert_eq!(read, keys, "a paged read returns every key once");
    assert_eq!(
        term(&c, leader),
        first_term,
        "reading every key moved the term"
    );

    // The follower comes back; its first transfer is cut by a kill -9 half way.
    let commit = status(&c, leader).expect("status")["commit_index"]
        .as_u64()
        .expect("commit");
    let snapshot_bytes = c
        .metric(leader, "raftorch_snapshot_last_bytes")
        .unwrap_or(target);
    c.spawn(behind);
    let half_way = c.eventually(CATCH_UP, "the snapshot transfer to be under way", || {
        let got = c.metric(behind, "raftorch_snapshot_chunk_bytes_received_total")?;
        (got >= snapshot_bytes / 4).then_some(got)
    });
    c.kill(behind);
    eprintln!(
        "killed node {behind} with {} of {} MiB of the snapshot received",
        half_way / MIB,
        snapshot_bytes / MIB
    );
    c.spawn(behind);
    let started = Instant::now();
    c.eventually(CATCH_UP, "the follower to catch up", || {
        let applied = status(&c, behind)?["applied_index"].as_u64()?;
        (applied >= commit).then_some(())
    });
    eprintln!("node {behind} caught up in {:.1?}", started.elapsed());
    let last = format!("/v1/kv/fill/{:08}?consistency=stale", keys - 1);
    let a = c.get(behind, &last);
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["value"].as_str().map(str::len), Some(VALUE_BYTES));
    assert_eq!(
        term(&c, leader),
        first_term,
        "the follower's catch-up moved the term\n{}",
        c.logs_tail()
    );
    let stall = metric_f64(&c, leader, "raftorch_owner_loop_stall_seconds").unwrap_or(0.0);
    eprintln!(
        "longest owner-loop round on the leader: {:.0} ms",
        stall * 1e3
    );
}
