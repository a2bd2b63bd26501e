//! The members of the Raft configuration as the API shows them, and membership changes at the
//! leader, one server at a time: `POST /v1/cluster/members` adds a learner or voter,
//! `DELETE /v1/cluster/members/{id}` removes one.
//!
//! Only nodes whose addresses this node knows (configured peers, or the replicated address
//! book) can be (re)added; others are refused with 422.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use raftorch_core::raft::ConfChange;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::ApiError;
use super::input::{json, Body};
use super::reply::at_index;
use super::ApiState;
use crate::runtime::{NodeStatus, RequestError};

/// One member of the current Raft configuration, as `/v1/status` and `/v1/members` show it.
#[derive(Debug, Serialize)]
pub(super) struct Member {
    /// Its node id.
    pub(super) id: u64,
    /// Its Raft peer address; `None` (JSON `null`) when this node does not know it.
    pub(super) peer_addr: Option<String>,
    /// Its HTTP API address; `None` when this node does not know it.
    pub(super) api_addr: Option<String>,
    /// Voter (true) or learner (false).
    pub(super) voter: bool,
}

/// Every voter, then every learner, of the configuration in `status`, with the addresses
/// from this node's address table.
pub(super) fn list(state: &ApiState, status: &NodeStatus) -> Vec<Member> {
    let table = state.node.addresses();
    let member = |id: u64, voter: bool| Member {
        id,
        peer_addr: table.get(&id).map(|p| p.peer_addr.clone()),
        api_addr: table.get(&id).map(|p| p.api_addr.clone()),
        voter,
    };
    let voters = status.voters.iter().map(|&id| member(id, true));
    voters
        .chain(status.learners.iter().map(|&id| member(id, false)))
        .collect()
}

/// The body of `POST /v1/cluster/members`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AddMemberBody {
    /// The node's id.
    pub(super) id: u64,
    /// Its Raft peer address.
    pub(super) peer_addr: String,
    /// Its HTTP API address.
    pub(super) api_addr: String,
    /// Voter (true) or learner (false).
    #[serde(default)]
    pub(super) voter: bool,
}

fn refused(e: RequestError) -> ApiError {
    match e {
        RequestError::NotLeader(Some(l)) => ApiError::new(
            StatusCode::CONFLICT,
            "not_leader",
            format!("send membership changes to the leader, node {l}"),
        ),
        RequestError::Dropped(why) => ApiError::invalid(why),
        other => ApiError::from(other),
    }
}

async fn propose(state: &ApiState, change: ConfChange) -> Result<Response, ApiError> {
    let index = state.node.conf_change(change).await.map_err(refused)?;
    let body = json!({"proposed": format!("{change:?}"), "index": index});
    Ok(at_index(StatusCode::ACCEPTED, &body, index))
}

/// `POST /v1/cluster/members {"id","peer_addr","api_addr","voter"}`: 202 once proposed.
pub(super) async fn add(
    State(state): State<ApiState>,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let b: AddMemberBody = json(&body)?;
    if b.id == 0 {
        return Err(ApiError::invalid("node id 0 is reserved"));
    }
    if b.peer_addr.is_empty() {
        return Err(ApiError::invalid("peer_addr is required"));
    }
    match state.api_addr(b.id) {
        Some(api) if api == b.api_addr => {}
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_peer",
                format!(
                    "node {} at {} is not a known peer; this build only re-adds known peers",
                    b.id, b.api_addr
                ),
            ))
        }
    }
    let change = if b.voter {
        ConfChange::AddVoter(b.id)
    } else {
        ConfChange::AddLearner(b.id)
    };
    propose(&state, change).await
}

/// `DELETE /v1/cluster/members/{id}`: 202 once proposed.
pub(super) async fn remove(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::invalid(format!("node id {id:?} is not a positive integer")))?;
    propose(&state, ConfChange::RemoveNode(id)).await
}
