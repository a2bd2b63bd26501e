//! The README's orchestrator example, kept compiling and true.

use raftorch_core::orchestrator::{Command, Envelope, Orchestrator, Query, QueryResult};
use raftorch_core::sim::{Cluster, Consistency, Outcome, Request, SimConfig};

#[test]
fn readme_register_then_route_through_another_node() {
    let mut cluster: Cluster<Orchestrator> = Cluster::new(SimConfig::new(3, 7));
    let leader = cluster.run_until_leader(5_000).unwrap();
    let register = Command::Register {
        service: "web".into(),
        instance_id: "web-1".into(),
        address: "10.0.0.1".into(),
        port: 8080,
        version: "v1".into(),
        weight: 100,
        tags: vec![],
        metadata: Default::default(),
        ttl_ms: None,
    };
    cluster.submit(
        leader,
        Request::Write(Envelope::new(0, register).with_request(1, 1).encode()),
    );
    cluster.run_for(100);
    let other = if leader == 2 { 3 } else { 2 };
    let read = cluster.submit(
        other,
        Request::Read(
            Query::Route {
                service: "web".into(),
                key: b"user-42".to_vec(),
            },
            Consistency::Linearizable,
        ),
    );
    cluster.run_for(100);
    let answers = cluster.take_completions();
    let answer = answers
        .iter()
        .find(|c| c.request == read)
        .expect("answered");
    match &answer.outcome {
        Outcome::Read { output, .. } => match &output.result {
            QueryResult::Route(Ok(decision)) => assert_eq!(decision.instance.instance_id, "web-1"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}
