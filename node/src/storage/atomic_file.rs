//! Replacing a small file atomically, and fsyncing directories.
//!
//! The scheme: write `NAME.tmp`, fsync it, rename it over `NAME`, fsync the directory. A crash at
//! any point leaves either the old file or the new one whole under `NAME`; at worst a `NAME.tmp`
//! is left over, which readers ignore and remove. Each file carries its own checksum, because
//! rename makes the swap atomic but says nothing about bits rotting afterwards.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{Result, StorageError as E};

/// The size of one write.
const WRITE_PIECE: usize = 4 << 20;
/// A file being written is flushed (`fdatasync`) after each this many bytes.
const SYNC_EVERY: usize = 4 << 20;

/// fsyncs a directory, making the creation, removal or renaming of its entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(E::io("fsync directory", dir))
}

/// The temporary file `save` writes before renaming it over `path`.
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".tmp");
    PathBuf::from(name)
}

/// Durably replaces the contents of `path` with the concatenation of `parts`.
pub(crate) fn save(path: &Path, parts: &[&[u8]]) -> Result<()> {
    let tmp = tmp_path(path);
    let mut file = File::create(&tmp).map_err(E::io("create", &tmp))?;
    let mut unsynced = 0;
    for piece in parts.iter().flat_map(|part| part.chunks(WRITE_PIECE)) {
        let written = file.write_all(piece).and_then(|()| {
            unsynced += piece.len();
            if unsynced < SYNC_EVERY {
                return Ok(());
            }
            unsynced = 0;
            // A large file (a snapshot) is flushed as it goes, so it never leaves gigabytes of
            // dirty pages for the write-ahead log's next fsync to wait behind.
            file.sync_data()
        });
        if let Err(e) = written {
            // A full disk must not keep the partial copy: it holds the space a retry needs.
            drop(file);
            let _ = fs::remove_file(&tmp);
            return Err(E::io("write", &tmp)(e));
        }
    }
    file.sync_all().map_err(E::io("fsync", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(E::io("rename into place", path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// The contents of `path`, or `None` if it does not exist. A leftover temporary file from a save
/// that crashed before its rename is removed: it may be incomplete and was never the current one.
pub(crate) fn load(path: &Path) -> Result<Option<Vec<u8>>> {
    let tmp = tmp_path(path);
    match fs::remove_file(&tmp) {
        Ok(()) => tracing::warn!(path = %tmp.display(), "removed leftover temporary file"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(E::io("remove", &tmp)(e)),
    }
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(E::io("read", path)(e)),
    }
}
