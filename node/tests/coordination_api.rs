//! Issue 16's coordination API on real processes: fenced writes, transactions, try and blocking
//! locks, election values, observe long-polls, transfers and retry guidance on 503s. Writes go
//! through a follower, so they are also forwarded.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::time::{Duration, Instant};

use proc::{Answer, Cluster};
use serde_json::{json, Value};

const ELECT: Duration = Duration::from_secs(15);

/// A running cluster and one of its followers.
fn cluster() -> (Cluster, u64) {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = (1..=3).find(|&id| id != leader).expect("a follower");
    (c, follower)
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

fn lease(c: &Cluster, via: u64, ttl_ms: u64) -> u64 {
    let a = call(c, via, "POST", "/v1/leases", &json!({ "ttl_ms": ttl_ms }));
    assert_eq!(a.status, 201, "{a:?}");
    a.body["lease_id"].as_u64().expect("lease id")
}

fn campaign(c: &Cluster, via: u64, election: &str, body: Value) -> Answer {
    let a = call(
        c,
        via,
        "POST",
        &format!("/v1/elections/{election}/campaign"),
        &body,
    );
    assert_eq!(a.status, 200, "{a:?}");
    a
}

fn kv_value(c: &Cluster, via: u64, key: &str) -> Value {
    c.get(via, &format!("/v1/kv/{key}")).body["value"].clone()
}

#[test]
fn a_fenced_put_with_a_stale_election_term_is_fenced_out() {
    let (c, via) = cluster();
    let (la, lb) = (lease(&c, via, 30_000), lease(&c, via, 30_000));
    let a = campaign(&c, via, "sched", json!({"candidate": "a", "lease_id": la}));
    let term = a.body["term"].as_u64().expect("term");
    campaign(&c, via, "sched", json!({"candidate": "b", "lease_id": lb}));
    let fence = format!("election:sched:{term}");
    let a = c.put_kv(via, &format!("state?fence={fence}"), "from a");
    assert_eq!(a.status, 200, "{a:?}");
    // The header spelling works too; both given and different is a 400.
    let a = c
        .request_with_headers(
            via,
            "PUT",
            "/v1/kv/state",
            Some(br#"{"value": "from a, again"}"#),
            &[("X-Raftorch-Fence", &fence)],
        )
        .expect("answer");
    assert_eq!(a.status, 200, "{a:?}");
    let a = c
        .request_with_headers(
            via,
            "PUT",
            &format!("/v1/kv/state?fence={fence}"),
            Some(br#"{"value": "x"}"#),
            &[("X-Raftorch-Fence", "election:sched:1")],
        )
        .expect("answer");
    assert_eq!((a.status, code(&a)), (400, "invalid_argument"), "{a:?}");

    let a = call(
        &c,
        via,
        "POST",
        "/v1/elections/sched/resign",
        &json!({"candidate": "a"}),
    );
    assert_eq!(a.body["next_leader"]["candidate"], "b", "{a:?}");
    let a = c.put_kv(via, &format!("state?fence={fence}"), "deposed");
    assert_eq!((a.status, code(&a)), (409, "fenced_out"), "{a:?}");
    let a = call(
        &c,
        via,
        "DELETE",
        &format!("/v1/kv/state?fence={fence}"),
        &Value::Null,
    );
    assert_eq!((a.status, code(&a)), (409, "fenced_out"), "{a:?}");
    assert_eq!(kv_value(&c, via, "state"), "from a, again");
}

#[test]
fn a_lock_fence_is_fenced_out_after_the_lock_passed_to_another_lease() {
    let (c, via) = cluster();
    let (la, lb) = (lease(&c, via, 30_000), lease(&c, via, 30_000));
    let a = call(&c, via, "POST", "/v1/locks/db", &json!({"lease_id": la}));
    let token = a.body["fencing_token"].as_u64().expect("token");
    let a = call(&c, via, "POST", "/v1/locks/db", &json!({"lease_id": lb}));
    assert_eq!(a.body["result"], "lock_queued", "{a:?}");
    let fence = format!("lock:db:{token}");
    assert_eq!(
        c.put_kv(via, &format!("rows?fence={fence}"), "1").status,
        200
    );

    let a = call(&c, via, "DELETE", &format!("/v1/leases/{la}"), &Value::Null);
    assert_eq!(a.status, 200, "{a:?}");
    let holder = c.get(via, "/v1/locks/db").body["holder"].clone();
    assert_eq!(holder["lease_id"].as_u64(), Some(lb), "{holder}");
    assert!(holder["fencing_token"].as_u64() > Some(token));
    let a = c.put_kv(via, &format!("rows?fence={fence}"), "2");
    assert_eq!((a.status, code(&a)), (409, "fenced_out"), "{a:?}");
    assert_eq!(kv_value(&c, via, "rows"), "1");
    let new_fence = format!("lock:db:{}", holder["fencing_token"]);
    assert_eq!(
        c.put_kv(via, &format!("rows?fence={new_fence}"), "3")
            .status,
        200
    );
}

#[test]
fn txn_compare_branches_apply_atomically_in_one_index() {
    let (c, via) = cluster();
    let a = c.put_kv(via, "acct/a", "10");
    let rev = a.body["revision"].as_u64().expect("revision");
    let txn = |rev: u64| {
        json!({
            "compare": [
                {"key": "acct/a", "target": "value", "op": "==", "value": "10"},
                {"key": "acct/a", "target": "revision", "op": "==", "value": rev},
                {"key": "acct/b", "target": "exists", "op": "==", "value": false},
            ],
            "success": [
                {"op": "put", "key": "acct/a", "value": "0"},
                {"op": "put", "key": "acct/b", "value": "10"},
                {"op": "get", "key": "acct/b"},
            ],
            "failure": [{"op": "get", "key": "acct/a"}, {"op": "delete", "key": "acct/zz"}],
        })
    };
    let a = call(&c, via, "POST", "/v1/txn", &txn(rev));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["succeeded"], true, "{a:?}");
    let index = a.body["index"].as_u64().expect("index");
    let results = a.body["results"].as_array().expect("results");
    assert_eq!(
        results[0],
        json!({"op": "put", "revision": index, "version": 2})
    );
    assert_eq!(
        results[1],
        json!({"op": "put", "revision": index, "version": 1})
    );
    assert_eq!(
        results[2],
        json!({"op": "get", "key": "acct/b", "value": "10", "mod_revision": index, "version": 1})
    );
    // One entry: both keys carry its index, and the watch shows both events at it.
    for key in ["acct/a", "acct/b"] {
        let kv = c.get(via, &format!("/v1/kv/{key}")).body;
        assert_eq!(kv["mod_revision"].as_u64(), Some(index), "{kv}");
    }
    let w = c.get(
        via,
        &format!("/v1/watch?prefix=kv/acct/&after={rev}&wait_ms=0"),
    );
    let events = w.body["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{w:?}");
    assert!(events.iter().all(|e| e["index"].as_u64() == Some(index)));

    // The same compares fail now: the failure branch runs, nothing of success is applied.
    let a = call(&c, via, "POST", "/v1/txn", &txn(rev));
    assert_eq!(a.body["succeeded"], false, "{a:?}");
    assert_eq!(
        a.body["results"],
        json!([{"op": "get", "key": "acct/a", "value": "0", "mod_revision": index, "version": 2},
               {"op": "delete", "deleted": false}])
    );
    assert_eq!(kv_value(&c, via, "acct/b"), "10");
    // Bad compares are 400s.
    let bad = json!({"compare": [{"key": "a", "target": "colour", "op": "==", "value": 1}]});
    let a = call(&c, via, "POST", "/v1/txn", &bad);
    assert_eq!((a.status, code(&a)), (400, "invalid_argument"), "{a:?}");
}

#[test]
fn a_fenced_txn_is_fenced_out_and_applies_nothing() {
    let (c, via) = cluster();
    let la = lease(&c, via, 30_000);
    let a = call(&c, via, "POST", "/v1/locks/job", &json!({"lease_id": la}));
    let token = a.body["fencing_token"].as_u64().expect("token");
    let body = |fence: &str| json!({"success": [{"op": "put", "key": "out", "value": "v"}], "fence": fence});
    let a = call(
        &c,
        via,
        "POST",
        "/v1/txn",
        &body(&format!("lock:job:{token}")),
    );
    assert_eq!(
        (a.status, &a.body["succeeded"]),
        (200, &json!(true)),
        "{a:?}"
    );
    let a = call(
        &c,
        via,
        "POST",
        "/v1/txn",
        &body(&format!("lock:job:{}", token + 1)),
    );
    assert_eq!((a.status, code(&a)), (409, "fenced_out"), "{a:?}");
}

#[test]
fn try_lock_on_a_held_lock_is_lock_held() {
    let (c, via) = cluster();
    let (la, lb) = (lease(&c, via, 30_000), lease(&c, via, 30_000));
    let a = call(
        &c,
        via,
        "POST",
        "/v1/locks/db",
        &json!({"lease_id": la, "mode": "try"}),
    );
    assert_eq!(a.body["result"], "lock_acquired", "{a:?}");
    let a = call(
        &c,
        via,
        "POST",
        "/v1/locks/db",
        &json!({"lease_id": lb, "mode": "try"}),
    );
    assert_eq!((a.status, code(&a)), (409, "lock_held"), "{a:?}");
    let lock = c.get(via, "/v1/locks/db").body;
    assert_eq!(lock["waiters"], json!([]), "try never queues: {lock}");
    let a = call(
        &c,
        via,
        "POST",
        "/v1/locks/db?wait_ms=100",
        &json!({"lease_id": lb, "mode": "try"}),
    );
    assert_eq!(a.status, 400, "{a:?}");
}

#[test]
fn a_blocking_acquire_returns_lock_acquired_when_the_holder_releases() {
    let (c, via) = cluster();
    let (la, lb) = (lease(&c, via, 30_000), lease(&c, via, 30_000));
    let a = call(&c, via, "POST", "/v1/locks/db", &json!({"lease_id": la}));
    let first = a.body["fencing_token"].as_u64().expect("token");
    // Nobody releases: the wait ends queued, and the lease stays queued.
    let start = Instant::now();
    let a = call(
        &c,
        via,
        "POST",
        "/v1/locks/db?wait_ms=300",
        &json!({"lease_id": lb}),
    );
    assert_eq!(
        (&a.body["result"], &a.body["position"]),
        (&json!("lock_queued"), &json!(1))
    );
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    let (answer, waited) = std::thread::scope(|s| {
        let waiter = s.spawn(|| {
            let start = Instant::now();
            let a = call(
                &c,
                via,
                "POST",
                "/v1/locks/db?wait_ms=20000",
                &json!({"lease_id": lb}),
            );
            (a, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(500));
        let a = call(&c, via, "DELETE", "/v1/locks/db", &json!({"lease_id": la}));
        assert_eq!(a.status, 200, "{a:?}");
        waiter.join().expect("waiter")
    });
    assert_eq!(answer.body["result"], "lock_acquired", "{answer:?}");
    assert!(answer.body["fencing_token"].as_u64() > Some(first));
    assert!(
        waited < Duration::from_secs(10),
        "woke on the release: {waited:?}"
    );
}

#[test]
fn a_waiter_whose_lease_expired_is_never_handed_the_lock() {
    let (c, via) = cluster();
    let holder = lease(&c, via, 30_000);
    let short = lease(&c, via, 1_000);
    call(
        &c,
        via,
        "POST",
        "/v1/locks/db",
        &json!({"lease_id": holder}),
    );
    // The waiter never keeps its lease alive: the wait ends when the lease does.
    let a = call(
        &c,
        via,
        "POST",
        "/v1/locks/db?wait_ms=15000",
        &json!({"lease_id": short}),
    );
    assert_eq!((a.status, code(&a)), (404, "lease_not_found"), "{a:?}");
    let a = call(
        &c,
        via,
        "DELETE",
        "/v1/locks/db",
        &json!({"lease_id": holder}),
    );
    assert_eq!(a.body["next_holder"], Value::Null, "{a:?}");
    let lock = c.get(via, "/v1/locks/db").body;
    assert_eq!(
        (&lock["holder"], &lock["waiters"]),
        (&Value::Null, &json!([]))
    );
}

#[test]
fn an_election_shows_the_leaders_value() {
    let (c, via) = cluster();
    let (la, lb) = (lease(&c, via, 30_000), lease(&c, via, 30_000));
    campaign(
        &c,
        via,
        "api",
        json!({"candidate": "a", "lease_id": la, "value": "http://10.0.0.1:8080"}),
    );
    campaign(&c, via, "api", json!({"candidate": "b", "lease_id": lb}));
    let e = c.get(via, "/v1/elections/api").body;
    assert_eq!(e["leader"]["candidate"], "a", "{e}");
    assert_eq!(e["leader"]["value"], "http://10.0.0.1:8080", "{e}");
    assert!(e["index"].as_u64().is_some(), "{e}");
    let big = "x".repeat(4097);
    let a = call(
        &c,
        via,
        "POST",
        "/v1/elections/api/campaign",
        &json!({"candidate": "c", "lease_id": lb, "value": big}),
    );
    assert_eq!(a.status, 400, "{a:?}");
    // A leader without a value shows null.
    call(
        &c,
        via,
        "POST",
        "/v1/elections/api/resign",
        &json!({"candidate": "a"}),
    );
    let e = c.get(via, "/v1/elections/api").body;
    assert_eq!(
        (&e["leader"]["candidate"], &e["leader"]["value"]),
        (&json!("b"), &Value::Null)
    );
}

#[test]
fn observe_wakes_on_a_leader_change_and_reports_no_leader() {
    let (c, via) = cluster();
    let (la, lb) = (lease(&c, via, 30_000), lease(&c, via, 30_000));
    campaign(&c, via, "obs", json!({"candidate": "a", "lease_id": la}));
    campaign(&c, via, "obs", json!({"candidate": "b", "lease_id": lb}));
    let seen = c.get(via, "/v1/elections/obs").body;
    let index = seen["index"].as_u64().expect("index");
    // Nothing changes: the long-poll runs its whole wait and answers the same leader.
    let start = Instant::now();
    let same = c
        .get(via, &format!("/v1/elections/obs?wait_ms=300&after={index}"))
        .body;
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(same["leader"], seen["leader"]);

    let observe = |after: u64| {
        let start = Instant::now();
        let a = c.get(
            via,
            &format!("/v1/elections/obs?wait_ms=20000&after={after}"),
        );
        (a.body, start.elapsed())
    };
    let (next, waited) = std::thread::scope(|s| {
        let watcher = s.spawn(|| observe(index));
        std::thread::sleep(Duration::from_millis(500));
        call(
            &c,
            via,
            "POST",
            "/v1/elections/obs/resign",
            &json!({"candidate": "a"}),
        );
        watcher.join().expect("watcher")
    });
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(next["leader"]["candidate"], "b", "{next}");
    let after = next["index"].as_u64().expect("index");
    let (gone, waited) = std::thread::scope(|s| {
        let watcher = s.spawn(|| observe(after));
        std::thread::sleep(Duration::from_millis(500));
        call(&c, via, "DELETE", &format!("/v1/leases/{lb}"), &Value::Null);
        watcher.join().expect("watcher")
    });
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(gone["leader"], Value::Null, "no leader: {gone}");
    // An `after` from before a change answers at once.
    let start = Instant::now();
    let late = c
        .get(
            via,
            &format!("/v1/elections/obs?wait_ms=20000&after={index}"),
        )
        .body;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(late["leader"], Value::Null);
}

#[test]
fn transfer_moves_leadership_with_a_higher_term() {
    let (c, via) = cluster();
    let (la, lb) = (lease(&c, via, 30_000), lease(&c, via, 30_000));
    let a = campaign(&c, via, "t", json!({"candidate": "a", "lease_id": la}));
    let term = a.body["term"].as_u64().expect("term");
    campaign(&c, via, "t", json!({"candidate": "b", "lease_id": lb}));
    let a = call(
        &c,
        via,
        "POST",
        "/v1/elections/t/transfer",
        &json!({"to": "nobody"}),
    );
    assert_eq!((a.status, code(&a)), (409, "not_a_candidate"), "{a:?}");
    let a = call(
        &c,
        via,
        "POST",
        "/v1/elections/t/transfer",
        &json!({"to": "b"}),
    );
    assert_eq!(a.body["result"], "elected", "{a:?}");
    let new_term = a.body["term"].as_u64().expect("term");
    assert!(new_term > term);
    let e = c.get(via, "/v1/elections/t").body;
    assert_eq!(e["leader"]["candidate"], "b", "{e}");
    assert_eq!(e["leader"]["term"].as_u64(), Some(new_term));
    assert_eq!(e["candidates"], json!(["a"]), "the old leader queues: {e}");
    // The old leader's term no longer fences.
    let a = c.put_kv(via, &format!("k?fence=election:t:{term}"), "v");
    assert_eq!(code(&a), "fenced_out", "{a:?}");
}

#[test]
fn keepalive_says_the_remaining_ttl() {
    let (c, via) = cluster();
    let l = lease(&c, via, 5_000);
    let a = call(
        &c,
        via,
        "POST",
        &format!("/v1/leases/{l}/keepalive"),
        &Value::Null,
    );
    assert_eq!(a.body["result"], "lease_kept_alive", "{a:?}");
    let remaining = a.body["remaining_ms"].as_u64().expect("remaining_ms");
    assert!(remaining > 4_000 && remaining <= 5_000, "{a:?}");
}

#[test]
fn every_503_has_retry_after_and_the_leader_field() {
    let (mut c, _) = cluster();
    let leader = c.wait_leader(ELECT);
    let survivor = (1..=3).find(|&id| id != leader).expect("a follower");
    for id in 1..=3 {
        if id != survivor {
            c.kill(id);
        }
    }
    // The survivor loses its leader; a write answers no_leader promptly, not after 5 s.
    let status = c.eventually(Duration::from_secs(10), "the leader is lost", || {
        let s = c.get(survivor, "/v1/status").body;
        s["leader_id"].is_null().then_some(s)
    });
    assert!(status["leader_id"].is_null());
    let start = Instant::now();
    let a = c.put_kv(survivor, "k", "v");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    assert_eq!((a.status, code(&a)), (503, "no_leader"), "{a:?}");
    let answers = [
        a,
        c.get(survivor, "/v1/kv/k"),
        c.get(survivor, "/readyz"),
        call(&c, survivor, "POST", "/v1/leases", &json!({"ttl_ms": 1000})),
    ];
    for a in answers {
        assert_eq!(a.status, 503, "{a:?}");
        assert!(a.retry_after.is_some(), "Retry-After: {a:?}");
        let error = a.body["error"].as_object().expect("error object");
        assert!(error.contains_key("leader"), "{a:?}");
        assert_eq!(error["leader"], Value::Null, "{a:?}");
    }
}
