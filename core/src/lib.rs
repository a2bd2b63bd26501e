//! raftorch-core: fully deterministic, sans-IO Raft consensus plus the orchestration state machine
//! and a whole-cluster simulator. No networking, no clocks, no threads, no global RNG: time is
//! logical ticks passed in by the host, randomness comes from a seed in the config, and every
//! output is a value (`Ready`) that the host acts on.
//!
//! The host loop, the same in the browser, the native node and the tests:
//!
//! ```
//! use raftorch_core::raft::{Config, MemStorage, RawNode};
//!
//! let mut storage = MemStorage::new_with_voters(&[1]);
//! let mut node = RawNode::new(Config::new(1), &storage).unwrap();
//! for _ in 0..30 {
//!     node.tick(); // on a timer; `node.step(message)` when a peer's message arrives
//!     while node.has_ready() {
//!         let ready = node.ready();
//!         // 1. send `ready.messages` (allowed before persisting)
//!         storage.persist(&ready); // 2. hard state, snapshot, entries: durably
//!         // 3. send `ready.persisted_messages`
//!         // 4. apply `ready.committed_entries`, serve `ready.read_states`
//!         node.advance(ready); // 5. done
//!     }
//! }
//! assert!(node.is_leader());
//! let proposed = node.propose(b"hello".to_vec()).unwrap();
//! # assert!(proposed.index > 1);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod engine;
pub mod orchestrator;
pub mod raft;
pub mod sim;
pub mod state_machine;
