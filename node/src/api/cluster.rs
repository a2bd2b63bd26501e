//! Health, readiness, metrics, status, members and leadership transfer.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use raftorch_core::raft::Role;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::input::{json, Body};
use super::members;
use super::reply::at_index;
use super::ApiState;
use crate::metrics::Gauges;

/// `GET /healthz`: the process is up and serving HTTP.
pub(super) async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

/// `GET /readyz`: a leader is known and this node has applied what it knows to be committed
/// (within a small lag), so linearizable requests can be served.
pub(super) async fn readyz(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let s = state.node.status();
    if s.leader.is_none() {
        return Err(ApiError::unavailable("no_leader", "no leader is known"));
    }
    if s.commit > s.applied + 1000 {
        return Err(ApiError::unavailable(
            "catching_up",
            format!("applied {} of {} committed entries", s.applied, s.commit),
        ));
    }
    Ok(at_index(
        StatusCode::OK,
        &json!({"ready": true, "leader_id": s.leader}),
        s.applied,
    ))
}

/// `GET /metrics`: Prometheus text format.
pub(super) async fn metrics(State(state): State<ApiState>) -> Response {
    let s = state.node.status();
    let gauges = Gauges {
        id: s.id,
        term: s.term,
        role: match s.role {
            Role::Follower => 0,
            Role::PreCandidate => 1,
            Role::Candidate => 2,
            Role::Leader => 3,
        },
        commit: s.commit,
        applied: s.applied,
        last_index: s.last_index,
        snapshot_index: s.snapshot_index,
        leader: s.leader.unwrap_or(0),
    };
    let text = state.node.metrics.render(&gauges);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// `GET /v1/status`: this node's view of the cluster: who it is, who leads, how far its log
/// is, and every member of the configuration (`{"id","peer_addr","api_addr","voter"}`).
pub(super) async fn status(State(state): State<ApiState>) -> Response {
    let s = state.node.status();
    let leader_api = s.leader.and_then(|l| state.api_addr(l));
    let body = json!({
        "id": s.id,
        "role": s.role.as_str(),
        "term": s.term,
        "leader_id": s.leader,
        "leader_api": leader_api,
        "commit_index": s.commit,
        "applied_index": s.applied,
        "last_index": s.last_index,
        "snapshot_index": s.snapshot_index,
        "members": members::list(&state, &s),
    });
    at_index(StatusCode::OK, &body, s.applied)
}

/// `GET /v1/members`: the same member objects as `/v1/status`.
pub(super) async fn members(State(state): State<ApiState>) -> Response {
    let s = state.node.status();
    let body = json!({"members": members::list(&state, &s)});
    at_index(StatusCode::OK, &body, s.applied)
}

/// The body of `POST /v1/cluster/transfer-leader`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferBody {
    /// The voter to hand leadership to.
    pub(super) to: u64,
}

/// `POST /v1/cluster/transfer-leader`: at the leader, hands leadership to `to`.
pub(super) async fn transfer_leader(
    State(state): State<ApiState>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let b: TransferBody = json(&body)?;
    state
        .node
        .transfer_leader(b.to)
        .await
        .map_err(|e| match e {
            crate::runtime::RequestError::NotLeader(Some(l)) => ApiError::new(
                StatusCode::CONFLICT,
                "not_leader",
                format!("send the transfer to the leader, node {l}"),
            ),
            crate::runtime::RequestError::Dropped(why) => ApiError::invalid(why),
            other => ApiError::from(other),
        })?;
    let s = state.node.status();
    Ok(at_index(
        StatusCode::ACCEPTED,
        &json!({"transferring_to": b.to}),
        s.applied,
    ))
}
