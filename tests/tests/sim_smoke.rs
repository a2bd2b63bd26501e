//! Smoke tests of the simulator: a healthy cluster elects a leader and commits writes.

use raftorch_core::sim::{Cluster, Consistency, KvApp, KvCommand, Outcome, Request, SimConfig};

fn put(key: &str, value: &str) -> Request<KvApp> {
    Request::Write(
        KvCommand::Put {
            key: key.into(),
            value: value.into(),
        }
        .encode(),
    )
}

#[test]
fn healthy_cluster_elects_and_commits() {
    let mut cluster: Cluster<KvApp> = Cluster::new(SimConfig::new(3, 7));
    let leader = cluster
        .run_until_leader(5_000)
        .expect("a leader is elected");
    let request = cluster.submit(leader, put("a", "1"));
    cluster.run_for(200);
    let done = cluster.take_completions();
    assert!(
        done.iter()
            .any(|c| c.request == request && matches!(c.outcome, Outcome::Written { .. })),
        "{done:?}"
    );
    let read = cluster.submit(leader, Request::Read("a".into(), Consistency::Linearizable));
    cluster.run_for(200);
    let done = cluster.take_completions();
    let answer = done
        .iter()
        .find(|c| c.request == read)
        .expect("read answered");
    assert!(
        matches!(&answer.outcome, Outcome::Read { output: Some(v), .. } if v == "1"),
        "{answer:?}"
    );
    assert_eq!(cluster.violation(), None);
    for node in cluster.nodes() {
        assert!(
            node.applied >= 2,
            "node {} applied {}",
            node.id,
            node.applied
        );
    }
}
