//! The backup file: one consistent snapshot of a cluster's state, checked end to end.
//!
//! ```text
//! [magic "RFTBACKP" 8][format version u32 LE][header length u32 LE]
//! [header: JSON BackupMeta][crc32 of every byte before it, u32 LE]
//! [body: the state machine's snapshot, header.body_bytes long]
//! [sha256 of the body, 32 bytes]
//! ```
//!
//! The header is readable with `head -c` and protected by its crc32; the body is protected by its
//! SHA-256 (what `snapshot status` prints). Both are written and checked in one streaming pass,
//! so a backup never needs to sit in memory twice. A file is written as `FILE.part`, fsync'd and
//! renamed over `FILE`: a crash leaves the old file or the new one, never half of one.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use raftorch_core::orchestrator::StateCounts;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first bytes of every backup file.
pub const MAGIC: [u8; 8] = *b"RFTBACKP";
/// The layout above; bumped when it changes, so an old reader refuses a newer file.
pub const FORMAT_VERSION: u32 = 1;
/// A header is a few hundred bytes; anything near this is not one of ours.
const MAX_HEADER_LEN: u32 = 1 << 20;
const PREFIX_LEN: usize = 16;
const CRC_LEN: u64 = 4;
const SHA_LEN: usize = 32;
const CHUNK: usize = 64 << 10;

/// What a backup holds, as the node that took it described it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupMeta {
    /// The applied index the state is at (a linearizable point).
    pub index: u64,
    /// The cluster's term when it was taken (at least the term of the entry at `index`).
    pub term: u64,
    /// The backed-up cluster's id, as 16 hex digits (`unknown` if the node knew none).
    pub cluster_id: String,
    /// The voters then.
    pub voters: Vec<u64>,
    /// The learners then.
    pub learners: Vec<u64>,
    /// The node that served it.
    pub taken_from: u64,
    /// When, by that node's wall clock (ms since the Unix epoch).
    pub taken_at_unix_ms: u64,
    /// The state machine's snapshot format (the body's first byte).
    pub snapshot_format: u8,
    /// Length of the body.
    pub body_bytes: u64,
    /// What the state holds.
    pub counts: StateCounts,
    /// The version of the node that served it.
    pub raftorch_version: String,
}

/// Why a backup file cannot be written or used.
#[derive(Debug)]
pub enum BackupError {
    /// An operating-system call failed.
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file is not an intact backup.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// What was to be written does not match its own description.
    Mismatch(String),
}

impl std::fmt::Display for BackupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io { op, path, source } => write!(f, "cannot {op} {}: {source}", path.display()),
            Self::Corrupt { path, reason } => write!(
                f,
                "{} is not an intact raftorch backup: {reason}; refusing to use it",
                path.display()
            ),
            Self::Mismatch(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for BackupError {}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> BackupError {
    let path = path.to_owned();
    move |source| BackupError::Io { op, path, source }
}

/// A backup whose header and body checksums both verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// Its header.
    pub meta: BackupMeta,
    /// SHA-256 of its body.
    pub sha256: [u8; SHA_LEN],
    /// Size of the whole file.
    pub file_bytes: u64,
}

impl Verified {
    /// The body's SHA-256 as hex.
    pub fn sha256_hex(&self) -> String {
        hex(&self.sha256)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `meta` and the `meta.body_bytes` bytes read from `body` to `path`, atomically (see
/// the module doc). Fails, leaving `path` as it was, if `body` yields more or fewer bytes.
pub fn write(
    path: &Path,
    meta: &BackupMeta,
    body: &mut impl Read,
) -> Result<Verified, BackupError> {
    let part = part_path(path);
    let result = write_part(&part, meta, body).and_then(|verified| {
        fs::rename(&part, path).map_err(io_err("rename into place", path))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("fsync the directory of", path))?;
        Ok(verified)
    });
    if result.is_err() {
        let _ = fs::remove_file(&part);
    }
    result
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

fn write_part(
    part: &Path,
    meta: &BackupMeta,
    body: &mut impl Read,
) -> Result<Verified, BackupError> {
    let header = serde_json::to_vec(meta).map_err(|e| BackupError::Mismatch(e.to_string()))?;
    let header_len = u32::try_from(header.len())
        .ok()
        .filter(|&l| l <= MAX_HEADER_LEN)
        .ok_or_else(|| BackupError::Mismatch("backup header too large".into()))?;
    let mut prefix = Vec::with_capacity(PREFIX_LEN + header.len());
    prefix.extend_from_slice(&MAGIC);
    prefix.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    prefix.extend_from_slice(&header_len.to_le_bytes());
    prefix.extend_from_slice(&header);
    let crc = crc32fast::hash(&prefix).to_le_bytes();
    let file = File::create(part).map_err(io_err("create", part))?;
    let mut out = BufWriter::with_capacity(CHUNK, file);
    let write = |out: &mut BufWriter<File>, bytes: &[u8]| {
        out.write_all(bytes).map_err(io_err("write", part))
    };
    write(&mut out, &prefix)?;
    write(&mut out, &crc)?;
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut copied = 0u64;
    loop {
        let n = body
            .read(&mut buf)
            .map_err(io_err("read the snapshot for", part))?;
        if n == 0 {
            break;
        }
        copied += n as u64;
        if copied > meta.body_bytes {
            return Err(BackupError::Mismatch(format!(
                "the snapshot is longer than the {} bytes announced",
                meta.body_bytes
            )));
        }
        sha.update(&buf[..n]);
        write(&mut out, &buf[..n])?;
    }
    if copied != meta.body_bytes {
        return Err(BackupError::Mismatch(format!(
            "the snapshot ended after {copied} of the {} bytes announced",
            meta.body_bytes
        )));
    }
    let sha256: [u8; SHA_LEN] = sha.finalize().into();
    write(&mut out, &sha256)?;
    let file = out
        .into_inner()
        .map_err(|e| io_err("write", part)(e.into_error()))?;
    file.sync_all().map_err(io_err("fsync", part))?;
    let file_bytes = file.metadata().map_err(io_err("stat", part))?.len();
    Ok(Verified {
        meta: meta.clone(),
        sha256,
        file_bytes,
    })
}

/// Checks the whole file (header crc32, length, body SHA-256) without keeping the body.
pub fn verify(path: &Path) -> Result<Verified, BackupError> {
    read(path, &mut io::sink())
}

/// Checks the whole file and returns it with its body.
pub fn load(path: &Path) -> Result<(Verified, Vec<u8>), BackupError> {
    let mut body = Vec::new();
    let verified = read(path, &mut body)?;
    Ok((verified, body))
}

/// Reads and checks `path`, copying the body to `sink` (only after the header checked out, and
/// before its checksum did: callers use the body only on `Ok`).
fn read(path: &Path, sink: &mut impl Write) -> Result<Verified, BackupError> {
    let corrupt = |reason: String| BackupError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let file = File::open(path).map_err(io_err("open", path))?;
    let file_bytes = file.metadata().map_err(io_err("stat", path))?.len();
    let mut input = BufReader::with_capacity(CHUNK, file);
    let mut prefix = [0u8; PREFIX_LEN];
    if file_bytes < PREFIX_LEN as u64 {
        return Err(corrupt(format!("only {file_bytes} bytes long")));
    }
    input
        .read_exact(&mut prefix)
        .map_err(io_err("read", path))?;
    if prefix[..8] != MAGIC {
        return Err(corrupt("it does not start with the backup magic".into()));
    }
    let version = u32::from_le_bytes(prefix[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(corrupt(format!(
            "backup format {version}; this raftorch reads format {FORMAT_VERSION}"
        )));
    }
    let header_len = u32::from_le_bytes(prefix[12..16].try_into().expect("4 bytes"));
    if header_len > MAX_HEADER_LEN
        || u64::from(header_len) + CRC_LEN > file_bytes - PREFIX_LEN as u64
    {
        return Err(corrupt(format!(
            "its header length {header_len} does not fit the file"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    input
        .read_exact(&mut header)
        .map_err(io_err("read", path))?;
    let mut crc = [0u8; 4];
    input.read_exact(&mut crc).map_err(io_err("read", path))?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&prefix);
    hasher.update(&header);
    if hasher.finalize().to_le_bytes() != crc {
        return Err(corrupt("header checksum mismatch".into()));
    }
    let meta: BackupMeta = serde_json::from_slice(&header)
        .map_err(|e| corrupt(format!("header does not decode: {e}")))?;
    let expected_len = (PREFIX_LEN as u64 + u64::from(header_len) + CRC_LEN)
        .checked_add(meta.body_bytes)
        .and_then(|l| l.checked_add(SHA_LEN as u64));
    if expected_len != Some(file_bytes) {
        return Err(corrupt(format!(
            "the file is {file_bytes} bytes, its header describes a body of {} bytes \
             (truncated or extended)",
            meta.body_bytes
        )));
    }
    let mut sha = Sha256::new();
    let mut left = meta.body_bytes;
    let mut buf = vec![0u8; CHUNK];
    while left > 0 {
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        input
            .read_exact(&mut buf[..n])
            .map_err(io_err("read", path))?;
        sha.update(&buf[..n]);
        sink.write_all(&buf[..n])
            .map_err(io_err("buffer the body of", path))?;
        left -= n as u64;
    }
    let mut stored = [0u8; SHA_LEN];
    input
        .read_exact(&mut stored)
        .map_err(io_err("read", path))?;
    let sha256: [u8; SHA_LEN] = sha.finalize().into();
    if sha256 != stored {
        return Err(corrupt(format!(
            "body checksum mismatch (sha256 recorded {}, computed {})",
            hex(&stored),
            hex(&sha256)
        )));
    }
    Ok(Verified {
        meta,
        sha256,
        file_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(body: &[u8]) -> BackupMeta {
        BackupMeta {
            index: 42,
            term: 3,
            cluster_id: "00000000000000ab".into(),
            voters: vec![1, 2, 3],
            learners: vec![],
            taken_from: 2,
            taken_at_unix_ms: 1_700_000_000_000,
            snapshot_format: body.first().copied().unwrap_or(0),
            body_bytes: body.len() as u64,
            counts: StateCounts::default(),
            raftorch_version: "test".into(),
        }
    }

    #[test]
    fn a_written_backup_verifies_and_every_flipped_byte_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.snap");
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let written = write(&path, &meta(&body), &mut body.as_slice()).unwrap();
        assert!(!part_path(&path).exists());
        let (loaded, got) = load(&path).unwrap();
        assert_eq!(loaded, written);
        assert_eq!(got, body);
        let bytes = fs::read(&path).unwrap();
        // The magic, the version, the header, its crc, the body and the trailer.
        for at in [
            0,
            9,
            14,
            20,
            PREFIX_LEN + 40,
            bytes.len() / 2,
            bytes.len() - 1,
        ] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            fs::write(&path, &bad).unwrap();
            let err = verify(&path).unwrap_err();
            assert!(
                matches!(err, BackupError::Corrupt { .. }),
                "byte {at}: {err}"
            );
        }
        fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
        assert!(verify(&path).unwrap_err().to_string().contains("truncated"));
        fs::write(&path, b"short").unwrap();
        assert!(verify(&path).is_err());
    }

    #[test]
    fn a_body_that_disagrees_with_its_length_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.snap");
        let m = meta(b"abcdef");
        assert!(write(&path, &m, &mut &b"abc"[..]).is_err());
        assert!(write(&path, &m, &mut &b"abcdefgh"[..]).is_err());
        assert!(!path.exists() && !part_path(&path).exists());
    }
}
