//! The members of the Raft configuration as the API shows them, and membership changes at the
//! leader, one server at a time: `POST /v1/cluster/members` adds a learner or voter (or promotes
//! a learner), `DELETE /v1/cluster/members/{id}` removes one. A follower passes either request
//! on to the leader (see [`super::proxy`]).
//!
//! A member's addresses are replicated state (the orchestrator's address book), so any node,
//! including one started after the cluster with `--join`, can be added: the handler first
//! commits the address record, so that every replica's transport can reach the node, then
//! proposes the membership change. A removal goes the other way round: the node leaves the
//! configuration first, then its record is dropped. Both answer once the change is applied here.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use raftorch_core::orchestrator::validate::{self, Field};
use raftorch_core::orchestrator::Command;
use raftorch_core::raft::{membership, ConfChange, ConfState, LogIndex, NodeId, Role};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::consensus::WRITE_TIMEOUT;
use super::error::ApiError;
use super::input::{json, Body};
use super::proxy;
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
    /// Its Raft peer address, `HOST:PORT` as the other nodes reach it.
    pub(super) peer_addr: String,
    /// Its HTTP API address, `HOST:PORT`.
    pub(super) api_addr: String,
    /// Voter (true) or learner (false).
    #[serde(default)]
    pub(super) voter: bool,
}

/// 409 naming the leader; everything else as usual. A dropped proposal is a 503 to retry: the
/// change was checked against the configuration already, so what is left is transient (the
/// previous change, or a new leader's first entry, not applied yet; a leadership transfer).
fn refused(e: RequestError) -> ApiError {
    match e {
        RequestError::NotLeader(Some(l)) => ApiError::new(
            StatusCode::CONFLICT,
            "not_leader",
            format!("send membership changes to the leader, node {l}"),
        ),
        other => ApiError::from(other),
    }
}

/// The configuration in `status`, as the core's type.
fn conf_of(status: &NodeStatus) -> ConfState {
    ConfState {
        voters: status.voters.iter().copied().collect(),
        learners: status.learners.iter().copied().collect(),
    }
}

/// Where a membership change is made.
enum Route {
    /// Here: this node leads (its status).
    Here(NodeStatus),
    /// At the leader, this node: the request is passed on to it.
    PassOn(NodeId),
}

/// Membership changes are made at the leader. A follower passes the request on to it, once:
/// a request already passed on (leadership moved meanwhile) gets 409 naming the leader, and
/// with no leader known, 503.
fn route(state: &ApiState, headers: &HeaderMap) -> Result<Route, ApiError> {
    let status = state.node.status();
    match status.leader {
        _ if status.role == Role::Leader => Ok(Route::Here(status)),
        Some(leader) if leader != state.id && !proxy::was_forwarded(headers) => {
            Ok(Route::PassOn(leader))
        }
        leader => Err(refused(RequestError::NotLeader(leader))),
    }
}

/// Proposes `change` and waits until this node applied it; the entry's index.
async fn change_membership(state: &ApiState, change: ConfChange) -> Result<LogIndex, ApiError> {
    let index = state.node.conf_change(change).await.map_err(refused)?;
    let mut status = state.node.watch_status();
    let applied = async { status.wait_for(|s| s.applied >= index).await.map(|_| ()) };
    match tokio::time::timeout(WRITE_TIMEOUT, applied).await {
        Ok(Ok(())) => Ok(index),
        Ok(Err(_)) => Err(ApiError::from(RequestError::ShuttingDown)),
        Err(_) => Err(ApiError::unavailable(
            "timeout",
            format!(
                "{change:?} was proposed at index {index} but not applied within {WRITE_TIMEOUT:?}; \
                 watch `members` in /v1/status"
            ),
        )),
    }
}

/// A learner is promoted only once it holds this share of the leader's committed log (etcd's
/// rule): a voter that is far behind would count toward no quorum for a while, and could even
/// cost the cluster its quorum.
const LEARNER_READY_SHARE: f64 = 0.9;

/// Refuses to promote learner `id` while it is far behind the leader's commit index.
fn learner_ready(status: &NodeStatus, id: u64) -> Result<(), ApiError> {
    let matched = status.matched.iter().find(|m| m.0 == id).map_or(0, |m| m.1);
    if (matched as f64) < status.commit as f64 * LEARNER_READY_SHARE {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "learner_not_ready",
            format!(
                "learner {id} holds the log up to index {matched} of the {} committed; \
                 promote it once it has caught up",
                status.commit
            ),
        ));
    }
    Ok(())
}

/// Whether `id` holds the role `change` asks for, as of `status`.
fn in_role(status: &NodeStatus, change: ConfChange) -> bool {
    match change {
        ConfChange::AddVoter(id) => status.voters.contains(&id),
        ConfChange::AddLearner(id) => status.learners.contains(&id),
        ConfChange::RemoveNode(id) => {
            !status.voters.contains(&id) && !status.learners.contains(&id)
        }
    }
}

/// `POST /v1/cluster/members {"id","peer_addr","api_addr","voter"}`, made at the leader: commits the
/// node's address record, then adds it as a learner (or voter; a learner is promoted) and answers
/// 200 once that is applied. A member already in the requested role only has its addresses
/// updated.
pub(super) async fn add(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let b: AddMemberBody = json(&body)?;
    validate::node_id(b.id)?;
    validate::listen_address(Field::PeerAddr, &b.peer_addr)?;
    validate::listen_address(Field::ApiAddr, &b.api_addr)?;
    let status = match route(&state, &headers)? {
        Route::Here(status) => status,
        Route::PassOn(leader) => {
            let path = "/v1/cluster/members".to_owned();
            return proxy::to_leader(&state, &headers, leader, "POST", path, body.to_vec()).await;
        }
    };
    let change = if b.voter {
        ConfChange::AddVoter(b.id)
    } else {
        ConfChange::AddLearner(b.id)
    };
    let already = in_role(&status, change);
    if let ConfChange::AddVoter(id) = change {
        if status.learners.contains(&id) {
            learner_ready(&status, id)?;
        }
    }
    if !already {
        // Refuse what the configuration cannot take before recording anything.
        membership::next_conf(&conf_of(&status), change)
            .map_err(|e| ApiError::invalid(format!("{change:?}: {e}")))?;
    }
    let record = Command::SetMemberAddress {
        id: b.id,
        peer_addr: b.peer_addr.clone(),
        api_addr: b.api_addr.clone(),
    };
    let recorded = state
        .node
        .propose(record, None, WRITE_TIMEOUT)
        .await
        .map_err(refused)?;
    recorded.output.map_err(ApiError::from)?;
    let index = if already {
        recorded.index
    } else {
        let index = change_membership(&state, change).await?;
        if !in_role(&state.node.status(), change) {
            // Another leader's entry took its place.
            return Err(ApiError::from(RequestError::Lost));
        }
        index
    };
    let body = json!({
        "result": if already { "addresses_updated" } else { "member_added" },
        "change": if already { None } else { Some(format!("{change:?}")) },
        "member": {"id": b.id, "peer_addr": b.peer_addr, "api_addr": b.api_addr, "voter": b.voter},
        "address_index": recorded.index,
        "index": index,
    });
    Ok(at_index(StatusCode::OK, &body, index))
}

/// `DELETE /v1/cluster/members/{id}`, at the leader: removes the node from the configuration,
/// then (once that is applied) its address record, and answers 200. The leader itself is not
/// removed this way: hand leadership to another voter first, then remove it at the new leader
/// (`raftorch ctl members remove` does both).
pub(super) async fn remove(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: NodeId =
        id.parse().ok().filter(|&id| id > 0).ok_or_else(|| {
            ApiError::invalid(format!("node id {id:?} is not a positive integer"))
        })?;
    let status = match route(&state, &headers)? {
        Route::Here(status) => status,
        Route::PassOn(leader) => {
            let path = format!("/v1/cluster/members/{id}");
            return proxy::to_leader(&state, &headers, leader, "DELETE", path, Vec::new()).await;
        }
    };
    if id == state.id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "leader_removal",
            format!(
                "node {id} is the leader: hand leadership to another voter first \
                 (POST /v1/cluster/transfer-leader), then remove it at the new leader"
            ),
        ));
    }
    let member = status.voters.contains(&id) || status.learners.contains(&id);
    let (has_record, _) = state
        .read(crate::runtime::Consistency::Stale, move |sm| {
            sm.member_address(id).is_some()
        })
        .await?;
    if !member && !has_record {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_a_member",
            format!("node {id} is neither a member nor in the address book"),
        ));
    }
    let change = ConfChange::RemoveNode(id);
    let index = if member {
        membership::next_conf(&conf_of(&status), change)
            .map_err(|e| ApiError::invalid(format!("{change:?}: {e}")))?;
        let index = change_membership(&state, change).await?;
        if !in_role(&state.node.status(), change) {
            return Err(ApiError::from(RequestError::Lost));
        }
        Some(index)
    } else {
        None
    };
    // Dropped only now that no configuration in force needs it. Through `write`: should
    // leadership have moved meanwhile, it is forwarded to the new leader.
    let address_index = if has_record {
        let applied = state
            .write(Command::RemoveMemberAddress { id }, None)
            .await?;
        applied.output.map_err(ApiError::from)?;
        Some(applied.index)
    } else {
        None
    };
    let last = address_index.or(index).unwrap_or_default();
    let body = json!({
        "result": "member_removed",
        "change": index.map(|_| format!("{change:?}")),
        "index": index,
        "address_index": address_index,
    });
    Ok(at_index(StatusCode::OK, &body, last))
}
