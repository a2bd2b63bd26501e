//! Backups and disaster recovery.
//!
//! - [`file`]: the backup file (`raftorch snapshot save` writes it from `GET /v1/snapshot`,
//!   `snapshot status` checks it): a JSON header with the metadata under a crc32, the state
//!   machine's snapshot, its SHA-256;
//! - [`restore`]: a backup into the data directory of a member of a **new** cluster (new
//!   cluster id, membership from the flags);
//! - [`recover`]: a survivor's data directory into a new single-member cluster, when a quorum
//!   is lost for good;
//! - [`member_dir`]: the data directory both of them write.

pub mod file;
pub mod member_dir;
pub mod recover;
pub mod restore;

pub use file::{BackupError, BackupMeta, Verified};
