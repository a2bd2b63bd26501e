//! `Ready`: everything a node asks its host to do, with the order the host must do it in.

use alloc::vec::Vec;

use super::entry::{Entry, Snapshot};
use super::message::Message;
use super::read_only::ReadState;
use super::types::{HardState, SoftState};

/// The work a host must do after feeding a node input. Act on the fields in this order:
///
/// 1. send [`Ready::messages`] (allowed right away, even before persisting: they are a leader's
///    appends and heartbeats, which depend on nothing unpersisted);
/// 2. persist [`Ready::hard_state`], [`Ready::snapshot`] and [`Ready::entries`] durably (fsync);
/// 3. only then send [`Ready::persisted_messages`] (vote grants and append acknowledgements
///    promise what was just persisted);
/// 4. restore the state machine from [`Ready::snapshot`] if present, then apply
///    [`Ready::committed_entries`] in order and answer the reads in [`Ready::read_states`] once
///    the state machine has applied up to their index;
/// 5. call `RawNode::advance(ready)`.
///
/// No input may be given to the node between `ready()` and `advance()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Role or leader changed (for display and for routing client requests).
    pub soft_state: Option<SoftState>,
    /// Persist before sending `persisted_messages`.
    pub hard_state: Option<HardState>,
    /// A snapshot from the leader: persist it (replacing the log up to its index) and restore the
    /// state machine from it.
    pub snapshot: Option<Snapshot>,
    /// Entries to persist; any persisted entries at or after the first one's index are replaced.
    pub entries: Vec<Entry>,
    /// Messages that may be sent before persisting.
    pub messages: Vec<Message>,
    /// Messages to send only after persisting.
    pub persisted_messages: Vec<Message>,
    /// Committed entries to apply, in order.
    pub committed_entries: Vec<Entry>,
    /// Reads confirmed by the leader: serve each once applied up to its index.
    pub read_states: Vec<ReadState>,
}

impl Ready {
    /// Whether the host has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.soft_state.is_none()
            && self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.entries.is_empty()
            && self.messages.is_empty()
            && self.persisted_messages.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
    }

    /// All messages, in the order they may go out (for hosts that persist synchronously).
    pub fn all_messages(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter().chain(self.persisted_messages.iter())
    }
}
