//! `raftorch snapshot restore`: the data directory of one member of a **new** cluster, from a
//! backup. Every member is restored from the same file with the same membership; each then
//! starts as an ordinary `raftorch node` on its directory.

use std::path::{Path, PathBuf};

use raftorch_core::orchestrator::Orchestrator;
use raftorch_core::raft::NodeId;
use raftorch_core::state_machine::StateMachine;

use super::file::{self, Verified};
use super::member_dir::{self, MemberState};
use crate::cluster_id;
use crate::config::PeerSpec;

/// What to restore, and into what.
#[derive(Clone, Debug)]
pub struct RestoreOptions {
    /// The backup file.
    pub file: PathBuf,
    /// The new member's data directory: absent or empty.
    pub data_dir: PathBuf,
    /// The new member's id.
    pub id: NodeId,
    /// The other members of the new cluster (their addresses are used when the node starts with
    /// the same `--peer` flags; only their ids matter here).
    pub peers: Vec<PeerSpec>,
    /// Names the new cluster; without it every member derives the same id from the backup's
    /// checksum and the membership.
    pub cluster_token: Option<String>,
}

/// What a restore did.
#[derive(Clone, Debug)]
pub struct Restored {
    /// The backup, verified.
    pub backup: Verified,
    /// The new cluster's voters.
    pub voters: Vec<NodeId>,
    /// The new cluster's id.
    pub cluster_id: u64,
}

/// Verifies the backup, checks it restores, and writes the member's data directory.
pub fn restore(opts: &RestoreOptions) -> Result<Restored, String> {
    refuse_non_empty(&opts.data_dir)?;
    let voters = voters(opts.id, &opts.peers)?;
    let (backup, body) = file::load(&opts.file).map_err(|e| e.to_string())?;
    let mut sm = decode(&opts.file, &backup, &body)?;
    // The old cluster's address records would point the new members at the old machines.
    sm.forget_member_addresses();
    let cluster_id = match &opts.cluster_token {
        Some(token) => cluster_id::from_token(token),
        None => cluster_id::from_restore(&backup.sha256, &voters),
    };
    if cluster_id::show(cluster_id) == backup.meta.cluster_id {
        return Err(format!(
            "cluster id {} is the backed-up cluster's own: a restored cluster needs a new one \
             (pass another --cluster-token)",
            backup.meta.cluster_id
        ));
    }
    let state = MemberState {
        data: sm.snapshot(),
        index: backup.meta.index,
        term: backup.meta.term,
        voters: voters.clone(),
        cluster_id,
    };
    // Written aside and moved into place, so a failed restore leaves no half-prepared
    // directory a node could start from.
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| format!("cannot create {}: {e}", opts.data_dir.display()))?;
    let staging = opts.data_dir.join(member_dir::STAGING);
    std::fs::create_dir(&staging)
        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    member_dir::write(&staging, &state)
        .and_then(|()| member_dir::move_into(&staging, &opts.data_dir))
        .inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&staging);
        })?;
    Ok(Restored {
        backup,
        voters,
        cluster_id,
    })
}

/// The backup's body as a state, checked against its own header.
pub fn decode(path: &Path, backup: &Verified, body: &[u8]) -> Result<Orchestrator, String> {
    let mut sm = Orchestrator::new();
    sm.restore(body).map_err(|e| {
        format!(
            "{}: the checksums match but the state does not decode ({e}); was it written by \
             a newer raftorch?",
            path.display()
        )
    })?;
    let meta = &backup.meta;
    if sm.applied_index() != meta.index || sm.counts() != meta.counts {
        return Err(format!(
            "{}: the state (index {}, {:?}) disagrees with its header (index {}, {:?})",
            path.display(),
            sm.applied_index(),
            sm.counts(),
            meta.index,
            meta.counts
        ));
    }
    Ok(sm)
}

/// This member and its peers, sorted; refused when an id repeats.
fn voters(id: NodeId, peers: &[PeerSpec]) -> Result<Vec<NodeId>, String> {
    if id == 0 {
        return Err("--id must be a positive integer".into());
    }
    let mut voters: Vec<NodeId> = peers.iter().map(|p| p.id).chain([id]).collect();
    voters.sort_unstable();
    if let Some(w) = voters.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!(
            "node {} appears twice (in --id and --peer, or in two --peer flags)",
            w[0]
        ));
    }
    Ok(voters)
}

/// A new member's directory must not hold anything: restoring over a node's data would destroy
/// it, and a half-used directory is a mistake in the command.
fn refuse_non_empty(dir: &Path) -> Result<(), String> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(format!(
                "data directory {} exists and is not empty; restore only into a new (or \
                 empty) directory",
                dir.display()
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot read {}: {e}", dir.display())),
    }
}
