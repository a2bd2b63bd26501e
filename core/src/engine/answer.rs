//! How the requests an engine tracks end.

use serde::{Deserialize, Serialize};

use super::application::Application;
use super::forward::Refusal;
use crate::raft::LogIndex;
use crate::state_machine::StateMachine;

/// How a write proposed through the engine ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteEnd<O> {
    /// Committed and applied; the application answered `output`.
    Applied {
        /// Where it took effect: its own log index or, when it retried a request applied
        /// before (see [`crate::state_machine::StateMachine::applied_at`]), that entry's.
        index: LogIndex,
        /// What applying it answered.
        output: O,
    },
    /// Another leader's entry (or a snapshot from it) took its place: it did not take effect
    /// through this proposal. The client may retry (an exactly-once tag makes that safe).
    Lost,
    /// A snapshot from the leader replaced the log where it was proposed, so this node cannot
    /// tell whether it took effect (or the leader a write was forwarded to never answered). A
    /// retry under the same exactly-once tag finds out.
    Unknown,
    /// Refused without effect (by this node or, for a forwarded write, by the leader).
    Refused(Refusal),
}

/// How a read waiting in the engine ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// It may be served now from [`super::Engine::app`], which has applied up to `index`.
    Ready {
        /// The applied index the answer reflects.
        index: LogIndex,
    },
    /// It could not be confirmed: leadership changed, or it timed out. Retry.
    Aborted,
}

/// Something the host must tell a client.
#[derive(Clone, Debug)]
pub enum Answer<A: Application, W, R> {
    /// A write ended.
    Write(W, WriteEnd<<A as StateMachine>::Output>),
    /// A read may be served, or failed.
    Read(R, ReadEnd),
}
