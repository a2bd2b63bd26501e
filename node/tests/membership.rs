//! Membership changes on real processes: remove a voter, re-add it as a learner, promote it
//! back to voter; and a brand-new node started with `--join`, added at run time.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::process::Command;
use std::time::Duration;

use proc::Cluster;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

/// The ids of the voters (`voter: true`) or learners (`false`) in a status's `members`.
fn ids(status: &Value, voter: bool) -> Vec<u64> {
    status["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|m| m["voter"] == voter)
                .filter_map(|m| m["id"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

/// Node `id`'s entry in a status's `members`.
fn member(status: &Value, id: u64) -> Option<Value> {
    status["members"]
        .as_array()?
        .iter()
        .find(|m| m["id"] == id)
        .cloned()
}

/// The leader node `id` reports, if any.
fn leader_of(c: &Cluster, id: u64) -> Option<u64> {
    c.request(id, "GET", "/v1/status", None)?.body["leader_id"].as_u64()
}

/// Runs `raftorch ctl -o json --endpoints (every node's API) ARGS..`; its exit code and output.
fn ctl(c: &Cluster, args: &[&str]) -> (Option<i32>, String) {
    let endpoints: Vec<String> = c.nodes.iter().map(|n| c.url(n.id)).collect();
    let o = Command::new(env!("CARGO_BIN_EXE_raftorch"))
        .envs(c.client_env())
        .args(["ctl", "-o", "json"])
        .arg("--endpoints")
        .arg(endpoints.join(","))
        .args(args)
        .output()
        .expect("run raftorch ctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), text)
}

#[test]
fn a_voter_is_removed_then_re_added_as_learner_and_promoted() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(WAIT);
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let (gone, other) = (others[0], others[1]);

    // Bad ids are refused; a removal sent to a follower is passed on to the leader.
    let a = c
        .request(leader, "DELETE", "/v1/cluster/members/abc", None)
        .expect("answer");
    assert_eq!(a.status, 400, "{a:?}");

    let a = c
        .request(
            other,
            "DELETE",
            &format!("/v1/cluster/members/{gone}"),
            None,
        )
        .expect("answer");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["result"], "member_removed", "{a:?}");
    c.eventually(WAIT, "the removal to apply", || {
        let s = c.get(leader, "/v1/status").body;
        let voters = ids(&s, true);
        (!voters.contains(&gone) && voters.len() == 2 && ids(&s, false).is_empty()).then_some(())
    });
    // Two voters still make progress.
    let w = c.put_kv(other, "after-removal", "yes");
    assert_eq!(w.status, 200, "{w:?}");

    // Addresses are checked before anything is proposed.
    for (peer, api) in [
        ("127.0.0.1", "127.0.0.1:2"),
        ("127.0.0.1:1", "http://127.0.0.1:2"),
    ] {
        let body = format!(r#"{{"id": 9, "peer_addr": "{peer}", "api_addr": "{api}"}}"#);
        let a = c
            .request(leader, "POST", "/v1/cluster/members", Some(body.as_bytes()))
            .expect("answer");
        assert_eq!(a.status, 400, "{a:?}");
    }

    let node = &c.nodes[gone as usize - 1];
    for voter in [false, true] {
        let body = format!(
            r#"{{"id": {gone}, "peer_addr": "{}", "api_addr": "{}", "voter": {voter}}}"#,
            node.peer_addr, node.api_addr
        );
        // A learner is promoted once it has caught up; until then the answer is 409.
        let a = c.eventually(WAIT, "the change to be taken", || {
            let a = c
                .request(leader, "POST", "/v1/cluster/members", Some(body.as_bytes()))
                .expect("answer");
            let not_ready = a.status == 409 && a.body["error"]["code"] == "learner_not_ready";
            (!not_ready).then_some(a)
        });
        assert_eq!(a.status, 200, "voter={voter}: {a:?}");
        let what = if voter { "a voter" } else { "a learner" };
        c.eventually(WAIT, what, || {
            let s = c.get(leader, "/v1/status").body;
            ids(&s, voter).contains(&gone).then_some(())
        });
    }
    // `/v1/members` shows the same member objects as the status, addresses included.
    let members = c.get(leader, "/v1/members").body;
    let status = c.get(leader, "/v1/status").body;
    assert_eq!(
        members["members"], status["members"],
        "{members} vs {status}"
    );
    assert_eq!(ids(&status, true).len(), 3, "{status}");
    for n in &c.nodes {
        let m = status["members"]
            .as_array()
            .and_then(|a| a.iter().find(|m| m["id"] == n.id))
            .unwrap_or_else(|| panic!("node {} missing: {status}", n.id));
        assert_eq!(m["peer_addr"], n.peer_addr.as_str(), "{m}");
        assert_eq!(m["api_addr"], n.api_addr.as_str(), "{m}");
    }
    // Another node cannot take an address the book holds for a member.
    let body = format!(
        r#"{{"id": 9, "peer_addr": "{}", "api_addr": "127.0.0.1:2"}}"#,
        node.peer_addr
    );
    let a = c
        .request(leader, "POST", "/v1/cluster/members", Some(body.as_bytes()))
        .expect("answer");
    assert_eq!(a.status, 409, "{a:?}");
    assert_eq!(a.body["error"]["code"], "address_in_use", "{a:?}");
    // The re-added node has the write made while it was out.
    c.eventually(WAIT, "the re-added node to catch up", || {
        let a = c.get(gone, "/v1/kv/after-removal?consistency=stale");
        (a.body["value"] == "yes").then_some(())
    });
}

#[test]
fn a_brand_new_node_joins_serves_survives_failures_and_restarts_then_nodes_are_removed() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(WAIT);
    assert_eq!(c.put_kv(leader, "before-join", "1").status, 200);

    // Node 4 knows the three founders, founds nothing, and stays a silent non-member.
    let new = c.add_joining();
    c.eventually(WAIT, "node 4 to serve HTTP", || {
        c.request(new, "GET", "/v1/status", None)
    });
    std::thread::sleep(Duration::from_secs(1));
    let s = c.get(new, "/v1/status").body;
    assert_eq!(
        (
            s["role"].as_str(),
            s["term"].as_u64(),
            s["last_index"].as_u64()
        ),
        (Some("follower"), Some(0), Some(0)),
        "{s}"
    );
    assert_eq!(s["members"], serde_json::json!([]), "{s}");
    assert_eq!(leader_of(&c, leader), Some(leader), "nobody was disturbed");

    // Membership changes are made at the leader; a follower passes the request on to it, once
    // (a request it was passed already is refused with 409, so nothing loops).
    let (peer_addr, api_addr) = (c.nodes[3].peer_addr.clone(), c.nodes[3].api_addr.clone());
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let learner = format!(
        r#"{{"id": {new}, "peer_addr": "{peer_addr}", "api_addr": "{api_addr}", "voter": false}}"#
    );
    let a = c
        .request_with_headers(
            follower,
            "POST",
            "/v1/cluster/members",
            Some(learner.as_bytes()),
            &[("x-raftorch-forwarded", "1")],
        )
        .expect("answer");
    assert_eq!(a.status, 409, "{a:?}");
    assert_eq!(a.body["error"]["code"], "not_leader", "{a:?}");
    let a = c
        .request(
            follower,
            "POST",
            "/v1/cluster/members",
            Some(learner.as_bytes()),
        )
        .expect("answer");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["result"], "member_added", "{a:?}");
    assert!(
        a.index.is_some(),
        "the leader's index header is passed back: {a:?}"
    );

    // Every node, node 4 included, lists it as a learner with its addresses; it caught up.
    for id in 1..=4 {
        c.eventually(WAIT, "node 4 listed as a learner", || {
            let m = member(&c.get(id, "/v1/status").body, new)?;
            (m["voter"] == false
                && m["peer_addr"] == peer_addr.as_str()
                && m["api_addr"] == api_addr.as_str())
            .then_some(())
        });
    }
    c.eventually(WAIT, "node 4 to have the earlier write", || {
        (c.get(new, "/v1/kv/before-join?consistency=stale").body["value"] == "1").then_some(())
    });

    // Promoted with the CLI: four voters, as every node sees it.
    let (code, out) = ctl(
        &c,
        &[
            "members",
            "add",
            "--id",
            "4",
            "--peer-addr",
            &peer_addr,
            "--api-addr",
            &api_addr,
            "--voter",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    for id in 1..=4 {
        c.eventually(WAIT, "four voters", || {
            let s = c.get(id, "/v1/status").body;
            (ids(&s, true) == [1, 2, 3, 4]).then_some(())
        });
    }
    // Writes through node 4 (forwarded to the leader), and node 4 serves them.
    for i in 0..5 {
        let w = c.put_kv(new, &format!("via-4/{i}"), "yes");
        assert_eq!(w.status, 200, "{w:?}");
    }
    c.eventually(WAIT, "node 4 to serve its writes", || {
        (c.get(new, "/v1/kv/via-4/4?consistency=stale").body["value"] == "yes").then_some(())
    });

    // kill -9 an original member (the leader): 4 voters, 3 alive, writes go on.
    let killed = leader_of(&c, new).expect("a leader");
    assert_ne!(killed, new);
    c.kill(killed);
    let alive: Vec<u64> = (1..=4).filter(|&id| id != killed).collect();
    c.eventually(WAIT, "a write with one of four voters down", || {
        (c.put_kv(new, "after-kill", "ok").status == 200).then_some(())
    });

    // Node 4 restarts from its data directory and comes back as a voter.
    c.kill(new);
    c.spawn(new);
    c.eventually(WAIT, "a write through the restarted node 4", || {
        let a = c.request(
            new,
            "PUT",
            "/v1/kv/after-restart",
            Some(br#"{"value": "back"}"#),
        )?;
        (a.status == 200).then_some(())
    });
    c.eventually(WAIT, "the restarted node 4 to serve reads", || {
        (c.get(new, "/v1/kv/after-restart?consistency=stale").body["value"] == "back").then_some(())
    });
    let s = c.get(new, "/v1/status").body;
    assert_eq!(ids(&s, true), [1, 2, 3, 4], "{s}");

    // A founder restarts: its --peer list lacks node 4, whose addresses it learns again from
    // the log it replays.
    let founder = alive.iter().copied().find(|&id| id != new).unwrap();
    c.kill(founder);
    c.spawn(founder);
    c.eventually(
        WAIT,
        "the restarted founder to know node 4's addresses",
        || {
            let m = member(&c.request(founder, "GET", "/v1/status", None)?.body, new)?;
            (m["peer_addr"] == peer_addr.as_str() && m["api_addr"] == api_addr.as_str())
                .then_some(())
        },
    );
    c.eventually(WAIT, "a write through the restarted founder", || {
        (c.put_kv(founder, "after-founder-restart", "ok").status == 200).then_some(())
    });

    // The dead member is removed (with the CLI): it leaves every node's `members`.
    let (code, out) = ctl(&c, &["members", "remove", &killed.to_string()]);
    assert_eq!(code, Some(0), "{out}");
    for &id in &alive {
        c.eventually(WAIT, "the dead member to leave `members`", || {
            let s = c.get(id, "/v1/status").body;
            (member(&s, killed).is_none() && ids(&s, true).len() == 3).then_some(())
        });
    }
    assert_eq!(c.put_kv(new, "after-removal", "ok").status, 200);

    // Node 4 leads, then is removed: the leader refuses to remove itself over HTTP, and the CLI
    // hands leadership over first. Its address record goes with it.
    let current = leader_of(&c, new).expect("a leader");
    if current != new {
        let body = format!(r#"{{"to": {new}}}"#);
        let a = c
            .request(
                current,
                "POST",
                "/v1/cluster/transfer-leader",
                Some(body.as_bytes()),
            )
            .expect("answer");
        assert_eq!(a.status, 202, "{a:?}");
    }
    c.eventually(WAIT, "node 4 to lead", || {
        alive
            .iter()
            .all(|&id| leader_of(&c, id) == Some(new))
            .then_some(())
    });
    let a = c
        .request(new, "DELETE", &format!("/v1/cluster/members/{new}"), None)
        .expect("answer");
    assert_eq!(a.status, 409, "{a:?}");
    assert_eq!(a.body["error"]["code"], "leader_removal", "{a:?}");
    let (code, out) = ctl(&c, &["members", "remove", "4"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\"address_index\""), "{out}");
    let founders: Vec<u64> = alive.iter().copied().filter(|&id| id != new).collect();
    for &id in &founders {
        c.eventually(WAIT, "node 4 to leave `members`", || {
            let s = c.get(id, "/v1/status").body;
            (member(&s, new).is_none() && ids(&s, true) == founders).then_some(())
        });
    }
    let leader = leader_of(&c, founders[0]).expect("a leader");
    assert!(founders.contains(&leader));
    assert_eq!(c.put_kv(founders[1], "two-left", "ok").status, 200);
    // Removing it again: it is neither a member nor in the address book.
    let a = c
        .request(
            leader,
            "DELETE",
            &format!("/v1/cluster/members/{new}"),
            None,
        )
        .expect("answer");
    assert_eq!(a.status, 404, "{a:?}");
}

#[test]
fn a_late_joiner_is_sent_a_snapshot_and_restarted_members_find_it_in_theirs() {
    // Snapshots every 50 entries; the leader keeps 1000 entries behind its snapshot, so a node
    // joining after more than that gets a snapshot rather than the log.
    let mut c = Cluster::start(3, &["--snapshot-every", "50"]);
    let leader = c.wait_leader(WAIT);
    for i in 0..1_100 {
        let w = c.put_kv(leader, &format!("early/{i}"), "v");
        assert_eq!(w.status, 200, "{w:?}");
    }
    let new = c.add_joining();
    let (peer_addr, api_addr) = (c.nodes[3].peer_addr.clone(), c.nodes[3].api_addr.clone());
    let body = format!(r#"{{"id": {new}, "peer_addr": "{peer_addr}", "api_addr": "{api_addr}"}}"#);
    let a = c
        .request(leader, "POST", "/v1/cluster/members", Some(body.as_bytes()))
        .expect("answer");
    assert_eq!(a.status, 200, "{a:?}");
    c.eventually(WAIT, "node 4 to catch up from a snapshot", || {
        let s = c.request(new, "GET", "/v1/status", None)?.body;
        let got = c.get(new, "/v1/kv/early/0?consistency=stale").body;
        (s["snapshot_index"].as_u64() > Some(0) && got["value"] == "v").then_some(())
    });
    // Enough entries after the address record for every founder to snapshot past it.
    for i in 0..120 {
        assert_eq!(c.put_kv(leader, &format!("late/{i}"), "v").status, 200);
    }
    let founder = (1..=3).find(|&id| id != leader).unwrap();
    c.eventually(
        WAIT,
        "the founder's snapshot to cover the address record",
        || {
            let s = c.get(founder, "/v1/status").body;
            (s["snapshot_index"].as_u64()? > a.body["address_index"].as_u64()?).then_some(())
        },
    );
    c.kill(founder);
    c.spawn(founder);
    c.eventually(
        WAIT,
        "the restarted founder to know node 4's addresses",
        || {
            let m = member(&c.request(founder, "GET", "/v1/status", None)?.body, new)?;
            (m["peer_addr"] == peer_addr.as_str() && m["voter"] == false).then_some(())
        },
    );
}

#[test]
fn a_learner_that_has_not_caught_up_is_not_promoted() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(WAIT);
    for i in 0..20 {
        let w = c.put_kv(leader, &format!("k{i}"), "v");
        assert_eq!(w.status, 200, "{w:?}");
    }
    // Node 4 is added as a learner, but nothing listens at its address: it never catches up.
    let add = |voter: bool| {
        let body = format!(
            r#"{{"id": 4, "peer_addr": "127.0.0.1:9", "api_addr": "127.0.0.1:10", "voter": {voter}}}"#
        );
        c.request(leader, "POST", "/v1/cluster/members", Some(body.as_bytes()))
            .expect("answer")
    };
    let a = add(false);
    assert_eq!(a.status, 200, "{a:?}");
    let a = add(true);
    assert_eq!(a.status, 409, "{a:?}");
    assert_eq!(a.body["error"]["code"], "learner_not_ready", "{a:?}");
    let message = a.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("learner 4"), "{message}");
    // It is still a learner, and the three voters go on.
    let s = c.get(leader, "/v1/status").body;
    assert_eq!(ids(&s, false), [4], "{s}");
    assert_eq!(ids(&s, true).len(), 3, "{s}");
    let w = c.put_kv(leader, "after", "yes");
    assert_eq!(w.status, 200, "{w:?}");
}
