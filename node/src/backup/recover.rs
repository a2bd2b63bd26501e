//! `raftorch recover`: when a quorum is lost for good, turn one survivor's data directory into
//! a new single-member cluster (etcd's `--force-new-cluster`).
//!
//! The survivor's state is its snapshot plus **every** entry of its log, committed or not, as
//! if it had won an election (a new leader commits all the entries it holds): writes it held but
//! had not seen committed come back, writes acknowledged by the lost nodes only are gone. The
//! result is a member directory like a restored one (see [`super::member_dir`]): the state at
//! the last log index, this node as the only voter, a new cluster id, the address book
//! forgotten. The previous files are kept in `DIR/pre-recover-<unix ms>/`.

use std::path::{Path, PathBuf};

use raftorch_core::orchestrator::Orchestrator;
use raftorch_core::raft::{ConfChange, ConfState, EntryPayload, NodeId, Storage};
use raftorch_core::state_machine::StateMachine;

use super::member_dir::{self, MemberState};
use crate::cluster_id;
use crate::data_lock::DataDirLock;
use crate::disk_storage::DiskStorage;

/// What a recovery did.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// The index the new cluster starts after.
    pub index: u64,
    /// Its term.
    pub term: u64,
    /// Entries replayed from the log on top of the snapshot.
    pub replayed: u64,
    /// The voters before.
    pub old_voters: Vec<NodeId>,
    /// The new cluster's id.
    pub cluster_id: u64,
    /// Where the previous files went.
    pub kept: PathBuf,
}

/// Rewrites `dir` (a stopped node's data directory) into a single-member cluster of node `id`.
pub fn recover(dir: &Path, id: NodeId, cluster_token: Option<&str>) -> Result<Recovered, String> {
    if !dir.join("bootstrap").exists() {
        return Err(format!(
            "{} is not a raftorch data directory (no bootstrap marker)",
            dir.display()
        ));
    }
    // Fails while a node runs on it.
    let _lock = DataDirLock::acquire(dir)?;
    let disk =
        DiskStorage::open(dir, &[]).map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
    let (hard_state, snapshot_conf) = disk
        .initial_state()
        .map_err(|e| format!("cannot read the hard state: {e}"))?;
    let mut sm = Orchestrator::new();
    let mut conf = snapshot_conf;
    let mut term = hard_state.term;
    if let Some(snapshot) = disk.snapshot() {
        sm.restore(&snapshot.data)
            .map_err(|e| format!("the snapshot does not restore: {e}"))?;
        term = term.max(snapshot.meta.term);
    }
    let (first, last) = (disk.first_index(), disk.last_index());
    let entries = if last >= first {
        disk.entries(first, last + 1)
            .map_err(|e| format!("cannot read the write-ahead log: {e}"))?
    } else {
        Vec::new()
    };
    let mut replayed = 0;
    for entry in &entries {
        term = term.max(entry.term);
        match &entry.payload {
            EntryPayload::ConfChange(change) => apply_conf_change(&mut conf, *change),
            EntryPayload::Normal(data) if entry.index > sm.applied_index() => {
                // Refused commands are refused on every replica alike: not an error here.
                let _ = sm.apply(entry.index, data);
                replayed += 1;
            }
            EntryPayload::Normal(_) | EntryPayload::Noop => {}
        }
    }
    if !conf.voters.contains(&id) && !conf.learners.contains(&id) {
        return Err(format!(
            "node {id} is not a member of this data directory's cluster (voters {:?}, learners \
             {:?}); pass the --id the node ran with",
            conf.voters, conf.learners
        ));
    }
    let index = last
        .max(sm.applied_index())
        .max(disk.snapshot().map_or(0, |s| s.meta.index));
    drop(disk);
    sm.forget_member_addresses();
    let cluster_id = cluster_token.map_or_else(cluster_id::generated, cluster_id::from_token);
    let state = MemberState {
        data: sm.snapshot(),
        index,
        term,
        voters: vec![id],
        cluster_id,
    };
    let staging = dir.join(member_dir::STAGING);
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging)
        .map_err(|e| format!("cannot create {}: {e}", staging.display()))?;
    member_dir::write(&staging, &state)?;
    let kept = dir.join(format!("pre-recover-{}", unix_ms()));
    std::fs::create_dir(&kept).map_err(|e| format!("cannot create {}: {e}", kept.display()))?;
    for name in member_dir::FILES.iter().rev() {
        let from = dir.join(name);
        if from.exists() {
            std::fs::rename(&from, kept.join(name))
                .map_err(|e| format!("cannot move {} aside: {e}", from.display()))?;
        }
    }
    member_dir::move_into(&staging, dir)?;
    Ok(Recovered {
        index,
        term,
        replayed,
        old_voters: conf.voters.iter().copied().collect(),
        cluster_id,
        kept,
    })
}

/// A membership change as Raft applies it (one server at a time).
fn apply_conf_change(conf: &mut ConfState, change: ConfChange) {
    match change {
        ConfChange::AddVoter(n) => {
            conf.learners.remove(&n);
            conf.voters.insert(n);
        }
        ConfChange::AddLearner(n) => {
            if !conf.voters.contains(&n) {
                conf.learners.insert(n);
            }
        }
        ConfChange::RemoveNode(n) => {
            conf.voters.remove(&n);
            conf.learners.remove(&n);
        }
    }
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}
