//! The watch API on real processes: cursors that resume inside an entry with more events than
//! a page, exact keys, values (binary too) and the value size limit, and a watch resumed on
//! another node after the first one is killed.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proc::{Answer, Cluster};
use serde_json::{json, Value};

const ELECT: Duration = Duration::from_secs(15);

fn code(a: &Answer) -> &str {
    a.body["error"]["code"].as_str().unwrap_or("<no code>")
}

fn post(c: &Cluster, id: u64, path: &str, body: &Value) -> Answer {
    let text = body.to_string();
    c.request(id, "POST", path, Some(text.as_bytes()))
        .unwrap_or_else(|| panic!("node {id} did not answer POST {path}"))
}

/// One watch answer (`wait_ms=0` unless the path says otherwise), checked for the common shape.
fn watch(c: &Cluster, id: u64, path: &str) -> Answer {
    let sep = if path.contains('?') { '&' } else { '?' };
    let path = if path.contains("wait_ms") {
        path.to_owned()
    } else {
        format!("{path}{sep}wait_ms=0")
    };
    let a = c.get(id, &path);
    assert_eq!(a.status, 200, "{path}: {a:?}");
    for field in ["events", "next", "more", "index"] {
        assert!(a.body.get(field).is_some(), "no {field} in {a:?}");
    }
    a
}

/// Every event after `after` on node `id`, page by page; checks that cursors strictly grow.
fn drain(c: &Cluster, id: u64, path: &str, mut after: String) -> (Vec<Value>, String) {
    let mut all = Vec::new();
    loop {
        let a = watch(c, id, &format!("{path}&after={after}"));
        let events = a.body["events"].as_array().expect("events").clone();
        all.extend(events);
        after = a.body["next"].as_str().expect("next").to_owned();
        if a.body["more"] != json!(true) {
            return (all, after);
        }
    }
}

fn cursor(e: &Value) -> (u64, u64) {
    (
        e["index"].as_u64().expect("index"),
        e["pos"].as_u64().expect("pos"),
    )
}

#[test]
fn kv_watch_resumes_inside_a_big_entry_matches_exact_keys_and_carries_values() {
    let c = Cluster::start(1, &["--max-value-bytes", "1000"]);
    let id = c.wait_leader(ELECT);
    let lease = post(&c, id, "/v1/leases", &json!({"ttl_ms": 600_000}));
    let lease = lease.body["lease_id"].as_u64().expect("a lease");

    // 1,500 keys on one lease, then one entry (the revoke) that deletes them all.
    const KEYS: usize = 1_500;
    std::thread::scope(|s| {
        for lane in 0..4 {
            let c = &c;
            s.spawn(move || {
                for i in (lane..KEYS).step_by(4) {
                    let a = c.put_kv(id, &format!("mass/{i:04}?lease={lease}"), "x");
                    assert_eq!(a.status, 200, "{a:?}");
                }
            });
        }
    });
    let before = c.get(id, "/v1/status").body["applied_index"].as_u64();
    let before = before.unwrap_or_else(|| c.put_kv(id, "marker", "m").index.expect("index"));
    let revoked = c
        .request(id, "DELETE", &format!("/v1/leases/{lease}"), None)
        .expect("an answer");
    assert_eq!(revoked.status, 200, "{revoked:?}");
    let revoke_index = revoked.index.expect("an index");

    // Pages of 1000 cut through the revoke entry; resuming from `next` loses nothing.
    let a = watch(
        &c,
        id,
        &format!("/v1/watch/kv?prefix=mass/&after={}", revoke_index - 1),
    );
    assert_eq!(a.body["more"], true, "{}", a.body["next"]);
    assert_eq!(a.body["events"].as_array().map(Vec::len), Some(1000));
    let last = &a.body["events"][999];
    assert_eq!(a.body["next"], format!("{revoke_index}.{}", last["pos"]));
    let (deleted, next) = drain(&c, id, "/v1/watch/kv?prefix=mass/", format!("{before}"));
    let deletes: Vec<_> = deleted.iter().filter(|e| e["type"] == "delete").collect();
    assert_eq!(deletes.len(), KEYS, "every key's delete, once");
    let keys: BTreeSet<_> = deletes.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), KEYS);
    assert!(deletes
        .iter()
        .all(|e| e["index"] == revoke_index && e["namespace"] == "kv"));
    let cursors: Vec<_> = deleted.iter().map(cursor).collect();
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "in order, none twice"
    );
    // The same with small pages through the raw route (which also has the lease's event).
    let (raw, _) = drain(
        &c,
        id,
        "/v1/watch?prefix=&limit=7",
        format!("{}", revoke_index - 1),
    );
    assert_eq!(raw.len(), KEYS + 1);
    assert_eq!(
        (&raw[0]["type"], &raw[0]["namespace"]),
        (&json!("revoked"), &json!("leases"))
    );
    assert!(raw
        .iter()
        .enumerate()
        .all(|(i, e)| cursor(e) == (revoke_index, i as u64)));

    // An empty answer still advances `next`, to the applied index.
    let a = watch(&c, id, &format!("/v1/watch/kv?prefix=mass/&after={next}"));
    assert_eq!(
        (&a.body["events"], &a.body["more"]),
        (&json!([]), &json!(false))
    );
    assert_eq!(a.body["next"], format!("{}", a.body["index"]));

    // key= is exact: locks/db does not match locks/db2; values only when asked.
    let from = c.put_kv(id, "locks/db", "one").index.expect("index");
    c.put_kv(id, "locks/db2", "two");
    c.put_kv(id, "locks/db/x", "three");
    let binary = [0u8, 0xff, 0x80, b'\n'];
    let body = json!({"value_b64": STANDARD.encode(binary)}).to_string();
    assert_eq!(c.put(id, "/v1/kv/locks/db", &body).status, 200);
    let after = from - 1;
    let a = watch(&c, id, &format!("/v1/watch/kv?key=locks/db&after={after}"));
    let events = a.body["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events
        .iter()
        .all(|e| e["key"] == "locks/db" && e["type"] == "put"));
    assert!(events
        .iter()
        .all(|e| e.get("value").is_none() && e.get("value_b64").is_none()));
    assert_eq!(
        (&events[0]["version"], &events[1]["version"]),
        (&json!(1), &json!(2))
    );
    let a = watch(
        &c,
        id,
        &format!("/v1/watch/kv?key=locks/db&values=true&after={after}"),
    );
    assert_eq!(a.body["events"][0]["value"], "one");
    assert_eq!(a.body["events"][1]["value_b64"], STANDARD.encode(binary));
    // Binary values round-trip through GET.
    let got = c.get(id, "/v1/kv/locks/db");
    assert_eq!(
        (got.status, &got.body["value_b64"]),
        (200, &json!(STANDARD.encode(binary)))
    );
    assert!(got.body.get("value").is_none(), "{got:?}");

    // Locks and elections by exact name; services by service.
    let lease = post(&c, id, "/v1/leases", &json!({"ttl_ms": 600_000}));
    let lease = lease.body["lease_id"].as_u64().expect("a lease");
    let start = lease - 1;
    for name in ["db", "db2"] {
        let a = post(
            &c,
            id,
            &format!("/v1/locks/{name}"),
            &json!({"lease_id": lease}),
        );
        assert_eq!(a.body["result"], "lock_acquired", "{a:?}");
    }
    let a = watch(&c, id, &format!("/v1/watch/locks?name=db&after={start}"));
    let events = a.body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (
            &events[0]["type"],
            &events[0]["key"],
            &events[0]["lease_id"]
        ),
        (&json!("lock_acquired"), &json!("db"), &json!(lease))
    );
    assert!(events[0]["fencing_token"].as_u64().is_some());
    let body = json!({"candidate": "a", "lease_id": lease});
    assert_eq!(post(&c, id, "/v1/elections/e/campaign", &body).status, 200);
    let a = watch(&c, id, &format!("/v1/watch/elections?name=e&after={start}"));
    let e = &a.body["events"][0];
    assert_eq!(
        (&e["type"], &e["candidate"]),
        (&json!("elected"), &json!("a")),
        "{a:?}"
    );
    let reg = json!({"address": "10.0.0.1", "port": 80});
    for service in ["web", "webx"] {
        let path = format!("/v1/services/{service}/instances/w1");
        assert_eq!(c.put(id, &path, &reg.to_string()).status, 201);
    }
    let a = watch(
        &c,
        id,
        &format!("/v1/watch/services?service=web&after={start}"),
    );
    let events = a.body["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (
            &events[0]["type"],
            &events[0]["service"],
            &events[0]["instance_id"]
        ),
        (&json!("registered"), &json!("web"), &json!("w1"))
    );

    // --max-value-bytes 1000: a byte more is 413 in the JSON error shape, as text or base64.
    assert_eq!(c.put_kv(id, "limit", &"x".repeat(1000)).status, 200);
    let a = c.put_kv(id, "limit", &"x".repeat(1001));
    assert_eq!((a.status, code(&a)), (413, "payload_too_large"), "{a:?}");
    let body = json!({"value_b64": STANDARD.encode([7u8; 1001])}).to_string();
    let a = c.put(id, "/v1/kv/limit", &body);
    assert_eq!((a.status, code(&a)), (413, "payload_too_large"), "{a:?}");

    // Bad cursors and parameters are 400s; a cursor before the history is 410 (not here).
    for bad in [
        "after=x",
        "after=1.",
        "limit=0",
        "limit=1001",
        "prefix=a&key=b",
    ] {
        let a = c.get(id, &format!("/v1/watch/kv?{bad}&wait_ms=0"));
        assert_eq!(
            (a.status, code(&a)),
            (400, "invalid_argument"),
            "{bad}: {a:?}"
        );
    }
}

/// Writes `key` through any live node, retrying while the cluster elects a leader.
fn write(c: &Cluster, live: &[u64], key: &str) -> u64 {
    let deadline = Instant::now() + ELECT;
    loop {
        for &id in live {
            if let Some(a) = c.request(
                id,
                "PUT",
                &format!("/v1/kv/{key}"),
                Some(br#"{"value":"v"}"#),
            ) {
                if a.status == 200 {
                    return a.index.expect("an index");
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no node took {key}\n{}",
            c.logs_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_watch_resumed_on_another_node_after_a_kill_loses_nothing() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let all = [1, 2, 3];
    // A 1 MiB binary value (the default limit) also replicates and watches.
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let body = json!({"value_b64": STANDARD.encode(&big)}).to_string();
    let a = c.put(leader, "/v1/kv/f/big", &body);
    assert_eq!(a.status, 200, "{a:?}");
    let start = a.index.expect("an index") - 1;
    for i in 0..40 {
        write(&c, &all, &format!("f/{i:03}"));
    }
    // Read part of it from the leader, in pages of 7, with values.
    let mut seen = Vec::new();
    let mut after = start.to_string();
    for _ in 0..3 {
        let a = watch(
            &c,
            leader,
            &format!("/v1/watch/kv?prefix=f/&values=true&limit=7&after={after}"),
        );
        seen.extend(a.body["events"].as_array().expect("events").clone());
        after = a.body["next"].as_str().expect("next").to_owned();
    }
    assert_eq!(seen.len(), 21);
    assert_eq!(seen[0]["value_b64"], STANDARD.encode(&big));
    c.kill(leader);
    let live: Vec<u64> = all.iter().copied().filter(|&id| id != leader).collect();
    for i in 40..80 {
        write(&c, &live, &format!("f/{i:03}"));
    }
    // Resume on a survivor: a long poll until the last key arrives.
    let other = live[0];
    while seen.last().map(|e| e["key"].clone()) != Some(json!("f/079")) {
        let path = format!("/v1/watch/kv?prefix=f/&values=true&limit=7&after={after}&wait_ms=2000");
        let a = watch(&c, other, &path);
        seen.extend(a.body["events"].as_array().expect("events").clone());
        after = a.body["next"].as_str().expect("next").to_owned();
    }
    let keys: Vec<_> = seen
        .iter()
        .map(|e| e["key"].as_str().unwrap().to_owned())
        .collect();
    let want: Vec<_> = std::iter::once("f/big".to_owned())
        .chain((0..80).map(|i| format!("f/{i:03}")))
        .collect();
    assert_eq!(keys, want, "every put once, in order");
    assert!(seen.iter().skip(1).all(|e| e["value"] == "v"));
}

#[test]
fn a_cursor_older_than_the_history_gets_410_with_the_index_to_resync_from() {
    let c = Cluster::start(1, &[]);
    let id = c.wait_leader(ELECT);
    let first = c.put_kv(id, "old/first", "1").index.expect("an index");
    // More puts than the history keeps (10,000 events).
    std::thread::scope(|s| {
        for lane in 0..4 {
            let c = &c;
            s.spawn(move || {
                for i in (lane..10_100).step_by(4) {
                    assert_eq!(c.put_kv(id, &format!("old/{i:05}"), "x").status, 200);
                }
            });
        }
    });
    let a = c.get(
        id,
        &format!("/v1/watch/kv?prefix=old/&after={}&wait_ms=0", first - 1),
    );
    assert_eq!((a.status, code(&a)), (410, "compacted"), "{a:?}");
    assert!(a.body["error"]["message"].as_str().is_some(), "{a:?}");
    let resync = a.body["error"]["compacted_index"]
        .as_u64()
        .expect("compacted_index");
    assert!(resync > first, "{a:?}");
    // Resuming from a read at or after that index works.
    let read = c.get(id, "/v1/kv?prefix=old/");
    let index = read.body["index"].as_u64().expect("index");
    assert!(index >= resync);
    let a = watch(&c, id, &format!("/v1/watch/kv?prefix=old/&after={index}"));
    assert_eq!(a.body["events"], json!([]));
    let a = watch(
        &c,
        id,
        &format!("/v1/watch/kv?prefix=old/&after={resync}&limit=1"),
    );
    assert_eq!(a.body["more"], true, "{a:?}");
}

#[test]
fn long_polls_beyond_the_cap_get_503_and_a_watch_wakes_only_for_its_key() {
    let c = Cluster::start(1, &["--max-watchers", "3"]);
    c.wait_leader(ELECT);
    let waiting = |c: &Cluster| c.metric(1, "raftorch_long_poll_waiters").unwrap_or(0);
    let wakeups = |c: &Cluster| c.metric(1, "raftorch_long_poll_wakeups_total").unwrap_or(0);
    std::thread::scope(|s| {
        // Three watches of key `a`, each waiting up to 20 s.
        let watches: Vec<_> = (0..3)
            .map(|_| s.spawn(|| c.get(1, "/v1/watch/kv?key=a&wait_ms=20000")))
            .collect();
        // Probe only once all three really wait (registered under the cap).
        c.eventually(ELECT, "three watches wait", || {
            (waiting(&c) == 3).then_some(())
        });
        let refused = c.get(1, "/v1/watch/kv?key=a&wait_ms=20000");
        assert_eq!(refused.status, 503, "{refused:?}");
        assert_eq!(code(&refused), "too_many_waiters", "{refused:?}");
        assert!(refused.retry_after.is_some(), "Retry-After: {refused:?}");
        assert_eq!(c.metric(1, "raftorch_long_poll_refused_total"), Some(1));
        // Requests that do not wait are answered meanwhile.
        assert_eq!(c.put_kv(1, "b", "1").status, 200);
        assert_eq!(c.get(1, "/v1/kv/b").status, 200);

        // A change of `b` wakes no watch of `a`, nor does the time passing with heartbeats.
        let before = wakeups(&c);
        for i in 0..3 {
            assert_eq!(c.put_kv(1, "b", &i.to_string()).status, 200);
        }
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(wakeups(&c), before, "a watch of a woke for b");
        assert!(
            watches.iter().all(|w| !w.is_finished()),
            "a watch of a returned for b"
        );

        // A change of `a` wakes and answers all three.
        assert_eq!(c.put_kv(1, "a", "x").status, 200);
        let started = Instant::now();
        for w in watches {
            let a = w.join().unwrap();
            assert_eq!(a.status, 200, "{a:?}");
            let events = a.body["events"].as_array().unwrap();
            assert_eq!(events.len(), 1, "{a:?}");
            assert_eq!(events[0]["key"], "a", "{a:?}");
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(wakeups(&c), before + 3);
    });
    c.eventually(ELECT, "the slots are given back", || {
        (waiting(&c) == 0).then_some(())
    });
    let a = c.get(1, "/v1/watch/kv?key=a&wait_ms=0");
    assert_eq!(a.status, 200, "{a:?}");
}
