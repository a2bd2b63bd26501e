//! A snapshot from the leader is checked before anything of it is made durable: it must
//! restore into a scratch application. One that does not (a buggy or hostile peer's) is dropped
//! with its message, so it can never be persisted and brick the node on every restart. The
//! scratch state is kept and swapped in when the snapshot is applied, so it is decoded once.
//!
//! A snapshot that arrived in chunks is decoded by the host, off its event loop (decoding a
//! large state takes long, and heartbeats must not wait behind it): the engine hands it out
//! as a [`ReceivedSnapshot`], the host runs [`ReceivedSnapshot::decode`] and gives the result
//! back to [`Engine::install_decoded`], which hands it to Raft.

use core::marker::PhantomData;

use super::application::Application;
use super::Engine;
use crate::raft::{LogIndex, Message, MessageBody, NodeId, Snapshot, Term};

/// A snapshot received whole from the leader (every chunk in, the whole checksum verified),
/// for the host to decode ([`ReceivedSnapshot::decode`]) away from its event loop.
#[derive(Clone, Debug)]
pub struct ReceivedSnapshot<A> {
    from: NodeId,
    term: Term,
    snapshot: Snapshot,
    app: PhantomData<fn() -> A>,
}

/// A [`ReceivedSnapshot`] decoded into scratch state (or found not to decode), for
/// [`Engine::install_decoded`].
#[derive(Clone, Debug)]
pub struct DecodedSnapshot<A> {
    from: NodeId,
    term: Term,
    snapshot: Snapshot,
    app: Option<A>,
}

impl<A: Application> ReceivedSnapshot<A> {
    /// The index the snapshot covers.
    pub fn index(&self) -> LogIndex {
        self.snapshot.meta.index
    }

    /// Decodes the snapshot into a scratch application: the costly part.
    pub fn decode(self) -> DecodedSnapshot<A> {
        let mut app = A::default();
        let app = app.restore(&self.snapshot.data).is_ok().then_some(app);
        DecodedSnapshot {
            from: self.from,
            term: self.term,
            snapshot: self.snapshot,
            app,
        }
    }
}

/// A snapshot that restored into scratch state, waiting to be applied.
#[derive(Clone, Debug)]
pub(super) struct CheckedSnapshot<A> {
    pub(super) index: LogIndex,
    pub(super) term: Term,
    pub(super) app: A,
}

impl<A: Application, W, R> Engine<A, W, R> {
    /// Steps a Raft message, after checking the snapshot it may carry.
    pub(super) fn step_checked(&mut self, message: Message) {
        if let MessageBody::InstallSnapshot { snapshot, .. } = &message.body {
            let mut scratch = A::default();
            if scratch.restore(&snapshot.data).is_err() {
                self.refused_snapshots += 1;
                return;
            }
            self.checked_snapshot = Some(CheckedSnapshot {
                index: snapshot.meta.index,
                term: snapshot.meta.term,
                app: scratch,
            });
        }
        self.raw.step(message);
    }

    /// Keeps a snapshot received whole from `from` (in a message of `term`) until the host
    /// takes it to decode; a newer one replaces one not yet taken.
    pub(super) fn received_whole(&mut self, from: NodeId, term: Term, snapshot: Snapshot) {
        self.received = Some(ReceivedSnapshot {
            from,
            term,
            snapshot,
            app: PhantomData,
        });
    }

    /// A snapshot received whole from the leader, to decode off the event loop and hand to
    /// [`Engine::install_decoded`]. Until then the node goes on as before it arrived.
    pub fn take_received_snapshot(&mut self) -> Option<ReceivedSnapshot<A>> {
        self.received.take()
    }

    /// Hands a decoded snapshot to Raft (which installs it unless the node moved past it
    /// meanwhile); one that did not decode is dropped and counted in
    /// [`Engine::refused_snapshots`] (the leader sends it again, or a newer one).
    pub fn install_decoded(&mut self, decoded: DecodedSnapshot<A>) {
        let Some(app) = decoded.app else {
            self.refused_snapshots += 1;
            // Forget it was received: the leader's next transfer of it is taken from its first
            // chunk again, instead of being answered as complete. (A newer snapshot that
            // started arriving meanwhile is left alone.)
            let meta = &decoded.snapshot.meta;
            if self.incoming.as_ref().is_some_and(|i| i.handed_over(meta)) {
                self.incoming = None;
            }
            return;
        };
        self.checked_snapshot = Some(CheckedSnapshot {
            index: decoded.snapshot.meta.index,
            term: decoded.snapshot.meta.term,
            app,
        });
        self.raw.step(Message {
            from: decoded.from,
            to: self.raw.id(),
            term: decoded.term,
            body: MessageBody::InstallSnapshot {
                snapshot: decoded.snapshot,
            },
        });
    }

    /// The host lost a snapshot it took to decode (its task failed): forget it was received,
    /// so the leader's next transfer of it is taken from its first chunk (unless a newer one
    /// is arriving already).
    pub fn received_snapshot_lost(&mut self) {
        if self.incoming.as_ref().is_some_and(|i| i.is_handed_over()) {
            self.incoming = None;
        }
    }

    /// Decodes and installs a snapshot received whole, at once, for hosts with nothing else to
    /// do meanwhile (tests, tools). Whether there was one.
    pub fn install_received_now(&mut self) -> bool {
        match self.take_received_snapshot() {
            Some(received) => {
                self.install_decoded(received.decode());
                true
            }
            None => false,
        }
    }

    /// Snapshots from peers dropped because they do not restore.
    pub fn refused_snapshots(&self) -> u64 {
        self.refused_snapshots
    }

    /// The application state of snapshot (`index`, `term`) if it was checked on receipt.
    pub(super) fn take_checked(&mut self, index: LogIndex, term: Term) -> Option<A> {
        match self.checked_snapshot.take() {
            Some(c) if c.index == index && c.term == term => Some(c.app),
            _ => None,
        }
    }
}
