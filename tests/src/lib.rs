//! Shared helpers for raftorch's cross-crate scenario tests: a client of a simulated
//! orchestrator cluster that retries the way a real client does (exactly-once through request
//! ids), and small constructors for commands.

use std::collections::BTreeMap;

use raftorch_core::orchestrator::{
    Command, Envelope, Orchestrator, OrchestratorError, Query, QueryAnswer, Response,
};
use raftorch_core::raft::{Error, NodeId};
use raftorch_core::sim::{Cluster, Consistency, Outcome, Request, SimConfig};

/// How long a harness call keeps retrying, in simulated milliseconds.
const PATIENCE_MS: u64 = 10_000;

/// A simulated orchestrator cluster and one client of it.
pub struct Harness {
    /// The cluster.
    pub cluster: Cluster<Orchestrator>,
    client_id: u64,
    seq: u64,
}

impl Harness {
    /// A healthy cluster of `nodes` orchestrators.
    pub fn new(nodes: u64, seed: u64) -> Self {
        Harness::with_config(SimConfig::new(nodes, seed))
    }

    /// A cluster whose network loses, duplicates and reorders messages.
    pub fn with_network_faults(nodes: u64, seed: u64) -> Self {
        let mut config = SimConfig::new(nodes, seed);
        config.drop_per_mille = 50;
        config.duplicate_per_mille = 20;
        config.max_latency_ms = 30;
        Harness::with_config(config)
    }

    /// A cluster with the given configuration.
    pub fn with_config(config: SimConfig) -> Self {
        Harness {
            cluster: Cluster::new(config),
            client_id: 1,
            seq: 0,
        }
    }

    /// Waits for a leader every member follows.
    pub fn leader(&mut self) -> NodeId {
        self.cluster
            .run_until_leader(PATIENCE_MS)
            .expect("a leader is elected")
    }

    /// Running nodes other than `leader`.
    pub fn followers(&self, leader: NodeId) -> Vec<NodeId> {
        self.cluster
            .nodes()
            .iter()
            .filter(|n| n.is_up() && n.id != leader)
            .map(|n| n.id)
            .collect()
    }

    /// Sends `command` to node `at` and waits for the answer, retrying (with the same request id,
    /// so it applies at most once) when the outcome is unknown or the node refused. Returns the
    /// state machine's answer and the index it was applied at.
    pub fn write(
        &mut self,
        at: NodeId,
        command: Command,
    ) -> Result<(Response, u64), OrchestratorError> {
        let envelope = self.tag(command);
        self.send(at, &envelope)
    }

    /// `command` in an envelope with this client's next request id, encoded: what
    /// [`Harness::write`] sends, for a test that sends it again later (a client's retry).
    pub fn tag(&mut self, command: Command) -> Vec<u8> {
        self.seq += 1;
        Envelope::new(0, command)
            .with_request(self.client_id, self.seq)
            .encode()
    }

    /// Sends an encoded envelope to node `at` and waits for the answer, retrying as
    /// [`Harness::write`] does.
    pub fn send(
        &mut self,
        at: NodeId,
        envelope: &[u8],
    ) -> Result<(Response, u64), OrchestratorError> {
        let deadline = self.cluster.now() + PATIENCE_MS;
        let mut target = at;
        while self.cluster.now() < deadline {
            let request = self
                .cluster
                .submit(target, Request::Write(envelope.to_vec()));
            match self.wait(request, 2_000) {
                Some(Outcome::Written { output, index }) => return output.map(|r| (r, index)),
                Some(Outcome::Rejected(Error::NotLeader {
                    leader_hint: Some(leader),
                })) => target = leader,
                _ => {
                    self.cluster.run_for(50);
                    target = self.cluster.leader().unwrap_or(at);
                }
            }
        }
        panic!("write not answered within {PATIENCE_MS} ms");
    }

    /// Reads through node `at` at the given consistency, retrying until answered.
    pub fn query(&mut self, at: NodeId, query: Query, consistency: Consistency) -> QueryAnswer {
        let deadline = self.cluster.now() + PATIENCE_MS;
        while self.cluster.now() < deadline {
            let request = self
                .cluster
                .submit(at, Request::Read(query.clone(), consistency));
            if let Some(Outcome::Read { output, .. }) = self.wait(request, 2_000) {
                return output;
            }
            self.cluster.run_for(50);
        }
        panic!("read not answered within {PATIENCE_MS} ms");
    }

    /// Runs until every running node has applied everything the leader committed.
    pub fn settle(&mut self) {
        let deadline = self.cluster.now() + PATIENCE_MS;
        while self.cluster.now() < deadline {
            self.cluster.run_for(20);
            let Some(leader) = self.cluster.stable_leader() else {
                continue;
            };
            let target = self
                .cluster
                .node(leader)
                .raw()
                .map_or(0, |raw| raw.commit_index());
            if self
                .cluster
                .nodes()
                .iter()
                .filter(|n| n.is_up())
                .all(|n| n.applied() >= target)
            {
                return;
            }
        }
        panic!("cluster did not settle");
    }

    fn wait(&mut self, request: u64, timeout_ms: u64) -> Option<Outcome<Orchestrator>> {
        let deadline = self.cluster.now() + timeout_ms;
        loop {
            for done in self.cluster.take_completions() {
                if done.request == request {
                    return Some(done.outcome);
                }
            }
            if self.cluster.now() >= deadline {
                return None;
            }
            self.cluster.run_for(5);
        }
    }

    /// Asserts that no Raft safety property has been broken so far.
    pub fn assert_safe(&self) {
        assert_eq!(
            self.cluster.violation(),
            None,
            "a Raft safety property broke"
        );
    }
}

/// A `Register` command with the usual defaults.
pub fn register(service: &str, instance: &str, version: &str, weight: u16) -> Command {
    Command::Register {
        service: service.into(),
        instance_id: instance.into(),
        address: format!("10.0.0.{}", instance.len()),
        port: 8080,
        version: version.into(),
        weight,
        tags: vec![],
        metadata: BTreeMap::new(),
        ttl_ms: None,
    }
}

/// The routing query for one request key.
pub fn route(service: &str, key: &str) -> Query {
    Query::Route {
        service: service.into(),
        key: key.as_bytes().to_vec(),
    }
}
