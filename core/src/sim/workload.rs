//! Simulated key-value clients: each issues one operation at a time to the node it believes is
//! leader, retries what was certainly not applied, gives up on what it cannot know, and records
//! everything as a history for the linearizability checker.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::cluster::{Cluster, Completion, Outcome};
use super::host::Request;
use super::kv_app::{KvApp, KvCommand, KvOutput};
use super::linearizability::{KvOp, KvRet, Operation};
use super::node::RequestId;
use crate::engine::Consistency;
use crate::raft::{Error, NodeId};

/// One key-value history operation.
pub type KvHistoryOp = Operation<KvOp<String>, KvRet<String>>;

/// Milliseconds a client waits for an answer before recording the operation as indeterminate.
const CLIENT_TIMEOUT_MS: u64 = 1_000;
/// Milliseconds between a refusal and the retry.
const RETRY_DELAY_MS: u64 = 15;

#[derive(Clone, Debug)]
struct InFlight {
    op: KvOp<String>,
    /// The moment of the first attempt: the operation's invocation.
    call: u64,
    call_time: u64,
    request: RequestId,
}

#[derive(Clone, Debug)]
struct Client {
    id: u64,
    target: NodeId,
    in_flight: Option<InFlight>,
    /// An operation refused without effect, to be retried at this time.
    retry_at: Option<u64>,
    next_op_at: u64,
    counter: u64,
}

/// A set of clients driving a [`Cluster<KvApp>`] and the history they observed.
#[derive(Clone, Debug)]
pub struct KvWorkload {
    clients: Vec<Client>,
    keys: u64,
    by_request: BTreeMap<RequestId, usize>,
    history: Vec<KvHistoryOp>,
    /// Operations that returned a definite answer.
    pub completed: u64,
    /// Operations recorded as indeterminate.
    pub indeterminate: u64,
}

impl KvWorkload {
    /// `clients` clients working on `keys` keys.
    pub fn new(clients: u64, keys: u64) -> Self {
        KvWorkload {
            clients: (0..clients)
                .map(|id| Client {
                    id,
                    target: 1,
                    in_flight: None,
                    retry_at: None,
                    next_op_at: 0,
                    counter: 0,
                })
                .collect(),
            keys: keys.max(1),
            by_request: BTreeMap::new(),
            history: Vec::new(),
            completed: 0,
            indeterminate: 0,
        }
    }

    /// Lets every client act at the cluster's current time: handle answers, time out, issue.
    pub fn drive(&mut self, cluster: &mut Cluster<KvApp>) {
        for completion in cluster.take_completions() {
            self.handle(cluster, completion);
        }
        let now = cluster.now();
        for c in 0..self.clients.len() {
            let client = &mut self.clients[c];
            if let Some(flight) = &client.in_flight {
                if now >= flight.call_time + CLIENT_TIMEOUT_MS {
                    let flight = client.in_flight.take().unwrap_or_else(|| unreachable!());
                    client.retry_at = None;
                    client.next_op_at = now;
                    self.indeterminate += 1;
                    self.history
                        .push(Operation::indeterminate(client.id, flight.call, flight.op));
                } else if client.retry_at.is_some_and(|t| now >= t) {
                    client.retry_at = None;
                    let op = flight.op.clone();
                    self.send(cluster, c, op);
                }
                continue;
            }
            if now >= client.next_op_at {
                let op = self.next_op(cluster, c);
                let client = &mut self.clients[c];
                client.in_flight = Some(InFlight {
                    op: op.clone(),
                    call: 0,
                    call_time: now,
                    request: 0,
                });
                let request = self.send(cluster, c, op);
                if let Some(flight) = self.clients[c].in_flight.as_mut() {
                    flight.call = request;
                }
            }
        }
    }

    fn next_op(&mut self, cluster: &mut Cluster<KvApp>, c: usize) -> KvOp<String> {
        let client = &mut self.clients[c];
        client.counter += 1;
        let value = format!("c{}-{}", client.id, client.counter);
        let roll = cluster.random();
        let key = format!("k{}", (roll >> 8) % self.keys);
        match roll % 10 {
            0..=3 => KvOp::Put(key, value),
            4..=6 => KvOp::Get(key),
            7 | 8 => {
                let expected = (roll >> 16) % 3;
                let expected = (expected > 0)
                    .then(|| format!("c{}-{}", (roll >> 20) % self.clients.len() as u64, expected));
                KvOp::Cas {
                    key,
                    expected,
                    new: value,
                }
            }
            _ => KvOp::Delete(key),
        }
    }

    fn send(&mut self, cluster: &mut Cluster<KvApp>, c: usize, op: KvOp<String>) -> RequestId {
        let request = match &op {
            KvOp::Get(key) => Request::Read(key.clone(), Consistency::Linearizable),
            KvOp::Put(key, value) => Request::Write(
                KvCommand::Put {
                    key: key.clone(),
                    value: value.clone(),
                }
                .encode(),
            ),
            KvOp::Cas { key, expected, new } => Request::Write(
                KvCommand::Cas {
                    key: key.clone(),
                    expected: expected.clone(),
                    new: new.clone(),
                }
                .encode(),
            ),
            KvOp::Delete(key) => Request::Write(KvCommand::Delete { key: key.clone() }.encode()),
        };
        let target = self.clients[c].target;
        let id = cluster.submit(target, request);
        self.by_request.insert(id, c);
        if let Some(flight) = self.clients[c].in_flight.as_mut() {
            flight.request = id;
        }
        // Refusals are answered synchronously: handle them now.
        for completion in cluster.take_completions() {
            self.handle(cluster, completion);
        }
        id
    }

    fn handle(&mut self, cluster: &mut Cluster<KvApp>, completion: Completion<KvApp>) {
        let Some(c) = self.by_request.remove(&completion.request) else {
            return;
        };
        let now = cluster.now();
        let n = cluster.config().nodes;
        let random_node = 1 + cluster.random() % n;
        let client = &mut self.clients[c];
        let Some(flight) = client
            .in_flight
            .as_ref()
            .filter(|f| f.request == completion.request)
        else {
            return; // An answer to an attempt the client already gave up on.
        };
        let ret = match completion.outcome {
            Outcome::Written {
                output: KvOutput::Swapped(ok),
                ..
            } => Some(KvRet::CasResult(ok)),
            Outcome::Written { .. } => Some(KvRet::Ok),
            Outcome::Read { output, .. } => Some(KvRet::Value(output)),
            Outcome::Rejected(error) => {
                // Certainly not applied: retry, at the leader if one is known.
                client.target = match error {
                    Error::NotLeader {
                        leader_hint: Some(leader),
                    } => leader,
                    _ => random_node,
                };
                client.retry_at = Some(now + RETRY_DELAY_MS);
                return;
            }
            Outcome::Lost => {
                client.target = random_node;
                client.retry_at = Some(now + RETRY_DELAY_MS);
                return;
            }
            Outcome::Unknown => None,
        };
        let flight = flight.clone();
        client.in_flight = None;
        client.retry_at = None;
        client.next_op_at = now + 1 + (completion.moment % 7);
        match ret {
            Some(ret) => {
                self.completed += 1;
                self.history.push(Operation::complete(
                    client.id,
                    flight.call,
                    completion.moment,
                    flight.op,
                    ret,
                ));
            }
            None => {
                client.target = random_node;
                self.indeterminate += 1;
                self.history
                    .push(Operation::indeterminate(client.id, flight.call, flight.op));
            }
        }
    }

    /// Ends the run: operations still in flight are recorded as indeterminate.
    pub fn finish(mut self) -> Vec<KvHistoryOp> {
        for client in &mut self.clients {
            if let Some(flight) = client.in_flight.take() {
                self.history
                    .push(Operation::indeterminate(client.id, flight.call, flight.op));
            }
        }
        self.history
    }
}
