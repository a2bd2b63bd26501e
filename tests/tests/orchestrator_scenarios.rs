//! The five product scenarios of the orchestrator on a 3-node simulated cluster. Each runs on a
//! clean network and then again over several seeds with a lossy, duplicating, reordering one;
//! Raft's safety properties are checked after every simulated step throughout.

use raftorch_core::orchestrator::{Command, Query, QueryResult, Response};
use raftorch_core::raft::NodeId;
use raftorch_core::sim::{Consistency, SimConfig};
use raftorch_tests::{register, route, Harness};

const SEEDS: core::ops::RangeInclusive<u64> = 1..=10;

/// Runs a scenario on a clean network, then on a faulty one for every seed in [`SEEDS`].
fn for_each_network(scenario: impl Fn(&mut Harness)) {
    scenario(&mut Harness::new(3, 0));
    for seed in SEEDS {
        scenario(&mut Harness::with_network_faults(3, seed));
    }
}

fn instances(h: &mut Harness, at: NodeId, service: &str, consistency: Consistency) -> Vec<String> {
    let query = Query::Instances {
        service: service.into(),
        healthy_only: true,
    };
    match h.query(at, query, consistency).result {
        QueryResult::Instances(list) => list.into_iter().map(|i| i.instance_id).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

fn routed_instance(h: &mut Harness, at: NodeId, service: &str, key: &str) -> (String, bool) {
    match h.query(at, route(service, key), Consistency::Stale).result {
        QueryResult::Route(Ok(decision)) => (decision.instance.instance_id, decision.canary),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn test_orchestrator_with_raft_consensus() {
    for_each_network(|h| {
        let leader = h.leader();
        // Register one instance through each orchestrator: followers forward to the leader.
        for (i, node) in [1, 2, 3].into_iter().enumerate() {
            h.write(node, register("web", &format!("web-{i}"), "v1", 100))
                .expect("registered");
        }
        h.settle();
        // Discover through any node, linearizably and from local state: all agree.
        for node in 1..=3 {
            assert_eq!(
                instances(h, node, "web", Consistency::Linearizable),
                ["web-0", "web-1", "web-2"]
            );
            assert_eq!(
                instances(h, node, "web", Consistency::Stale),
                ["web-0", "web-1", "web-2"]
            );
        }
        assert!(h.cluster.node(leader).is_up());
        h.assert_safe();
    });
}

#[test]
fn test_orchestrator_leader_failover() {
    for_each_network(|h| {
        let old = h.leader();
        let mut acknowledged = Vec::new();
        for i in 0..5 {
            let id = format!("api-{i}");
            h.write(old, register("api", &id, "v1", 100))
                .expect("registered");
            acknowledged.push(id);
        }
        h.cluster.crash(old);
        let new = h.leader();
        assert_ne!(new, old, "a new leader took over automatically");
        // Service management continues through a survivor.
        let survivor = h.followers(new).first().copied().unwrap_or(new);
        h.write(survivor, register("api", "api-after", "v1", 100))
            .expect("registered after failover");
        acknowledged.push("api-after".into());
        acknowledged.sort();
        for node in h.followers(old).into_iter().chain([new]) {
            if node == old {
                continue;
            }
            assert_eq!(
                instances(h, node, "api", Consistency::Linearizable),
                acknowledged,
                "node {node}"
            );
        }
        // The old leader comes back as a follower and catches up.
        h.cluster.restart(old);
        h.settle();
        assert_eq!(instances(h, old, "api", Consistency::Stale), acknowledged);
        h.assert_safe();
    });
}

#[test]
fn test_service_discovery_across_multiple_orchestrators() {
    for_each_network(|h| {
        let leader = h.leader();
        let follower = h.followers(leader)[0];
        // A write sent to a follower reaches the leader and is answered at the follower.
        let (response, index) = h
            .write(follower, register("db", "db-0", "v1", 100))
            .expect("registered");
        assert!(matches!(response, Response::Registered { .. }));
        let forwarded = h.cluster.trace().records().iter().any(|r| {
            matches!(r.event, raftorch_core::sim::TraceEvent::Sent {
                from, to, kind: raftorch_core::sim::WireKind::Forward, ..
            } if from == follower && to == leader)
        });
        assert!(
            forwarded || h.cluster.leader() != Some(leader),
            "the follower forwarded the write to the leader"
        );
        h.write(leader, register("db", "db-1", "v1", 50))
            .expect("registered");
        h.write(follower, register("cache", "c-0", "v1", 100))
            .expect("registered");
        h.settle();
        // Every orchestrator returns the same service information at the same applied index.
        let answers: Vec<_> = (1..=3)
            .map(|node| {
                let services = h.query(node, Query::Services, Consistency::Stale);
                let db = h.query(
                    node,
                    Query::Instances {
                        service: "db".into(),
                        healthy_only: false,
                    },
                    Consistency::Stale,
                );
                (services, db)
            })
            .collect();
        assert!(answers.iter().all(|a| a == &answers[0]), "{answers:#?}");
        assert!(answers[0].0.index >= index);
        assert_eq!(
            answers[0].0.result,
            QueryResult::Services(vec!["cache".into(), "db".into()])
        );
        h.assert_safe();
    });
}

#[test]
fn test_routing_continues_during_orchestrator_failure() {
    for_each_network(|h| {
        let leader = h.leader();
        for (id, weight) in [("a", 100), ("b", 300), ("c", 600)] {
            h.write(leader, register("pay", id, "v1", weight))
                .expect("registered");
        }
        h.settle();
        let keys: Vec<String> = (0..3_000).map(|k| format!("user-{k}")).collect();
        let before: Vec<String> = keys
            .iter()
            .map(|k| routed_instance(h, leader, "pay", k).0)
            .collect();
        // Take the leader down: the survivors keep routing, identically, with or without a leader.
        h.cluster.crash(leader);
        let survivors: Vec<NodeId> = (1..=3).filter(|&n| n != leader).collect();
        for &node in &survivors {
            let answers: Vec<String> = keys
                .iter()
                .map(|k| routed_instance(h, node, "pay", k).0)
                .collect();
            assert_eq!(answers, before, "node {node} routes like everyone else");
        }
        // The split follows the weights (10/30/60 %) within 3 points.
        for (id, share) in [("a", 10.0), ("b", 30.0), ("c", 60.0)] {
            let got = before.iter().filter(|x| x.as_str() == id).count() as f64 * 100.0
                / keys.len() as f64;
            assert!(
                (got - share).abs() < 3.0,
                "instance {id}: {got:.1}% vs {share}%"
            );
        }
        // After a new leader is elected, a new instance takes only its fair share of keys.
        let new = h.leader();
        h.write(new, register("pay", "d", "v1", 1000))
            .expect("registered");
        h.settle();
        let after: Vec<String> = keys
            .iter()
            .map(|k| routed_instance(h, survivors[0], "pay", k).0)
            .collect();
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        assert!(
            after.iter().zip(&before).all(|(a, b)| a == b || a == "d"),
            "keys only move to the new instance"
        );
        assert!(moved > 0 && moved < keys.len() * 2 / 3);
        h.assert_safe();
    });
}

#[test]
fn test_coordinated_canary_deployment() {
    for_each_network(|h| {
        let leader = h.leader();
        for i in 0..3 {
            h.write(leader, register("shop", &format!("stable-{i}"), "v1", 100))
                .expect("registered");
            h.write(leader, register("shop", &format!("canary-{i}"), "v2", 100))
                .expect("registered");
        }
        let start = Command::StartDeployment {
            service: "shop".into(),
            stable_version: "v1".into(),
            canary_version: "v2".into(),
            steps: vec![5, 25, 50, 100],
        };
        // The rollout is driven through different orchestrators: started on node 1, then each
        // step advanced through another node.
        h.write(1, start).expect("deployment started");
        let keys: Vec<String> = (0..10_000).map(|k| format!("session-{k}")).collect();
        let mut previous_canary: Vec<bool> = vec![false; keys.len()];
        for (driver, percent) in [(1, 5u8), (2, 25), (3, 50), (1, 100)] {
            if percent > 5 {
                h.write(
                    driver,
                    Command::Advance {
                        service: "shop".into(),
                    },
                )
                .expect("advanced");
            }
            h.settle();
            // Every orchestrator applies the same percentage at the same log index.
            let views: Vec<(u8, u64)> = (1..=3)
                .map(|node| {
                    match h
                        .query(
                            node,
                            Query::Deployment {
                                service: "shop".into(),
                            },
                            Consistency::Stale,
                        )
                        .result
                    {
                        QueryResult::Deployment(Some(d)) => {
                            (d.canary_percent(), d.percent_changed_index)
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                })
                .collect();
            assert!(views.iter().all(|v| *v == views[0]), "{views:?}");
            assert_eq!(views[0].0, percent);
            // The observed split matches the percentage, and keys only ever move to the canary.
            let canary: Vec<bool> = keys
                .iter()
                .map(|k| routed_instance(h, driver, "shop", k).1)
                .collect();
            let share = canary.iter().filter(|&&c| c).count() as f64 * 100.0 / keys.len() as f64;
            assert!(
                (share - f64::from(percent)).abs() < 2.0,
                "{share:.1}% vs {percent}%"
            );
            assert!(
                previous_canary
                    .iter()
                    .zip(&canary)
                    .all(|(was, is)| !was || *is),
                "no key moves back"
            );
            previous_canary = canary;
        }
        h.write(
            2,
            Command::Promote {
                service: "shop".into(),
            },
        )
        .expect("promoted");
        // A rollback after promotion is an invalid transition with a clear error.
        assert!(h
            .write(
                3,
                Command::Rollback {
                    service: "shop".into()
                }
            )
            .is_err());
        h.assert_safe();
    });
}

/// Hands leadership to `to` and waits until every member follows it.
fn make_leader(h: &mut Harness, to: NodeId) {
    for _ in 0..20 {
        let leader = h.leader();
        if leader == to {
            return;
        }
        let _ = h.cluster.transfer_leader(leader, to);
        h.cluster.run_for(500);
    }
    panic!("node {to} did not become leader");
}

/// The release bug: node 3 started with its clock an hour ahead led for 1.5 s, then node 1 (true
/// clock) led again, and a 2 s lease granted afterwards and never kept alive had not expired 20 s
/// later (the replicated clock was the largest stamp of any leader, frozen an hour ahead). Time
/// must advance by each leader's own elapsed time, so the lease and its lock go within ~2 s.
#[test]
fn test_a_leader_with_a_fast_clock_does_not_freeze_leases() {
    const HOUR_MS: i64 = 3_600_000;
    for seed in 0..=3 {
        let mut config = SimConfig::new(3, seed);
        config.clock_offsets_ms = vec![(3, HOUR_MS)];
        let mut h = Harness::with_config(config);
        make_leader(&mut h, 3);
        h.write(3, register("web", "fast", "v1", 100))
            .expect("registered under the fast leader");
        h.cluster.run_for(1_500);
        make_leader(&mut h, 1);
        h.settle();
        let Ok((Response::LeaseGranted { lease_id, .. }, _)) =
            h.write(1, Command::GrantLease { ttl_ms: 2_000 })
        else {
            panic!("lease not granted");
        };
        let acquire = Command::AcquireLock {
            name: "db".into(),
            lease_id,
        };
        assert!(matches!(
            h.write(1, acquire),
            Ok((Response::LockAcquired { .. }, _))
        ));
        let put = Command::Put {
            key: "owned".into(),
            value: b"v".to_vec(),
            lease: Some(lease_id),
            expected_revision: None,
        };
        h.write(1, put).expect("key under the lease");
        let granted = h.cluster.now();
        // Not expired early either: after 1 s it is still there.
        h.cluster.run_for(1_000);
        assert!(h
            .cluster
            .node(1)
            .app()
            .is_some_and(|app| app.lease(lease_id).is_some()));
        // Never kept alive: gone within about 3 s of simulated time (the leader ticks every
        // 0.5 s), on every node.
        h.cluster.run_for(2_000);
        h.settle();
        assert_eq!(
            h.cluster.leader(),
            Some(1),
            "seed {seed}: no leader change meanwhile"
        );
        let lock = Query::LockHolder { name: "db".into() };
        assert!(
            matches!(
                h.query(1, lock, Consistency::Linearizable).result,
                QueryResult::Lock(None)
            ),
            "seed {seed}: the lock is still held {} ms after its 2 s lease was granted",
            h.cluster.now() - granted
        );
        let key = Query::KvGet {
            key: "owned".into(),
        };
        assert!(matches!(
            h.query(1, key, Consistency::Linearizable).result,
            QueryResult::Kv(None)
        ));
        for node in h.cluster.nodes() {
            assert!(
                node.app().is_some_and(|app| app.lease(lease_id).is_none()),
                "seed {seed}: node {} still has the lease",
                node.id
            );
        }
        h.assert_safe();
    }
}
