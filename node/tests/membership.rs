//! Membership changes over HTTP on real processes: remove a voter, re-add it as a learner,
//! promote it back to voter.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::time::Duration;

use proc::Cluster;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
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
    assert_eq!(a.status, 202, "{a:?}");
    c.eventually(WAIT, "the removal to apply", || {
        let s = c.get(leader, "/v1/status").body;
        (!ids(&s["voters"]).contains(&gone) && ids(&s["voters"]).len() == 2).then_some(())
    });
    // Two voters still make progress.
    let w = c.put(other, "/v1/kv/after-removal", "yes");
    assert_eq!(w.status, 200, "{w:?}");

    // Unknown peers are refused: the transport's addresses are fixed at start.
    let body =
        r#"{"id": 9, "peer_addr": "127.0.0.1:1", "api_addr": "127.0.0.1:2", "voter": false}"#;
    let a = c
        .request(leader, "POST", "/v1/cluster/members", Some(body.as_bytes()))
        .expect("answer");
    assert_eq!(a.status, 422, "{a:?}");

    let node = &c.nodes[gone as usize - 1];
    for voter in [false, true] {
        let body = format!(
            r#"{{"id": {gone}, "peer_addr": "{}", "api_addr": "{}", "voter": {voter}}}"#,
            node.peer_addr, node.api_addr
        );
        let a = c
            .request(leader, "POST", "/v1/cluster/members", Some(body.as_bytes()))
            .expect("answer");
        assert_eq!(a.status, 202, "voter={voter}: {a:?}");
        let field = if voter { "voters" } else { "learners" };
        c.eventually(WAIT, field, || {
            let s = c.get(leader, "/v1/status").body;
            ids(&s[field]).contains(&gone).then_some(())
        });
    }
    let members = c.get(leader, "/v1/members").body;
    assert_eq!(
        members["members"].as_array().map(Vec::len),
        Some(3),
        "{members}"
    );
    // The re-added node has the write made while it was out.
    c.eventually(WAIT, "the re-added node to catch up", || {
        let a = c.get(gone, "/v1/kv/after-removal?consistency=stale");
        (a.body["value"] == "yes").then_some(())
    });
}
