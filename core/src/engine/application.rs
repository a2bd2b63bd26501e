//! What the engine needs from the replicated application besides applying entries: how to answer
//! a query, and the leader's duties (stamping writes, the entries a new leader proposes first, a
//! periodic entry).

use alloc::vec::Vec;

use crate::raft::ReadMode;
use crate::state_machine::StateMachine;

/// A replicated application an [`super::Engine`] runs: the simulator's nodes, the browser and the
/// native node all drive it through the same engine.
pub trait Application: StateMachine + Default + Clone + core::fmt::Debug {
    /// A read-only question about the state.
    type Query: Clone + core::fmt::Debug;
    /// Its answer.
    type QueryOutput: Clone + core::fmt::Debug;

    /// Answers a query from the local state.
    fn query(&self, query: &Self::Query) -> Self::QueryOutput;

    /// About how many bytes a snapshot of the state holds, for the snapshot policy (see
    /// [`super::EngineConfig::snapshot_log_share_percent`]). Default: 0 (unknown).
    fn state_bytes(&self) -> u64 {
        0
    }

    /// Lets the leader stamp a client write before proposing it (e.g. with its clock, so that
    /// time in the state machine comes from the log). Default: unchanged.
    fn prepare_write(data: Vec<u8>, _now_ms: u64) -> Vec<u8> {
        data
    }

    /// Entries a new leader proposes before anything else in its term. Default: none.
    fn leader_entries(_now_ms: u64) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// How often (ms of host time) the leader proposes [`Application::periodic_entry`]; 0: never.
    const PERIODIC_MS: u64 = 0;

    /// The entry the leader proposes every [`Application::PERIODIC_MS`] (e.g. a clock tick).
    fn periodic_entry(_now_ms: u64) -> Option<Vec<u8>> {
        None
    }
}

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// ReadIndex through the leader (a quorum round), then wait until applied: linearizable.
    Linearizable,
    /// The leader's lease instead of a quorum round: linearizable only while clocks drift
    /// boundedly (opt-in).
    Lease,
    /// This node's applied state, whatever its age; the answer carries its index.
    Stale,
}

impl Consistency {
    /// The Raft read mode for a read that goes through the leader; `None` for a stale read.
    pub fn read_mode(self) -> Option<ReadMode> {
        match self {
            Consistency::Linearizable => Some(ReadMode::Linearizable),
            Consistency::Lease => Some(ReadMode::Lease),
            Consistency::Stale => None,
        }
    }
}
