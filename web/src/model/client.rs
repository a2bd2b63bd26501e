//! The simulated client: which requests are outstanding, what their answers said, the tally of
//! a route burst, and the lock's fencing token.

use std::collections::BTreeMap;

use raftorch_core::orchestrator::{Command, Orchestrator, Query, QueryResult, Response};
use raftorch_core::raft::NodeId;
use raftorch_core::sim::{Cluster, Completion, Consistency, Outcome, Request};

use super::events::{EventLog, LineKind};
use super::input::{command_name, query_name, Input};

/// What an outstanding request is for.
#[derive(Clone, Debug, PartialEq)]
enum Purpose {
    /// A plain request: log its answer and keep it in [`ClientState::answers`].
    Plain {
        /// Its short name for the log.
        what: String,
        /// The request itself.
        asked: Asked,
        /// When the client sent it.
        call: u64,
    },
    /// One key of the current route burst.
    Burst,
    /// The lease for lock `name`; when granted, take the lock with it at `node`.
    LockLease { node: NodeId, name: String },
    /// The lock itself.
    Lock(String),
}

/// A plain request the client sent.
#[derive(Clone, Debug, PartialEq)]
pub enum Asked {
    /// A write of this command.
    Write(Command),
    /// A read of this question at this consistency.
    Read(Query, Consistency),
}

/// A plain request and how it ended, as the client saw it: what lessons and their tests look at.
#[derive(Clone, Debug)]
pub struct Answer {
    /// What was asked.
    pub asked: Asked,
    /// The node it was sent to.
    pub node: NodeId,
    /// When it was sent (simulated ms).
    pub call: u64,
    /// When the answer came (simulated ms).
    pub time: u64,
    /// The answer.
    pub outcome: Outcome<Orchestrator>,
}

/// At most this many answers are kept (the oldest are dropped first).
const MAX_ANSWERS: usize = 256;

/// Per-instance answers of one route burst.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Burst {
    /// Keys asked.
    pub total: u32,
    /// Answers by instance id, with whether it was the canary.
    pub counts: BTreeMap<String, (u32, bool)>,
    /// Refused or failed look-ups.
    pub failed: u32,
}

impl Burst {
    /// Answers received so far.
    pub fn answered(&self) -> u32 {
        self.counts.values().map(|(n, _)| n).sum::<u32>() + self.failed
    }
}

/// The client's side of the run.
#[derive(Clone, Debug, Default)]
pub struct ClientState {
    pending: BTreeMap<u64, Purpose>,
    /// The latest route burst.
    pub burst: Option<Burst>,
    /// The latest lock taken: (name, fencing token).
    pub lock: Option<(String, u64)>,
    /// Every fencing token this client was given, in order.
    pub tokens: Vec<(String, u64)>,
    /// The answers to plain requests, oldest first.
    pub answers: Vec<Answer>,
}

type Sim = Cluster<Orchestrator>;

impl ClientState {
    /// Submits the client requests an input makes.
    pub fn submit(&mut self, cluster: &mut Sim, input: &Input) {
        match input {
            Input::Write { node, command } => {
                let call = cluster.now();
                let id = cluster.submit(*node, Request::Write(Input::encode(command)));
                let purpose = Purpose::Plain {
                    what: command_name(command),
                    asked: Asked::Write(command.clone()),
                    call,
                };
                self.pending.insert(id, purpose);
            }
            Input::Read {
                node,
                query,
                consistency,
            } => {
                let call = cluster.now();
                let id = cluster.submit(*node, Request::Read(query.clone(), *consistency));
                let purpose = Purpose::Plain {
                    what: query_name(query),
                    asked: Asked::Read(query.clone(), *consistency),
                    call,
                };
                self.pending.insert(id, purpose);
            }
            Input::RouteBurst {
                node,
                service,
                count,
                consistency,
            } => {
                // A new burst replaces the old; late answers of the old one are ignored.
                self.pending.retain(|_, p| *p != Purpose::Burst);
                self.burst = Some(Burst {
                    total: *count,
                    ..Burst::default()
                });
                for i in 0..*count {
                    let query = Query::Route {
                        service: service.clone(),
                        key: format!("user-{i}").into_bytes(),
                    };
                    let id = cluster.submit(*node, Request::Read(query, *consistency));
                    self.pending.insert(id, Purpose::Burst);
                }
            }
            Input::AcquireLock { node, name, ttl_ms } => {
                let grant = Command::GrantLease { ttl_ms: *ttl_ms };
                let id = cluster.submit(*node, Request::Write(Input::encode(&grant)));
                self.pending.insert(
                    id,
                    Purpose::LockLease {
                        node: *node,
                        name: name.clone(),
                    },
                );
            }
            _ => {}
        }
    }

    /// Reads the answers that arrived, logs them, and sends follow-up requests.
    pub fn collect(&mut self, cluster: &mut Sim, log: &mut EventLog) {
        let completions = cluster.take_completions();
        for done in completions {
            let Some(purpose) = self.pending.remove(&done.request) else {
                continue;
            };
            self.answer(cluster, log, purpose, done);
        }
    }

    fn answer(
        &mut self,
        cluster: &mut Sim,
        log: &mut EventLog,
        purpose: Purpose,
        done: Completion<Orchestrator>,
    ) {
        let (time, node) = (done.time, done.node);
        match (purpose, done.outcome) {
            (Purpose::Burst, outcome) => {
                let Some(burst) = self.burst.as_mut() else {
                    return;
                };
                match outcome {
                    Outcome::Read { output, .. } => match output.result {
                        QueryResult::Route(Ok(decision)) => {
                            let entry = burst
                                .counts
                                .entry(decision.instance.instance_id)
                                .or_insert((0, false));
                            entry.0 += 1;
                            entry.1 = decision.canary;
                        }
                        _ => burst.failed += 1,
                    },
                    _ => burst.failed += 1,
                }
                if burst.answered() == burst.total {
                    let summary = burst
                        .counts
                        .iter()
                        .map(|(id, (n, _))| format!("{id}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let failed = if burst.failed > 0 {
                        format!(", {} failed", burst.failed)
                    } else {
                        String::new()
                    };
                    log.push(
                        time,
                        LineKind::Client,
                        format!("route burst answered by node {node}: {summary}{failed}"),
                    );
                }
            }
            (
                Purpose::LockLease { node: at, name },
                Outcome::Written {
                    output: Ok(Response::LeaseGranted { lease_id, .. }),
                    ..
                },
            ) => {
                log.push(
                    time,
                    LineKind::Client,
                    format!("lease {lease_id} granted; taking lock {name}"),
                );
                let command = Command::AcquireLock {
                    name: name.clone(),
                    lease_id,
                };
                let id = cluster.submit(at, Request::Write(Input::encode(&command)));
                self.pending.insert(id, Purpose::Lock(name));
            }
            (
                Purpose::Lock(name),
                Outcome::Written {
                    output: Ok(Response::LockAcquired { fencing_token }),
                    ..
                },
            ) => {
                log.push(
                    time,
                    LineKind::Client,
                    format!("lock {name} acquired: fencing token {fencing_token}"),
                );
                self.tokens.push((name.clone(), fencing_token));
                self.lock = Some((name, fencing_token));
            }
            (Purpose::Plain { what, asked, call }, outcome) => {
                log.push(
                    time,
                    LineKind::Client,
                    format!("node {node} answered “{what}”: {}", outcome_text(&outcome)),
                );
                if self.answers.len() == MAX_ANSWERS {
                    self.answers.remove(0);
                }
                self.answers.push(Answer {
                    asked,
                    node,
                    call,
                    time,
                    outcome,
                });
            }
            (Purpose::Lock(what) | Purpose::LockLease { name: what, .. }, outcome) => {
                log.push(
                    time,
                    LineKind::Client,
                    format!("node {node} answered “{what}”: {}", outcome_text(&outcome)),
                );
            }
        }
    }
}

/// A short text for how a request ended.
pub fn outcome_text(outcome: &Outcome<Orchestrator>) -> String {
    let text = match outcome {
        Outcome::Written {
            index,
            output: Ok(response),
        } => format!("ok at #{index}: {response:?}"),
        Outcome::Written {
            index,
            output: Err(e),
        } => format!("refused at #{index}: {e}"),
        Outcome::Read { index, output } => {
            format!("read at #{index}: {}", result_text(&output.result))
        }
        Outcome::Rejected(e) => format!("rejected: {e}"),
        Outcome::Lost => "lost: a new leader overwrote it".to_string(),
        Outcome::Unknown => "unknown: the node went down".to_string(),
    };
    shorten(text, 140)
}

fn result_text(result: &QueryResult) -> String {
    match result {
        QueryResult::Kv(Some(kv)) => format!(
            "{} (rev {})",
            String::from_utf8_lossy(&kv.value),
            kv.mod_revision
        ),
        QueryResult::Kv(None) => "no such key".to_string(),
        QueryResult::Route(Ok(d)) => format!("{} ({})", d.instance.instance_id, d.version),
        other => format!("{other:?}"),
    }
}

fn shorten(mut text: String, max: usize) -> String {
    if text.chars().count() > max {
        text = text.chars().take(max).collect::<String>() + "…";
    }
    text
}
