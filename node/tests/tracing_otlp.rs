//! OpenTelemetry tracing end to end, on real processes: nodes started with `--otlp-endpoint`
//! export their spans to an OTLP/HTTP receiver inside the test, which decodes them. A write
//! sent to a follower with a client's `traceparent` is one trace over the follower and the
//! leader, each span below the one that caused it; a write without one still gets a trace;
//! a node without the flag exports nothing, even with the OTel SDK's endpoint variable set.

#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod otlp;
mod proc;

use std::time::Duration;

use otlp::{Received, Receiver};
use proc::Cluster;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// `PUT /v1/kv/{key}` on node `id` with optional request headers; the status and the
/// response's `traceparent`.
fn put(cluster: &Cluster, id: u64, key: &str, traceparent: Option<&str>) -> (u16, Option<String>) {
    let mut request = cluster
        .agent(Duration::from_secs(10))
        .put(&format!("{}/v1/kv/{key}", cluster.url(id)))
        .set("content-type", "application/json");
    if let Some(t) = traceparent {
        request = request.set("traceparent", t);
    }
    match request.send_string(r#"{"value":"v"}"#) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => {
            (r.status(), r.header("traceparent").map(str::to_owned))
        }
        Err(e) => panic!("node {id} did not answer: {e}"),
    }
}

/// The spans of `trace` received so far, once `ready` holds for them.
fn wait_trace(
    cluster: &Cluster,
    receiver: &Receiver,
    trace: &str,
    what: &str,
    ready: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    cluster.eventually(Duration::from_secs(15), what, || {
        let spans: Vec<Received> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace)
            .collect();
        ready(&spans).then_some(spans)
    })
}

fn find<'a>(spans: &'a [Received], node: &str, name: &str) -> Option<&'a Received> {
    spans.iter().find(|s| s.node == node && s.name == name)
}

#[test]
fn one_client_write_through_a_follower_is_one_trace_over_both_nodes() {
    let receiver = Receiver::start();
    // The SDK's own variable must not switch tracing on: only --otlp-endpoint does. (One test
    // in this binary, so setting the process environment races with nothing.)
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint);
    std::env::set_var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &receiver.endpoint);
    // Export every 100 ms rather than every 5 s.
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");

    // A node without the flag: writes, no spans, no traceparent on its answers.
    let untraced = Cluster::start(1, &[]);
    untraced.wait_leader(Duration::from_secs(10));
    for i in 0..5 {
        let (status, traceparent) = put(&untraced, 1, &format!("plain-{i}"), None);
        assert_eq!(status, 200);
        assert_eq!(
            traceparent, None,
            "an untraced node answered with a traceparent"
        );
    }
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        receiver.requests(),
        0,
        "a node without --otlp-endpoint exported"
    );
    drop(untraced);

    let cluster = Cluster::start(
        3,
        &[
            "--otlp-endpoint",
            &receiver.endpoint,
            "--snapshot-every",
            "5",
        ],
    );
    let leader = cluster.wait_leader(Duration::from_secs(10));
    let follower = (1..=3).find(|&id| id != leader).expect("a follower");
    let (leader_node, follower_node) = (format!("node-{leader}"), format!("node-{follower}"));

    // Through the follower, with the client's traceparent.
    let client = format!("00-{TRACE_ID}-{CLIENT_SPAN}-01");
    let (status, answered) = put(&cluster, follower, "traced", Some(&client));
    assert_eq!(status, 200);
    let answered = answered.expect("the response carries a traceparent");
    assert!(
        answered.starts_with(&format!("00-{TRACE_ID}-")),
        "{answered}"
    );
    let spans = wait_trace(
        &cluster,
        &receiver,
        TRACE_ID,
        "the traced write's spans",
        |s| {
            find(s, &follower_node, "raft.forward").is_some()
                && find(s, &leader_node, "raft.apply").is_some()
                && find(s, &leader_node, "raft.forward.receive").is_some()
                && s.iter()
                    .any(|x| x.node == follower_node && x.name.starts_with("PUT "))
        },
    );
    let request = spans
        .iter()
        .find(|s| s.node == follower_node && s.name.starts_with("PUT "))
        .expect("the follower's request span");
    assert_eq!(request.name, "PUT /v1/kv/{*key}");
    assert_eq!(
        request.parent_span_id, CLIENT_SPAN,
        "not below the client's span"
    );
    assert_eq!(request.attribute("http.response.status_code"), Some("200"));
    assert!(
        answered.contains(&request.span_id),
        "the response names another span"
    );
    let forward = find(&spans, &follower_node, "raft.forward").unwrap();
    assert_eq!(forward.parent_span_id, request.span_id);
    assert_eq!(forward.attribute("raftorch.outcome"), Some("applied"));
    let receive = find(&spans, &leader_node, "raft.forward.receive").unwrap();
    assert_eq!(
        receive.parent_span_id, forward.span_id,
        "the leader's spans do not descend from the follower's forward"
    );
    let replicate = find(&spans, &leader_node, "raft.replicate").expect("raft.replicate");
    let apply = find(&spans, &leader_node, "raft.apply").unwrap();
    assert_eq!(replicate.parent_span_id, receive.span_id);
    assert_eq!(apply.parent_span_id, receive.span_id);
    assert_eq!(
        replicate.attribute("raftorch.index"),
        apply.attribute("raftorch.index")
    );

    // Straight to the leader, without a traceparent: a new trace, rooted at the request.
    let (status, answered) = put(&cluster, leader, "untraced", None);
    assert_eq!(status, 200);
    let answered = answered.expect("a traceparent for a request that sent none");
    let trace = answered.split('-').nth(1).expect("a trace id").to_owned();
    let spans = wait_trace(&cluster, &receiver, &trace, "the new trace's spans", |s| {
        find(s, &leader_node, "raft.write").is_some()
            && find(s, &leader_node, "raft.apply").is_some()
    });
    let root = spans
        .iter()
        .find(|s| s.name.starts_with("PUT "))
        .expect("the request span");
    assert_eq!(
        root.parent_span_id, "",
        "a request without traceparent starts a trace"
    );
    let write = find(&spans, &leader_node, "raft.write").unwrap();
    assert_eq!(write.parent_span_id, root.span_id);
    assert_eq!(
        find(&spans, &leader_node, "raft.apply")
            .unwrap()
            .parent_span_id,
        write.span_id
    );

    // Snapshots are traced too (every 5 entries here).
    for i in 0..6 {
        assert_eq!(put(&cluster, leader, &format!("more-{i}"), None).0, 200);
    }
    cluster.eventually(Duration::from_secs(15), "a raft.snapshot.take span", || {
        receiver
            .spans()
            .iter()
            .any(|s| s.name == "raft.snapshot.take")
            .then_some(())
    });
}
