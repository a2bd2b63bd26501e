//! The event log: the simulator's trace, filtered to what a person wants to read (elections,
//! commits, faults, snapshots, client answers), with simulated timestamps.

use raftorch_core::raft::Role;
use raftorch_core::sim::{DropReason, TraceEvent, TraceRecord, WireKind};

/// What kind of line, for coloring and filtering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Roles and terms: elections.
    Election,
    /// Commit index moves.
    Commit,
    /// Crashes, partitions, cuts, heals.
    Fault,
    /// Snapshots taken and installed.
    Snapshot,
    /// Something a person did.
    Input,
    /// A client request's answer.
    Client,
}

impl LineKind {
    /// CSS class suffix.
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Election => "election",
            LineKind::Commit => "commit",
            LineKind::Fault => "fault",
            LineKind::Snapshot => "snapshot",
            LineKind::Input => "input",
            LineKind::Client => "client",
        }
    }
}

/// One line of the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Simulated ms.
    pub time: u64,
    /// Its kind.
    pub kind: LineKind,
    /// What happened.
    pub text: String,
}

/// A message that was sent but never arrived, drawn briefly as a cross on its link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drop {
    /// When it was sent (and lost).
    pub time: u64,
    /// Sender.
    pub from: u64,
    /// Receiver.
    pub to: u64,
    /// Why it was lost.
    pub reason: DropReason,
}

/// Turns trace records into log lines and remembers recent drops.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    /// Every line so far, oldest first.
    pub lines: Vec<LogLine>,
    /// Messages lost recently (kept short).
    pub drops: Vec<Drop>,
    /// The last record of any kind, described (what "step" just did).
    pub last_event: Option<String>,
    /// Sent-but-not-yet-resolved packets from the current batch: (id, from, to).
    sent: Vec<(u64, u64, u64)>,
    /// The latest leader seen: only its commits are logged (every node's would flood the log).
    leader: Option<u64>,
}

/// An [`EventLog`] at one moment, kept with each timeline checkpoint.
#[derive(Clone, Debug)]
pub struct LogMark {
    len: usize,
    drops: Vec<Drop>,
    sent: Vec<(u64, u64, u64)>,
    leader: Option<u64>,
}

/// How many recent drops to keep.
const MAX_DROPS: usize = 64;

impl EventLog {
    /// Adds a line.
    pub fn push(&mut self, time: u64, kind: LineKind, text: String) {
        self.lines.push(LogLine { time, kind, text });
    }

    /// Digests a batch of trace records.
    pub fn ingest(&mut self, records: &[TraceRecord]) {
        for record in records {
            self.last_event = Some(describe_any(record));
            if let Some((kind, text)) = describe(&record.event) {
                let skip = matches!(record.event, TraceEvent::Committed { node, .. } if Some(node) != self.leader);
                if !skip {
                    self.push(record.time, kind, text);
                }
            }
            match record.event {
                TraceEvent::RoleChanged {
                    node,
                    role: Role::Leader,
                    ..
                } => self.leader = Some(node),
                TraceEvent::Crashed { node } if Some(node) == self.leader => self.leader = None,
                TraceEvent::Sent { id, from, to, .. } => {
                    self.sent.push((id, from, to));
                    if self.sent.len() > 256 {
                        self.sent.drain(..128);
                    }
                }
                TraceEvent::Dropped { id, reason } if reason != DropReason::NodeDown => {
                    if let Some(&(_, from, to)) = self.sent.iter().find(|s| s.0 == id) {
                        self.drops.push(Drop {
                            time: record.time,
                            from,
                            to,
                            reason,
                        });
                        if self.drops.len() > MAX_DROPS {
                            self.drops.remove(0);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// Where the log stands: its length and what it remembers between records.
    pub fn mark(&self) -> LogMark {
        LogMark {
            len: self.lines.len(),
            drops: self.drops.clone(),
            sent: self.sent.clone(),
            leader: self.leader,
        }
    }

    /// Goes back to `mark` (when the timeline is rewound): later lines are forgotten, and so is
    /// what later records taught it (the leader whose commits it logs, recent sends and drops),
    /// so a replay logs exactly what the first run did.
    pub fn rewind(&mut self, mark: &LogMark) {
        self.lines.truncate(mark.len);
        self.drops.clone_from(&mark.drops);
        self.sent.clone_from(&mark.sent);
        self.leader = mark.leader;
    }
}

/// A readable line for the events a person cares about; `None` for the rest.
pub(super) fn describe(event: &TraceEvent) -> Option<(LineKind, String)> {
    Some(match event {
        TraceEvent::RoleChanged {
            node,
            role,
            term,
            leader,
        } => {
            let text = match role {
                Role::Leader => format!("node {node} became LEADER for term {term}"),
                Role::Candidate => {
                    format!("node {node} is a candidate for term {term}: asks for votes")
                }
                Role::PreCandidate => {
                    format!(
                        "node {node}'s election timer ran out: asks for pre-votes (term {term})"
                    )
                }
                Role::Follower => match leader {
                    Some(l) => format!("node {node} follows leader {l} in term {term}"),
                    None => format!("node {node} is a follower in term {term}"),
                },
            };
            (LineKind::Election, text)
        }
        TraceEvent::Committed { node, index } => (
            LineKind::Commit,
            format!("node {node} committed up to #{index}"),
        ),
        TraceEvent::SnapshotTaken { node, index } => (
            LineKind::Snapshot,
            format!("node {node} took a snapshot at #{index}"),
        ),
        TraceEvent::SnapshotInstalled { node, index } => (
            LineKind::Snapshot,
            format!("node {node} installed the leader's snapshot at #{index}"),
        ),
        TraceEvent::Crashed { node } => (LineKind::Fault, format!("node {node} crashed")),
        TraceEvent::Restarted { node } => (
            LineKind::Fault,
            format!("node {node} restarted from its durable log"),
        ),
        TraceEvent::Paused { node, paused } => (
            LineKind::Fault,
            format!("node {node} {}", if *paused { "paused" } else { "resumed" }),
        ),
        TraceEvent::Partitioned { groups } => (
            LineKind::Fault,
            format!(
                "network partitioned: {}",
                super::input::describe_groups(groups)
            ),
        ),
        TraceEvent::LinkChanged { from, to, up } => (
            LineKind::Fault,
            format!("link {from}→{to} {}", if *up { "restored" } else { "cut" }),
        ),
        TraceEvent::Healed => (LineKind::Fault, "network healed".to_string()),
        TraceEvent::TransferRequested { from, to } => (
            LineKind::Election,
            format!("leader {from} hands leadership to {to} (catch up, then TimeoutNow)"),
        ),
        _ => return None,
    })
}

/// A one-line description of any record, for single-stepping.
pub(super) fn describe_any(record: &TraceRecord) -> String {
    let t = record.time;
    match &record.event {
        TraceEvent::Sent {
            from,
            to,
            kind,
            entries,
            ..
        } => {
            let extra = if *entries > 0 && !matches!(kind, WireKind::Forward) {
                format!(" with {entries} entries")
            } else {
                String::new()
            };
            format!("{t} ms: {from} sends {}{extra} to {to}", kind.as_str())
        }
        TraceEvent::Delivered { id } => format!("{t} ms: message #{id} delivered"),
        TraceEvent::Dropped { id, reason } => format!("{t} ms: message #{id} dropped ({reason:?})"),
        TraceEvent::Appended { node, first, last } => {
            format!("{t} ms: node {node} appended #{first}..#{last}")
        }
        TraceEvent::RequestReceived {
            request,
            node,
            write,
        } => format!(
            "{t} ms: node {node} got client {} #{request}",
            if *write { "write" } else { "read" }
        ),
        TraceEvent::RequestCompleted { request, node, ok } => format!(
            "{t} ms: node {node} answered #{request} ({})",
            if *ok { "ok" } else { "failed" }
        ),
        other => match describe(other) {
            Some((_, text)) => format!("{t} ms: {text}"),
            None => format!("{t} ms: {other:?}"),
        },
    }
}
