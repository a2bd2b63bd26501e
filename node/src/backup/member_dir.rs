//! Writing the data directory of a member of a new cluster whose whole history is one snapshot:
//! what `snapshot restore` and `recover` leave behind for `raftorch node` to start from.
//!
//! The directory is the one a follower has after installing a leader's snapshot: the snapshot
//! file (the state, its index and term, the new membership), a hard state at that term with the
//! commit index at the snapshot and no vote, an empty write-ahead log after it, the `bootstrap`
//! marker (so the node founds nothing more), and the new cluster id. It is written by the
//! node's own storage code ([`DiskStorage::persist`] of a `Ready` carrying the snapshot), so
//! it is exactly what the node reads back.
//!
//! Leases get a fresh TTL without anything written here: the first leader of the new cluster
//! logs `LeaderChanged` before any other entry, and applying it gives every lease (and every
//! instance heartbeat) a full TTL from the replicated clock, which stood still in the backup.

use std::path::Path;

use raftorch_core::raft::{ConfState, HardState, NodeId, Ready, Snapshot, SnapshotMeta, Term};

use crate::cluster_id;
use crate::disk_storage::DiskStorage;

/// Where a member directory is written before it is moved into place (inside the target, so
/// the moves are renames on one file system, mount points included).
pub const STAGING: &str = "staging.tmp";

/// The files of a data directory, in the order they are moved into place: the `bootstrap`
/// marker last, so a directory without it is never mistaken for a prepared one.
pub const FILES: &[&str] = &["wal", "hardstate", "snapshot", "cluster-id", "bootstrap"];

/// A new cluster's starting point.
#[derive(Clone, Debug)]
pub struct MemberState {
    /// The state machine's snapshot bytes.
    pub data: Vec<u8>,
    /// The index the state is at.
    pub index: u64,
    /// The term to start from (Raft terms never go back, even across a restore).
    pub term: Term,
    /// The new cluster's voters.
    pub voters: Vec<NodeId>,
    /// The new cluster's id.
    pub cluster_id: u64,
}

/// Writes `state` into `dir`, which must exist and be empty.
pub fn write(dir: &Path, state: &MemberState) -> Result<(), String> {
    let at = |e: &dyn std::fmt::Display| format!("cannot prepare {}: {e}", dir.display());
    // Voters are ignored here: no bootstrap entries, the membership comes with the snapshot.
    let mut disk = DiskStorage::open(dir, &[]).map_err(|e| at(&e))?;
    let snapshot = Snapshot {
        meta: SnapshotMeta {
            index: state.index,
            term: state.term,
            conf: ConfState::with_voters(&state.voters),
        },
        data: state.data.clone().into(),
    };
    let ready = Ready {
        hard_state: Some(HardState {
            term: state.term,
            vote: None,
            commit: state.index,
        }),
        snapshot: Some(snapshot),
        ..Ready::default()
    };
    disk.persist(&ready).map_err(|e| at(&e))?;
    drop(disk);
    cluster_id::store(dir, state.cluster_id).map_err(|e| at(&e))
}

/// Moves the data-directory files written into `staging` to `dir` (replacing none: the caller
/// has cleared them), then removes `staging` and makes the moves durable.
pub fn move_into(staging: &Path, dir: &Path) -> Result<(), String> {
    for name in FILES {
        let (from, to) = (staging.join(name), dir.join(name));
        if from.exists() {
            std::fs::rename(&from, &to)
                .map_err(|e| format!("cannot move {} to {}: {e}", from.display(), to.display()))?;
        }
    }
    std::fs::remove_dir_all(staging)
        .map_err(|e| format!("cannot remove {}: {e}", staging.display()))?;
    sync_dir(dir)
}

/// fsyncs a directory, making renames into it durable.
pub fn sync_dir(dir: &Path) -> Result<(), String> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| format!("cannot fsync {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftorch_core::orchestrator::Orchestrator;
    use raftorch_core::raft::Storage;
    use raftorch_core::state_machine::StateMachine;

    #[test]
    fn the_node_reads_back_the_snapshot_membership_and_cluster_id() {
        let dir = tempfile::tempdir().unwrap();
        let data = Orchestrator::new().snapshot();
        let state = MemberState {
            data: data.clone(),
            index: 120,
            term: 7,
            voters: vec![1, 2, 3],
            cluster_id: 0xabcd,
        };
        write(dir.path(), &state).unwrap();
        let disk = DiskStorage::open(dir.path(), &[9]).unwrap();
        let snapshot = disk.snapshot().unwrap();
        assert_eq!((snapshot.meta.index, snapshot.meta.term), (120, 7));
        assert_eq!(snapshot.data, data);
        let (hs, conf) = disk.initial_state().unwrap();
        assert_eq!((hs.term, hs.vote, hs.commit), (7, None, 120));
        assert_eq!(conf, ConfState::with_voters(&[1, 2, 3]));
        assert_eq!((disk.first_index(), disk.last_index()), (121, 120));
        let id = crate::cluster_id::ClusterIdentity::resolve(dir.path(), None, &[1]).unwrap();
        assert_eq!(id.get(), Some(0xabcd));
    }
}
