//! Writes and reads through Raft, as the handlers use them. A write at a follower is forwarded
//! to the leader by the node's engine, on the peer connection, and the leader's own answer (or
//! error) comes back; a write is tagged with a request id, so a retry applies once. A
//! linearizable read at a follower gets its read index from the leader through Raft itself.

use std::time::{Duration, Instant};

use raftorch_core::orchestrator::{Command, Orchestrator, RequestId};
use raftorch_core::raft::LogIndex;

use super::error::ApiError;
use super::ApiState;
use crate::runtime::{Applied, Consistency, RequestError};

/// How long a write may take, retries and forwarding included.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read may wait for its read index.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest pause between two attempts of a write; a change of leader ends it early.
const MAX_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long a write waits for a leader to appear when the node knows none: long enough for an
/// ordinary election (a few election timeouts), far shorter than [`WRITE_TIMEOUT`], so a node cut
/// off from its quorum answers `no_leader` (with `Retry-After`) promptly.
pub const NO_LEADER_WAIT: Duration = Duration::from_millis(1_500);
impl ApiState {
    /// A request id no other request uses: a random client id and sequence 1.
    fn fresh_request_id(&self) -> RequestId {
        RequestId {
            client_id: self.random_u64(),
            seq: 1,
        }
    }

    /// Proposes `command` here or, forwarded by the engine, at the leader, retrying (same
    /// request id) until it is applied or [`WRITE_TIMEOUT`] passes, or no leader was known for
    /// [`NO_LEADER_WAIT`] (then 503 `no_leader`).
    pub async fn write(
        &self,
        command: Command,
        request_id: Option<RequestId>,
    ) -> Result<Applied, ApiError> {
        let rid = request_id.unwrap_or_else(|| self.fresh_request_id());
        let deadline = Instant::now() + WRITE_TIMEOUT;
        let mut delay = Duration::from_millis(10);
        let mut last = RequestError::NotLeader(None);
        let mut status = self.node.watch_status();
        let mut leaderless_since: Option<Instant> = None;
        loop {
            let leader_before = status.borrow_and_update().leader;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ApiError::from(last));
            }
            if leader_before.is_some() {
                leaderless_since = None;
            } else if last == RequestError::NotLeader(None) {
                let since = *leaderless_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= NO_LEADER_WAIT {
                    return Err(ApiError::from(last));
                }
            }
            match self
                .node
                .propose(command.clone(), Some(rid), remaining)
                .await
            {
                Ok(applied) => return Ok(applied),
                Err(e @ (RequestError::ShuttingDown | RequestError::DiskFull)) => {
                    return Err(ApiError::from(e))
                }
                Err(e) => last = e,
            }
            let pause = delay.min(deadline.saturating_duration_since(Instant::now()));
            let leader_changed =
                status.wait_for(|s| s.leader.is_some() && s.leader != leader_before);
            // Either way the write is tried again; a closed channel means shutdown, seen then.
            let _ = tokio::time::timeout(pause, leader_changed).await;
            delay = (delay * 2).min(MAX_RETRY_DELAY);
        }
    }

    /// Runs `f` on the state machine at the requested consistency.
    pub async fn read<T: Send + 'static>(
        &self,
        consistency: Consistency,
        f: impl FnOnce(&Orchestrator) -> T + Send + 'static,
    ) -> Result<(T, LogIndex), ApiError> {
        self.node
            .read(consistency, READ_TIMEOUT, f)
            .await
            .map_err(ApiError::from)
    }
}
