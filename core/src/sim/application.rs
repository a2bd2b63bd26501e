//! What the simulator needs from the replicated application besides applying entries.

use crate::state_machine::StateMachine;

/// A replicated application the simulator can run on every node and query.
pub trait Application: StateMachine + Default + Clone + core::fmt::Debug {
    /// A read-only question about the state.
    type Query: Clone + core::fmt::Debug;
    /// Its answer.
    type QueryOutput: Clone + core::fmt::Debug;

    /// Answers a query from the local state.
    fn query(&self, query: &Self::Query) -> Self::QueryOutput;
}

/// How a read is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Consistency {
    /// ReadIndex through the leader: linearizable.
    Linearizable,
    /// Leader lease: linearizable while clocks drift boundedly.
    Lease,
    /// This node's applied state, whatever its age.
    Stale,
}
