//! Randomized runs: a cluster under a nemesis and a client workload, checked for safety after
//! every step, for linearizability at the end, and for liveness once every fault is healed.

use alloc::format;
use alloc::string::String;

use super::cluster::{Cluster, Outcome};
use super::config::SimConfig;
use super::host::Request;
use super::kv_app::{KvApp, KvCommand};
use super::linearizability::{check_kv, PartitionedResult};
use super::nemesis::{heal_everything, inject_random_fault, FaultSet};
use super::workload::KvWorkload;

/// One randomized run's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChaosConfig {
    /// Cluster size.
    pub nodes: u64,
    /// The seed of everything.
    pub seed: u64,
    /// Simulated milliseconds of faults and load.
    pub duration_ms: u64,
    /// Which faults the nemesis injects.
    pub faults: FaultSet,
    /// Concurrent clients.
    pub clients: u64,
    /// Distinct keys.
    pub keys: u64,
}

impl ChaosConfig {
    /// Five nodes, every fault, three clients on four keys, five simulated seconds.
    pub fn new(seed: u64) -> Self {
        ChaosConfig {
            nodes: 5,
            seed,
            duration_ms: 5_000,
            faults: FaultSet::ALL,
            clients: 3,
            keys: 10,
        }
    }
}

/// What a randomized run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChaosReport {
    /// The seed (replays the run exactly).
    pub seed: u64,
    /// The first problem found, if any.
    pub failure: Option<String>,
    /// Events simulated.
    pub events: u64,
    /// Client operations with a definite answer.
    pub completed: u64,
    /// Client operations whose outcome the client could not know.
    pub indeterminate: u64,
    /// Digest of the whole trace (equal for equal runs).
    pub trace_digest: u64,
}

/// Milliseconds allowed for the healed cluster to elect a leader and commit.
const LIVENESS_BOUND_MS: u64 = 5_000;
/// Per-key search budget of the linearizability checker.
const CHECK_BUDGET: u64 = 2_000_000;

/// Runs one randomized simulation and checks it.
pub fn run_chaos(config: ChaosConfig) -> ChaosReport {
    let mut sim = SimConfig::new(config.nodes, config.seed);
    sim.trace = false;
    sim.snapshot_every = 64;
    let mut cluster: Cluster<KvApp> = Cluster::new(sim);
    let mut workload = KvWorkload::new(config.clients, config.keys);
    let mut next_fault = 300 + cluster.random() % 400;
    let step_ms = 5;
    while cluster.now() < config.duration_ms && cluster.violation().is_none() {
        if cluster.now() >= next_fault {
            inject_random_fault(&mut cluster, config.faults);
            next_fault = cluster.now() + 50 + cluster.random() % 500;
        }
        workload.drive(&mut cluster);
        cluster.run_for(step_ms);
    }
    // Heal and let in-flight work settle, still checking safety at every step.
    heal_everything(&mut cluster);
    let settle_until = cluster.now() + 1_500;
    while cluster.now() < settle_until && cluster.violation().is_none() {
        workload.drive(&mut cluster);
        cluster.run_for(step_ms);
    }
    let completed = workload.completed;
    let indeterminate = workload.indeterminate;
    let mut failure = cluster
        .violation()
        .map(|v| format!("{}: {}", v.property, v.detail));
    if failure.is_none() {
        failure = check_liveness(&mut cluster);
    }
    if failure.is_none() {
        let history = workload.finish();
        failure = match check_kv(&history, CHECK_BUDGET) {
            PartitionedResult::Linearizable => None,
            other => Some(format!("linearizability: {other:?}")),
        };
    }
    ChaosReport {
        seed: config.seed,
        failure,
        events: cluster.events_processed(),
        completed,
        indeterminate,
        trace_digest: cluster.trace().digest(),
    }
}

/// Once healed, a leader must be elected and commit a write within the bound.
fn check_liveness(cluster: &mut Cluster<KvApp>) -> Option<String> {
    let Some(leader) = cluster.run_until_leader(LIVENESS_BOUND_MS) else {
        return Some(format!(
            "liveness: no stable leader within {LIVENESS_BOUND_MS} ms after healing"
        ));
    };
    cluster.take_completions();
    let command = KvCommand::Put {
        key: "liveness".into(),
        value: "ok".into(),
    };
    let request = cluster.submit(leader, Request::Write(command.encode()));
    let deadline = cluster.now() + LIVENESS_BOUND_MS;
    while cluster.now() < deadline {
        cluster.run_for(10);
        for done in cluster.take_completions() {
            if done.request == request {
                return match done.outcome {
                    Outcome::Written { .. } => None,
                    other => Some(format!("liveness: write after healing ended {other:?}")),
                };
            }
        }
    }
    Some(format!(
        "liveness: write after healing not committed within {LIVENESS_BOUND_MS} ms"
    ))
}
