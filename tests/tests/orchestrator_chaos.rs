//! The orchestrator under every fault, over many seeds: clients register services, write and
//! read keys, take fenced locks and drive deployments through random nodes while the nemesis
//! crashes, pauses and partitions nodes and the network loses, duplicates and reorders messages.
//!
//! Checked: Raft's safety properties after every step; after healing, that every node converges
//! to the identical orchestrator state; that lock fencing tokens never go backwards and a lock
//! never has two holders at once; that every token a client was granted is in the replicated
//! history; and that key-value operations are linearizable.
//!
//! `RAFTORCH_ORCH_SEEDS` sets the number of seeds (default 300); `RAFTORCH_ORCH_SEED=N` replays one.

use std::collections::BTreeMap;
use std::thread;

use raftorch_core::orchestrator::{
    Command, Envelope, EventKind, Orchestrator, Query, QueryResult, Response,
};
use raftorch_core::sim::linearizability::{check_kv, KvOp, KvRet, Operation, PartitionedResult};
use raftorch_core::sim::{
    heal_everything, inject_random_fault, Cluster, Consistency, FaultSet, Outcome, Request,
    SimConfig,
};
use raftorch_tests::register;

const TIMEOUT_MS: u64 = 1_000;

struct Pending {
    request: u64,
    call: u64,
    sent_at: u64,
    op: Op,
}

#[derive(Clone)]
enum Op {
    Kv(KvOp<String>),
    Lock,
    Other,
}

struct Client {
    id: u64,
    seq: u64,
    lease: Option<u64>,
    pending: Option<Pending>,
}

#[derive(Default)]
struct Observed {
    history: Vec<Operation<KvOp<String>, KvRet<String>>>,
    tokens_granted: Vec<u64>,
    completed: u64,
}

fn command_for(roll: u64, client: &Client, value: String) -> (Op, Option<Command>) {
    let key = format!("k{}", (roll >> 8) % 4);
    let service = "svc".to_string();
    let instance = format!("i{}", (roll >> 12) % 5);
    match roll % 20 {
        0..=5 => (
            Op::Kv(KvOp::Put(key.clone(), value.clone())),
            Some(Command::Put {
                key,
                value: value.into_bytes(),
                lease: None,
                expected_revision: None,
            }),
        ),
        6..=9 => (Op::Kv(KvOp::Get(key)), None),
        10 => (
            Op::Kv(KvOp::Delete(key.clone())),
            Some(Command::Delete {
                key,
                expected_revision: None,
            }),
        ),
        11 | 12 => (
            Op::Other,
            Some(register(
                &service,
                &instance,
                if roll.is_multiple_of(3) { "v2" } else { "v1" },
                100,
            )),
        ),
        13 => (
            Op::Other,
            Some(Command::Deregister {
                service,
                instance_id: instance,
            }),
        ),
        14 | 15 => match client.lease {
            Some(lease_id) => (
                Op::Lock,
                Some(Command::AcquireLock {
                    name: format!("L{}", roll % 2),
                    lease_id,
                }),
            ),
            None => (Op::Other, Some(Command::GrantLease { ttl_ms: 2_000 })),
        },
        16 => match client.lease {
            Some(lease_id) => (
                Op::Other,
                Some(Command::ReleaseLock {
                    name: format!("L{}", roll % 2),
                    lease_id,
                }),
            ),
            None => (Op::Other, Some(Command::GrantLease { ttl_ms: 2_000 })),
        },
        17 => match client.lease {
            Some(lease_id) => (Op::Other, Some(Command::KeepAlive { lease_id })),
            None => (Op::Other, Some(Command::GrantLease { ttl_ms: 2_000 })),
        },
        18 => (
            Op::Other,
            Some(Command::StartDeployment {
                service,
                stable_version: "v1".into(),
                canary_version: "v2".into(),
                steps: vec![10, 50, 100],
            }),
        ),
        _ => (
            Op::Other,
            Some(if roll.is_multiple_of(4) {
                Command::Promote { service }
            } else {
                Command::Advance { service }
            }),
        ),
    }
}

fn drive(cluster: &mut Cluster<Orchestrator>, clients: &mut [Client], seen: &mut Observed) {
    let completions = cluster.take_completions();
    let now = cluster.now();
    for client in clients.iter_mut() {
        if let Some(pending) = &client.pending {
            let done = completions.iter().find(|c| c.request == pending.request);
            let pending = client.pending.take().unwrap_or_else(|| unreachable!());
            match done.map(|d| (&d.outcome, d.moment)) {
                Some((Outcome::Written { output, .. }, moment)) => {
                    seen.completed += 1;
                    match (&pending.op, output) {
                        (Op::Kv(op), Ok(_)) => seen.history.push(Operation::complete(
                            client.id,
                            pending.call,
                            moment,
                            op.clone(),
                            KvRet::Ok,
                        )),
                        (Op::Lock, Ok(Response::LockAcquired { fencing_token })) => {
                            seen.tokens_granted.push(*fencing_token)
                        }
                        (_, Ok(Response::LeaseGranted { lease_id, .. })) => {
                            client.lease = Some(*lease_id)
                        }
                        (
                            _,
                            Err(raftorch_core::orchestrator::OrchestratorError::LeaseNotFound {
                                ..
                            }),
                        ) => client.lease = None,
                        _ => {}
                    }
                }
                Some((Outcome::Read { output, .. }, moment)) => {
                    seen.completed += 1;
                    if let (Op::Kv(op), QueryResult::Kv(kv)) = (&pending.op, &output.result) {
                        let value = kv
                            .as_ref()
                            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
                        seen.history.push(Operation::complete(
                            client.id,
                            pending.call,
                            moment,
                            op.clone(),
                            KvRet::Value(value),
                        ));
                    }
                }
                Some((Outcome::Rejected(_) | Outcome::Lost, _)) => {
                    // Certainly not applied: reads and writes alike can be left out of the history.
                }
                Some((Outcome::Unknown, _)) | None
                    if done.is_some() || now >= pending.sent_at + TIMEOUT_MS =>
                {
                    if let Op::Kv(op) = &pending.op {
                        if !matches!(op, KvOp::Get(_)) {
                            seen.history.push(Operation::indeterminate(
                                client.id,
                                pending.call,
                                op.clone(),
                            ));
                        }
                    }
                }
                None => client.pending = Some(pending),
                _ => {}
            }
        }
        if client.pending.is_none() {
            let roll = cluster.random();
            client.seq += 1;
            let value = format!("c{}-{}", client.id, client.seq);
            let (op, command) = command_for(roll, client, value);
            let node = 1 + cluster.random() % cluster.config().nodes;
            let request = match (&op, command) {
                (_, Some(command)) => {
                    let envelope = Envelope::new(0, command).with_request(client.id, client.seq);
                    cluster.submit(node, Request::Write(envelope.encode()))
                }
                (Op::Kv(KvOp::Get(key)), None) => cluster.submit(
                    node,
                    Request::Read(Query::KvGet { key: key.clone() }, Consistency::Linearizable),
                ),
                _ => continue,
            };
            client.pending = Some(Pending {
                request,
                call: request,
                sent_at: now,
                op,
            });
        }
    }
}

/// Runs one seed; returns a description of the first problem found.
fn run(seed: u64) -> Result<u64, String> {
    let mut config = SimConfig::new(5, seed);
    // Replicas compare digests of their whole state every 16 entries while the faults run.
    config.digest_every = 16;
    let mut cluster: Cluster<Orchestrator> = Cluster::new(config);
    let mut clients: Vec<Client> = (1..=3)
        .map(|id| Client {
            id,
            seq: 0,
            lease: None,
            pending: None,
        })
        .collect();
    let mut seen = Observed::default();
    let mut next_fault = 300;
    while cluster.now() < 5_000 && cluster.violation().is_none() {
        if cluster.now() >= next_fault {
            inject_random_fault(&mut cluster, FaultSet::ALL);
            next_fault = cluster.now() + 50 + cluster.random() % 500;
        }
        drive(&mut cluster, &mut clients, &mut seen);
        cluster.run_for(5);
    }
    heal_everything(&mut cluster);
    let leader = cluster
        .run_until_leader(5_000)
        .ok_or("no leader after healing")?;
    for _ in 0..300 {
        drive(&mut cluster, &mut clients, &mut seen);
        cluster.run_for(10);
    }
    if let Some(v) = cluster.violation() {
        return Err(format!("{}: {}", v.property, v.detail));
    }
    // Writes still unanswered when the run ends (e.g. the leader's answer still in flight) may
    // have taken effect: later reads may see them.
    for client in &clients {
        if let Some(Pending {
            call,
            op: Op::Kv(op),
            ..
        }) = &client.pending
        {
            if !matches!(op, KvOp::Get(_)) {
                seen.history
                    .push(Operation::indeterminate(client.id, *call, op.clone()));
            }
        }
    }
    // Convergence: once caught up, every node holds the identical state.
    let target = cluster.node(leader).raw().map_or(0, |r| r.commit_index());
    while cluster.nodes().iter().any(|n| n.applied() < target) {
        cluster.run_for(10);
        if cluster.now() > 60_000 {
            return Err("nodes did not catch up".into());
        }
    }
    let states: Vec<&Orchestrator> = cluster.nodes().iter().filter_map(|n| n.app()).collect();
    let at_target: Vec<&&Orchestrator> = states
        .iter()
        .filter(|s| s.applied_index() == states[0].applied_index())
        .collect();
    if at_target.iter().any(|s| **s != states[0]) {
        return Err("nodes at the same applied index hold different states".into());
    }
    check_locks(states[0], &seen.tokens_granted)?;
    match check_kv(&seen.history, 2_000_000) {
        PartitionedResult::Linearizable => Ok(seen.completed),
        PartitionedResult::Unknown { .. } => Ok(seen.completed), // undecided within budget: not a failure
        other => Err(format!("kv not linearizable: {other:?}")),
    }
}

/// Fencing: tokens strictly increase, a lock is released before it is granted again, and every
/// token a client was told it holds is a grant in the replicated history.
fn check_locks(state: &Orchestrator, granted_to_clients: &[u64]) -> Result<(), String> {
    let events = state
        .events_after("locks/", 0, usize::MAX)
        .map_err(|e| format!("{e:?}"))?;
    let mut held: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_token = 0;
    let mut tokens = Vec::new();
    for event in events {
        match event.kind {
            EventKind::LockGranted {
                lease_id,
                fencing_token,
            } => {
                if fencing_token <= last_token {
                    return Err(format!(
                        "fencing token went from {last_token} to {fencing_token}"
                    ));
                }
                last_token = fencing_token;
                tokens.push(fencing_token);
                if let Some(holder) = held.insert(event.key.clone(), lease_id) {
                    return Err(format!(
                        "{} granted to lease {lease_id} while lease {holder} held it (index {})",
                        event.key, event.index
                    ));
                }
            }
            EventKind::LockReleased { .. } => {
                held.remove(&event.key);
            }
            _ => {}
        }
    }
    for token in granted_to_clients {
        if !tokens.contains(token) {
            return Err(format!(
                "a client was granted token {token}, which is not in the history"
            ));
        }
    }
    Ok(())
}

#[test]
fn orchestrator_survives_every_fault_over_many_seeds() {
    if let Some(seed) = std::env::var("RAFTORCH_ORCH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        assert_eq!(run(seed).err(), None, "seed {seed}");
        return;
    }
    if let Some(seed) = std::env::var("RAFTORCH_ORCH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        assert_eq!(run(seed).err(), None, "seed {seed}");
        return;
    }
    let seeds: u64 = std::env::var("RAFTORCH_ORCH_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let workers = thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            thread::spawn(move || {
                (1..=seeds)
                    .filter(|s| s % workers == w)
                    .map(|s| (s, run(s)))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<(u64, Result<u64, String>)> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("worker"))
        .collect();
    let failures: Vec<_> = results.iter().filter(|(_, r)| r.is_err()).collect();
    for (seed, failure) in &failures {
        eprintln!("FAILING SEED {seed}: {failure:?}  (replay: RAFTORCH_ORCH_SEED={seed} cargo test -p raftorch-tests --test orchestrator_chaos)");
    }
    let completed: u64 = results.iter().filter_map(|(_, r)| r.as_ref().ok()).sum();
    eprintln!(
        "{} seeds, {completed} orchestrator operations completed",
        results.len()
    );
    assert!(failures.is_empty(), "{} seeds failed", failures.len());
    assert!(completed > seeds * 20, "too little progress: {completed}");
}

/// Seeds that once failed, kept forever.
const REGRESSION_SEEDS: [u64; 1] = [
    // A candidate paused mid-election woke to its old votes and led a stale term; the checker
    // wrongly demanded entries committed in later terms (leader completeness fixed to the paper's).
    106,
];

#[test]
fn regression_seeds_stay_fixed() {
    for seed in REGRESSION_SEEDS {
        assert_eq!(run(seed).err(), None, "seed {seed}");
    }
}
