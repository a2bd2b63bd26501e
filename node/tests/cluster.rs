//! End to end with real processes: election, forwarding, failover, catch-up, durability.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::time::Duration;

use proc::Cluster;

const ELECT: Duration = Duration::from_secs(15);
const CONVERGE: Duration = Duration::from_secs(15);

fn register(c: &Cluster, via: u64, service: &str, instance: &str) {
    let body = r#"{"address": "10.0.0.7", "port": 8080, "version": "v1"}"#;
    let a = c.put(
        via,
        &format!("/v1/services/{service}/instances/{instance}"),
        body,
    );
    assert!(
        a.status == 201 || a.status == 200,
        "register via {via}: {a:?}"
    );
}

fn follower_of(c: &Cluster, leader: u64) -> u64 {
    (1..=c.nodes.len() as u64)
        .find(|&id| id != leader && c.is_up(id))
        .expect("a running follower")
}

#[test]
fn a_cluster_elects_a_leader_and_every_node_discovers_a_registration_made_at_a_follower() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = follower_of(&c, leader);
    register(&c, follower, "web", "web-1");
    for id in 1..=3 {
        // Linearizable by default: every node answers with the write, forwarded or not.
        let a = c.get(id, "/v1/services/web");
        assert_eq!(a.status, 200, "node {id}: {a:?}");
        assert_eq!(a.body["instances"][0]["id"], "web-1");
        assert_eq!(a.leader.as_deref(), Some(leader.to_string().as_str()));
        assert!(a.index.is_some_and(|i| i > 0));
        let route = c.get(id, "/v1/route/web?key=user-42");
        assert_eq!(route.body["instance"]["id"], "web-1", "node {id}");
        let ready = c.get(id, "/readyz");
        assert_eq!(ready.status, 200, "node {id}: {ready:?}");
        assert_eq!(ready.body["leader_id"], leader, "node {id}: {ready:?}");
    }
    // Stale reads converge too.
    for id in 1..=3 {
        c.eventually(CONVERGE, "stale read", || {
            let a = c.get(id, "/v1/services?consistency=stale");
            (a.body["services"][0] == "web").then_some(())
        });
    }
}

#[test]
fn after_kill_9_of_the_leader_a_survivor_takes_writes_and_the_killed_node_catches_up() {
    // Snapshot often so the restarted node also exercises compaction.
    let mut c = Cluster::start(3, &["--snapshot-every", "20"]);
    let old = c.wait_leader(ELECT);
    register(&c, old, "api", "api-1");
    c.kill(old);
    let new = c.wait_leader(ELECT);
    assert_ne!(new, old);
    let survivor = follower_of(&c, new);
    let w = c.put_kv(survivor, "config/mode", "blue");
    assert_eq!(w.status, 200, "{w:?}");
    for id in [new, survivor] {
        let a = c.get(id, "/v1/services/api");
        assert_eq!(a.body["instances"][0]["id"], "api-1", "node {id}: {a:?}");
    }
    // More writes while the old leader is down, then bring it back.
    for i in 0..30 {
        let a = c.put_kv(survivor, &format!("k{i}"), &format!("v{i}"));
        assert_eq!(a.status, 200, "{a:?}");
    }
    c.spawn(old);
    let target = c.get(new, "/v1/status").body["commit_index"]
        .as_u64()
        .unwrap_or(0);
    c.eventually(CONVERGE, "the restarted node to catch up", || {
        let s = c.request(old, "GET", "/v1/status", None)?;
        (s.body["applied_index"].as_u64()? >= target).then_some(())
    });
    let a = c.get(old, "/v1/kv/k29?consistency=stale");
    assert_eq!(a.body["value"], "v29", "{a:?}");
    let a = c.get(old, "/v1/kv/config/mode");
    assert_eq!(a.body["value"], "blue", "{a:?}");
    let metrics = c.get(new, "/metrics").body;
    let metrics = metrics.as_str().unwrap_or_default();
    assert!(
        sample(metrics, "raftorch_snapshots_total") > 0,
        "the leader compacted its log: {metrics}"
    );
    assert!(
        sample(metrics, "raftorch_peer_round_trip_seconds_count") > 0,
        "the leader timed its heartbeats' round trips: {metrics}"
    );
}

/// The value of the series `name` (no labels) in a Prometheus text exposition, 0 if absent.
fn sample(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn acknowledged_writes_survive_kill_9_of_every_node() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = follower_of(&c, leader);
    for i in 0..40 {
        let via = if i % 2 == 0 { leader } else { follower };
        let a = c.put_kv(via, &format!("durable/{i}"), &format!("value-{i}"));
        assert_eq!(a.status, 200, "write {i}: {a:?}");
    }
    for id in 1..=3 {
        c.kill(id);
    }
    for id in 1..=3 {
        c.spawn(id);
    }
    c.wait_leader(ELECT);
    for id in 1..=3 {
        let a = c.eventually(CONVERGE, "a linearizable range read", || {
            let a = c.request(id, "GET", "/v1/kv?prefix=durable/", None)?;
            (a.status == 200).then_some(a)
        });
        let items = a.body["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), 40, "node {id}: {a:?}");
        for item in items {
            let key = item["key"].as_str().unwrap_or_default();
            let n = key.trim_start_matches("durable/");
            assert_eq!(item["value"], format!("value-{n}"));
        }
    }
}

#[test]
fn without_a_quorum_requests_get_503_with_retry_after() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = follower_of(&c, leader);
    // Leave one node alone: the leader if it is the last, otherwise a follower.
    for id in 1..=3 {
        if id != follower {
            c.kill(id);
        }
    }
    let a = c.put_kv(follower, "x", "1");
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(a.retry_after.as_deref(), Some("1"));
    assert!(a.body["error"]["code"].is_string(), "{a:?}");
    let r = c.get(follower, "/v1/kv/x");
    assert_eq!(r.status, 503, "{r:?}");
    // Stale reads and health still answer.
    assert_eq!(c.get(follower, "/healthz").status, 200);
    assert_eq!(c.get(follower, "/v1/kv/x?consistency=stale").status, 404);
    assert_eq!(c.get(follower, "/readyz").status, 503);
}

#[test]
fn a_retried_request_id_applies_once_even_through_a_follower() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = follower_of(&c, leader);
    let put = |via: u64| {
        let resp = c
            .agent(Duration::from_secs(10))
            .put(&format!("{}/v1/kv/once", c.url(via)))
            .set("x-raftorch-request-id", "4242:1")
            .send_string(r#"{"value": "first"}"#);
        match resp {
            Ok(r) => r.into_string().unwrap_or_default(),
            Err(e) => panic!("put via {via}: {e}"),
        }
    };
    let first: serde_json::Value = serde_json::from_str(&put(follower)).unwrap_or_default();
    let again: serde_json::Value = serde_json::from_str(&put(leader)).unwrap_or_default();
    assert_eq!(first["revision"], again["revision"], "{first} vs {again}");
    let a = c.get(follower, "/v1/kv/once");
    assert_eq!(a.body["version"], 1, "applied once: {a:?}");
}

#[test]
fn sigterm_stops_a_node_cleanly_and_it_restarts_with_its_data() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let a = c.put_kv(leader, "before/term", "kept");
    assert_eq!(a.status, 200, "{a:?}");
    // The leader itself: its successor must take over after a clean exit too.
    let status = c
        .terminate(leader, Duration::from_secs(10))
        .expect("the node exits within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    let log = std::fs::read_to_string(c.log_path(leader)).unwrap_or_default();
    assert!(log.contains("shutdown signal received"), "{log}");
    let new = c.wait_leader(ELECT);
    assert_ne!(new, leader);
    let a = c.put_kv(new, "after/term", "written");
    assert_eq!(a.status, 200, "{a:?}");
    c.spawn(leader);
    c.eventually(CONVERGE, "the restarted node to serve both keys", || {
        let before = c.request(leader, "GET", "/v1/kv/before/term?consistency=stale", None)?;
        let after = c.request(leader, "GET", "/v1/kv/after/term?consistency=stale", None)?;
        (before.body["value"] == "kept" && after.body["value"] == "written").then_some(())
    });
}
