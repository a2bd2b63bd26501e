//! Coordination: leases, fenced locks and application elections.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use raftorch_core::orchestrator::validate::{self, Field};
use raftorch_core::orchestrator::Command;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::input::{json, request_id, Body, Params};
use super::reply::{at_index, written};
use super::ApiState;

/// The coordination routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/leases", post(grant_lease))
        .route("/v1/leases/{id}", get(get_lease).delete(revoke_lease))
        .route("/v1/leases/{id}/keepalive", post(keep_alive))
        // PUT is the older spelling of acquire, kept as an alias.
        .route(
            "/v1/locks/{name}",
            get(get_lock).post(acquire).put(acquire).delete(release),
        )
        .route("/v1/elections/{name}", get(get_election))
        .route("/v1/elections/{name}/campaign", post(campaign))
        .route("/v1/elections/{name}/resign", post(resign))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseBody {
    ttl_ms: u64,
}

async fn grant_lease(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let b: LeaseBody = json(&body)?;
    validate::ttl_ms(b.ttl_ms)?;
    let command = Command::GrantLease { ttl_ms: b.ttl_ms };
    written(state.write(command, request_id(&headers)?).await?)
}

async fn keep_alive(
    State(state): State<ApiState>,
    Path(lease_id): Path<u64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    written(
        state
            .write(Command::KeepAlive { lease_id }, request_id(&headers)?)
            .await?,
    )
}

async fn revoke_lease(
    State(state): State<ApiState>,
    Path(lease_id): Path<u64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    written(
        state
            .write(Command::RevokeLease { lease_id }, request_id(&headers)?)
            .await?,
    )
}

async fn get_lease(
    State(state): State<ApiState>,
    Path(lease_id): Path<u64>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency"])?;
    let (lease, index) = state
        .read(params.consistency()?, move |sm| sm.lease(lease_id).cloned())
        .await?;
    let lease = lease.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "lease_not_found",
            format!("lease {lease_id} does not exist"),
        )
    })?;
    Ok(at_index(StatusCode::OK, &lease, index))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LockBody {
    lease_id: u64,
}

/// `POST /v1/locks/{name} {"lease_id"}`: `{"result": "lock_acquired", "fencing_token"}`, or
/// `{"result": "lock_queued", "position"}` while another lease holds it.
async fn acquire(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    validate::name(Field::LockName, &name)?;
    let b: LockBody = json(&body)?;
    let command = Command::AcquireLock {
        name,
        lease_id: b.lease_id,
    };
    written(state.write(command, request_id(&headers)?).await?)
}

/// `DELETE /v1/locks/{name}` with the holding (or waiting) lease as `{"lease_id"}` or
/// `?lease_id=ID`.
async fn release(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["lease_id"])?;
    validate::name(Field::LockName, &name)?;
    let in_body = if body.is_empty() {
        None
    } else {
        Some(json::<LockBody>(&body)?.lease_id)
    };
    let lease_id = match (in_body, params.u64("lease_id")?) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::invalid(format!(
                "lease_id {a} in the body and {b} in the query differ"
            )))
        }
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => return Err(ApiError::invalid("lease_id is required")),
    };
    let command = Command::ReleaseLock { name, lease_id };
    written(state.write(command, request_id(&headers)?).await?)
}

async fn get_lock(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency"])?;
    validate::name(Field::LockName, &name)?;
    let n = name.clone();
    let ((holder, waiters), index) = state
        .read(params.consistency()?, move |sm| {
            (sm.lock_holder(&n), sm.lock_waiters(&n))
        })
        .await?;
    let body = json!({"name": name, "holder": holder, "waiters": waiters});
    Ok(at_index(StatusCode::OK, &body, index))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    candidate: String,
    lease_id: u64,
}

/// `POST /v1/elections/{name}/campaign {"candidate", "lease_id"}`: `{"result": "elected",
/// "term"}`, or `{"result": "campaign_queued", "position"}` behind the current leader.
async fn campaign(
    State(state): State<ApiState>,
    Path(election): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    validate::name(Field::ElectionName, &election)?;
    let b: CampaignBody = json(&body)?;
    validate::name(Field::Candidate, &b.candidate)?;
    let command = Command::Campaign {
        election,
        candidate: b.candidate,
        lease_id: b.lease_id,
    };
    written(state.write(command, request_id(&headers)?).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResignBody {
    candidate: String,
}

/// `POST /v1/elections/{name}/resign {"candidate"}`: the leader steps down (the next in line
/// takes over: `next_leader`), or a queued candidate leaves the queue.
async fn resign(
    State(state): State<ApiState>,
    Path(election): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    validate::name(Field::ElectionName, &election)?;
    let b: ResignBody = json(&body)?;
    validate::name(Field::Candidate, &b.candidate)?;
    let command = Command::Resign {
        election,
        candidate: b.candidate,
    };
    written(state.write(command, request_id(&headers)?).await?)
}

/// `GET /v1/elections/{name}`: `{"election", "leader": {"candidate", "lease_id", "term",
/// "since_index"} or null, "candidates": [queued, first in line first]}`.
async fn get_election(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency"])?;
    validate::name(Field::ElectionName, &name)?;
    let n = name.clone();
    let ((leader, candidates), index) = state
        .read(params.consistency()?, move |sm| {
            let queued: Vec<String> = sm
                .election_candidates(&n)
                .into_iter()
                .map(str::to_owned)
                .collect();
            (sm.election_leader(&n), queued)
        })
        .await?;
    let body = json!({"election": name, "leader": leader, "candidates": candidates});
    Ok(at_index(StatusCode::OK, &body, index))
}
