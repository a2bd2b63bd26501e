//! The native raftorch node: the host that runs the deterministic core against real disks and
//! sockets.
//!
//! - [`storage`]: an fsync'd, segmented, checksummed write-ahead log, an atomically replaced
//!   hard-state file and a snapshot file (Raft data is opaque to it);
//! - [`disk_storage`]: the core's `Storage` over those files, and `persist(&Ready)`.
//!
//! The host loop (see `runtime`) follows the `Ready` contract:
//!
//! ```text
//! loop {
//!     step every queued input (ticks, peer messages, client requests);
//!     let ready = node.ready();
//!     send(ready.messages);                 // leader appends may go before the fsync
//!     disk.persist(&ready)?;                // entries + hard state, one fsync (group commit)
//!     send(ready.persisted_messages);       // votes and acks promise what was just persisted
//!     apply(ready.committed_entries); answer(ready.read_states);
//!     node.advance(ready);
//! }
//! ```

#![forbid(unsafe_code)]
// This is a std-only host crate: the no_std discipline the workspace lints enforce for the core
// (reach for `core`/`alloc` first) buys nothing here and would only add noise.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

pub mod api;
pub mod cli;
pub mod config;
pub mod disk_storage;
pub mod metrics;
pub mod runtime;
pub mod server;
pub mod storage;
pub mod transport;
