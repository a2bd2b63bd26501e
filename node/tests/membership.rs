//! Membership changes over HTTP on real processes: remove a voter, re-add it as a learner,
//! promote it back to voter.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

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

#[test]
fn a_voter_is_removed_then_re_added_as_learner_and_promoted() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(WAIT);
    let others: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    let (gone, other) = (others[0], others[1]);

    // Leader only; bad ids are refused.
    let a = c
        .request(
            other,
            "DELETE",
            &format!("/v1/cluster/members/{gone}"),
            None,
        )
        .expect("answer");
    assert_eq!(a.status, 409, "{a:?}");
    let a = c
        .request(leader, "DELETE", "/v1/cluster/members/abc", None)
        .expect("answer");
    assert_eq!(a.status, 400, "{a:?}");

    let a = c
        .request(
            leader,
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
        let a = c
            .request(leader, "POST", "/v1/cluster/members", Some(body.as_bytes()))
            .expect("answer");
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
