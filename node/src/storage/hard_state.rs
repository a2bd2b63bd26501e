//! The file holding Raft's hard state (term, vote, commit), replaced atomically on every change.

use std::path::{Path, PathBuf};

use super::{atomic_file, Result, StorageError as E};

/// Magic bytes, then a format version byte and a reserved byte.
const MAGIC: [u8; 6] = *b"RFTHST";
const VERSION: u8 = 1;
/// `[magic 6][version u8][reserved u8][len u32 LE][crc32 u32 LE]`, then the state. The crc covers
/// the 12 header bytes before it and the state, so no flipped bit goes unnoticed.
const HEADER_LEN: usize = 16;

/// A small file holding the caller's encoded hard state (opaque bytes).
///
/// The Raft `Ready` contract requires the hard state to be durable before messages that depend on
/// it (a vote grant) are sent; [`HardStateFile::save`] returns only once it is.
#[derive(Clone, Debug)]
pub struct HardStateFile {
    path: PathBuf,
}

impl HardStateFile {
    /// The hard state kept at `path` (nothing is read or written yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or `None` if none was ever saved. A damaged file is an error: losing a
    /// vote could let this node vote twice in one term.
    pub fn load(&self) -> Result<Option<Vec<u8>>> {
        let Some(bytes) = atomic_file::load(&self.path)? else {
            return Ok(None);
        };
        let corrupt = |reason| E::CorruptFile {
            path: self.path.clone(),
            reason,
        };
        if bytes.len() < HEADER_LEN {
            return Err(corrupt("hard state file shorter than its header"));
        }
        if bytes[..6] != MAGIC {
            return Err(corrupt("not a hard state file (bad magic)"));
        }
        if bytes[6] != VERSION {
            return Err(corrupt("unsupported hard state format version"));
        }
        let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        let state = &bytes[HEADER_LEN..];
        if state.len() != len {
            return Err(corrupt("hard state length does not match the file"));
        }
        if checksum(&bytes[..12], state) != crc {
            return Err(corrupt("hard state checksum mismatch"));
        }
        Ok(Some(state.to_vec()))
    }

    /// Durably replaces the saved state with `state`.
    ///
    /// # Panics
    /// If `state` is 4 GiB or more (a hard state is a few dozen bytes).
    pub fn save(&self, state: &[u8]) -> Result<()> {
        let len = u32::try_from(state.len()).expect("hard state under 4 GiB");
        let mut header = [0u8; HEADER_LEN];
        header[..6].copy_from_slice(&MAGIC);
        header[6] = VERSION;
        header[8..12].copy_from_slice(&len.to_le_bytes());
        let crc = checksum(&header[..12], state);
        header[12..16].copy_from_slice(&crc.to_le_bytes());
        atomic_file::save(&self.path, &[&header, state])
    }
}

fn checksum(header: &[u8], state: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(header);
    crc.update(state);
    crc.finalize()
}
