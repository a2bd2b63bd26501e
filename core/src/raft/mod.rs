//! Raft consensus as a sans-IO state machine, driven through [`RawNode`].
//!
//! Layout follows etcd-io/raft and raft-rs: pure helpers (`quorum`, `progress`, `log`,
//! `membership::next_conf`), the per-node state machine split by role (`node` has the single
//! `step` with all term checks; `election`, `leader`, `replication`, `follower`, `reads`,
//! `membership` hold the rest), and [`RawNode`] with [`Ready`] as the host-facing API.

mod config;
mod election;
mod entry;
mod error;
mod follower;
mod leader;
mod log;
mod mem_storage;
pub mod membership;
mod message;
mod node;
mod progress;
pub mod quorum;
mod raw_node;
mod read_only;
mod reads;
mod ready;
mod replication;
mod status;
mod storage;
mod tracker;
mod types;
mod validate;

#[cfg(test)]
mod tests;

pub use config::Config;
pub use entry::{ConfChange, Entry, EntryPayload, Snapshot, SnapshotMeta};
pub use error::Error;
pub use mem_storage::{bootstrap_entries, MemStorage};
pub use message::{Message, MessageBody, MessageKind};
pub use progress::ProgressState;
pub use raw_node::{Proposed, RawNode};
pub use read_only::{ReadMode, ReadState};
pub use ready::Ready;
pub use status::Status;
pub use storage::Storage;
pub use types::{ConfState, HardState, LogIndex, NodeId, Role, SoftState, Term};
