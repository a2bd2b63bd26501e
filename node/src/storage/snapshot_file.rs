//! The file holding the newest snapshot, replaced atomically when a newer one is taken or received.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{atomic_file, Result, StorageError as E};

/// Magic bytes, then a format version byte and a reserved byte.
const MAGIC: [u8; 6] = *b"RFTSNP";
const VERSION: u8 = 1;
/// `[magic 6][version u8][reserved u8][index u64][term u64][conf len u32][data len u64]`, all LE;
/// then the conf bytes, the data bytes, and a crc32 (LE) of everything before it.
const HEADER_LEN: usize = 36;
const CRC_LEN: usize = 4;

/// What a snapshot covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// Index of the last entry the snapshot includes.
    pub index: u64,
    /// Term of that entry.
    pub term: u64,
    /// The cluster configuration at `index`, encoded by the caller.
    pub conf: Vec<u8>,
}

/// A snapshot as loaded from disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// What it covers.
    pub meta: SnapshotMeta,
    /// The state machine's state, encoded by the caller: a slice of the file as read, not a
    /// copy of it.
    pub data: Bytes,
}

/// A file holding only the newest snapshot: each save replaces the previous one atomically.
///
/// The caller saves a snapshot only if it is newer than the current one, then compacts the log
/// through its index ([`super::Log::compact_through`]), in that order.
#[derive(Clone, Debug)]
pub struct SnapshotFile {
    path: PathBuf,
}

impl SnapshotFile {
    /// The snapshot kept at `path` (nothing is read or written yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved snapshot, or `None` if none was ever saved. A damaged file is an error.
    pub fn load(&self) -> Result<Option<Snapshot>> {
        let Some(bytes) = atomic_file::load(&self.path)? else {
            return Ok(None);
        };
        let corrupt = |reason| E::CorruptFile {
            path: self.path.clone(),
            reason,
        };
        if bytes.len() < HEADER_LEN + CRC_LEN {
            return Err(corrupt("snapshot file shorter than its header"));
        }
        if bytes[..6] != MAGIC {
            return Err(corrupt("not a snapshot file (bad magic)"));
        }
        if bytes[6] != VERSION {
            return Err(corrupt("unsupported snapshot format version"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(corrupt("snapshot checksum mismatch"));
        }
        let u64_at = |at: usize| u64::from_le_bytes(body[at..at + 8].try_into().expect("8 bytes"));
        let conf_len = u32::from_le_bytes(body[24..28].try_into().expect("4 bytes")) as u64;
        let data_len = u64_at(28);
        if conf_len.checked_add(data_len) != Some((body.len() - HEADER_LEN) as u64) {
            return Err(corrupt("snapshot lengths do not match the file"));
        }
        let meta = SnapshotMeta {
            index: u64_at(8),
            term: u64_at(16),
            conf: body[HEADER_LEN..HEADER_LEN + conf_len as usize].to_vec(),
        };
        let data_at = HEADER_LEN + conf_len as usize;
        let data_end = body.len();
        Ok(Some(Snapshot {
            meta,
            data: Bytes::from(bytes).slice(data_at..data_end),
        }))
    }

    /// Durably replaces the saved snapshot with the one `other` holds (saved there, whole, by
    /// [`SnapshotFile::save`]), which moves here: a rename in the same directory.
    pub fn replace_with(&self, other: &SnapshotFile) -> Result<()> {
        std::fs::rename(&other.path, &self.path).map_err(E::io("rename snapshot", &other.path))?;
        atomic_file::sync_dir(self.path.parent().unwrap_or(Path::new("")))
    }

    /// Durably replaces the saved snapshot.
    ///
    /// # Panics
    /// If `meta.conf` is 4 GiB or more.
    pub fn save(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<()> {
        let conf_len = u32::try_from(meta.conf.len()).expect("configuration under 4 GiB");
        let mut header = [0u8; HEADER_LEN];
        header[..6].copy_from_slice(&MAGIC);
        header[6] = VERSION;
        header[8..16].copy_from_slice(&meta.index.to_le_bytes());
        header[16..24].copy_from_slice(&meta.term.to_le_bytes());
        header[24..28].copy_from_slice(&conf_len.to_le_bytes());
        header[28..36].copy_from_slice(&(data.len() as u64).to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        for part in [&header[..], &meta.conf, data] {
            crc.update(part);
        }
        let crc = crc.finalize().to_le_bytes();
        atomic_file::save(&self.path, &[&header, &meta.conf, data, &crc])
    }
}
