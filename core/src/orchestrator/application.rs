//! The orchestrator as a simulated application: the leader's host stamps every write with its
//! clock, proposes `LeaderChanged` when elected and a `Tick` every half second, exactly as the
//! native node does.

use alloc::vec;
use alloc::vec::Vec;

use crate::engine::Application;
use crate::orchestrator::{Command, Envelope, Orchestrator, Query, QueryAnswer};

impl Application for Orchestrator {
    type Query = Query;
    type QueryOutput = QueryAnswer;

    fn query(&self, query: &Query) -> QueryAnswer {
        Orchestrator::query(self, query)
    }

    fn state_bytes(&self) -> u64 {
        self.live_bytes()
    }

    fn prepare_write(data: Vec<u8>, now_ms: u64) -> Vec<u8> {
        match Envelope::decode(&data) {
            Ok(mut envelope) => {
                envelope.now_ms = now_ms;
                envelope.encode()
            }
            // Not an envelope: the state machine rejects it identically on every node.
            Err(_) => data,
        }
    }

    fn leader_entries(now_ms: u64) -> Vec<Vec<u8>> {
        vec![Envelope::new(now_ms, Command::LeaderChanged).encode()]
    }

    const PERIODIC_MS: u64 = 500;

    fn periodic_entry(now_ms: u64) -> Option<Vec<u8>> {
        Some(Envelope::new(now_ms, Command::Tick).encode())
    }
}
