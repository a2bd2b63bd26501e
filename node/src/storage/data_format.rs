//! The data directory's format version: a `format` file holding `raftorch-data N`.
//!
//! A directory written before the file existed (format 0: the same files as format 1, without
//! this marker) is migrated by writing the marker; an empty directory gets the current format;
//! a format this binary does not know (a newer raftorch wrote it, or the file is garbage) is
//! refused before anything else is opened, so an older binary never misreads newer files.

use std::path::Path;

use super::atomic_file;
use super::{Result, StorageError};

impl std::error::Error for FormatError {}

/// The format this binary writes.
pub const CURRENT: u32 = 1;

/// The marker file's name inside the data directory.
pub const FILE_NAME: &str = "format";

/// The marker's text before the version number.
const TAG: &str = "raftorch-data ";

/// Files whose presence shows a data directory from before the marker (format 0).
const FORMAT_0_FILES: [&str; 4] = ["bootstrap", "hardstate", "snapshot", "wal"];

/// What [`check_or_stamp`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// A new directory: stamped with [`CURRENT`].
    Created,
    /// Already at [`CURRENT`].
    Current,
    /// Migrated from the given older format to [`CURRENT`].
    Migrated {
        /// The format found.
        from: u32,
    },
}

/// Why a data directory's format is refused.
#[derive(Debug)]
pub enum FormatError {
    /// The marker names a format newer than this binary's.
    Newer {
        /// The format found.
        found: u32,
    },
    /// The marker is not `raftorch-data N`.
    Unreadable {
        /// What the file holds (its first line, shortened).
        text: String,
    },
    /// The marker could not be read or written.
    Io(StorageError),
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Newer { found } => write!(
                f,
                "data directory format {found} is newer than this binary's ({CURRENT}): run the \
                 raftorch release that wrote it, or restore a backup into a new directory"
            ),
            Self::Unreadable { text } => write!(
                f,
                "the {FILE_NAME} file does not name a raftorch data format (it holds {text:?}); \
                 this is not a raftorch data directory or the file was damaged"
            ),
            Self::Io(e) => e.fmt(f),
        }
    }
}

/// Checks the format of the data directory `dir` (which exists), writing the marker when the
/// directory is new or older than [`CURRENT`].
pub fn check_or_stamp(dir: &Path) -> Result<Opened, FormatError> {
    let path = dir.join(FILE_NAME);
    let found = match std::fs::read(&path) {
        Ok(bytes) => Some(parse(&bytes)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(FormatError::Io(StorageError::io("read", &path)(e))),
    };
    let opened = match found {
        Some(CURRENT) => return Ok(Opened::Current),
        Some(found) if found > CURRENT => return Err(FormatError::Newer { found }),
        Some(from) => Opened::Migrated { from },
        None if FORMAT_0_FILES.iter().any(|f| dir.join(f).exists()) => Opened::Migrated { from: 0 },
        None => Opened::Created,
    };
    // Formats 0 and 1 hold the same files: migrating is writing the marker.
    atomic_file::save(&path, &[format!("{TAG}{CURRENT}\n").as_bytes()]).map_err(FormatError::Io)?;
    Ok(opened)
}

/// The version a marker names.
fn parse(bytes: &[u8]) -> std::result::Result<u32, FormatError> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next().unwrap_or_default().trim();
    line.strip_prefix(TAG)
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| FormatError::Unreadable {
            text: line.chars().take(40).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    #[test]
    fn a_new_directory_is_stamped_and_then_current() {
        let d = dir();
        assert_eq!(check_or_stamp(d.path()).unwrap(), Opened::Created);
        let text = std::fs::read_to_string(d.path().join(FILE_NAME)).unwrap();
        assert_eq!(text, format!("raftorch-data {CURRENT}\n"));
        assert_eq!(check_or_stamp(d.path()).unwrap(), Opened::Current);
    }

    #[test]
    fn a_directory_from_before_the_marker_is_migrated() {
        let d = dir();
        std::fs::create_dir(d.path().join("wal")).unwrap();
        assert_eq!(
            check_or_stamp(d.path()).unwrap(),
            Opened::Migrated { from: 0 }
        );
        assert_eq!(check_or_stamp(d.path()).unwrap(), Opened::Current);
    }

    #[test]
    fn newer_and_unreadable_formats_are_refused_and_left_as_they_are() {
        let d = dir();
        let path = d.path().join(FILE_NAME);
        std::fs::write(&path, "raftorch-data 2\n").unwrap();
        let refused = check_or_stamp(d.path()).unwrap_err();
        assert!(
            matches!(refused, FormatError::Newer { found: 2 }),
            "{refused}"
        );
        assert!(refused.to_string().contains("newer than this binary's (1)"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "raftorch-data 2\n");
        std::fs::write(&path, "hello").unwrap();
        let refused = check_or_stamp(d.path()).unwrap_err();
        assert!(
            matches!(refused, FormatError::Unreadable { .. }),
            "{refused}"
        );
    }
}
