//! The logic of raftorch's fuzz targets, as plain functions over bytes.
//!
//! Each target takes any byte string and must return without panicking; each one also checks
//! invariants of what it drives and panics (a finding) when one breaks. The same functions run
//! under libFuzzer (`fuzz/fuzz_targets/*.rs`, nightly, `cargo xtask fuzz`) and under
//! `cargo test` on stable: `tests/corpus.rs` replays every committed corpus file and crash,
//! `tests/proptest.rs` feeds each target 10,000 generated inputs.
//!
//! ```text
//! peer_frame  bytes a peer sends: its Hello, then frames       transport::{handshake, frame}
//! wal_record  bytes of WAL segment files                        storage::{record, Log::open}
//! api_input   one HTTP request to the API, of any shape         api::router over a detached node
//! raft_step   a sequence of well-formed peer messages, ticks,   raft::RawNode::step and friends
//!             proposals, compactions and restarts
//! ```

#![forbid(unsafe_code)]
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

pub mod api_input;
pub mod bytes;
pub mod peer_frame;
pub mod raft_step;
pub mod seeds;
pub mod wal_record;

/// One fuzz target: its name (the folder of its corpus and crashes under `fuzz/`) and its
/// function.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The target's name, as `cargo fuzz run NAME` knows it.
    pub name: &'static str,
    /// Runs one input; panics on a finding.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: [Target; 4] = [
    Target {
        name: "peer_frame",
        run: peer_frame::run,
    },
    Target {
        name: "wal_record",
        run: wal_record::run,
    },
    Target {
        name: "api_input",
        run: api_input::run,
    },
    Target {
        name: "raft_step",
        run: raft_step::run,
    },
];
