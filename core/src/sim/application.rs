//! What the simulator needs from the replicated application besides applying entries.

use alloc::vec::Vec;

use crate::state_machine::StateMachine;

/// A replicated application the simulator can run on every node and query.
pub trait Application: StateMachine + Default + Clone + core::fmt::Debug {
    /// A read-only question about the state.
    type Query: Clone + core::fmt::Debug;
    /// Its answer.
    type QueryOutput: Clone + core::fmt::Debug;

    /// Answers a query from the local state.
    fn query(&self, query: &Self::Query) -> Self::QueryOutput;

    /// Lets the leader's host stamp a client write before proposing it (e.g. with its clock, so
    /// that time in the state machine comes from the log). Default: unchanged.
    fn prepare_write(data: Vec<u8>, _now_ms: u64) -> Vec<u8> {
        data
    }

    /// Entries a new leader proposes as soon as it is elected. Default: none.
    fn leader_entries(_now_ms: u64) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// How often (simulated ms) the leader proposes [`Application::periodic_entry`]; 0: never.
    const PERIODIC_MS: u64 = 0;

    /// The entry the leader proposes every [`Application::PERIODIC_MS`] (e.g. a clock tick).
    fn periodic_entry(_now_ms: u64) -> Option<Vec<u8>> {
        None
    }
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
