//! The host loop each simulated node runs: it drives the node's [`crate::engine::Engine`] —
//! the same engine the native node drives — and carries out its effects on the simulated disk
//! and network (including the engines' forwarding of writes), plus client requests.

use alloc::vec::Vec;

use super::cluster::{Cluster, Completion, Outcome};
use super::node::RequestId;
use super::trace::TraceEvent;
use crate::engine::{Answer, Application, Consistency, ReadEnd, Refusal, WriteEnd};
use crate::raft::{Error, LogIndex, NodeId};

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
        // The engine runs on the node's own clock (it may be skewed: see `SimConfig`).
        let clock = self.clock_ms(node);
        let slot = &mut self.nodes[node as usize - 1];
        let Some(engine) = slot.engine.as_mut().filter(|_| !slot.paused) else {
            self.complete(id, node, Outcome::Unknown);
            return id;
        };
        match request {
            Request::Write(data) => {
                if let Err((e, _)) = engine.propose(clock, data, id) {
                    self.complete(id, node, Outcome::Rejected(e));
                }
            }
            Request::Read(query, consistency) => {
                if let Err((e, _)) = engine.read(clock, consistency, (id, query)) {
                    self.complete(id, node, Outcome::Rejected(e));
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

    /// Runs the host loop on node `id` until its engine has nothing more to do.
    pub(crate) fn process(&mut self, id: NodeId) {
        let idx = id as usize - 1;
        let clock = self.clock_ms(id);
        // A snapshot received whole in an earlier round is decoded and installed now (as the
        // native node decodes it on another thread while its loop goes on).
        if let Some(received) = self.nodes[idx].received_snapshot.take() {
            if let Some(engine) = self.nodes[idx].engine.as_mut() {
                engine.install_decoded(received.decode());
            }
        }
        loop {
            let Some(engine) = self.nodes[idx].engine.as_mut() else {
                return;
            };
            let Some(mut ready) = engine.ready(clock) else {
                break;
            };
            let term = engine.raw().term();
            let commit = engine.raw().commit_index();
            if let Some(soft) = ready.raft.soft_state {
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
                    }
                }
            }
            // 1. Persist what must be durable (synchronously: the simulated disk never loses a
            // completed write), so both message lists may go afterwards.
            if ready.must_sync() {
                self.nodes[idx].storage.persist(&ready.raft);
                self.invariants.on_persist(id, &ready.raft);
            }
            if let Some(snapshot) = &ready.raft.snapshot {
                let index = snapshot.meta.index;
                self.trace
                    .record(self.now, TraceEvent::SnapshotInstalled { node: id, index });
            }
            if let (Some(first), Some(last)) =
                (ready.raft.entries.first(), ready.raft.entries.last())
            {
                let event = TraceEvent::Appended {
                    node: id,
                    first: first.index,
                    last: last.index,
                };
                self.trace.record(self.now, event);
            }
            // 2. Send.
            let mut messages = core::mem::take(&mut ready.raft.messages);
            messages.append(&mut ready.raft.persisted_messages);
            self.send_all(idx, messages);
            // 3. Apply and answer. A snapshot that fails to restore is a bug in the
            // application; the checkers catch it.
            for entry in &ready.raft.committed_entries {
                self.invariants.on_apply(id, entry);
            }
            let Some(engine) = self.nodes[idx].engine.as_mut() else {
                return;
            };
            let _ = engine.apply(&mut ready);
            // 4. Advance, and compact when the engine's policy says so.
            engine.advance(ready);
            // A snapshot begun in an earlier round is finished now: the entries applied in
            // between were applied while it was encoded.
            let job = self.nodes[idx].snapshot_job.take();
            let Some(engine) = self.nodes[idx].engine.as_mut() else {
                return;
            };
            let finished = job.and_then(|job| engine.finish_snapshot(job.encode()));
            self.nodes[idx].snapshot_job = engine.begin_snapshot();
            if let Some(snapshot) = finished {
                let index = snapshot.meta.index;
                self.nodes[idx].storage.compact(snapshot);
                self.trace
                    .record(self.now, TraceEvent::SnapshotTaken { node: id, index });
            }
            self.deliver_answers(idx);
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
        }
        self.deliver_answers(idx);
        // Forwards and their answers made outside a `Ready` (e.g. by a client's write).
        self.send_all(idx, Vec::new());
        if let Some(engine) = self.nodes[idx].engine.as_mut() {
            self.nodes[idx].received_snapshot = engine.take_received_snapshot();
        }
    }

    /// Puts the engine's messages on the wire: this round's Raft messages and its own.
    fn send_all(&mut self, idx: usize, raft: Vec<crate::raft::Message>) {
        let id = self.nodes[idx].id;
        let Some(engine) = self.nodes[idx].engine.as_mut() else {
            return;
        };
        let outgoing: Vec<_> = engine.peer_messages(raft).collect();
        for (to, message) in outgoing {
            self.send_packet(id, to, message);
        }
    }

    /// Tells the clients what the node's engine answered.
    fn deliver_answers(&mut self, idx: usize) {
        let id = self.nodes[idx].id;
        let Some(engine) = self.nodes[idx].engine.as_mut() else {
            return;
        };
        for answer in engine.take_answers() {
            match answer {
                Answer::Write(request, end) => {
                    let outcome = match end {
                        WriteEnd::Applied { index, output } => Outcome::Written { index, output },
                        WriteEnd::Lost => Outcome::Lost,
                        WriteEnd::Unknown => Outcome::Unknown,
                        WriteEnd::Refused(Refusal::NotLeader { leader_hint }) => {
                            Outcome::Rejected(Error::NotLeader { leader_hint })
                        }
                        WriteEnd::Refused(Refusal::Dropped(_)) => {
                            Outcome::Rejected(Error::ProposalDropped("refused by the leader"))
                        }
                    };
                    self.complete(request, id, outcome);
                }
                Answer::Read((request, query), end) => {
                    let outcome = match (end, self.nodes[idx].engine.as_ref()) {
                        (ReadEnd::Ready { index }, Some(engine)) => Outcome::Read {
                            index,
                            output: engine.app().query(&query),
                        },
                        _ => Outcome::Rejected(Error::ProposalDropped("read not confirmed")),
                    };
                    self.complete(request, id, outcome);
                }
            }
        }
    }

    /// Fails every request pending on a node that just went down.
    pub(crate) fn fail_pending_requests(&mut self, idx: usize) {
        let node = &mut self.nodes[idx];
        let id = node.id;
        let mut requests: Vec<RequestId> = Vec::new();
        node.snapshot_job = None;
        node.received_snapshot = None;
        if let Some(engine) = node.engine.take() {
            // Writes forwarded by other followers are not among them: those followers time
            // out on their own.
            let (writes, reads) = engine.into_waiting();
            requests.extend(writes);
            requests.extend(reads.into_iter().map(|(r, _)| r));
        }
        requests.sort_unstable();
        for request in requests {
            self.complete(request, id, Outcome::Unknown);
        }
    }

    /// The node's tick timer fired: the engine ticks (Raft, read and forward deadlines, the
    /// leader's periodic entry).
    pub(crate) fn on_tick(&mut self, id: NodeId) {
        let clock = self.clock_ms(id);
        if let Some(engine) = self.nodes[id as usize - 1].engine.as_mut() {
            engine.tick(clock);
        }
    }

    /// The applied index of node `id` (0 while down).
    pub fn applied_index(&self, id: NodeId) -> LogIndex {
        self.node(id).applied()
    }
}
