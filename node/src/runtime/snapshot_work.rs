//! The costly halves of snapshots, run on blocking threads so the owner loop keeps sending
//! heartbeats, voting and applying meanwhile:
//!
//! - **making one**: the engine hands out a job (a structurally shared clone of the state,
//!   cheap to take); a blocking task encodes it and writes it, fsync'd, to the pending snapshot
//!   file; the owner loop, told when that is done, hands the snapshot back to the engine and has
//!   the disk thread adopt the file (a rename) and compact the log;
//! - **installing one from the leader**: once every chunk is in, a blocking task decodes it
//!   into scratch state; the owner loop hands the result to the engine, which gives it to Raft.

use std::time::{Duration, Instant, SystemTime};

use raftorch_core::engine::{DecodedSnapshot, ReceivedSnapshot, SnapshotJob};
use raftorch_core::orchestrator::Orchestrator;
use raftorch_core::raft::Snapshot;
use tokio::sync::mpsc;

use crate::disk_storage::{self, DiskError};
use crate::storage::SnapshotFile;

/// A snapshot encoded and written to the pending file (or the reason it could not be).
pub(super) struct Encoded {
    /// The snapshot, whose data the engine shares.
    pub(super) snapshot: Snapshot,
    /// When encoding began.
    pub(super) started: SystemTime,
    /// How long encoding took.
    pub(super) serialized: Duration,
    /// How long writing and fsyncing the pending file took, or why it failed.
    pub(super) saved: Result<Duration, DiskError>,
}

/// A received snapshot, decoded, and how long that took.
pub(super) struct Decoded {
    /// What the engine installs.
    pub(super) decoded: DecodedSnapshot<Orchestrator>,
    /// How long decoding took.
    pub(super) took: Duration,
}

/// What finished: an `Err` when its task panicked.
pub(super) enum Finished {
    /// A snapshot taken here.
    Encoded(Result<Encoded, String>),
    /// A snapshot from the leader (boxed: a whole state is large to move around).
    Decoded(Result<Box<Decoded>, String>),
}

/// Starts the blocking tasks and tells the owner loop when each ends.
pub(super) struct SnapshotWork {
    pending: SnapshotFile,
    done_tx: mpsc::UnboundedSender<Finished>,
    done_rx: mpsc::UnboundedReceiver<Finished>,
}

impl SnapshotWork {
    /// Writes the snapshots taken here to `pending` before they are adopted.
    pub(super) fn new(pending: SnapshotFile) -> Self {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        SnapshotWork {
            pending,
            done_tx,
            done_rx,
        }
    }

    /// Encodes and writes `job` (the engine makes one at a time).
    pub(super) fn encode(&self, job: SnapshotJob<Orchestrator>) {
        let (pending, done) = (self.pending.clone(), self.done_tx.clone());
        tokio::spawn(async move {
            let work = tokio::task::spawn_blocking(move || encode_and_write(job, &pending));
            let _ = done.send(Finished::Encoded(work.await.map_err(|e| e.to_string())));
        });
    }

    /// Decodes `received` into scratch state.
    pub(super) fn decode(&self, received: ReceivedSnapshot<Orchestrator>) {
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let work = tokio::task::spawn_blocking(move || {
                let decoding = Instant::now();
                let decoded = received.decode();
                Box::new(Decoded {
                    decoded,
                    took: decoding.elapsed(),
                })
            });
            let _ = done.send(Finished::Decoded(work.await.map_err(|e| e.to_string())));
        });
    }

    /// The next task that ended.
    pub(super) async fn finished(&mut self) -> Option<Finished> {
        self.done_rx.recv().await
    }
}

fn encode_and_write(job: SnapshotJob<Orchestrator>, pending: &SnapshotFile) -> Encoded {
    let started = SystemTime::now();
    let encoding = Instant::now();
    let snapshot = job.encode();
    let serialized = encoding.elapsed();
    let writing = Instant::now();
    let saved = disk_storage::save_snapshot(pending, &snapshot).map(|()| writing.elapsed());
    Encoded {
        snapshot,
        started,
        serialized,
        saved,
    }
}
