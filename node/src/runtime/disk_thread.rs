//! The thread that owns the node's [`DiskStorage`]. The owner task hands it work (make a `Ready`
//! durable, compact the log) and awaits the answer, so the async runtime goes on meanwhile:
//! the leader's appends go out to the followers, and peers and clients are read, while the
//! fsync is in flight. (`block_in_place` did the same by handing the runtime's worker to another
//! thread on every persist: measurably more thread switches per write.)

use std::sync::mpsc;
use std::thread;

use tokio::sync::oneshot;

use crate::disk_storage::{DiskError, DiskStorage};

type Job = Box<dyn FnOnce(&mut DiskStorage) + Send>;

/// A handle to the disk thread; dropping it lets the thread finish its queue and exit.
#[derive(Debug)]
pub(crate) struct DiskThread {
    jobs: mpsc::Sender<Job>,
}

impl DiskThread {
    /// Moves `disk` to a new thread that runs jobs one at a time, in the order given.
    pub(crate) fn spawn(disk: DiskStorage) -> Result<Self, DiskError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("raftorch-disk".into())
            .spawn(move || {
                let mut disk = disk;
                while let Ok(job) = queue.recv() {
                    job(&mut disk);
                }
            })
            .map_err(|e| DiskError::Thread(format!("cannot start: {e}")))?;
        Ok(Self { jobs })
    }

    /// Queues `work` on the disk thread; its result comes on the returned receiver, which
    /// borrows nothing, so the caller can do other things while it waits (an error on it
    /// means the thread stopped).
    pub(crate) fn submit<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DiskStorage) -> R + Send + 'static,
    ) -> Result<oneshot::Receiver<R>, DiskError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |disk| {
            let _ = reply.send(work(disk));
        });
        self.jobs.send(job).map_err(|_| stopped())?;
        Ok(answer)
    }
}

/// The error of a disk thread that stopped (its receiver closed without an answer).
pub(crate) fn stopped() -> DiskError {
    DiskError::Thread("stopped".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftorch_core::raft::{Ready, Storage};

    #[tokio::test(flavor = "current_thread")]
    async fn jobs_run_in_order_off_the_runtime_thread() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskStorage::open(dir.path(), &[1]).unwrap();
        let last = disk.last_index();
        let thread = DiskThread::spawn(disk).unwrap();
        let runtime_thread = thread::current().id();
        let (ran_on, index) = thread
            .submit(|d| (thread::current().id(), d.last_index()))
            .unwrap()
            .await
            .unwrap();
        assert_ne!(ran_on, runtime_thread);
        assert_eq!(index, last);
        let stats = thread
            .submit(|d| d.persist(&Ready::default()))
            .unwrap()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stats.entries, 0);
    }
}
