//! The contract between Raft and the application it replicates.

use alloc::vec::Vec;

/// An application whose state is replicated by applying committed log entries in order.
///
/// Implementations must be deterministic: the same entries applied in the same order produce the
/// same state and outputs on every node. They must never read a clock or a random source; any
/// notion of time comes from the entries themselves.
pub trait StateMachine {
    /// What applying one entry answers to the client that proposed it.
    type Output: Clone + core::fmt::Debug;

    /// Applies the committed entry at `index` whose payload is `data`.
    fn apply(&mut self, index: u64, data: &[u8]) -> Self::Output;

    /// When the last [`StateMachine::apply`] answered a retry of a request applied before (an
    /// exactly-once repeat), the index of the entry that first applied it: the index the client
    /// is told its write took effect at. `None` (the default) when the output is the entry's own.
    fn applied_at(&self) -> Option<u64> {
        None
    }

    /// Serializes the whole state as of the last applied index.
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the whole state with one produced by [`StateMachine::snapshot`].
    ///
    /// Returns an error message when `data` is not a valid snapshot; the state is then unchanged.
    fn restore(&mut self, data: &[u8]) -> Result<(), alloc::string::String>;
}
