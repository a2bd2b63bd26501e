//! The cluster's identity: a 64-bit id fixed when the cluster is founded, kept in the data
//! directory and exchanged in every peer handshake, so a node of another cluster is refused even
//! when its node id and term would be accepted (as etcd's `--initial-cluster-token`).
//!
//! Where the id comes from, on a node's first start (afterwards the stored id is used, and a
//! `--cluster-token` that disagrees with it stops the node):
//! - `--cluster-token TOKEN`: the xxh3 hash of the token, the same on every node given it;
//! - a founder without a token: founding alone, a generated id; founding with peers, a hash of
//!   the founding voters' ids (the founders must agree without talking, so two clusters founded
//!   with the same ids and no token share an id: give each cluster its own token);
//! - a `--join`ing node without a token: unknown until the handshake of the first peer it talks
//!   to, which is then stored.
//!
//! A data directory from before cluster ids gets one by the same rules on its next start.
//!
//! The token is a name, not a secret: without TLS anyone who can reach a peer port learns the id
//! from a handshake. It keeps clusters from mixing up by mistake; authentication comes with mTLS.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use raftorch_core::raft::NodeId;
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::storage::atomic_file;

/// The file in the data directory that holds the id.
pub const CLUSTER_ID_FILE: &str = "cluster-id";
/// `[magic 4][id u64 LE][crc32 of the 12 bytes before it, u32 LE]`.
const MAGIC: [u8; 4] = *b"RFCI";
const FILE_LEN: usize = 16;
/// Seeds that keep token hashes and founder hashes apart.
const TOKEN_SEED: u64 = 0x7261_6674_6f72_6368; // "raftorch"
const FOUNDERS_SEED: u64 = 0x666f_756e_6465_7273; // "founders"
const RESTORE_SEED: u64 = 0x7265_7374_6f72_6564; // "restored"

/// The id of the cluster named `token`. Never 0 (0 on the wire means "not known yet").
pub fn from_token(token: &str) -> u64 {
    nonzero(xxh3_64_with_seed(token.as_bytes(), TOKEN_SEED))
}

/// The id founders without a token agree on: a hash of the founding voters (sorted).
pub fn from_founders(voters: &[NodeId]) -> u64 {
    let mut sorted = voters.to_vec();
    sorted.sort_unstable();
    let bytes: Vec<u8> = sorted.iter().flat_map(|id| id.to_le_bytes()).collect();
    nonzero(xxh3_64_with_seed(&bytes, FOUNDERS_SEED))
}

/// The id members restored from one backup agree on without a token: a hash of the backup's
/// body checksum and the new voters (sorted), the same on every member restored from that file
/// with that membership, and unlike the backed-up cluster's id.
pub fn from_restore(backup_sha256: &[u8], voters: &[NodeId]) -> u64 {
    let mut sorted = voters.to_vec();
    sorted.sort_unstable();
    let mut bytes = backup_sha256.to_vec();
    bytes.extend(sorted.iter().flat_map(|id| id.to_le_bytes()));
    nonzero(xxh3_64_with_seed(&bytes, RESTORE_SEED))
}

/// Stores `id` as the cluster id of the data directory `dir`, replacing any (a restored or
/// recovered member starts a new cluster).
pub fn store(dir: &Path, id: u64) -> Result<(), String> {
    save(&dir.join(CLUSTER_ID_FILE), nonzero(id))
}

/// A fresh random id (std's randomly keyed hasher: unpredictable enough for a name).
pub fn generated() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    h.write_u128(now.map_or(0, |d| d.as_nanos()));
    h.write_u32(std::process::id());
    nonzero(h.finish())
}

fn nonzero(id: u64) -> u64 {
    id.max(1)
}

/// How an id is shown in logs and errors.
pub fn show(id: u64) -> String {
    if id == 0 {
        "unknown".into()
    } else {
        format!("{id:016x}")
    }
}

/// This node's view of its cluster id, shared by the peer connections: known, or learned once
/// from a peer's handshake (and then stored before it is used).
#[derive(Debug)]
pub struct ClusterIdentity {
    path: PathBuf,
    /// 0 while unknown.
    id: Mutex<u64>,
}

impl ClusterIdentity {
    /// Reads the stored id from `dir`, or fixes it from the options (see the module docs).
    /// `voters` are the founding voters (empty for a joining node).
    pub fn resolve(dir: &Path, token: Option<&str>, voters: &[NodeId]) -> Result<Self, String> {
        let path = dir.join(CLUSTER_ID_FILE);
        let stored = load(&path)?;
        let wanted = token.map(from_token);
        let id = match (stored, wanted) {
            (Some(s), Some(w)) if s != w => {
                return Err(format!(
                    "data directory {} belongs to cluster {}, but --cluster-token names \
                     cluster {}; refusing to start",
                    dir.display(),
                    show(s),
                    show(w)
                ))
            }
            (Some(s), _) => s,
            (None, Some(w)) => w,
            (None, None) if voters.is_empty() => 0,
            (None, None) if voters.len() == 1 => generated(),
            (None, None) => from_founders(voters),
        };
        if stored.is_none() && id != 0 {
            save(&path, id)?;
        }
        match stored {
            Some(_) => tracing::info!(cluster = %show(id), "cluster id"),
            None if id == 0 => {
                tracing::info!("cluster id unknown: it is learned from the first peer handshake")
            }
            None => tracing::info!(cluster = %show(id), "cluster id fixed and stored"),
        }
        Ok(ClusterIdentity {
            path,
            id: Mutex::new(id),
        })
    }

    /// A known id kept nowhere (tests of other modules).
    #[cfg(test)]
    pub(crate) fn unstored(id: u64) -> Self {
        ClusterIdentity {
            path: PathBuf::new(),
            id: Mutex::new(nonzero(id)),
        }
    }

    /// The id, `None` while unknown.
    pub fn get(&self) -> Option<u64> {
        let id = *self.id.lock().unwrap_or_else(|e| e.into_inner());
        (id != 0).then_some(id)
    }

    /// Adopts a peer's id if this node knows none yet (storing it first); `Ok(true)` if the
    /// peer's id is (now) this node's, `Ok(false)` if this node belongs to another cluster.
    pub fn agree(&self, theirs: u64) -> Result<bool, String> {
        let mut id = self.id.lock().unwrap_or_else(|e| e.into_inner());
        if *id == 0 && theirs != 0 {
            save(&self.path, theirs)?;
            tracing::info!(cluster = %show(theirs), "cluster id learned from a peer and stored");
            *id = theirs;
        }
        Ok(theirs != 0 && *id == theirs)
    }
}

fn load(path: &Path) -> Result<Option<u64>, String> {
    let bytes = atomic_file::load(path).map_err(|e| e.to_string())?;
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let bad = || format!("{} is damaged; restore it or remove it", path.display());
    if bytes.len() != FILE_LEN || bytes[..4] != MAGIC {
        return Err(bad());
    }
    let (body, crc) = bytes.split_at(12);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(bad());
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&body[4..]);
    match u64::from_le_bytes(id) {
        0 => Err(bad()),
        id => Ok(Some(id)),
    }
}

fn save(path: &Path, id: u64) -> Result<(), String> {
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&id.to_le_bytes());
    let crc = crc32fast::hash(&body).to_le_bytes();
    atomic_file::save(path, &[&body, &crc]).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_fixed_at_first_start_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let a = ClusterIdentity::resolve(d, Some("alpha"), &[1, 2, 3]).unwrap();
        assert_eq!(a.get(), Some(from_token("alpha")));
        // Restarted without the token: the stored id.
        let again = ClusterIdentity::resolve(d, None, &[1, 2, 3]).unwrap();
        assert_eq!(again.get(), Some(from_token("alpha")));
        // Restarted with another token: refused.
        let err = ClusterIdentity::resolve(d, Some("beta"), &[1, 2, 3]).unwrap_err();
        assert!(err.contains("belongs to cluster"), "{err}");
        // A damaged file is an error, not a new identity.
        let path = d.join(CLUSTER_ID_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[6] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        assert!(ClusterIdentity::resolve(d, None, &[1]).is_err());
    }

    #[test]
    fn founders_agree_without_a_token_and_a_joining_node_learns_once() {
        let (x, y) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let founder = ClusterIdentity::resolve(x.path(), None, &[3, 1, 2]).unwrap();
        assert_eq!(founder.get(), Some(from_founders(&[1, 2, 3])));
        assert_ne!(from_founders(&[1, 2, 3]), from_token(""));
        let joining = ClusterIdentity::resolve(y.path(), None, &[]).unwrap();
        assert_eq!(joining.get(), None);
        assert!(
            !joining.agree(0).unwrap(),
            "nothing to learn from an unknown id"
        );
        assert!(joining.agree(42).unwrap());
        assert!(!joining.agree(43).unwrap(), "learned once, then fixed");
        let restarted = ClusterIdentity::resolve(y.path(), None, &[]).unwrap();
        assert_eq!(restarted.get(), Some(42));
        let alone = tempfile::tempdir().unwrap();
        let single = ClusterIdentity::resolve(alone.path(), None, &[1]).unwrap();
        assert!(single.get().is_some_and(|id| id != from_founders(&[1])));
    }
}
