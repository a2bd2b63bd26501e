//! Writes and reads through Raft, as the handlers use them: a write at a follower is forwarded
//! to the leader's API (tagged with a request id, so a retried forward applies once); a
//! linearizable read at a follower gets its read index from the leader through Raft itself.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use raftorch_core::orchestrator::{Command, Orchestrator, RequestId};
use raftorch_core::raft::LogIndex;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::input::{json, Body};
use super::ApiState;
use crate::metrics::Metrics;
use crate::runtime::{Applied, Consistency, RequestError};

/// How long a write may take, retries and forwarding included.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read may wait for its read index.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// The leader-side endpoint a follower forwards writes to.
pub const FORWARD_PATH: &str = "/internal/v1/propose";
/// How long connecting to the leader's API may take before the forward is retried (the leader
/// may be gone; a new one is then elected within an election timeout or two).
const FORWARD_CONNECT_TIMEOUT: Duration = Duration::from_millis(300);
/// The longest pause between two attempts of a write; a change of leader ends it early.
const MAX_RETRY_DELAY: Duration = Duration::from_millis(100);

/// The HTTP client a node forwards writes with: its connections to the leader are kept and
/// reused.
pub(super) fn forwarding_agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(FORWARD_CONNECT_TIMEOUT)
        .max_idle_connections_per_host(64)
        .build()
}

/// A write forwarded by a follower.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forwarded {
    /// The command.
    pub command: Command,
    /// Its exactly-once tag, chosen by the first node that received it.
    pub request_id: RequestId,
}

enum ForwardFailure {
    /// Try again (the leader moved, the connection failed).
    Retry(String),
    /// The leader gave a definite error answer.
    Final(ApiError),
}

impl ApiState {
    /// A request id no other request uses: a random client id and sequence 1.
    fn fresh_request_id(&self) -> RequestId {
        RequestId {
            client_id: self.random_u64(),
            seq: 1,
        }
    }

    /// Proposes `command` here or at the leader, retrying (same request id) until it is applied
    /// or [`WRITE_TIMEOUT`] passes.
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
        loop {
            let leader_before = status.borrow_and_update().leader;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ApiError::from(last));
            }
            match self
                .node
                .propose(command.clone(), Some(rid), remaining)
                .await
            {
                Ok(applied) => return Ok(applied),
                Err(RequestError::NotLeader(Some(leader))) if leader != self.id => {
                    match self.forward(leader, &command, rid, remaining).await {
                        Ok(applied) => return Ok(applied),
                        Err(ForwardFailure::Final(e)) => return Err(e),
                        Err(ForwardFailure::Retry(why)) => {
                            tracing::debug!(leader, %why, "forward failed; retrying");
                            last = RequestError::NotLeader(Some(leader));
                        }
                    }
                }
                Err(RequestError::ShuttingDown) => {
                    return Err(ApiError::from(RequestError::ShuttingDown))
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

    async fn forward(
        &self,
        leader: u64,
        command: &Command,
        request_id: RequestId,
        timeout: Duration,
    ) -> Result<Applied, ForwardFailure> {
        let Some(addr) = self.api_addr(leader) else {
            return Err(ForwardFailure::Retry(format!(
                "no API address for node {leader}"
            )));
        };
        Metrics::inc(&self.node.metrics.forwarded);
        let body = serde_json::to_vec(&Forwarded {
            command: command.clone(),
            request_id,
        })
        .map_err(|e| {
            ForwardFailure::Final(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.to_string(),
            ))
        })?;
        let url = format!("http://{addr}{FORWARD_PATH}");
        let agent = self.forwarder.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            match agent
                .post(&url)
                .timeout(timeout)
                .set("content-type", "application/json")
                .send_bytes(&body)
            {
                Ok(resp) => resp
                    .into_string()
                    .map_err(|e| ForwardFailure::Retry(e.to_string()))
                    .and_then(|text| {
                        serde_json::from_str::<Applied>(&text)
                            .map_err(|e| ForwardFailure::Retry(format!("bad answer: {e}")))
                    }),
                Err(ureq::Error::Status(503, _)) => {
                    Err(ForwardFailure::Retry("leader unavailable".into()))
                }
                Err(ureq::Error::Status(status, resp)) => {
                    let text = resp.into_string().unwrap_or_default();
                    Err(ForwardFailure::Final(remote_error(status, &text)))
                }
                Err(e) => Err(ForwardFailure::Retry(e.to_string())),
            }
        })
        .await;
        outcome.unwrap_or_else(|e| Err(ForwardFailure::Retry(e.to_string())))
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

/// Rebuilds the leader's error answer from its JSON body.
fn remote_error(status: u16, text: &str) -> ApiError {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let parsed: Option<serde_json::Value> = serde_json::from_str(text).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str())
        .unwrap_or(text)
        .to_owned();
    ApiError::new(status, ApiError::code_for_status(status), message)
}

/// `POST /internal/v1/propose`: a follower's forwarded write. Proposed here only — a node that
/// is not the leader answers 503 and the follower tries again where the leader now is.
pub(super) async fn propose_forwarded(
    State(state): State<ApiState>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let forwarded: Forwarded = json(&body)?;
    let applied = state
        .node
        .propose(forwarded.command, Some(forwarded.request_id), WRITE_TIMEOUT)
        .await?;
    let mut response = Json(&applied).into_response();
    if let Ok(v) = HeaderValue::from_str(&applied.index.to_string()) {
        response.headers_mut().insert(super::INDEX_HEADER, v);
    }
    Ok(response)
}
