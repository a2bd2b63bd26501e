//! raftorch-core: fully deterministic, sans-IO Raft consensus plus the orchestration state machine
//! and a whole-cluster simulator. No networking, no clocks, no threads, no global RNG: time is
//! logical ticks passed in by the host, randomness comes from a seed in the config, and every
//! output is a value (`Ready`) that the host acts on.
//!
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod orchestrator;
pub mod raft;
pub mod sim;
pub mod state_machine;
