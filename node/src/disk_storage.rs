//! `DiskStorage`: the core's [`Storage`] over the write-ahead log, the hard-state file and the
//! snapshot file, and the one place that makes a [`Ready`] durable.
//!
//! Layout of a data directory:
//!
//! ```text
//! DIR/wal/            segments of the write-ahead log: one record per entry (postcard `Entry`)
//! DIR/hardstate       postcard `HardState` (term, vote, commit)
//! DIR/snapshot        newest snapshot; its configuration bytes are a postcard `ConfState`
//! DIR/bootstrap       postcard `ConfState`: the founding voters, written once their bootstrap
//!                     entries are in the log (a marker that the directory is initialized)
//! ```
//!
//! Group commit: [`DiskStorage::persist`] appends every entry of a `Ready` and issues one
//! `fdatasync` for the batch. The hard-state file is rewritten (itself fsync'd) only when the term
//! or the vote changed: those are what safety needs durable before a vote is granted. The commit
//! index is only an optimisation for restart (Raft recomputes it from the leader), so a change of
//! the commit index alone is written along with the next term/vote change or snapshot. This keeps
//! the common path of a `Ready` at one fsync.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use raftorch_core::raft::{
    self, ConfState, Entry, HardState, LogIndex, NodeId, Ready, Snapshot, SnapshotMeta, Storage,
    Term,
};

use crate::storage::data_format::{self, FormatError, Opened};
use crate::storage::{self, HardStateFile, Log, LogOptions, SnapshotFile, StorageError};

/// Why the node's disk state cannot be used.
#[derive(Debug)]
pub enum DiskError {
    /// The storage layer failed (IO, corruption).
    Storage(StorageError),
    /// A file decoded by the storage layer holds bytes that are not what this node wrote.
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The decoder's message.
        message: String,
    },
    /// The files disagree with each other (e.g. the log has a gap after the snapshot).
    Inconsistent(String),
    /// The thread that does the node's disk work could not start, or stopped.
    Thread(String),
    /// A write was refused for want of space (`ENOSPC`, `EDQUOT`): nothing of the failed
    /// [`DiskStorage::persist`] counts as durable, nothing durable before it was lost, and the
    /// same `persist` may be retried once space is freed (see
    /// [`StorageError::is_out_of_space`]).
    OutOfSpace(StorageError),
    /// The data directory's format is not one this binary opens (see
    /// [`data_format`](crate::storage::data_format)).
    Format(FormatError),
}

impl std::fmt::Display for DiskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Storage(e) => e.fmt(f),
            Self::Decode { what, message } => write!(f, "cannot decode {what}: {message}"),
            Self::Inconsistent(why) => write!(f, "inconsistent data directory: {why}"),
            Self::Thread(why) => write!(f, "disk thread: {why}"),
            Self::OutOfSpace(e) => write!(f, "out of disk space: {e}"),
            Self::Format(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DiskError {}

impl From<StorageError> for DiskError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, DiskError> {
    postcard::from_bytes(bytes).map_err(|e| DiskError::Decode {
        what,
        message: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Plain owned data into a Vec: postcard cannot fail here.
    postcard::to_allocvec(value).unwrap_or_default()
}

/// What one [`DiskStorage::persist`] did, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PersistStats {
    /// Entries appended.
    pub entries: usize,
    /// Whether the hard-state file was rewritten.
    pub hard_state_written: bool,
    /// Whether a snapshot was installed.
    pub snapshot_installed: bool,
    /// Wall time of the whole persist, fsyncs included.
    pub elapsed: Duration,
}

/// A node's durable Raft state in a directory.
#[derive(Debug)]
pub struct DiskStorage {
    dir: PathBuf,
    log: Log,
    hard_state_file: HardStateFile,
    snapshot_file: SnapshotFile,
    /// The hard state the core last asked to persist (what `initial_state` answers).
    hard_state: HardState,
    /// Term and vote as last written to the hard-state file.
    saved_term_vote: (Term, Option<NodeId>),
    snapshot: Option<Snapshot>,
    /// A write failed for want of space, which poisons the log: reopen it (re-verifying what
    /// is on disk, cutting what the failed write left) before the next write.
    log_needs_reopen: bool,
}

impl DiskStorage {
    /// Opens (or creates) the data directory. `voters` is the bootstrap membership: written on the
    /// first start and ignored afterwards (the stored one wins, so a changed `--peer` list cannot
    /// silently change the membership of an existing cluster).
    pub fn open(dir: impl AsRef<Path>, voters: &[NodeId]) -> Result<Self, DiskError> {
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(StorageError::io("create directory", &dir))?;
        match data_format::check_or_stamp(&dir).map_err(DiskError::Format)? {
            Opened::Migrated { from } => tracing::info!(
                from,
                to = data_format::CURRENT,
                "migrated the data directory's format"
            ),
            Opened::Created | Opened::Current => {}
        }
        let bootstrap_file = HardStateFile::new(dir.join("bootstrap"));
        let first_start = bootstrap_file.load()?.is_none();
        let hard_state_file = HardStateFile::new(dir.join("hardstate"));
        let hard_state: HardState = match hard_state_file.load()? {
            Some(bytes) => decode("hard state", &bytes)?,
            None => HardState::default(),
        };
        // A snapshot this node was writing when it stopped: never adopted, so not needed.
        for leftover in [PENDING_SNAPSHOT, "snapshot.pending.tmp"] {
            let _ = std::fs::remove_file(dir.join(leftover));
        }
        let snapshot_file = SnapshotFile::new(dir.join("snapshot"));
        let snapshot = match snapshot_file.load()? {
            Some(s) => Some(Snapshot {
                meta: SnapshotMeta {
                    index: s.meta.index,
                    term: s.meta.term,
                    conf: decode("snapshot membership", &s.meta.conf)?,
                },
                data: s.data,
            }),
            None => None,
        };
        let (log, recovered) = Log::open(dir.join("wal"), LogOptions::default())?;
        if let Some(tail) = &recovered.truncated {
            tracing::warn!(?tail, "cut a torn write-ahead log tail");
        }
        let mut disk = DiskStorage {
            dir,
            log,
            hard_state_file,
            snapshot_file,
            saved_term_vote: (hard_state.term, hard_state.vote),
            hard_state,
            snapshot: None,
            log_needs_reopen: false,
        };
        if first_start {
            disk.bootstrap(voters)?;
            bootstrap_file.save(&encode(&ConfState::with_voters(voters)))?;
        }
        if let Some(snapshot) = snapshot {
            let meta = snapshot.meta.clone();
            // A snapshot covers committed entries only; the hard state may be older than it
            // when saving it failed for want of space after the snapshot was saved.
            disk.hard_state.commit = disk.hard_state.commit.max(meta.index);
            disk.snapshot = Some(snapshot);
            // The compaction point is not stored in the log: establish it again.
            disk.reconcile_log_with_snapshot(&meta)?;
        }
        // Entries must decode, or the node would fail later at a worse moment.
        let first = disk.log.first_index();
        if disk.log.last_index() >= first {
            Storage::entries(&disk, first, disk.log.last_index() + 1).map_err(|e| {
                DiskError::Inconsistent(format!("write-ahead log entries do not decode: {e}"))
            })?;
        }
        Ok(disk)
    }

    /// Writes the founding membership into the log as committed `AddVoter` entries (the core's
    /// [`raft::bootstrap_entries`], identical on every founding member), so members added later
    /// learn it by replication. The caller writes the `bootstrap` marker afterwards: a crash
    /// before it simply bootstraps again, overwriting the same entries.
    fn bootstrap(&mut self, voters: &[NodeId]) -> Result<(), DiskError> {
        if voters.is_empty() {
            return Ok(()); // a joining node learns everything from the leader
        }
        let (hard_state, entries) = raft::bootstrap_entries(voters);
        let ready = Ready {
            hard_state: Some(hard_state),
            entries,
            ..Ready::default()
        };
        self.persist(&ready)?;
        self.save_hard_state()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Group-commit counters of the write-ahead log.
    pub fn sync_stats(&self) -> storage::SyncStats {
        self.log.sync_stats()
    }

    /// Makes durable what `ready` asks for: its snapshot, its entries (replacing any at or after
    /// the first one's index) and its hard state, with one fsync of the log for the batch.
    /// Returns only once everything is durable; `persisted_messages` may be sent after that.
    ///
    /// A write refused for want of space is [`DiskError::OutOfSpace`], and the same `ready` may
    /// be passed again later; every other error (an fsync's included) means the node cannot go
    /// on safely.
    pub fn persist(&mut self, ready: &Ready) -> Result<PersistStats, DiskError> {
        self.out_of_space_retryable(|disk| disk.persist_once(ready))
    }

    /// Runs `op`, first reopening the log if an earlier write ran out of space; turns a write's
    /// `ENOSPC` into [`DiskError::OutOfSpace`] and notes that the log must be reopened.
    fn out_of_space_retryable<T>(
        &mut self,
        op: impl FnOnce(&mut Self) -> Result<T, DiskError>,
    ) -> Result<T, DiskError> {
        let result = if self.log_needs_reopen {
            self.reopen_log()
        } else {
            Ok(())
        }
        .and_then(|()| op(self));
        match result {
            Err(DiskError::Storage(e)) if e.is_out_of_space() => {
                self.log_needs_reopen = true;
                Err(DiskError::OutOfSpace(e))
            }
            other => other,
        }
    }

    /// Opens the write-ahead log again after a write failed for want of space: recovery
    /// verifies every record and cuts a torn tail (what the failed write left, never synced),
    /// then the log is made to start after the snapshot again.
    fn reopen_log(&mut self) -> Result<(), DiskError> {
        let (log, recovered) = Log::open(self.dir.join("wal"), LogOptions::default())?;
        self.log = log;
        if let Some(meta) = self.snapshot.as_ref().map(|s| s.meta.clone()) {
            self.reconcile_log_with_snapshot(&meta)?;
        }
        self.log_needs_reopen = false;
        tracing::info!(
            last = recovered.last_index,
            cut = recovered.truncated.is_some(),
            "reopened the write-ahead log after a write ran out of space"
        );
        Ok(())
    }

    fn persist_once(&mut self, ready: &Ready) -> Result<PersistStats, DiskError> {
        let started = Instant::now();
        let mut stats = PersistStats::default();
        if let Some(snapshot) = &ready.snapshot {
            self.install_snapshot(snapshot)?;
            stats.snapshot_installed = true;
        }
        if !ready.entries.is_empty() {
            let encoded: Vec<(u64, u64, Vec<u8>)> = ready
                .entries
                .iter()
                .map(|e| (e.index, e.term, encode(e)))
                .collect();
            let borrowed: Vec<(u64, u64, &[u8])> = encoded
                .iter()
                .map(|(i, t, p)| (*i, *t, p.as_slice()))
                .collect();
            self.log.append(&borrowed)?;
            stats.entries = borrowed.len();
        }
        if let Some(hs) = ready.hard_state {
            self.hard_state = hs;
        }
        if let Some(snapshot) = &ready.snapshot {
            self.hard_state.commit = self.hard_state.commit.max(snapshot.meta.index);
        }
        let hs = self.hard_state;
        if (hs.term, hs.vote) != self.saved_term_vote || stats.snapshot_installed {
            self.save_hard_state()?;
            stats.hard_state_written = true;
        }
        self.log.sync()?;
        stats.elapsed = started.elapsed();
        Ok(stats)
    }

    /// Records a snapshot the local state machine took, then drops the log entries it covers.
    /// A write refused for want of space is [`DiskError::OutOfSpace`]: the log then keeps
    /// the entries (the state on disk stays whole) and a later snapshot compacts it.
    pub fn compact(&mut self, snapshot: Snapshot) -> Result<(), DiskError> {
        self.out_of_space_retryable(|disk| disk.compact_once(snapshot))
    }

    fn compact_once(&mut self, snapshot: Snapshot) -> Result<(), DiskError> {
        let current = self.snapshot.as_ref().map_or(0, |s| s.meta.index);
        if snapshot.meta.index <= current {
            return Ok(());
        }
        self.save_snapshot_file(&snapshot)?;
        let index = snapshot.meta.index;
        self.snapshot = Some(snapshot);
        // Save the commit index too, now that it is cheap to do so.
        self.save_hard_state()?;
        self.log.compact_through(index)?;
        Ok(())
    }

    fn save_hard_state(&mut self) -> Result<(), DiskError> {
        let hs = self.hard_state;
        self.hard_state_file.save(&encode(&hs))?;
        self.saved_term_vote = (hs.term, hs.vote);
        Ok(())
    }

    fn save_snapshot_file(&self, snapshot: &Snapshot) -> Result<(), DiskError> {
        save_snapshot(&self.snapshot_file, snapshot)
    }

    /// Where a snapshot this node takes is written, off the disk thread (see
    /// [`DiskStorage::adopt_snapshot`]), before it replaces the current one.
    pub fn pending_snapshot_file(&self) -> SnapshotFile {
        SnapshotFile::new(self.dir.join(PENDING_SNAPSHOT))
    }

    /// Makes the snapshot saved in [`DiskStorage::pending_snapshot_file`] the current one (a
    /// rename), then drops the log entries it covers — unless a snapshot as new is current
    /// already (one received from the leader meanwhile): the pending file is then removed.
    pub fn adopt_snapshot(&mut self, snapshot: Snapshot) -> Result<(), DiskError> {
        self.out_of_space_retryable(|disk| disk.adopt_once(snapshot))
    }

    /// Removes the pending snapshot file (its snapshot was overtaken by one from the leader).
    pub fn discard_pending_snapshot(&mut self) {
        let _ = std::fs::remove_file(self.dir.join(PENDING_SNAPSHOT));
    }

    fn adopt_once(&mut self, snapshot: Snapshot) -> Result<(), DiskError> {
        let pending = self.dir.join(PENDING_SNAPSHOT);
        let current = self.snapshot.as_ref().map_or(0, |s| s.meta.index);
        if snapshot.meta.index <= current {
            let _ = std::fs::remove_file(&pending);
            return Ok(());
        }
        self.snapshot_file
            .replace_with(&SnapshotFile::new(pending))?;
        let index = snapshot.meta.index;
        self.snapshot = Some(snapshot);
        self.save_hard_state()?;
        self.log.compact_through(index)?;
        Ok(())
    }

    /// A snapshot from the leader replaces the whole log (the core keeps no entry after it).
    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), DiskError> {
        self.save_snapshot_file(snapshot)?;
        self.snapshot = Some(snapshot.clone());
        self.reconcile_log_with_snapshot(&snapshot.meta)
    }

    /// Makes the log start right after the snapshot: entries it covers are dropped, and entries
    /// after it survive only if the log holds the snapshot's own last entry (same index and term);
    /// otherwise they belong to a divergent history and are cut. Idempotent, so start-up runs it
    /// again after a crash part-way through.
    fn reconcile_log_with_snapshot(&mut self, meta: &SnapshotMeta) -> Result<(), DiskError> {
        let (first, last) = (self.log.first_index(), self.log.last_index());
        if meta.index + 1 < first {
            return Err(DiskError::Inconsistent(format!(
                "the snapshot ends at index {} but the log starts at {first}",
                meta.index
            )));
        }
        if meta.index >= first && meta.index <= last && self.log.term(meta.index)? != meta.term {
            self.log.truncate_suffix(meta.index)?;
        } else if meta.index + 1 == first && last >= first {
            // The log starts right after the snapshot: keep it.
            return Ok(());
        }
        self.log.compact_through(meta.index)?;
        Ok(())
    }
}

/// The name of the file a snapshot taken here is written to before it is adopted.
const PENDING_SNAPSHOT: &str = "snapshot.pending";

/// Durably writes `snapshot` to `file` (replacing what it held).
pub fn save_snapshot(file: &SnapshotFile, snapshot: &Snapshot) -> Result<(), DiskError> {
    let meta = storage::SnapshotMeta {
        index: snapshot.meta.index,
        term: snapshot.meta.term,
        conf: encode(&snapshot.meta.conf),
    };
    file.save(&meta, &snapshot.data)?;
    Ok(())
}

fn to_core(e: StorageError) -> raft::Error {
    match e {
        StorageError::Compacted { .. } => raft::Error::Compacted,
        StorageError::Unavailable { .. } => raft::Error::Unavailable,
        other => {
            tracing::error!(error = %other, "storage read failed");
            raft::Error::Storage(0)
        }
    }
}

impl Storage for DiskStorage {
    fn initial_state(&self) -> Result<(HardState, ConfState), raft::Error> {
        // Without a snapshot the membership is in the log (bootstrap entries onwards).
        let conf = self
            .snapshot
            .as_ref()
            .map_or_else(ConfState::default, |s| s.meta.conf.clone());
        Ok((self.hard_state, conf))
    }

    fn entries(&self, lo: LogIndex, hi: LogIndex) -> Result<Vec<Entry>, raft::Error> {
        if lo < self.log.first_index() {
            return Err(raft::Error::Compacted);
        }
        if hi > self.log.last_index() + 1 {
            return Err(raft::Error::Unavailable);
        }
        let raw = self.log.entries(lo, hi).map_err(to_core)?;
        raw.into_iter()
            .map(|(index, term, payload)| {
                let entry: Entry = postcard::from_bytes(&payload).map_err(|e| {
                    tracing::error!(index, error = %e, "undecodable log entry");
                    raft::Error::Storage(index)
                })?;
                if entry.index != index || entry.term != term {
                    return Err(raft::Error::Storage(index));
                }
                Ok(entry)
            })
            .collect()
    }

    fn term(&self, index: LogIndex) -> Result<Term, raft::Error> {
        if let Some(s) = &self.snapshot {
            if s.meta.index == index {
                return Ok(s.meta.term);
            }
        }
        if index == 0 {
            return Ok(0);
        }
        self.log.term(index).map_err(to_core)
    }

    fn first_index(&self) -> LogIndex {
        self.log.first_index()
    }

    fn last_index(&self) -> LogIndex {
        self.log.last_index()
    }

    fn snapshot(&self) -> Option<Snapshot> {
        self.snapshot.clone()
    }
}
