//! Client requests through the engine: proposals and reads, and the other inputs a host feeds.

use alloc::string::String;
use alloc::vec::Vec;

use super::answer::{Answer, ReadEnd, WriteEnd};
use super::application::{Application, Consistency};
use super::forward::{PeerMessage, Submitted};
use super::{Engine, Waiter};
use crate::raft::{ConfChange, Error, LogIndex, Message, MessageBody, NodeId, Proposed};

impl<A: Application, W, R> Engine<A, W, R> {
    /// Submits a client write: the leader proposes it, stamped by the application at
    /// `now_ms`; a follower forwards it to the leader it knows (see
    /// [`super::EngineConfig::forward_writes`]). Once accepted, `waiter` is answered with a
    /// [`super::Answer::Write`] when the write ends; on refusal it comes back with the reason
    /// (e.g. no leader is known).
    pub fn propose(
        &mut self,
        now_ms: u64,
        data: Vec<u8>,
        waiter: W,
    ) -> Result<Submitted, (Error, W)> {
        self.propose_traced(now_ms, data, None, waiter)
    }

    /// [`Engine::propose`] for a write that is part of a trace: when it is forwarded, the
    /// forward carries `traceparent` (a W3C `traceparent` the host made; the engine only
    /// carries it) so the leader's host can continue the trace.
    pub fn propose_traced(
        &mut self,
        now_ms: u64,
        data: Vec<u8>,
        traceparent: Option<String>,
        waiter: W,
    ) -> Result<Submitted, (Error, W)> {
        match self.propose_here(now_ms, data, Waiter::Local(waiter)) {
            Ok(Proposed { index, term }) => Ok(Submitted::Proposed { index, term }),
            Err((
                Error::NotLeader {
                    leader_hint: Some(leader),
                },
                data,
                Waiter::Local(waiter),
            )) if self.config.forward_writes && leader != self.raw.id() => {
                self.forward(now_ms, leader, data, traceparent, waiter);
                Ok(Submitted::Forwarded { to: leader })
            }
            Err((e, _, Waiter::Local(waiter))) => Err((e, waiter)),
            Err((_, _, Waiter::Remote { .. })) => unreachable!("a local waiter comes back local"),
        }
    }

    /// Proposes `data` here (leader only); on refusal the data and the waiter come back.
    pub(super) fn propose_here(
        &mut self,
        now_ms: u64,
        data: Vec<u8>,
        waiter: Waiter<W>,
    ) -> Result<Proposed, (Error, Vec<u8>, Waiter<W>)> {
        if let Err(e) = self.leader_duties(now_ms) {
            return Err((e, data, waiter));
        }
        if !self.raw.is_leader() {
            let leader_hint = self.raw.leader();
            return Err((Error::NotLeader { leader_hint }, data, waiter));
        }
        match self.raw.propose(A::prepare_write(data, now_ms)) {
            Ok(proposed) => {
                if let Some((_, old)) = self.writes.insert(proposed.index, (proposed.term, waiter))
                {
                    // Unreachable in Raft (a new term's first entry is the leader's no-op), but
                    // an overwritten waiter must still hear that its entry is gone.
                    self.end(old, WriteEnd::Lost);
                }
                Ok(proposed)
            }
            Err(e) => Err((e, Vec::new(), waiter)),
        }
    }

    /// Starts a read at `consistency`. A stale read is ready at once; the others wait for the
    /// leader's confirmation (ReadIndex or its lease) and for this node to apply up to it. Either
    /// way the answer is a [`super::Answer::Read`]; on refusal `waiter` comes back.
    pub fn read(
        &mut self,
        now_ms: u64,
        consistency: Consistency,
        waiter: R,
    ) -> Result<(), (Error, R)> {
        let Some(mode) = consistency.read_mode() else {
            let index = self.applied;
            self.answers
                .push(Answer::Read(waiter, ReadEnd::Ready { index }));
            return Ok(());
        };
        let ctx = self.next_read_ctx;
        self.next_read_ctx = self.next_read_ctx.wrapping_add(1);
        match self.raw.read_index(ctx, mode) {
            Ok(()) => {
                let deadline = now_ms.saturating_add(self.config.read_timeout_ms);
                self.reads.insert(ctx, (waiter, deadline));
                Ok(())
            }
            Err(e) => Err((e, waiter)),
        }
    }

    /// Steps a Raft message from a peer (the same as [`Engine::receive`] with
    /// [`PeerMessage::Raft`]).
    pub fn step(&mut self, message: Message) {
        self.step_checked(message);
    }

    /// Wraps this round's Raft messages for the wire, together with the engine's own. A
    /// snapshot Raft sends goes as chunks ([`PeerMessage::SnapshotChunk`]), never whole.
    pub fn peer_messages(
        &mut self,
        raft: Vec<Message>,
    ) -> impl Iterator<Item = (NodeId, PeerMessage<A::Output>)> {
        let mut out = Vec::with_capacity(raft.len());
        for m in raft {
            self.remember_keepalive(&m);
            if matches!(m.body, MessageBody::InstallSnapshot { .. }) {
                self.snapshot_to_chunks(m);
            } else {
                out.push((m.to, PeerMessage::Raft(m)));
            }
        }
        out.extend(self.take_outbox());
        out.into_iter()
    }

    /// Proposes a membership change (leader only); it applies once committed.
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Result<Proposed, Error> {
        self.raw.propose_conf_change(change)
    }

    /// Asks the leader to hand leadership to `to`.
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<(), Error> {
        self.raw.transfer_leader(to)
    }

    /// Starts an election now (tests and scenarios).
    pub fn campaign(&mut self) -> Result<(), Error> {
        self.raw.campaign()
    }

    /// Answers the writes this entry ends: its own proposal (applied, or lost if another term's
    /// entry took the index). `output` is where the write took effect (`index`, or for a retry
    /// of a request applied before, that first entry's index) and what it answered.
    pub(super) fn end_write(
        &mut self,
        index: LogIndex,
        term: u64,
        output: Option<(LogIndex, A::Output)>,
    ) {
        if let Some((proposed_term, waiter)) = self.writes.remove(&index) {
            let end = match output {
                Some((applied_at, output)) if proposed_term == term => WriteEnd::Applied {
                    index: applied_at,
                    output,
                },
                _ => WriteEnd::Lost,
            };
            self.end(waiter, end);
        }
    }

    /// Tells whoever waits how its write ended: the local client, or the follower that
    /// forwarded it.
    fn end(&mut self, waiter: Waiter<W>, end: WriteEnd<A::Output>) {
        match waiter {
            Waiter::Local(w) => self.answers.push(Answer::Write(w, end)),
            Waiter::Remote { from, request } => self
                .outbox
                .push((from, PeerMessage::ForwardReply { request, end })),
        }
    }

    /// Ends every write proposed at or below `index` as unknown: a snapshot replaced them, and
    /// it may or may not hold them.
    pub(super) fn forget_writes_up_to(&mut self, index: LogIndex) {
        let kept = self.writes.split_off(&index.saturating_add(1));
        for (_, (_, waiter)) in core::mem::replace(&mut self.writes, kept) {
            self.end(waiter, WriteEnd::Unknown);
        }
    }

    /// Fails every read still waiting for its read index (leadership changed).
    pub(super) fn abort_reads(&mut self) {
        for (_, (waiter, _)) in core::mem::take(&mut self.reads) {
            self.answers.push(Answer::Read(waiter, ReadEnd::Aborted));
        }
    }

    /// Fails reads whose deadline passed.
    pub(super) fn expire_reads(&mut self, now_ms: u64) {
        let expired: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now_ms)
            .map(|(&ctx, _)| ctx)
            .collect();
        for ctx in expired {
            if let Some((waiter, _)) = self.reads.remove(&ctx) {
                self.answers.push(Answer::Read(waiter, ReadEnd::Aborted));
            }
        }
    }

    /// Serves the confirmed reads whose index has been applied.
    pub(super) fn answer_confirmed_reads(&mut self) {
        let applied = self.applied;
        let mut waiting = Vec::new();
        for (index, waiter) in core::mem::take(&mut self.confirmed_reads) {
            if index <= applied {
                self.answers
                    .push(Answer::Read(waiter, ReadEnd::Ready { index: applied }));
            } else {
                waiting.push((index, waiter));
            }
        }
        self.confirmed_reads = waiting;
    }
}
