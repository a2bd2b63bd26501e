//! The owner task's spans: a write from proposal to answer (`raft.write`), its forward to the
//! leader (`raft.forward`, whose id is the `traceparent` the forward carries), the leader's
//! side of a forward (`raft.forward.receive`), the entry's way to commit (`raft.replicate`)
//! and its application (`raft.apply`), and snapshots sent, installed and taken. Everything is
//! bookkeeping of ids and times keyed by log index or request; the owner calls in at the
//! points where it already acts, and exists only when tracing is on.

use std::collections::BTreeMap;
use std::time::SystemTime;

use opentelemetry::trace::{SpanContext, SpanKind, Status};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracer;
use raftorch_core::engine::{Refusal, Submitted, WriteEnd};
use raftorch_core::raft::{Entry, LogIndex, NodeId, Proposed, Snapshot, Term};

use super::record::SpanSlot;
use super::traceparent;

/// Most spans of each kind kept waiting; past it the oldest is dropped unrecorded (a bound on
/// memory should a leader change leave writes that never end here).
const MAX_WAITING: usize = 16_384;

/// A write's span, carried by the owner with the write's reply channel.
pub type WriteTrace = SpanSlot;

/// An entry this node proposed with a trace, waiting for its commit.
struct Proposal {
    term: Term,
    replicate: SpanSlot,
}

/// The spans the owner task keeps between the events that end them.
pub struct RaftSpans {
    tracer: SdkTracer,
    /// Writes forwarded from here, by their span's id: the leader they went to.
    forwards: BTreeMap<u64, NodeId>,
    /// Entries proposed here with a trace, by index.
    proposed: BTreeMap<LogIndex, Proposal>,
    /// Forwards received as leader, by (follower, request): the span, and the entry's index.
    received: BTreeMap<(NodeId, u64), (SpanSlot, Option<LogIndex>)>,
    /// Snapshots sent, by follower: the snapshot's index and the span, until the follower holds
    /// the index.
    snapshot_sends: BTreeMap<NodeId, (LogIndex, Vec<KeyValue>, SpanSlot)>,
}

impl RaftSpans {
    /// Spans recorded with `tracer`.
    pub fn new(tracer: SdkTracer) -> Self {
        RaftSpans {
            tracer,
            forwards: BTreeMap::new(),
            proposed: BTreeMap::new(),
            received: BTreeMap::new(),
            snapshot_sends: BTreeMap::new(),
        }
    }

    /// A write below the API request's span `parent` starts.
    pub fn begin_write(&self, parent: SpanContext) -> WriteTrace {
        SpanSlot::new(Some(parent))
    }

    /// The `traceparent` a forward of `write` carries.
    pub fn forward_traceparent(write: &WriteTrace) -> String {
        traceparent::format(&write.context)
    }

    /// Where the engine put `write`.
    pub fn submitted(&mut self, write: &WriteTrace, submitted: Submitted) {
        match submitted {
            Submitted::Forwarded { to } => {
                bounded_insert(&mut self.forwards, span_key(&write.context), to);
            }
            Submitted::Proposed { index, term } => {
                let replicate = SpanSlot::new(Some(write.context.clone()));
                bounded_insert(&mut self.proposed, index, Proposal { term, replicate });
            }
        }
    }

    /// `write` ended with `end`: its span (a forward's, or a local write's) is done.
    pub fn write_answered<O>(&mut self, write: WriteTrace, end: &WriteEnd<O>) {
        let (outcome, status) = outcome(end);
        let mut attributes = vec![KeyValue::new("raftorch.outcome", outcome)];
        if let WriteEnd::Applied { index, .. } = end {
            attributes.push(KeyValue::new("raftorch.index", *index as i64));
        }
        match self.forwards.remove(&span_key(&write.context)) {
            Some(leader) => {
                attributes.push(KeyValue::new("raftorch.leader", leader as i64));
                write.finish(
                    &self.tracer,
                    "raft.forward",
                    SpanKind::Client,
                    attributes,
                    status,
                );
            }
            None => write.finish(
                &self.tracer,
                "raft.write",
                SpanKind::Internal,
                attributes,
                status,
            ),
        }
    }

    /// A forward from `from` carrying `traceparent` arrived (as leader); the engine proposed it
    /// at `proposed` (`None`: refused, answered this round, or a duplicate).
    pub fn forward_received(
        &mut self,
        from: NodeId,
        request: u64,
        traceparent: &str,
        proposed: Option<Proposed>,
    ) {
        let Some(parent) = traceparent::parse(traceparent) else {
            return; // a peer's malformed header starts nothing
        };
        if self.received.contains_key(&(from, request)) {
            return; // a duplicate delivery: the first one's span stands
        }
        let slot = SpanSlot::new(Some(parent));
        if let Some(p) = proposed {
            let replicate = SpanSlot::new(Some(slot.context.clone()));
            let proposal = Proposal {
                term: p.term,
                replicate,
            };
            bounded_insert(&mut self.proposed, p.index, proposal);
        }
        let index = proposed.map(|p| p.index);
        bounded_insert(&mut self.received, (from, request), (slot, index));
    }

    /// The answer to follower `to`'s forward `request` goes out.
    pub fn forward_replied<O>(&mut self, to: NodeId, request: u64, end: &WriteEnd<O>) {
        let Some((slot, index)) = self.received.remove(&(to, request)) else {
            return;
        };
        let (outcome, status) = outcome(end);
        let mut attributes = vec![
            KeyValue::new("raftorch.follower", to as i64),
            KeyValue::new("raftorch.outcome", outcome),
        ];
        if let Some(index) = index {
            attributes.push(KeyValue::new("raftorch.index", index as i64));
        }
        slot.finish(
            &self.tracer,
            "raft.forward.receive",
            SpanKind::Server,
            attributes,
            status,
        );
    }

    /// Entries about to be applied (so committed): ends their `raft.replicate` spans and says
    /// which to give a `raft.apply` span once applied (see [`RaftSpans::applied`]).
    pub fn committed(&mut self, entries: &[Entry]) -> Vec<(LogIndex, SpanContext)> {
        let mut applying = Vec::new();
        if self.proposed.is_empty() {
            return applying;
        }
        for entry in entries {
            let Some(proposal) = self.proposed.remove(&entry.index) else {
                continue;
            };
            let attributes = vec![
                KeyValue::new("raftorch.index", entry.index as i64),
                KeyValue::new("raftorch.term", proposal.term as i64),
            ];
            let parent = proposal.replicate.parent.clone();
            if entry.term == proposal.term {
                proposal.replicate.finish(
                    &self.tracer,
                    "raft.replicate",
                    SpanKind::Internal,
                    attributes,
                    Status::Ok,
                );
                applying.extend(parent.map(|p| (entry.index, p)));
            } else {
                let why = "another leader's entry took the index";
                proposal.replicate.finish(
                    &self.tracer,
                    "raft.replicate",
                    SpanKind::Internal,
                    attributes,
                    Status::error(why),
                );
            }
        }
        applying
    }

    /// The entries of [`RaftSpans::committed`] were applied, from `start` until now.
    pub fn applied(&mut self, applying: Vec<(LogIndex, SpanContext)>, start: SystemTime) {
        for (index, parent) in applying {
            let mut slot = SpanSlot::new(Some(parent));
            slot.start = start;
            let attributes = vec![KeyValue::new("raftorch.index", index as i64)];
            slot.finish(
                &self.tracer,
                "raft.apply",
                SpanKind::Internal,
                attributes,
                Status::Ok,
            );
        }
    }

    /// A snapshot from the leader replaced the log up to `index`: proposals at or below it
    /// will never be seen committed here.
    pub fn log_replaced_up_to(&mut self, index: LogIndex) {
        let kept = self.proposed.split_off(&(index + 1));
        for (i, proposal) in std::mem::replace(&mut self.proposed, kept) {
            let attributes = vec![KeyValue::new("raftorch.index", i as i64)];
            proposal.replicate.finish(
                &self.tracer,
                "raft.replicate",
                SpanKind::Internal,
                attributes,
                Status::error("a snapshot from the leader replaced the log"),
            );
        }
    }

    /// A snapshot goes to follower `to` (as leader); its span ends once the follower holds it.
    pub fn snapshot_sent(&mut self, to: NodeId, snapshot: &Snapshot) {
        let attributes = snapshot_attributes(snapshot, Some(to));
        let slot = SpanSlot::new(None);
        let old = self
            .snapshot_sends
            .insert(to, (snapshot.meta.index, attributes, slot));
        if let Some((_, attributes, old)) = old {
            let status = Status::error("superseded by a newer snapshot");
            old.finish(
                &self.tracer,
                "raft.snapshot.send",
                SpanKind::Producer,
                attributes,
                status,
            );
        }
    }

    /// The leader's view of what each follower holds: ends the sends that arrived.
    pub fn progress(&mut self, matched: &[(NodeId, LogIndex)]) {
        if self.snapshot_sends.is_empty() {
            return;
        }
        for &(node, index) in matched {
            if self
                .snapshot_sends
                .get(&node)
                .is_some_and(|(sent, _, _)| index >= *sent)
            {
                if let Some((_, attributes, slot)) = self.snapshot_sends.remove(&node) {
                    slot.finish(
                        &self.tracer,
                        "raft.snapshot.send",
                        SpanKind::Producer,
                        attributes,
                        Status::Ok,
                    );
                }
            }
        }
    }

    /// No longer the leader: the snapshots in flight end unconfirmed.
    pub fn stepped_down(&mut self) {
        for (_, (_, attributes, slot)) in std::mem::take(&mut self.snapshot_sends) {
            let status = Status::error("leadership lost before the follower confirmed it");
            slot.finish(
                &self.tracer,
                "raft.snapshot.send",
                SpanKind::Producer,
                attributes,
                status,
            );
        }
    }

    /// A snapshot from the leader was made durable and installed, from `start` until now.
    pub fn snapshot_installed(&mut self, snapshot: &Snapshot, start: SystemTime) {
        let mut slot = SpanSlot::new(None);
        slot.start = start;
        let attributes = snapshot_attributes(snapshot, None);
        slot.finish(
            &self.tracer,
            "raft.snapshot.install",
            SpanKind::Consumer,
            attributes,
            Status::Ok,
        );
    }

    /// This node took a snapshot at `index` and compacted its log, from `start` until now.
    pub fn snapshot_taken(&mut self, index: LogIndex, start: SystemTime) {
        let mut slot = SpanSlot::new(None);
        slot.start = start;
        let attributes = vec![KeyValue::new("raftorch.index", index as i64)];
        slot.finish(
            &self.tracer,
            "raft.snapshot.take",
            SpanKind::Internal,
            attributes,
            Status::Ok,
        );
    }
}

fn snapshot_attributes(snapshot: &Snapshot, to: Option<NodeId>) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("raftorch.index", snapshot.meta.index as i64),
        KeyValue::new("raftorch.term", snapshot.meta.term as i64),
        KeyValue::new("raftorch.snapshot.bytes", snapshot.data.len() as i64),
    ];
    attributes.extend(to.map(|to| KeyValue::new("raftorch.follower", to as i64)));
    attributes
}

fn outcome<O>(end: &WriteEnd<O>) -> (&'static str, Status) {
    match end {
        WriteEnd::Applied { .. } => ("applied", Status::Ok),
        WriteEnd::Lost => (
            "lost",
            Status::error("another leader's entry took its place"),
        ),
        WriteEnd::Unknown => ("unknown", Status::error("outcome unknown")),
        WriteEnd::Refused(Refusal::NotLeader { .. }) => {
            ("not_leader", Status::error("not the leader"))
        }
        WriteEnd::Refused(Refusal::Dropped(_)) => ("dropped", Status::error("dropped")),
    }
}

fn span_key(context: &SpanContext) -> u64 {
    u64::from_be_bytes(context.span_id().to_bytes())
}

/// Inserts, dropping the smallest key first when `map` is full.
fn bounded_insert<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_WAITING {
        map.pop_first();
    }
    map.insert(key, value);
}
