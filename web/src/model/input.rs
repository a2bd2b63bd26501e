//! What a person (or a scenario) does to the simulated cluster. Inputs are recorded on the
//! timeline with the exact event count at which they happened, so scrubbing replays them.

use raftorch_core::orchestrator::{Command, Envelope, Query};
use raftorch_core::raft::{ConfChange, NodeId};
use raftorch_core::sim::Consistency;

/// One change to the simulation.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// Crash a node (it keeps its durable log).
    Crash(NodeId),
    /// Restart a crashed node from its durable log.
    Restart(NodeId),
    /// Split the network: `groups[i]` is node `i + 1`'s side.
    Partition(Vec<u8>),
    /// Cut (`up == false`) or restore one direction of a link.
    SetLink {
        /// Sender side.
        from: NodeId,
        /// Receiver side.
        to: NodeId,
        /// Whether the link works.
        up: bool,
    },
    /// Remove every partition and cut.
    Heal,
    /// Pause (a stop-the-world stall: alive, processing nothing) or resume a node.
    Pause {
        /// The node.
        node: NodeId,
        /// Pause (true) or resume (false).
        paused: bool,
    },
    /// Message loss, per mille.
    DropRate(u32),
    /// Message duplication, per mille.
    DuplicateRate(u32),
    /// Latency range in simulated ms.
    Latency(u64, u64),
    /// Ask leader `from` to hand leadership to `to`.
    Transfer {
        /// The current leader.
        from: NodeId,
        /// The target.
        to: NodeId,
    },
    /// A client write of an orchestrator command at `node`.
    Write {
        /// Where the client sends it (a follower forwards it to the leader).
        node: NodeId,
        /// The command.
        command: Command,
    },
    /// A client read at `node`.
    Read {
        /// Where the client asks.
        node: NodeId,
        /// The question.
        query: Query,
        /// How fresh the answer must be.
        consistency: Consistency,
    },
    /// `count` route look-ups for keys `user-0..count` of `service`, tallied per instance.
    RouteBurst {
        /// Where the client asks.
        node: NodeId,
        /// The service.
        service: String,
        /// How many keys.
        count: u32,
        /// How fresh the answers must be.
        consistency: Consistency,
    },
    /// Scenario step `.0` (an index into its steps) fired here; its inputs follow it. Replaying
    /// it does nothing: it marks the step as done so that it never fires twice on one run.
    ScenarioStep(usize),
    /// Grant a lease, then take lock `name` with it (two writes).
    AcquireLock {
        /// Where the client sends the writes.
        node: NodeId,
        /// The lock.
        name: String,
        /// The lease's time to live: the lock is released this long after the holder's last
        /// keep-alive (the simulated client sends none).
        ttl_ms: u64,
    },
    /// Drop message `.0` while it is in flight (it never arrives).
    DropMessage(u64),
    /// Ask leader `node` to change the membership.
    Membership {
        /// The leader that proposes it.
        node: NodeId,
        /// The change.
        change: ConfChange,
    },
}

impl Input {
    /// The bytes a write puts in the log (the leader's host stamps the time).
    pub fn encode(command: &Command) -> Vec<u8> {
        Envelope::new(0, command.clone()).encode()
    }

    /// A short description for the event log.
    pub fn describe(&self) -> String {
        match self {
            Input::Crash(id) => format!("you crashed node {id}"),
            Input::Restart(id) => format!("you restarted node {id}"),
            Input::Partition(groups) => format!("partition {}", describe_groups(groups)),
            Input::SetLink { from, to, up } => {
                format!("link {from}→{to} {}", if *up { "restored" } else { "cut" })
            }
            Input::Heal => "network healed".into(),
            Input::Pause { node, paused } => {
                format!(
                    "you {} node {node}",
                    if *paused { "paused" } else { "resumed" }
                )
            }
            Input::DropRate(pm) => format!("message loss set to {:.1}%", *pm as f64 / 10.0),
            Input::DuplicateRate(pm) => {
                format!("message duplication set to {:.1}%", *pm as f64 / 10.0)
            }
            Input::ScenarioStep(i) => format!("scenario step {}", i + 1),
            Input::Latency(lo, hi) => format!("latency set to {lo}–{hi} ms"),
            Input::Transfer { from, to } => format!("leadership transfer {from} → {to} requested"),
            Input::Write { node, command } => {
                format!("write at node {node}: {}", command_name(command))
            }
            Input::Read {
                node,
                query,
                consistency,
            } => {
                format!("{consistency:?} read at node {node}: {}", query_name(query))
            }
            Input::RouteBurst {
                node,
                service,
                count,
                ..
            } => {
                format!("route {count} keys of {service} at node {node}")
            }
            Input::AcquireLock { node, name, .. } => format!("acquire lock {name} at node {node}"),
            Input::DropMessage(id) => format!("you dropped message #{id} in flight"),
            Input::Membership { node, change } => match change {
                ConfChange::AddVoter(id) => {
                    format!("node {node} proposes: node {id} becomes a voter")
                }
                ConfChange::AddLearner(id) => {
                    format!("node {node} proposes: add node {id} as a learner")
                }
                ConfChange::RemoveNode(id) => format!("node {node} proposes: remove node {id}"),
            },
        }
    }
}

/// `{1,2} | {3,4,5}` for a partition.
pub fn describe_groups(groups: &[u8]) -> String {
    let mut sides: Vec<(u8, Vec<String>)> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let id = (i + 1).to_string();
        match sides.iter_mut().find(|(s, _)| s == g) {
            Some((_, members)) => members.push(id),
            None => sides.push((*g, vec![id])),
        }
    }
    sides
        .iter()
        .map(|(_, m)| format!("{{{}}}", m.join(",")))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// A command's short name with its main argument.
pub fn command_name(command: &Command) -> String {
    match command {
        Command::Register {
            instance_id,
            version,
            ..
        } => format!("register {instance_id} ({version})"),
        Command::Deregister { instance_id, .. } => format!("deregister {instance_id}"),
        Command::StartDeployment { canary_version, .. } => format!("start canary {canary_version}"),
        Command::Advance { .. } => "advance canary".into(),
        Command::Promote { .. } => "promote canary".into(),
        Command::Rollback { .. } => "roll back canary".into(),
        Command::Put { key, value, .. } => {
            format!("put {key} = {}", String::from_utf8_lossy(value))
        }
        Command::GrantLease { ttl_ms } => format!("grant lease ({} s)", ttl_ms / 1000),
        Command::AcquireLock { name, lease_id } => format!("lock {name} with lease {lease_id}"),
        other => {
            let debug = format!("{other:?}");
            debug
                .split([' ', '{'])
                .next()
                .unwrap_or("command")
                .to_string()
        }
    }
}

/// A query's short name.
pub(super) fn query_name(query: &Query) -> String {
    match query {
        Query::KvGet { key } => format!("get {key}"),
        Query::Route { service, key } => {
            format!("route {service} key {}", String::from_utf8_lossy(key))
        }
        other => {
            let debug = format!("{other:?}");
            debug
                .split([' ', '{'])
                .next()
                .unwrap_or("query")
                .to_string()
        }
    }
}
