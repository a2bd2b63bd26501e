//! The client against scripted mock nodes: redirects, retries with one request id,
//! Retry-After, fences, the session's jeopardy deadline, lock waits, watch cursors and
//! resync, and the fallbacks for an older server.

#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod mock;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mock::{MockNode, Reply};
use raftorch_client::{
    Client, Config, Cursor, Election, Error, Lock, PutOptions, Session, SessionOptions, Watch,
    WatchItem, WatchTarget,
};
use serde_json::json;
use tokio::time::Instant;

fn status_body(id: u64, leader: u64, members: &[(u64, &str)]) -> serde_json::Value {
    let ms: Vec<_> = members
        .iter()
        .map(|(i, url)| json!({"id": i, "api_addr": url.trim_start_matches("http://")}))
        .collect();
    json!({"id": id, "leader_id": leader, "members": ms})
}

#[tokio::test]
async fn a_503_naming_the_leader_redirects_there_with_the_same_request_id() {
    // Node 2 leads; node 1 answers writes with 503 naming it.
    let leader = MockNode::start(|s, _| match s.path() {
        "/v1/kv/a" => Reply::ok(json!({"result": "kv_put", "revision": 5, "version": 1}))
            .header("x-raftorch-leader", "2"),
        _ => Reply::error(404, "not_found", "no such route"),
    })
    .await;
    let leader_url = leader.url.clone();
    let follower = MockNode::start(move |s, _| match s.path() {
        "/v1/status" => Reply::ok(status_body(1, 2, &[(1, "127.0.0.1:1"), (2, &leader_url)])),
        _ => Reply::error(503, "not_leader", "ask node 2")
            .header("retry-after", "1")
            .header("x-raftorch-leader", "2"),
    })
    .await;
    let client = Client::new(Config::new([follower.url.clone()])).unwrap();
    let started = Instant::now();
    let r = client.put("a", "x", &PutOptions::default()).await.unwrap();
    assert_eq!(r.revision, 5);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "no Retry-After wait at another node"
    );
    let at_follower = follower.seen_at("/v1/kv/a");
    let at_leader = leader.seen_at("/v1/kv/a");
    assert_eq!(at_follower.len(), 1);
    assert_eq!(at_leader.len(), 1);
    assert_eq!(
        at_follower[0].request_id, at_leader[0].request_id,
        "a retry keeps its id"
    );
    // The next write goes to the leader directly, with the next sequence of the same lane.
    client.put("a", "y", &PutOptions::default()).await.unwrap();
    assert_eq!(follower.seen_at("/v1/kv/a").len(), 1);
    let ids: Vec<String> = leader
        .seen_at("/v1/kv/a")
        .into_iter()
        .filter_map(|s| s.request_id)
        .collect();
    let (c1, s1) = ids[0].split_once(':').unwrap();
    let (c2, s2) = ids[1].split_once(':').unwrap();
    assert_eq!(c1, c2);
    assert_eq!(s2.parse::<u64>().unwrap(), s1.parse::<u64>().unwrap() + 1);
}

#[tokio::test]
async fn retry_after_is_honoured_at_the_same_node_and_a_dead_endpoint_is_skipped() {
    let node = MockNode::start(|s, n| match (s.path(), n) {
        ("/v1/kv/k", 0) => Reply::error(503, "no_leader", "no leader").header("retry-after", "1"),
        ("/v1/kv/k", _) => Reply::ok(json!({"key": "k", "value": "v", "mod_revision": 3})),
        _ => Reply::error(404, "not_found", "no"),
    })
    .await;
    // A port nothing listens on: a transport failure, skipped.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let client = Client::new(Config::new([dead, node.url.clone()])).unwrap();
    let started = Instant::now();
    let kv = client.get("k").await.unwrap().unwrap();
    assert_eq!(kv.value, "v");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(950),
        "waited out Retry-After: {waited:?}"
    );
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

#[tokio::test]
async fn errors_keep_their_codes_and_fenced_writes_carry_the_fence() {
    let node = MockNode::start(|s, _| match s.path() {
        "/v1/kv/state" if s.query("fence").is_some() => {
            Reply::error(409, "fenced_out", "term 3 is not current")
        }
        "/v1/kv/missing" => Reply::error(404, "key_not_found", "no"),
        _ => Reply::error(409, "cas_failed", "current revision 9"),
    })
    .await;
    let client = Client::new(Config::new([node.url.clone()])).unwrap();
    let fence = raftorch_client::Fence::Election {
        name: "bot.leader".into(),
        term: 3,
    };
    let opts = PutOptions {
        fence: Some(fence),
        ..PutOptions::default()
    };
    let e = client.put("state", "{}", &opts).await.unwrap_err();
    assert!(matches!(e, Error::FencedOut { .. }), "{e}");
    assert_eq!(
        node.seen_at("/v1/kv/state")[0].query("fence").as_deref(),
        Some("election:bot.leader:3")
    );
    assert_eq!(client.get("missing").await.unwrap(), None);
    assert_eq!(
        client.cas_json("x", 2, &json!({"a": 1})).await.unwrap(),
        None
    );
}

/// A lease server that acks keepalives until `freeze` is set, then never answers.
async fn lease_server(freeze: Arc<AtomicBool>) -> MockNode {
    MockNode::start(move |s, _| match s.path() {
        "/v1/leases" => {
            Reply::ok(json!({"result": "lease_granted", "lease_id": 42, "ttl_ms": 900}))
        }
        "/v1/leases/42/keepalive" if freeze.load(Ordering::SeqCst) => Reply::hang(),
        "/v1/leases/42/keepalive" => {
            Reply::ok(json!({"result": "lease_kept_alive", "lease_id": 42}))
        }
        _ => Reply::ok(json!({})),
    })
    .await
}

#[tokio::test]
async fn the_session_is_lost_at_the_last_acked_send_plus_ttl_minus_margin_while_unreachable() {
    let freeze = Arc::new(AtomicBool::new(false));
    let node = lease_server(freeze.clone()).await;
    let client = Client::new(Config::new([node.url.clone()])).unwrap();
    let options = SessionOptions {
        ttl: Duration::from_millis(900),
        keepalive_interval: Duration::from_millis(300),
        margin: Duration::from_millis(100),
    };
    let session = Session::grant(&client, options).await.unwrap();
    assert_eq!(session.lease_id(), 42);
    // Keepalives hold it well past one TTL.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(session.is_alive());
    assert!(node.seen_at("/v1/leases/42/keepalive").len() >= 3);
    let frozen_at = Instant::now();
    freeze.store(true, Ordering::SeqCst);
    let lost = session.lost().await;
    let after = frozen_at.elapsed();
    assert_eq!(lost, raftorch_client::Lost::Deadline);
    assert!(!session.is_alive());
    // At most TTL − margin after the freeze (the last acked send was before it), and not
    // before TTL − margin − interval.
    assert!(
        after <= Duration::from_millis(800 + 60),
        "lost late: {after:?}"
    );
    assert!(after >= Duration::from_millis(450), "lost early: {after:?}");
}

#[tokio::test]
async fn a_keepalive_answered_lease_not_found_ends_the_session_at_once() {
    let node = MockNode::start(|s, _| match s.path() {
        "/v1/leases" => Reply::ok(json!({"lease_id": 7})),
        _ => Reply::error(404, "lease_not_found", "lease 7 does not exist"),
    })
    .await;
    let client = Client::new(Config::new([node.url.clone()])).unwrap();
    let session = Session::grant(&client, SessionOptions::new(Duration::from_millis(900)))
        .await
        .unwrap();
    let lost = tokio::time::timeout(Duration::from_millis(600), session.lost())
        .await
        .unwrap();
    assert_eq!(lost, raftorch_client::Lost::Expired);
}

#[tokio::test]
async fn session_options_are_validated() {
    let mut o = SessionOptions::new(Duration::from_secs(3));
    assert!(o.validate().is_ok());
    o.keepalive_interval = Duration::from_millis(1001);
    assert!(matches!(o.validate(), Err(Error::Config(_))));
}

#[tokio::test]
async fn a_queued_lock_waits_then_gets_its_token_and_a_timeout_leaves_the_line() {
    let grants = Arc::new(AtomicU64::new(0));
    let g = grants.clone();
    let node = MockNode::start(move |s, _| match (s.method.as_str(), s.path()) {
        ("POST", "/v1/leases") => Reply::ok(json!({"lease_id": 5})),
        ("POST", "/v1/locks/db") => {
            assert!(s.query("wait_ms").is_some());
            if g.fetch_add(1, Ordering::SeqCst) == 0 {
                Reply::ok(json!({"result": "lock_queued", "position": 1}))
            } else {
                Reply::ok(json!({"result": "lock_acquired", "fencing_token": 77}))
            }
        }
        ("POST", "/v1/locks/busy") => Reply::ok(json!({"result": "lock_queued", "position": 1})),
        _ => Reply::ok(json!({"result": "lock_released"})),
    })
    .await;
    let client = Client::new(Config::new([node.url.clone()])).unwrap();
    let session = Session::grant(&client, SessionOptions::new(Duration::from_secs(3)))
        .await
        .unwrap();
    let guard = Lock::new(&client, "db")
        .acquire(&session, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(guard.fencing_token(), 77);
    assert_eq!(guard.fence().to_string(), "lock:db:77");
    guard.release().await.unwrap();
    assert_eq!(
        node.seen_at("/v1/locks/db")
            .iter()
            .filter(|s| s.method == "DELETE")
            .count(),
        1
    );
    let e = Lock::new(&client, "busy")
        .acquire(&session, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(e, Error::Timeout);
    let left: Vec<_> = node
        .seen_at("/v1/locks/busy")
        .into_iter()
        .filter(|s| s.method == "DELETE")
        .collect();
    assert_eq!(left.len(), 1, "the waiter left the line");
    assert_eq!(left[0].query("lease_id").as_deref(), Some("5"));
}

#[tokio::test]
async fn try_acquire_never_queues() {
    let node = MockNode::start(|s, _| match (s.method.as_str(), s.path()) {
        ("POST", "/v1/leases") => Reply::ok(json!({"lease_id": 5})),
        ("POST", "/v1/locks/db") => {
            assert_eq!(s.body["mode"], "try");
            Reply::error(409, "lock_held", "held by lease 4")
        }
        _ => Reply::ok(json!({})),
    })
    .await;
    let client = Client::new(Config::new([node.url.clone()])).unwrap();
    let session = Session::grant(&client, SessionOptions::new(Duration::from_secs(3)))
        .await
        .unwrap();
    assert!(Lock::new(&client, "db")
        .try_acquire(&session)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_watch_resumes_from_its_cursor_and_resyncs_explicitly_after_compaction() {
    let node = MockNode::start(|s, n| {
        let after = s.query("after").unwrap_or_default();
        match s.path() {
            "/v1/watch/kv" => match after.as_str() {
                "0" => Reply::ok(json!({"events": [
                        {"type": "put", "namespace": "kv", "key": "w/a", "index": 7, "pos": 0, "value": "1"},
                        {"type": "put", "namespace": "kv", "key": "w/b", "index": 7, "pos": 1}],
                     "next": "7.1", "more": true, "index": 9})),
                "7.1" => Reply::ok(json!({"events": [
                        {"type": "delete", "namespace": "kv", "key": "w/c", "index": 7, "pos": 2}],
                     "next": "9.4294967295", "more": false, "index": 9})),
                "9.4294967295" if n < 10 => Reply {
                    status: 410,
                    body: json!({"error": {"code": "compacted", "message": "gone", "compacted_index": 20}}),
                    headers: vec![],
                    hang: false,
                },
                "30" => Reply::ok(json!({"events": [
                        {"type": "put", "namespace": "kv", "key": "w/z", "index": 31, "pos": 0}],
                     "next": "31.0", "more": false, "index": 31})),
                _ => Reply::ok(json!({"events": [], "next": after, "more": false, "index": 31})),
            },
            "/v1/kv" => Reply::ok(json!({"items": [{"key": "w/a", "value": "1", "mod_revision": 7}], "index": 30})),
            _ => Reply::error(404, "not_found", "no"),
        }
    })
    .await;
    let client = Client::new(Config::new([node.url.clone()])).unwrap();
    let mut w = Watch::new(
        &client,
        WatchTarget::KvPrefix("w/".into()),
        Cursor::default(),
    )
    .with_values();
    let mut keys = Vec::new();
    for _ in 0..3 {
        match w.next().await.unwrap() {
            WatchItem::Event(e) => keys.push((e.key, e.index, e.pos)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        keys,
        vec![
            ("w/a".into(), 7, Some(0)),
            ("w/b".into(), 7, Some(1)),
            ("w/c".into(), 7, Some(2))
        ]
    );
    match w.next().await.unwrap() {
        WatchItem::Resync {
            compacted_index,
            index,
            state,
        } => {
            assert_eq!(compacted_index, Some(20));
            assert_eq!(index, 30);
            assert_eq!(state["items"][0]["key"], "w/a");
        }
        other => panic!("{other:?}"),
    }
    match w.next().await.unwrap() {
        WatchItem::Event(e) => assert_eq!((e.key.as_str(), e.index), ("w/z", 31)),
        other => panic!("{other:?}"),
    }
    let afters: Vec<String> = node
        .seen_at("/v1/watch/kv")
        .iter()
        .filter_map(|s| s.query("after"))
        .collect();
    assert_eq!(&afters[..4], &["0", "7.1", "9.4294967295", "30"]);
    assert!(node
        .seen_at("/v1/watch/kv")
        .iter()
        .all(|s| s.query("values").as_deref() == Some("true")));
}

#[tokio::test]
async fn an_older_server_gets_the_older_forms() {
    // No `?wait_ms` on elections, no `/v1/watch/kv`: observe falls back to the raw watch.
    let node = MockNode::start(|s, _| match s.path() {
        "/v1/elections/e" if s.query("wait_ms").is_some() => {
            Reply::error(400, "invalid_argument", "unknown query parameter \"wait_ms\" (allowed: consistency)")
        }
        "/v1/elections/e" => Reply::ok(json!({"election": "e", "leader": {"candidate": "b", "lease_id": 3, "term": 8, "since_index": 12}, "candidates": []}))
            .header("x-raftorch-index", "14"),
        "/v1/watch" => Reply::ok(json!({"events": [{"index": 12, "key": "elections/e", "kind": {"ElectionLeader": {"candidate": "b", "term": 8}}}], "index": 14})),
        _ => Reply::error(404, "not_found", "no such route"),
    })
    .await;
    let client = Client::new(Config::new([node.url.clone()])).unwrap();
    let o = Election::new(&client, "e")
        .observe(Some(10), Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(o.leader.unwrap().term, 8);
    assert_eq!(o.index, 14);
    let watched = node.seen_at("/v1/watch");
    assert_eq!(watched[0].query("prefix").as_deref(), Some("elections/e"));
    let mut w = Watch::new(
        &client,
        WatchTarget::Election("e".into()),
        Cursor::default(),
    );
    match w.next().await.unwrap() {
        WatchItem::Event(e) => assert_eq!(
            (e.kind.as_str(), e.namespace.as_str(), e.key.as_str()),
            ("elected", "elections", "e")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.cursor(),
        Cursor {
            index: 14,
            pos: None
        }
    );
}

#[tokio::test]
async fn a_traceparent_goes_with_every_request_of_its_handle() {
    let node = MockNode::start(|s, _| match s.path() {
        "/v1/kv/a" => Reply::ok(json!({"result": "kv_put", "revision": 1, "version": 1})),
        _ => Reply::error(404, "not_found", "no such route"),
    })
    .await;
    const GIVEN: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    // Per client, from the config.
    let client = Client::new(Config::new([node.url.clone()]).with_traceparent(GIVEN)).unwrap();
    client.put("a", "x", &PutOptions::default()).await.unwrap();
    // Per call: a handle with a new trace, and one with the caller's.
    let traced = client.traced();
    let generated = traced.traceparent().unwrap().to_owned();
    assert_ne!(generated, GIVEN);
    traced.put("a", "y", &PutOptions::default()).await.unwrap();
    let plain = Client::new(Config::new([node.url.clone()])).unwrap();
    plain.put("a", "z", &PutOptions::default()).await.unwrap();
    let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    plain
        .with_traceparent(other)
        .unwrap()
        .put("a", "w", &PutOptions::default())
        .await
        .unwrap();
    let sent: Vec<Option<String>> = node
        .seen_at("/v1/kv/a")
        .into_iter()
        .map(|s| s.traceparent)
        .collect();
    assert_eq!(
        sent,
        vec![
            Some(GIVEN.to_owned()),
            Some(generated),
            None,
            Some(other.to_owned())
        ]
    );
    // A malformed one is refused before anything is sent.
    assert!(matches!(
        plain.with_traceparent("00-nope"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Client::new(Config::new([node.url.clone()]).with_traceparent("x")),
        Err(Error::Config(_))
    ));
}
