//! The HTTP API's request and answer shapes, end to end on real processes: status and members,
//! kv, the registry, deployments, leases, locks, elections and watch. Writes go through a
//! follower, so every one of them is also forwarded.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::time::{Duration, Instant};

use proc::{Answer, Cluster};
use serde_json::{json, Value};

const ELECT: Duration = Duration::from_secs(15);

/// A running cluster, its leader and a follower.
fn cluster() -> (Cluster, u64, u64) {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = (1..=3).find(|&id| id != leader).expect("a follower");
    (c, leader, follower)
}

/// `method path` with a JSON body (`Value::Null`: no body) at node `id`.
fn call(c: &Cluster, id: u64, method: &str, path: &str, body: &Value) -> Answer {
    let text = (!body.is_null()).then(|| body.to_string());
    c.request(id, method, path, text.as_deref().map(str::as_bytes))
        .unwrap_or_else(|| panic!("node {id} did not answer {method} {path}"))
}

fn code(a: &Answer) -> &str {
    a.body["error"]["code"].as_str().unwrap_or("<no code>")
}

/// Asserts that `v` is an object with (at least) these fields.
fn has_fields(v: &Value, fields: &[&str]) {
    for f in fields {
        assert!(v.get(f).is_some(), "no {f:?} in {v}");
    }
}

#[test]
fn status_kv_registry_and_deployments_have_the_spec_shapes() {
    let (c, leader, follower) = cluster();

    // Status: who leads, and every member with its addresses.
    for n in &c.nodes {
        let a = c.get(n.id, "/v1/status");
        assert_eq!(a.status, 200, "{a:?}");
        let s = &a.body;
        has_fields(s, &["role", "term", "commit_index", "applied_index"]);
        assert_eq!(
            (s["id"].as_u64(), s["leader_id"].as_u64()),
            (Some(n.id), Some(leader))
        );
        let members = s["members"].as_array().expect("members");
        assert_eq!(members.len(), 3, "{s}");
        for (m, node) in members.iter().zip(&c.nodes) {
            let want = json!({"id": node.id, "peer_addr": node.peer_addr,
                              "api_addr": node.api_addr, "voter": true});
            assert_eq!(*m, want, "node {}'s status", n.id);
        }
        assert_eq!(c.get(n.id, "/v1/members").body["members"], s["members"]);
    }

    // kv: a JSON body in, the spec's fields out; CAS; delete; prefix range.
    let put = c.put_kv(follower, "shape/a", "one");
    assert_eq!(
        (put.status, &put.body["result"]),
        (200, &json!("kv_put")),
        "{put:?}"
    );
    assert_eq!(put.leader.as_deref(), Some(leader.to_string().as_str()));
    assert!(put.index.is_some(), "{put:?}");
    let rev = put.body["revision"].as_u64().expect("a revision");
    let got = c.get(follower, "/v1/kv/shape/a").body;
    has_fields(&got, &["create_revision", "mod_revision"]);
    assert_eq!(
        (&got["key"], &got["value"]),
        (&json!("shape/a"), &json!("one"))
    );
    assert_eq!(
        (got["mod_revision"].as_u64(), got["version"].as_u64()),
        (Some(rev), Some(1))
    );
    let cas = c.put_kv(follower, &format!("shape/a?cas={rev}"), "two");
    assert_eq!(cas.status, 200, "{cas:?}");
    let stale = c.put_kv(follower, &format!("shape/a?cas={rev}"), "three");
    assert_eq!(
        (stale.status, code(&stale)),
        (409, "cas_failed"),
        "{stale:?}"
    );
    let range = c.get(leader, "/v1/kv?prefix=shape/").body;
    assert_eq!(range["items"][0]["value"], "two", "{range}");
    assert_eq!(range["items"].as_array().map(Vec::len), Some(1), "{range}");
    let del = call(&c, follower, "DELETE", "/v1/kv/shape/a", &Value::Null);
    assert_eq!(
        (del.status, &del.body["deleted"]),
        (200, &json!(true)),
        "{del:?}"
    );
    assert_eq!(c.get(leader, "/v1/kv/shape/a").status, 404);

    // Registry: instances as {"id", "address", ...}, routes to one of them.
    let reg = json!({"address": "10.0.0.7", "port": 8080, "version": "v1", "weight": 100,
                     "tags": ["blue"], "metadata": {"zone": "a"}, "ttl_ms": 60000});
    for i in ["shop-1", "shop-2", "shop-3"] {
        let path = format!("/v1/services/shop/instances/{i}");
        let a = call(&c, follower, "PUT", &path, &reg);
        assert_eq!(a.status, 201, "{a:?}");
        let hb = call(
            &c,
            follower,
            "POST",
            &format!("{path}/heartbeat"),
            &Value::Null,
        );
        assert_eq!(hb.status, 200, "{hb:?}");
    }
    let canary = json!({"address": "10.0.0.9", "port": 8080, "version": "v2"});
    let a = call(
        &c,
        follower,
        "PUT",
        "/v1/services/shop/instances/shop-9",
        &canary,
    );
    assert_eq!(a.status, 201, "{a:?}");
    assert_eq!(
        c.get(follower, "/v1/services").body["services"],
        json!(["shop"])
    );
    let svc = c.get(follower, "/v1/services/shop?healthy=true").body;
    assert!(svc["index"].is_u64(), "{svc}");
    let first = &svc["instances"][0];
    let want = json!({"id": "shop-1", "address": "10.0.0.7", "port": 8080, "version": "v1",
                      "weight": 100, "tags": ["blue"], "metadata": {"zone": "a"}, "healthy": true});
    for (field, value) in want.as_object().expect("an object") {
        assert_eq!(first[field], *value, "{field} in {first}");
    }
    let route = c.get(follower, "/v1/route/shop?key=user-42").body;
    has_fields(&route, &["version", "index"]);
    assert!(
        route["instance"]["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("shop-")),
        "{route}"
    );

    // Deployments: GET reports the canary's share now, through every transition.
    let start = json!({"stable_version": "v1", "canary_version": "v2", "steps": [5, 25, 50, 100]});
    let a = call(&c, follower, "PUT", "/v1/deployments/shop", &start);
    assert_eq!(a.status, 200, "{a:?}");
    let percent = || c.get(follower, "/v1/deployments/shop").body["canary_percent"].as_u64();
    assert_eq!(percent(), Some(5));
    for (action, status, want) in [
        ("advance", 200, 25),
        ("pause", 200, 25),
        ("advance", 409, 25),
        ("resume", 200, 25),
        ("advance", 200, 50),
        ("promote", 200, 100),
    ] {
        let path = format!("/v1/deployments/shop/{action}");
        let a = call(&c, follower, "POST", &path, &Value::Null);
        assert_eq!(a.status, status, "{action}: {a:?}");
        assert_eq!(percent(), Some(want), "after {action}");
    }
    let a = call(&c, follower, "PUT", "/v1/deployments/shop", &start);
    assert_eq!(a.status, 200, "{a:?}");
    let a = call(
        &c,
        follower,
        "POST",
        "/v1/deployments/shop/rollback",
        &Value::Null,
    );
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(percent(), Some(0));
}

#[test]
fn leases_locks_and_elections_are_posts_with_json_bodies() {
    let (c, _, via) = cluster();
    let grant = |ttl: u64| {
        let a = call(&c, via, "POST", "/v1/leases", &json!({"ttl_ms": ttl}));
        assert_eq!(a.status, 201, "{a:?}");
        a.body["lease_id"].as_u64().expect("a lease id")
    };
    let (l1, l2) = (grant(30_000), grant(30_000));
    let a = call(
        &c,
        via,
        "POST",
        &format!("/v1/leases/{l1}/keepalive"),
        &Value::Null,
    );
    assert_eq!((a.status, &a.body["lease_id"]), (200, &json!(l1)), "{a:?}");

    // Locks: POST acquires (a fencing token) or queues; DELETE releases to the next in line.
    let a = call(&c, via, "POST", "/v1/locks/db", &json!({"lease_id": l1}));
    assert_eq!(a.status, 200, "{a:?}");
    let token = a.body["fencing_token"].as_u64().expect("a fencing token");
    let a = call(&c, via, "POST", "/v1/locks/db", &json!({"lease_id": l2}));
    assert_eq!(
        (&a.body["result"], &a.body["position"]),
        (&json!("lock_queued"), &json!(1))
    );
    let lock = c.get(via, "/v1/locks/db").body;
    assert_eq!(
        (&lock["holder"]["lease_id"], &lock["waiters"]),
        (&json!(l1), &json!([l2]))
    );
    let a = call(&c, via, "POST", "/v1/locks/db", &json!({"lease": l1}));
    assert_eq!((a.status, code(&a)), (400, "unknown_field"), "{a:?}");
    let a = call(&c, via, "DELETE", "/v1/locks/db", &Value::Null);
    assert_eq!((a.status, code(&a)), (400, "invalid_argument"), "{a:?}");
    let a = call(&c, via, "DELETE", "/v1/locks/db", &json!({"lease_id": l1}));
    assert_eq!(a.status, 200, "{a:?}");
    let next = &a.body["next_holder"];
    assert_eq!(next["lease_id"], l2, "{a:?}");
    assert!(next["fencing_token"].as_u64() > Some(token), "{a:?}");
    let a = call(
        &c,
        via,
        "DELETE",
        &format!("/v1/locks/db?lease_id={l2}"),
        &Value::Null,
    );
    assert_eq!(a.status, 200, "{a:?}");
    // PUT stays an alias of POST.
    let a = call(&c, via, "PUT", "/v1/locks/db", &json!({"lease_id": l1}));
    assert!(
        a.body["fencing_token"].as_u64() > next["fencing_token"].as_u64(),
        "{a:?}"
    );

    // Elections: campaign, queue, resign hands over; the leader dies with its lease.
    let campaign = |who: &str, lease: u64| {
        let body = json!({"candidate": who, "lease_id": lease});
        call(&c, via, "POST", "/v1/elections/primary/campaign", &body)
    };
    let a = campaign("a", l1);
    assert_eq!(
        (a.status, &a.body["result"]),
        (200, &json!("elected")),
        "{a:?}"
    );
    assert!(a.body["term"].is_u64(), "{a:?}");
    let a = campaign("b", l2);
    assert_eq!(
        (&a.body["result"], &a.body["position"]),
        (&json!("campaign_queued"), &json!(1))
    );
    let e = c.get(via, "/v1/elections/primary").body;
    assert_eq!(
        (&e["leader"]["candidate"], &e["candidates"]),
        (&json!("a"), &json!(["b"]))
    );
    let resign = json!({"candidate": "a"});
    let a = call(&c, via, "POST", "/v1/elections/primary/resign", &resign);
    assert_eq!(
        (a.status, &a.body["next_leader"]["candidate"]),
        (200, &json!("b")),
        "{a:?}"
    );
    let a = call(&c, via, "POST", "/v1/elections/primary/resign", &resign);
    assert_eq!((a.status, code(&a)), (409, "not_candidate"), "{a:?}");
    let a = call(
        &c,
        via,
        "POST",
        "/v1/elections/primary/resign",
        &Value::Null,
    );
    assert_eq!((a.status, code(&a)), (400, "malformed_json"), "{a:?}");
    let a = call(&c, via, "DELETE", &format!("/v1/leases/{l2}"), &Value::Null);
    assert_eq!(
        (a.status, &a.body["result"]),
        (200, &json!("lease_revoked")),
        "{a:?}"
    );
    assert_eq!(
        c.get(via, "/v1/elections/primary").body["leader"],
        Value::Null
    );
}

#[test]
fn watch_waits_up_to_wait_ms_and_wakes_on_a_write() {
    let (c, _, via) = cluster();
    let a = c.put_kv(via, "watched/first", "1");
    let after = a.index.expect("an index");

    // Nothing new: the answer comes after about wait_ms, empty.
    let asked = Instant::now();
    let path = format!("/v1/watch?prefix=kv/watched/&after={after}&wait_ms=400");
    let a = c.get(via, &path);
    let waited = asked.elapsed();
    assert_eq!((a.status, &a.body["events"]), (200, &json!([])), "{a:?}");
    assert!(
        waited >= Duration::from_millis(350),
        "answered after {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "answered after {waited:?}");

    // The old name is refused like any unknown parameter.
    let a = c.get(via, &format!("/v1/watch?after={after}&timeout_ms=400"));
    assert_eq!((a.status, code(&a)), (400, "invalid_argument"), "{a:?}");

    // A write during the wait ends it early with the event.
    let url = c.url(via);
    let agent = c.agent(Duration::from_secs(10));
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        agent
            .put(&format!("{url}/v1/kv/watched/second"))
            .send_string(r#"{"value": "2"}"#)
            .map(|r| r.status())
            .map_err(|e| e.to_string())
    });
    let asked = Instant::now();
    let path = format!("/v1/watch?prefix=kv/watched/&after={after}&wait_ms=20000");
    let a = c.get(via, &path);
    assert!(asked.elapsed() < Duration::from_secs(10), "{a:?}");
    let event = &a.body["events"][0];
    assert_eq!(
        (&event["namespace"], &event["key"]),
        (&json!("kv"), &json!("watched/second")),
        "{a:?}"
    );
    assert_eq!(writer.join().expect("the writer"), Ok(200));
}

/// Pages through `path` (which has a query) `limit` items at a time, following `next`; the
/// keys of each page under `field`, by `key`.
fn pages(c: &Cluster, id: u64, path: &str, field: &str, key: &str, limit: u64) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut p = format!("{path}&limit={limit}");
        if let Some(a) = &after {
            p.push_str(&format!("&start_after={a}"));
        }
        let a = c.get(id, &p);
        assert_eq!(a.status, 200, "{p}: {a:?}");
        let items = a.body[field].as_array().expect("items").clone();
        let keys: Vec<String> = items
            .iter()
            .map(|i| {
                if key.is_empty() {
                    i.as_str()
                } else {
                    i[key].as_str()
                }
                .expect("a key")
                .to_owned()
            })
            .collect();
        assert!(keys.len() as u64 <= limit, "{a:?}");
        let more = a.body["more"].as_bool().expect("more");
        if more {
            assert_eq!(
                a.body["next"].as_str(),
                keys.last().map(String::as_str),
                "{a:?}"
            );
        } else {
            assert!(a.body["next"].is_null(), "{a:?}");
        }
        all.push(keys);
        if !more {
            return all;
        }
        after = all.last().and_then(|k| k.last().cloned());
    }
}

#[test]
fn listings_come_in_pages_that_together_hold_every_item_once() {
    let (c, leader, follower) = cluster();
    let keys: Vec<String> = (0..25).map(|i| format!("page/k{i:02}")).collect();
    for k in &keys {
        assert_eq!(c.put_kv(follower, k, "v").status, 200);
    }
    c.put_kv(follower, "pagf", "outside the prefix");
    let got = pages(&c, follower, "/v1/kv?prefix=page/", "items", "key", 10);
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    assert_eq!(got.concat(), keys);
    // The default page holds all 25; a continuation past the prefix is an empty last page.
    let whole = c.get(leader, "/v1/kv?prefix=page/").body;
    assert_eq!(whole["items"].as_array().map(Vec::len), Some(25), "{whole}");
    assert_eq!(
        (&whole["more"], &whole["next"]),
        (&json!(false), &Value::Null)
    );
    let past = c.get(leader, "/v1/kv?prefix=page/&start_after=page/z").body;
    assert_eq!(past["items"], json!([]), "{past}");
    for bad in ["limit=0", "limit=10001", "limit=x"] {
        let a = c.get(leader, &format!("/v1/kv?prefix=page/&{bad}"));
        assert_eq!(
            (a.status, code(&a)),
            (400, "invalid_argument"),
            "{bad}: {a:?}"
        );
    }

    // Services and a service's instances page the same way.
    let reg = json!({"address": "10.0.0.7", "port": 8080});
    for s in ["svc-a", "svc-b", "svc-c"] {
        for i in ["i1", "i2", "i3"] {
            let path = format!("/v1/services/{s}/instances/{i}");
            assert_eq!(call(&c, follower, "PUT", &path, &reg).status, 201);
        }
    }
    let services = pages(
        &c,
        follower,
        "/v1/services?consistency=linearizable",
        "services",
        "",
        2,
    );
    assert_eq!(services, [vec!["svc-a", "svc-b"], vec!["svc-c"]]);
    let instances = pages(
        &c,
        leader,
        "/v1/services/svc-b?healthy=false",
        "instances",
        "id",
        2,
    );
    assert_eq!(instances, [vec!["i1", "i2"], vec!["i3"]]);
}
