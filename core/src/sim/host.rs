//! The host loop each simulated node runs — the same contract a real host follows: take
//! `Ready`, persist, send, apply, answer clients, `advance` — plus client request handling.

use alloc::vec::Vec;

use super::application::{Application, Consistency};
use super::cluster::{Cluster, Completion, Outcome};
use super::event::Payload;
use super::node::RequestId;
use super::trace::TraceEvent;
use crate::raft::{Entry, EntryPayload, Error, LogIndex, NodeId, ReadMode};

/// Milliseconds a follower waits for the leader's answer to a forwarded write.
const FORWARD_TIMEOUT_MS: u64 = 1_000;

/// A client request to one node.
#[derive(Clone, Debug)]
pub enum Request<A: Application> {
    /// Replicate and apply this payload.
    Write(Vec<u8>),
    /// Answer a query at the given consistency.
    Read(A::Query, Consistency),
}

impl<A: Application> Cluster<A> {
    /// Sends a client request to node `node`; the answer arrives later through
    /// [`Cluster::take_completions`] (immediately for refusals and stale reads).
    pub fn submit(&mut self, node: NodeId, request: Request<A>) -> RequestId {
        self.next_moment += 1;
        let id = self.next_moment;
        let write = matches!(request, Request::Write(_));
        self.trace.record(
            self.now,
            TraceEvent::RequestReceived {
                request: id,
                node,
                write,
            },
        );
        let stamp = self.clock_ms(node);
        let slot = &mut self.nodes[node as usize - 1];
        let Some(raw) = slot.raw.as_mut().filter(|_| !slot.paused) else {
            self.complete(id, node, Outcome::Unknown);
            return id;
        };
        match request {
            Request::Write(data) => {
                let data = A::prepare_write(data, stamp);
                match raw.propose(data.clone()) {
                    Ok(proposed) => {
                        slot.pending_writes
                            .insert(proposed.index, (id, proposed.term, None));
                    }
                    Err(Error::NotLeader {
                        leader_hint: Some(leader),
                    }) if self.config.forward_writes && leader != node => {
                        slot.forwarded.insert(id, self.now + FORWARD_TIMEOUT_MS);
                        self.send_packet(node, leader, Payload::Forward { request: id, data });
                    }
                    Err(e) => self.complete(id, node, Outcome::Rejected(e)),
                }
            }
            Request::Read(query, Consistency::Stale) => {
                let output = slot.app.query(&query);
                let index = slot.applied;
                self.complete(id, node, Outcome::Read { index, output });
            }
            Request::Read(query, consistency) => {
                let mode = if consistency == Consistency::Lease {
                    ReadMode::Lease
                } else {
                    ReadMode::Linearizable
                };
                match raw.read_index(id, mode) {
                    Ok(()) => {
                        slot.pending_reads.insert(id, query);
                    }
                    Err(e) => self.complete(id, node, Outcome::Rejected(e)),
                }
            }
        }
        self.process(node);
        id
    }

    pub(crate) fn complete(&mut self, request: RequestId, node: NodeId, outcome: Outcome<A>) {
        let ok = matches!(outcome, Outcome::Written { .. } | Outcome::Read { .. });
        self.trace
            .record(self.now, TraceEvent::RequestCompleted { request, node, ok });
        self.next_moment += 1;
        let moment = self.next_moment;
        self.completions.push(Completion {
            request,
            node,
            time: self.now,
            moment,
            outcome,
        });
    }

    /// Runs the host loop on node `id` until it has nothing more to do.
    pub(crate) fn process(&mut self, id: NodeId) {
        let idx = id as usize - 1;
        loop {
            let Some(raw) = self.nodes[idx].raw.as_mut() else {
                return;
            };
            if !raw.has_ready() {
                break;
            }
            let ready = raw.ready();
            let term = raw.term();
            let commit = raw.commit_index();
            if let Some(soft) = ready.soft_state {
                let shown = Some((soft.role, term, soft.leader));
                if self.nodes[idx].shown != shown {
                    self.nodes[idx].shown = shown;
                    let event = TraceEvent::RoleChanged {
                        node: id,
                        role: soft.role,
                        term,
                        leader: soft.leader,
                    };
                    self.trace.record(self.now, event);
                    if soft.role == crate::raft::Role::Leader {
                        self.invariants.on_leader_elected(id, term);
                        self.on_elected(idx);
                    }
                }
            }
            // 1. Persist (synchronously: the simulated disk never loses a completed write).
            let node = &mut self.nodes[idx];
            node.storage.persist(&ready);
            self.invariants.on_persist(id, &ready);
            if let Some(snapshot) = &ready.snapshot {
                let _ = node.app.restore(&snapshot.data);
                node.applied = snapshot.meta.index;
                let index = snapshot.meta.index;
                self.trace
                    .record(self.now, TraceEvent::SnapshotInstalled { node: id, index });
            }
            if let (Some(first), Some(last)) = (ready.entries.first(), ready.entries.last()) {
                let event = TraceEvent::Appended {
                    node: id,
                    first: first.index,
                    last: last.index,
                };
                self.trace.record(self.now, event);
            }
            // 2. Send (everything has been persisted, so both lists may go).
            for message in ready.messages.iter().chain(ready.persisted_messages.iter()) {
                self.send(message.clone());
            }
            // 3. Apply and answer.
            for entry in &ready.committed_entries {
                self.apply(idx, entry);
            }
            let node = &mut self.nodes[idx];
            for read in &ready.read_states {
                if let Some(query) = node.pending_reads.remove(&read.ctx) {
                    node.confirmed_reads.push((read.index, read.ctx, query));
                }
            }
            self.answer_confirmed_reads(idx);
            if commit != self.nodes[idx].shown_commit {
                self.nodes[idx].shown_commit = commit;
                self.trace.record(
                    self.now,
                    TraceEvent::Committed {
                        node: id,
                        index: commit,
                    },
                );
            }
            // 4. Advance.
            if let Some(raw) = self.nodes[idx].raw.as_mut() {
                raw.advance(ready);
            }
            self.maybe_snapshot(idx);
        }
    }

    fn apply(&mut self, idx: usize, entry: &Entry) {
        let id = self.nodes[idx].id;
        self.invariants.on_apply(id, entry);
        let node = &mut self.nodes[idx];
        let output = match &entry.payload {
            EntryPayload::Normal(data) => Some(node.app.apply(entry.index, data)),
            EntryPayload::Noop | EntryPayload::ConfChange(_) => None,
        };
        node.applied = entry.index;
        if let Some((request, term, origin)) = node.pending_writes.remove(&entry.index) {
            let outcome = match output {
                Some(output) if term == entry.term => Outcome::Written {
                    index: entry.index,
                    output,
                },
                _ => Outcome::Lost,
            };
            self.answer_write(id, request, origin, outcome);
        }
    }

    fn answer_confirmed_reads(&mut self, idx: usize) {
        let node = &mut self.nodes[idx];
        let applied = node.applied;
        let (ready, waiting): (Vec<_>, Vec<_>) = node
            .confirmed_reads
            .drain(..)
            .partition(|(index, _, _)| *index <= applied);
        node.confirmed_reads = waiting;
        let id = node.id;
        for (_, request, query) in ready {
            let output = self.nodes[idx].app.query(&query);
            self.complete(
                request,
                id,
                Outcome::Read {
                    index: applied,
                    output,
                },
            );
        }
    }

    /// Compacts the log once enough entries were applied since the last snapshot.
    fn maybe_snapshot(&mut self, idx: usize) {
        let every = self.config.snapshot_every;
        let keep = self.config.snapshot_keep_entries;
        let node = &mut self.nodes[idx];
        let Some(raw) = node.raw.as_mut() else {
            return;
        };
        let last_snapshot =
            crate::raft::Storage::snapshot(&node.storage).map_or(0, |s| s.meta.index);
        if every == 0 || raw.applied_index() < last_snapshot + every || raw.has_ready() {
            return;
        }
        let snapshot = raw.compact(node.app.snapshot(), keep);
        let index = snapshot.meta.index;
        node.storage.compact(snapshot);
        self.trace.record(
            self.now,
            TraceEvent::SnapshotTaken {
                node: node.id,
                index,
            },
        );
    }

    /// Fails every request pending on a node that just went down.
    pub(crate) fn fail_pending_requests(&mut self, idx: usize) {
        let node = &mut self.nodes[idx];
        let id = node.id;
        // Writes forwarded by other followers: those followers time out on their own.
        let mut requests: Vec<RequestId> = node
            .pending_writes
            .values()
            .filter(|(_, _, origin)| origin.is_none())
            .map(|(r, _, _)| *r)
            .collect();
        requests.extend(node.pending_reads.keys().copied());
        requests.extend(node.forwarded.keys().copied());
        node.forwarded.clear();
        requests.extend(node.confirmed_reads.iter().map(|(_, r, _)| *r));
        node.pending_writes.clear();
        node.pending_reads.clear();
        node.confirmed_reads.clear();
        requests.sort_unstable();
        for request in requests {
            self.complete(request, id, Outcome::Unknown);
        }
    }

    /// Completes a write locally, or answers the follower that forwarded it.
    fn answer_write(
        &mut self,
        id: NodeId,
        request: RequestId,
        origin: Option<NodeId>,
        outcome: Outcome<A>,
    ) {
        match origin {
            None => self.complete(request, id, outcome),
            Some(follower) => {
                self.send_packet(id, follower, Payload::ForwardReply { request, outcome })
            }
        }
    }

    /// The leader receives a write forwarded by `from`. It never forwards again: a node that
    /// is no longer leader answers with where it thinks the leader is.
    pub(crate) fn handle_forward(
        &mut self,
        id: NodeId,
        from: NodeId,
        request: RequestId,
        data: Vec<u8>,
    ) {
        let data = A::prepare_write(data, self.clock_ms(id));
        let node = &mut self.nodes[id as usize - 1];
        if !node.seen_forwards.insert((from, request)) {
            return; // a duplicate delivery of a forward already handled
        }
        let Some(raw) = node.raw.as_mut() else {
            return;
        };
        match raw.propose(data) {
            Ok(proposed) => {
                let pending = (request, proposed.term, Some(from));
                self.nodes[id as usize - 1]
                    .pending_writes
                    .insert(proposed.index, pending);
                self.process(id);
            }
            Err(e) => self.answer_write(id, request, Some(from), Outcome::Rejected(e)),
        }
    }

    /// A follower receives the leader's answer to a write it forwarded.
    pub(crate) fn handle_forward_reply(
        &mut self,
        id: NodeId,
        request: RequestId,
        outcome: Outcome<A>,
    ) {
        if self.nodes[id as usize - 1]
            .forwarded
            .remove(&request)
            .is_some()
        {
            self.complete(request, id, outcome);
        }
    }

    /// Host duties on each tick: give up on forwarded writes the leader never answered, and as
    /// leader, propose the application's periodic entry.
    pub(crate) fn on_tick(&mut self, id: NodeId) {
        let now = self.now;
        let stamp = self.clock_ms(id);
        let node = &mut self.nodes[id as usize - 1];
        let expired: Vec<RequestId> = node
            .forwarded
            .iter()
            .filter(|(_, &deadline)| deadline <= now)
            .map(|(&r, _)| r)
            .collect();
        for request in &expired {
            node.forwarded.remove(request);
        }
        if A::PERIODIC_MS > 0 && now >= node.next_periodic_at {
            if let Some(raw) = node.raw.as_mut().filter(|raw| raw.is_leader()) {
                node.next_periodic_at = now + A::PERIODIC_MS;
                if let Some(entry) = A::periodic_entry(stamp) {
                    let _ = raw.propose(entry);
                }
            }
        }
        for request in expired {
            self.complete(request, id, Outcome::Unknown);
        }
    }

    /// A node just became leader: propose what the application wants proposed first.
    fn on_elected(&mut self, idx: usize) {
        let now = self.now;
        let stamp = self.clock_ms(self.nodes[idx].id);
        let node = &mut self.nodes[idx];
        node.next_periodic_at = now + A::PERIODIC_MS;
        if let Some(raw) = node.raw.as_mut() {
            for entry in A::leader_entries(stamp) {
                let _ = raw.propose(entry);
            }
        }
    }

    /// The applied index of node `id` (0 while down).
    pub fn applied_index(&self, id: NodeId) -> LogIndex {
        self.node(id).applied
    }
}
