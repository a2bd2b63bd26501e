//! The native raftorch node: the host that runs the deterministic core against real disks and
//! sockets.
//!
//! - [`storage`]: an fsync'd, segmented, checksummed write-ahead log, an atomically replaced
//!   hard-state file and a snapshot file (Raft data is opaque to it);
//! - [`disk_storage`]: the core's `Storage` over those files, and `persist(&Ready)`.
//!
//! - [`runtime`]: the owner task, which drives the core's host engine
//!   (`raftorch_core::engine::Engine`) and does only IO: the disk thread, the peer transport,
//!   timers; the API talks to it through a `NodeHandle`;
//! - [`transport`]: TCP between peers; [`api`]: the HTTP API (axum); [`server`]: wiring them up;
//! - [`config`], [`cli`]: the command line (`node`, `dev`, `ctl`, `bench`, `sim`), [`metrics`];
//! - [`backup`]: backup files, restoring them into a new cluster, forcing a new cluster from a
//!   survivor (`snapshot save|status|restore`, `recover`);
//! - [`advertise`]: the addresses a node publishes apart from those it binds;
//!   [`data_lock`]: one process per data directory; [`cluster_id`]: the cluster's identity,
//!   checked in every peer handshake; [`http_server`]: the API's connection limits;
//!   [`handover`]: a leader hands leadership over before it stops; [`tls`]: peer mutual TLS
//!   and the HTTPS API.
//!
//! The owner task's loop (see `runtime`):
//!
//! ```text
//! loop {
//!     step every queued input (ticks, peer messages, client requests) into the engine;
//!     while let Some(ready) = engine.ready(now) {
//!         send(ready.raft.messages);            // leader appends may go before the fsync
//!         if ready.must_sync() { disk.persist(&ready.raft)? }  // one fsync (group commit)
//!         send(ready.raft.persisted_messages);  // votes and acks promise what was persisted
//!         engine.apply(&mut ready)?;            // answers the writes and reads it ends
//!         engine.advance(ready);
//!         if let Some(job) = engine.begin_snapshot() { encode_and_write_elsewhere(job) }
//!     }
//!     if let Some(r) = engine.take_received_snapshot() { decode_elsewhere(r) }
//! }
//! // when an encoded snapshot is back: engine.finish_snapshot(s), then disk.adopt_snapshot(s)
//! // when a decoded one is back:       engine.install_decoded(d)
//! ```

#![forbid(unsafe_code)]
// This is a std-only host crate: the no_std discipline the workspace lints enforce for the core
// (reach for `core`/`alloc` first) buys nothing here and would only add noise.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

pub mod advertise;
pub mod api;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod cluster_id;
pub mod config;
pub mod data_lock;
pub mod disk_storage;
pub mod handover;
pub mod http_server;
pub mod metrics;
pub mod runtime;
pub mod server;
pub mod space;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod transport;
