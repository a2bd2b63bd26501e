//! The native raftorch node: the host that runs the deterministic core against real disks and
//! sockets.
//!
//! For now this crate holds the durable [`storage`] layer: an fsync'd, segmented, checksummed
//! write-ahead log, an atomically replaced hard-state file and a snapshot file. The host loop that
//! drives the core will use them like this (persist *before* sending, see the `Ready` contract):
//!
//! ```text
//! loop {
//!     let ready = node.ready();
//!     log.append(&ready.entries)?;          // buffered, group commit
//!     if let Some(hs) = ready.hard_state { hard_state.save(&hs)?; }
//!     log.sync()?;                          // one fsync for the whole batch
//!     send(ready.messages);                 // only now: acks and votes depend on the fsync
//!     apply(ready.committed);
//!     node.advance();
//! }
//! ```

#![forbid(unsafe_code)]
// This is a std-only host crate: the no_std discipline the workspace lints enforce for the core
// (reach for `core`/`alloc` first) buys nothing here and would only add noise.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

pub mod storage;
