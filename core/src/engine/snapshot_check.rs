//! A snapshot from the leader is checked before anything of it is made durable: it must
//! restore into a scratch application. One that does not (a buggy or hostile peer's) is dropped
//! with its message, so it can never be persisted and brick the node on every restart. The
//! scratch state is kept and swapped in when the snapshot is applied, so it is decoded once.

use super::application::Application;
use super::Engine;
use crate::raft::{LogIndex, Message, MessageBody, Term};

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
