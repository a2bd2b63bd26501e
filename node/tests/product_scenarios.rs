//! The five product scenarios, each against three real `raftorch node` processes over HTTP
//! on loopback (`kill -9` for the failover ones). Every wait is bounded; the cluster kills its
//! children when dropped.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proc::Cluster;
use serde_json::Value;

const ELECT: Duration = Duration::from_secs(15);
const CONVERGE: Duration = Duration::from_secs(15);
/// Request keys routed per node when checking a split.
const KEYS: usize = 1000;
/// Allowed distance, in percentage points, between an observed share and the expected one.
const TOLERANCE: f64 = 5.0;

fn instance_body(version: &str, weight: u16) -> String {
    format!(
        r#"{{"address": "10.0.0.7", "port": 8080, "version": "{version}", "weight": {weight}}}"#
    )
}

/// Registers an instance through node `via`, retrying 503s until `CONVERGE`.
fn register(c: &Cluster, via: u64, service: &str, instance: &str, version: &str, weight: u16) {
    let path = format!("/v1/services/{service}/instances/{instance}");
    let body = instance_body(version, weight);
    c.eventually(CONVERGE, &format!("register {instance} via {via}"), || {
        let a = c.request(via, "PUT", &path, Some(body.as_bytes()))?;
        match a.status {
            200 | 201 => Some(()),
            503 => None,
            _ => panic!("register {instance} via {via}: {a:?}"),
        }
    });
}

fn others(c: &Cluster, not: u64) -> Vec<u64> {
    (1..=c.nodes.len() as u64)
        .filter(|&id| id != not && c.is_up(id))
        .collect()
}

fn instance_ids(body: &Value) -> Vec<String> {
    body["instances"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every instance of `service` that node `id` lists, following the pages (a list answers at
/// most 1,000 instances by default) with linearizable reads. The last page's answer comes
/// back too, for its status and headers.
fn all_instance_ids(c: &Cluster, id: u64, service: &str) -> (Vec<String>, proc::Answer) {
    let mut ids = Vec::new();
    let mut path = format!("/v1/services/{service}");
    loop {
        let a = c.get(id, &path);
        assert_eq!(a.status, 200, "node {id}: {a:?}");
        ids.extend(instance_ids(&a.body));
        match a.body["next"].as_str() {
            Some(next) if a.body["more"] == true => {
                path = format!("/v1/services/{service}?start_after={next}");
            }
            _ => return (ids, a),
        }
    }
}

/// One keep-alive client for many requests to one node.
struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    fn new(c: &Cluster, id: u64) -> Client {
        Client {
            agent: c.agent(Duration::from_secs(10)),
            base: c.url(id),
        }
    }

    fn get_json(&self, path: &str) -> Option<Value> {
        let r = self
            .agent
            .get(&format!("{}{path}", self.base))
            .call()
            .ok()?;
        serde_json::from_str(&r.into_string().ok()?).ok()
    }

    /// Routes `KEYS` request keys; the chosen instance id and version for each.
    fn route_all(&self, service: &str) -> Vec<(String, String)> {
        (0..KEYS)
            .map(|k| {
                let v = self
                    .get_json(&format!("/v1/route/{service}?key=user-{k}"))
                    .unwrap_or_else(|| panic!("route key user-{k} via {}", self.base));
                let id = v["instance"]["id"].as_str().unwrap_or_default();
                let version = v["version"].as_str().unwrap_or_default();
                (id.to_owned(), version.to_owned())
            })
            .collect()
    }
}

fn share_percent(count: usize, total: usize) -> f64 {
    100.0 * count as f64 / total as f64
}

#[test]
fn test_orchestrator_with_raft_consensus() {
    let c = Cluster::start(3, &[]);
    c.wait_leader(ELECT);
    // One registration through each node, leader or follower alike.
    for id in 1..=3 {
        register(&c, id, "web", &format!("web-{id}"), "v1", 100);
    }
    let want: Vec<String> = (1..=3).map(|id| format!("web-{id}")).collect();
    for id in 1..=3 {
        let list = c.get(id, "/v1/services");
        assert_eq!(list.status, 200, "node {id}: {list:?}");
        assert_eq!(list.body["services"], serde_json::json!(["web"]));
        let a = c.get(id, "/v1/services/web");
        assert_eq!(a.status, 200, "node {id}: {a:?}");
        assert_eq!(instance_ids(&a.body), want, "node {id}");
        let healthy = c.get(id, "/v1/services/web?healthy=true");
        assert_eq!(instance_ids(&healthy.body), want, "node {id}");
    }
}

#[test]
fn test_orchestrator_leader_failover() {
    let mut c = Cluster::start(3, &[]);
    let old = c.wait_leader(ELECT);
    let survivors = others(&c, old);
    // A writer registers through a follower that survives, before, during and after the kill;
    // it records every registration the cluster acknowledged.
    let url = c.url(survivors[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = stop.clone();
    let agent = c.agent(Duration::from_secs(5));
    let writer = std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut i = 0;
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stop_writer.load(Ordering::SeqCst) && Instant::now() < deadline {
            let r = agent
                .put(&format!("{url}/v1/services/api/instances/api-{i}"))
                .send_string(&instance_body("v1", 100));
            match r {
                Ok(resp) if resp.status() == 200 || resp.status() == 201 => {
                    acked.push((format!("api-{i}"), Instant::now()));
                    i += 1;
                }
                // Not acknowledged (no leader, forward failed): the same PUT is retried.
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        acked
    });
    c.eventually(CONVERGE, "writes before the kill", || {
        let a = c.get(survivors[1], "/v1/services/api?consistency=stale");
        (instance_ids(&a.body).len() >= 10).then_some(())
    });
    c.kill(old);
    let killed_at = Instant::now();
    let new = c.wait_leader(ELECT);
    let elected_after = killed_at.elapsed();
    assert_ne!(new, old);
    assert!(survivors.contains(&new));
    // Service management continues: registrations and a deregistration through the survivors.
    for &via in &survivors {
        register(&c, via, "db", &format!("db-{via}"), "v1", 100);
    }
    c.eventually(CONVERGE, "a deregistration", || {
        let a = c.request(
            survivors[0],
            "DELETE",
            &format!("/v1/services/db/instances/db-{}", survivors[0]),
            None,
        )?;
        (a.status == 200).then_some(())
    });
    // Let the writer run past the failover, then stop it.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let acked = writer.join().expect("the writer thread");
    let after_kill = acked.iter().filter(|(_, t)| *t > killed_at).count();
    assert!(
        acked.len() >= 10 && after_kill > 0,
        "acked {} ({after_kill} after the kill)",
        acked.len()
    );
    for &id in &survivors {
        let (present, a) = all_instance_ids(&c, id, "api");
        for (name, _) in &acked {
            assert!(present.contains(name), "node {id} lost acknowledged {name}");
        }
        let db = c.get(id, "/v1/services/db");
        assert_eq!(instance_ids(&db.body), vec![format!("db-{}", survivors[1])]);
        assert_eq!(a.leader.as_deref(), Some(new.to_string().as_str()));
    }
    eprintln!(
        "failover: {} acknowledged registrations ({after_kill} after the kill), \
         new leader {new} agreed {elected_after:?} after kill -9",
        acked.len()
    );
}

#[test]
fn test_service_discovery_across_multiple_orchestrators() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = others(&c, leader)[0];
    // A write sent to a follower reaches the leader.
    let a = c.put(
        follower,
        "/v1/services/search/instances/search-1",
        &instance_body("v3", 150),
    );
    assert!(a.status == 200 || a.status == 201, "{a:?}");
    assert_eq!(a.leader.as_deref(), Some(leader.to_string().as_str()));
    let written_at = a.index.expect("an index header");
    let on_leader = c.get(leader, "/v1/services/search?consistency=stale");
    assert_eq!(instance_ids(&on_leader.body), vec!["search-1".to_owned()]);
    assert!(on_leader.index.is_some_and(|i| i >= written_at));
    register(&c, leader, "search", "search-2", "v3", 50);
    // Every node returns the same service information, linearizable and, once converged, stale.
    let first = c.get(1, "/v1/services/search").body["instances"].clone();
    assert_eq!(first.as_array().map(Vec::len), Some(2), "{first}");
    assert_eq!(first[0]["weight"], 150);
    assert_eq!(first[0]["version"], "v3");
    for id in 1..=3 {
        let a = c.get(id, "/v1/services/search");
        assert_eq!(a.body["instances"], first, "node {id}");
        assert_eq!(a.leader.as_deref(), Some(leader.to_string().as_str()));
        c.eventually(CONVERGE, "stale reads to converge", || {
            let s = c.get(id, "/v1/services/search?consistency=stale");
            (s.body["instances"] == first).then_some(())
        });
        let r = c.get(id, "/v1/route/search?key=user-7");
        let r1 = c.get(1, "/v1/route/search?key=user-7");
        assert_eq!(r.body["instance"], r1.body["instance"], "node {id}");
    }
}

#[test]
fn test_routing_continues_during_orchestrator_failure() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let weights = [("pay-a", 100u16), ("pay-b", 200), ("pay-c", 300)];
    for (name, w) in weights {
        register(&c, leader, "pay", name, "v1", w);
    }
    // Take the leader down: the hardest case (a new election before anything answers).
    c.kill(leader);
    c.wait_leader(ELECT);
    let survivors = others(&c, leader);
    let answers: Vec<Vec<(String, String)>> = survivors
        .iter()
        .map(|&id| Client::new(&c, id).route_all("pay"))
        .collect();
    assert_eq!(
        answers[0], answers[1],
        "survivors route the same keys alike"
    );
    let total: u16 = weights.iter().map(|(_, w)| w).sum();
    for (name, w) in weights {
        let n = answers[0].iter().filter(|(id, _)| id == name).count();
        let got = share_percent(n, KEYS);
        let want = 100.0 * f64::from(w) / f64::from(total);
        assert!(
            (got - want).abs() <= TOLERANCE,
            "{name}: {got:.1}% of keys, weight share {want:.1}%"
        );
        eprintln!("routing with node {leader} down: {name} {got:.1}% (weight share {want:.1}%)");
    }
}

/// The deployment's `canary_percent`, checked against its current step.
fn canary_percent(deployment: &Value) -> Option<u64> {
    let steps = deployment["steps"].as_array()?;
    let state = &deployment["state"];
    let step = state
        .get("Progressing")
        .or_else(|| state.get("Paused"))?
        .get("step")?
        .as_u64()?;
    let percent = deployment["canary_percent"].as_u64()?;
    assert_eq!(
        steps.get(step as usize)?.as_u64(),
        Some(percent),
        "{deployment}"
    );
    Some(percent)
}

#[test]
fn test_coordinated_canary_deployment() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = others(&c, leader);
    for (name, version) in [
        ("shop-1", "v1"),
        ("shop-2", "v1"),
        ("shop-3", "v1"),
        ("shop-9", "v2"),
    ] {
        register(&c, follower[0], "shop", name, version, 100);
    }
    // Started through one follower, advanced through the other, then through the leader.
    let start = c.put(
        follower[0],
        "/v1/deployments/shop",
        r#"{"stable_version": "v1", "canary_version": "v2", "steps": [10, 40, 100]}"#,
    );
    assert!(start.status == 200 || start.status == 201, "{start:?}");
    let mut checked = BTreeMap::new();
    for (advance_via, want) in [(None, 10), (Some(follower[1]), 40), (Some(leader), 100)] {
        if let Some(via) = advance_via {
            let a = c
                .request(via, "POST", "/v1/deployments/shop/advance", None)
                .expect("advance answered");
            assert_eq!(a.status, 200, "advance via {via}: {a:?}");
        }
        for id in 1..=3 {
            let d = c.get(id, "/v1/deployments/shop");
            assert_eq!(canary_percent(&d.body), Some(want), "node {id}: {d:?}");
        }
        let routes = Client::new(&c, follower[1]).route_all("shop");
        let canary = routes.iter().filter(|(_, v)| v == "v2").count();
        let got = share_percent(canary, KEYS);
        assert!(
            (got - want as f64).abs() <= TOLERANCE,
            "at {want}%: {got:.1}% of keys went to the canary"
        );
        checked.insert(want, got);
    }
    eprintln!("canary split (wanted -> observed %): {checked:?}");
}
