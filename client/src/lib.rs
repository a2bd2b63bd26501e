//! Client for raftorch's HTTP API: exactly-once writes with leader discovery and retries,
//! sessions with a local jeopardy deadline, elections whose term fences writes, fenced locks,
//! resumable watches, typed JSON state, and a [`StateManager`] for an application's HA.
//!
//! ```no_run
//! # async fn demo() -> raftorch_client::Result<()> {
//! use raftorch_client::{Client, Config, Election, Session, SessionOptions};
//! use std::time::Duration;
//! let client = Client::new(Config::new(["127.0.0.1:8001", "127.0.0.1:8002"]))?;
//! let session = Session::grant(&client, SessionOptions::new(Duration::from_secs(3))).await?;
//! let leadership = Election::new(&client, "jobs.leader")
//!     .campaign_and_wait(&session, "worker-1", None)
//!     .await?;
//! let fence = leadership.fence(); // the server refuses writes under a stale term
//! client.put("jobs/state", "{}", &raftorch_client::PutOptions { fence: Some(fence), ..Default::default() }).await?;
//! # Ok(()) }
//! ```
//!
//! Every type is async (tokio); [`blocking`] wraps the client and the state manager for
//! code without a runtime.

// A host library: std is the point (the no_std discipline is for the core).
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]
#![forbid(unsafe_code)]

pub mod blocking;
mod client;
mod election;
mod endpoints;
mod error;
mod features;
mod fence;
mod kv;
mod lanes;
mod lock;
mod session;
mod state_manager;
pub mod trace;
mod transport;
mod txn;
mod watch;

pub use client::{Client, Config, ENDPOINTS_ENV};
pub use election::{Campaign, Election, LeaderInfo, Leadership, LostLeadership, Observation};
pub use error::{Error, Result};
pub use fence::Fence;
pub use kv::{KeyValue, PutOptions, PutResult, RangePage, Versioned};
pub use lock::{Lock, LockGuard};
pub use session::{Lost, Session, SessionOptions};
pub use state_manager::{
    FailoverConfig, LeaderEvent, LeaderEvents, StateManager, StateManagerConfig,
};
pub use transport::{Answer, INDEX_HEADER, LEADER_HEADER, REQUEST_ID_HEADER};
pub use txn::{CmpOp, Compare, Target as CompareTarget, Txn, TxnOp, TxnResult};
pub use watch::{Cursor, Target as WatchTarget, Watch, WatchEvent, WatchItem};
