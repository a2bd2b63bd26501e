//! The `raftorch-client` library against real node processes: kv with CAS across a leader
//! kill, sessions and elections, fenced locks, watches, and the StateManager's guarantees
//! (one leader, fast handover on close, the jeopardy deadline with every node frozen).

#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::time::Duration;

use proc::Cluster;
use raftorch_client::{
    Campaign, Client, Config, Cursor, Election, FailoverConfig, LeaderEvent, Lock, PutOptions,
    Session, SessionOptions, StateManager, StateManagerConfig, Watch, WatchItem, WatchTarget,
};
use serde_json::json;
use tokio::time::Instant;

const ELECT: Duration = Duration::from_secs(15);

fn endpoints(c: &Cluster) -> Vec<String> {
    (1..=c.nodes.len() as u64).map(|id| c.url(id)).collect()
}

/// The client configuration for `c`: every node, and its CA and token when it has them.
fn config(c: &Cluster) -> Config {
    let mut config = Config::new(endpoints(c));
    if let Some(ca) = c.ca_path() {
        config = config.with_cacert(ca);
    }
    if let Some(token) = &c.token {
        config = config.with_token(token.clone());
    }
    config
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn kv_with_cas_and_typed_json_survives_a_leader_kill() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let rt = runtime();
    let client = Client::new(config(&c)).unwrap();
    rt.block_on(async {
        let r = client
            .put_json("app/cfg", &json!({"n": 1}), &PutOptions::default())
            .await
            .unwrap();
        let v = client
            .get_json::<serde_json::Value>("app/cfg")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.value["n"], 1);
        assert_eq!(v.revision, r.revision);
        assert!(client
            .cas_json("app/cfg", r.revision + 1000, &json!({"n": 2}))
            .await
            .unwrap()
            .is_none());
        assert!(client
            .cas_json("app/cfg", r.revision, &json!({"n": 2}))
            .await
            .unwrap()
            .is_some());
        assert!(client.leader_url().is_some(), "the leader was discovered");
    });
    c.kill(leader);
    rt.block_on(async {
        // The next writes find the new leader by themselves.
        for i in 0..5 {
            let (v, _) = client
                .update_json::<serde_json::Value, _>(
                    "app/cfg",
                    |old| json!({"n": old.map_or(0, |o| o["n"].as_u64().unwrap()) + 1}),
                )
                .await
                .unwrap();
            assert_eq!(v["n"], 3 + i);
        }
    });
}

#[test]
fn elections_hand_over_when_the_leader_revokes_and_lock_tokens_grow() {
    let c = Cluster::start(3, &[]);
    c.wait_leader(ELECT);
    let rt = runtime();
    let client = Client::new(config(&c)).unwrap();
    rt.block_on(async {
        let opts = SessionOptions::new(Duration::from_secs(3));
        let s1 = Session::grant(&client, opts).await.unwrap();
        let s2 = Session::grant(&client, opts).await.unwrap();
        let e = Election::new(&client, "jobs.leader");
        let Campaign::Elected(first) = e.campaign(&s1, "a", None).await.unwrap() else {
            panic!("the first candidate leads")
        };
        assert!(matches!(
            e.campaign(&s2, "b", None).await.unwrap(),
            Campaign::Queued { position: 1 }
        ));
        let e2 = e.clone();
        let s2c = s2.clone();
        let waiting = tokio::spawn(async move { e2.campaign_and_wait(&s2c, "b", None).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished());
        let revoked = Instant::now();
        s1.revoke().await.unwrap();
        let second = waiting.await.unwrap().unwrap();
        assert!(
            revoked.elapsed() < Duration::from_secs(2),
            "{:?}",
            revoked.elapsed()
        );
        assert!(second.term() > first.term());
        assert_eq!(
            first.lost().await,
            raftorch_client::LostLeadership::SessionLost
        );
        let o = e.leader().await.unwrap();
        assert_eq!(o.leader.unwrap().candidate, "b");

        // Locks: the second waiter gets the lock when the first releases it, with a larger token.
        let s3 = Session::grant(&client, opts).await.unwrap();
        let lock = Lock::new(&client, "db");
        let g1 = lock.acquire(&s2, Duration::from_secs(2)).await.unwrap();
        assert!(
            lock.try_acquire(&s3).await.unwrap().is_none(),
            "held: try never queues"
        );
        let l2 = lock.clone();
        let s3c = s3.clone();
        let waiter = tokio::spawn(async move { l2.acquire(&s3c, Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t1 = g1.fencing_token();
        g1.release().await.unwrap();
        let g2 = waiter.await.unwrap().unwrap();
        assert!(g2.fencing_token() > t1);
        assert_eq!(
            lock.holder().await.unwrap(),
            Some((s3.lease_id(), g2.fencing_token()))
        );
        // A timed-out waiter leaves the line.
        let s4 = Session::grant(&client, opts).await.unwrap();
        let e = lock
            .acquire(&s4, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(e, raftorch_client::Error::Timeout);
    });
}

#[test]
fn a_watch_sees_every_put_in_order_and_an_exact_key_watch_only_its_key() {
    let c = Cluster::start(3, &[]);
    c.wait_leader(ELECT);
    let rt = runtime();
    let client = Client::new(config(&c)).unwrap();
    rt.block_on(async {
        let mut w = Watch::new(
            &client,
            WatchTarget::KvPrefix("w/".into()),
            Cursor::default(),
        )
        .with_wait(Duration::from_secs(2));
        let mut exact = Watch::new(&client, WatchTarget::KvKey("w/a".into()), Cursor::default())
            .with_wait(Duration::from_millis(500));
        for k in ["w/a", "w/a2", "w/b", "other", "w/a"] {
            client.put(k, "v", &PutOptions::default()).await.unwrap();
        }
        let mut seen = Vec::new();
        while seen.len() < 4 {
            match w.next().await.unwrap() {
                WatchItem::Event(e) => seen.push((e.kind, e.key)),
                other => panic!("{other:?}"),
            }
        }
        let keys: Vec<&str> = seen.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(keys, ["w/a", "w/a2", "w/b", "w/a"]);
        assert!(seen.iter().all(|(kind, _)| kind == "put"));
        let mut only = Vec::new();
        while let Some(item) = exact.next_timeout(Duration::from_secs(2)).await.unwrap() {
            if let WatchItem::Event(e) = item {
                only.push(e.key);
            }
        }
        assert_eq!(only, ["w/a", "w/a"]);
    });
}

fn manager(c: &Cluster, instance: &str) -> StateManager {
    StateManager::new(StateManagerConfig {
        project_id: "bot".into(),
        instance_id: instance.into(),
        region: "local".into(),
        client: config(c),
        failover: FailoverConfig {
            health_check_interval: Duration::from_millis(1000),
            failover_timeout: Duration::from_secs(3),
            margin: Some(Duration::from_millis(300)),
        },
    })
    .unwrap()
}

async fn one_leader(ms: &[StateManager], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let leaders: Vec<usize> = (0..ms.len()).filter(|&i| ms[i].is_leader()).collect();
        assert!(leaders.len() <= 1, "two leaders at once: {leaders:?}");
        if leaders.len() == 1 {
            return leaders[0];
        }
        assert!(Instant::now() < deadline, "no leader within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn state_manager_one_leader_handover_on_close_and_the_jeopardy_deadline() {
    let c = Cluster::start(3, &[]);
    c.wait_leader(ELECT);
    let rt = runtime();
    rt.block_on(async {
        let ms: Vec<StateManager> = ["i1", "i2", "i3"].iter().map(|i| manager(&c, i)).collect();
        let mut events: Vec<_> = ms.iter().map(|m| m.subscribe()).collect();
        for m in &ms {
            m.start().unwrap();
        }
        let first = one_leader(&ms, Duration::from_secs(10)).await;
        // Stays exactly one for a while.
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            assert_eq!(one_leader(&ms, Duration::ZERO).await, first);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let term = ms[first].term().unwrap();
        match events[first].recv().await.unwrap() {
            LeaderEvent::Became { term: t, .. } => assert_eq!(t, term),
            other => panic!("{other:?}"),
        }
        ms[first]
            .save_state(&json!({"positions": [1, 2], "n": 1}))
            .await
            .unwrap();
        let follower = (first + 1) % 3;
        assert!(matches!(
            ms[follower].save_state(&json!({})).await,
            Err(raftorch_client::Error::NotLeader)
        ));
        let seen: serde_json::Value = ms[follower].get_state().await.unwrap().unwrap();
        assert_eq!(seen["n"], 1);

        // Close resigns: a successor leads at once, not after a TTL.
        let closed = Instant::now();
        ms[first].close().await.unwrap();
        assert_eq!(events[first].recv().await, Some(LeaderEvent::Lost { term }));
        let rest: Vec<StateManager> = ms
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != first)
            .map(|(_, m)| m.clone())
            .collect();
        let second = one_leader(&rest, Duration::from_secs(3)).await;
        assert!(
            closed.elapsed() < Duration::from_millis(1500),
            "handover took {:?}",
            closed.elapsed()
        );
        assert!(rest[second].term().unwrap() > term);
        let mut rest_events: Vec<_> = events
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != first)
            .map(|(_, e)| e)
            .collect();
        match rest_events[second].recv().await.unwrap() {
            LeaderEvent::Became { state, .. } => {
                let s: serde_json::Value = serde_json::from_str(&state.unwrap()).unwrap();
                assert_eq!(
                    s["n"], 1,
                    "the new leader reads the state saved before it led"
                );
            }
            other => panic!("{other:?}"),
        }

        // Every node frozen: the leader stops leading at its local deadline, unreachable.
        let frozen = Instant::now();
        for id in 1..=3 {
            c.signal(id, "STOP");
        }
        while rest[second].is_leader() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let after = frozen.elapsed();
        let bound = Duration::from_millis(3000 - 300 + 100);
        assert!(
            after <= bound,
            "is_leader() stayed true {after:?} > {bound:?}"
        );
        let lost = tokio::time::timeout(Duration::from_secs(1), rest_events[second].recv())
            .await
            .unwrap();
        assert!(matches!(lost, Some(LeaderEvent::Lost { .. })), "{lost:?}");
        for id in 1..=3 {
            c.signal(id, "CONT");
        }
        // It campaigns again: someone leads again.
        one_leader(&rest, Duration::from_secs(15)).await;
        for m in &rest {
            m.close().await.unwrap();
        }
    });
}

#[test]
fn fences_refuse_a_deposed_leader_and_a_released_lock_and_txns_apply_atomically() {
    use raftorch_client::{CmpOp, Compare, CompareTarget, Error, Fence, Txn, TxnOp};
    let c = Cluster::start(3, &[]);
    c.wait_leader(ELECT);
    let rt = runtime();
    let client = Client::new(config(&c)).unwrap();
    rt.block_on(async {
        let opts = SessionOptions::new(Duration::from_secs(3));
        let (sa, sb) = (
            Session::grant(&client, opts).await.unwrap(),
            Session::grant(&client, opts).await.unwrap(),
        );
        let e = Election::new(&client, "svc.leader");
        let Campaign::Elected(a) = e.campaign(&sa, "a", Some("http://a")).await.unwrap() else {
            panic!("a leads")
        };
        assert!(matches!(
            e.campaign(&sb, "b", None).await.unwrap(),
            Campaign::Queued { .. }
        ));
        assert_eq!(
            e.leader().await.unwrap().leader.unwrap().value.as_deref(),
            Some("http://a")
        );
        let fenced = |f: Fence| PutOptions {
            fence: Some(f),
            ..PutOptions::default()
        };
        client
            .put("svc/state", "by a", &fenced(a.fence()))
            .await
            .unwrap();

        // Transfer: b leads with a higher term; a's fence is stale from then on.
        let term_b = e.transfer("b").await.unwrap();
        assert!(term_b > a.term());
        assert!(matches!(
            a.lost().await,
            raftorch_client::LostLeadership::Replaced(Some(_))
        ));
        let stale = client
            .put("svc/state", "late a", &fenced(a.fence()))
            .await
            .unwrap_err();
        assert!(matches!(stale, Error::FencedOut { .. }), "{stale}");
        let b_fence = Fence::Election {
            name: "svc.leader".into(),
            term: term_b,
        };
        client
            .put("svc/state", "by b", &fenced(b_fence))
            .await
            .unwrap();
        assert_eq!(
            client.get("svc/state").await.unwrap().unwrap().value,
            "by b"
        );

        // A lock's token fences writes only while it is held.
        let g = Lock::new(&client, "res")
            .acquire(&sa, Duration::from_secs(2))
            .await
            .unwrap();
        let lock_fence = g.fence();
        client
            .put("res/data", "1", &fenced(lock_fence.clone()))
            .await
            .unwrap();
        g.release().await.unwrap();
        let after = client
            .put("res/data", "2", &fenced(lock_fence))
            .await
            .unwrap_err();
        assert!(matches!(after, Error::FencedOut { .. }), "{after}");

        // A transaction: both writes in one entry, or the failure branch.
        let rev = client.get("res/data").await.unwrap().unwrap().mod_revision;
        let txn = Txn::new()
            .when(Compare::new(
                "res/data",
                CompareTarget::Revision,
                CmpOp::Eq,
                rev,
            ))
            .then(TxnOp::Put {
                key: "res/data".into(),
                value: json!("3"),
                lease_id: None,
            })
            .then(TxnOp::Put {
                key: "res/log".into(),
                value: json!("moved"),
                lease_id: None,
            })
            .or_else(TxnOp::Get {
                key: "res/data".into(),
            });
        let r = client.txn(&txn).await.unwrap();
        assert!(r.succeeded, "{r:?}");
        let again = client.txn(&txn).await.unwrap();
        assert!(!again.succeeded);
        assert_eq!(again.results[0]["value"], "3");
        let (items, _) = client.range("res/").await.unwrap();
        assert!(
            items.iter().all(|kv| kv.mod_revision == r.index),
            "{items:?}"
        );
    });
}

#[test]
fn state_manager_trigger_failover_and_the_deposed_leaders_save_is_refused() {
    let c = Cluster::start(3, &[]);
    c.wait_leader(ELECT);
    let rt = runtime();
    rt.block_on(async {
        let ms: Vec<StateManager> = ["i1", "i2"].iter().map(|i| manager(&c, i)).collect();
        for m in &ms {
            m.start().unwrap();
        }
        let first = one_leader(&ms, Duration::from_secs(10)).await;
        let other = 1 - first;
        // Wait until the other one is queued behind it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let term = ms[first].term().unwrap();
        let new_term = ms[first]
            .trigger_failover(ms[other].instance_id())
            .await
            .unwrap();
        assert!(new_term > term);
        // Whatever the deposed one believes for the moment, its save is refused.
        let late = ms[first].save_state(&json!({"by": "deposed"})).await;
        assert!(
            matches!(
                late,
                Err(raftorch_client::Error::NotLeader | raftorch_client::Error::FencedOut { .. })
            ),
            "{late:?}"
        );
        assert_eq!(one_leader(&ms, Duration::from_secs(3)).await, other);
        ms[other].save_state(&json!({"by": "new"})).await.unwrap();
        let s: serde_json::Value = ms[first].get_state().await.unwrap().unwrap();
        assert_eq!(s["by"], "new");
        for m in &ms {
            m.close().await.unwrap();
        }
    });
}

#[test]
fn the_client_sends_its_token_to_a_cluster_with_an_auth_file() {
    const WRITER: &str = "client-write-secret-0123456789";
    let auth = format!("[[token]]\nname = \"app\"\nsecret = \"{WRITER}\"\nrole = \"write\"\n");
    let c = Cluster::start_with_auth(3, &auth, WRITER, &[]);
    c.wait_leader(ELECT);
    let rt = runtime();
    let without = Client::new(Config::new(endpoints(&c))).unwrap();
    let with = Client::new(Config::new(endpoints(&c)).with_token(WRITER)).unwrap();
    rt.block_on(async {
        let refused = without
            .put_json("app/x", &json!(1), &PutOptions::default())
            .await
            .unwrap_err();
        assert!(
            refused.to_string().contains("unauthenticated"),
            "no token: {refused}"
        );
        with.put_json("app/x", &json!(2), &PutOptions::default())
            .await
            .unwrap();
        let v = with
            .get_json::<serde_json::Value>("app/x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v.value, json!(2));
    });
}

#[test]
fn range_follows_pages_past_the_default_limit_and_range_page_returns_one_page() {
    let c = Cluster::start(1, &[]);
    c.wait_leader(ELECT);
    let rt = runtime();
    let client = Client::new(config(&c)).unwrap();
    rt.block_on(async {
        let keys: Vec<String> = (0..2_100).map(|i| format!("many/{i:05}")).collect();
        for k in &keys {
            client.put(k, "v", &PutOptions::default()).await.unwrap();
        }
        let (items, index) = client.range("many/").await.unwrap();
        let got: Vec<&str> = items.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(got, keys);
        assert!(index > 0);
        let page = client
            .range_page("many/", Some("many/02050"), Some(20))
            .await
            .unwrap();
        assert_eq!(page.items.len(), 20);
        assert_eq!(page.items[0].key, "many/02051");
        assert_eq!(page.next.as_deref(), Some("many/02070"));
        let last = client
            .range_page("many/", Some("many/02090"), None)
            .await
            .unwrap();
        assert_eq!((last.items.len(), last.next), (9, None));
    });
}
