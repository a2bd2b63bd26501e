//! Coordination: leases, fenced locks, application elections, deployments and watch (long-poll).

use std::collections::HashMap;
use std::time::Duration;

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
use crate::runtime::Consistency;

/// Longest a watch waits for a new event.
const MAX_WATCH: Duration = Duration::from_secs(30);
/// Most events one watch answer carries.
const WATCH_LIMIT: usize = 1000;

/// The coordination routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/leases", post(grant_lease))
        .route("/v1/leases/{id}", get(get_lease).delete(revoke_lease))
        .route("/v1/leases/{id}/keepalive", post(keep_alive))
        .route(
            "/v1/locks/{name}",
            get(get_lock).put(acquire).delete(release),
        )
        .route("/v1/elections/{name}", get(get_election).put(campaign))
        .route(
            "/v1/elections/{name}/{candidate}",
            axum::routing::delete(resign),
        )
        .route(
            "/v1/deployments/{service}",
            get(get_deployment).put(start_deployment),
        )
        .route(
            "/v1/deployments/{service}/{action}",
            post(deployment_action),
        )
        .route("/v1/watch", get(watch))
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

async fn release(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["lease_id"])?;
    validate::name(Field::LockName, &name)?;
    let lease_id = params
        .u64("lease_id")?
        .ok_or_else(|| ApiError::invalid("lease_id is required"))?;
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

async fn resign(
    State(state): State<ApiState>,
    Path((election, candidate)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    validate::name(Field::ElectionName, &election)?;
    validate::name(Field::Candidate, &candidate)?;
    let command = Command::Resign {
        election,
        candidate,
    };
    written(state.write(command, request_id(&headers)?).await?)
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentBody {
    stable_version: String,
    canary_version: String,
    steps: Vec<u8>,
}

async fn start_deployment(
    State(state): State<ApiState>,
    Path(service): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    validate::name(Field::Service, &service)?;
    let b: DeploymentBody = json(&body)?;
    validate::version(&b.stable_version)?;
    validate::version(&b.canary_version)?;
    validate::steps(&b.steps)?;
    let command = Command::StartDeployment {
        service,
        stable_version: b.stable_version,
        canary_version: b.canary_version,
        steps: b.steps,
    };
    written(state.write(command, request_id(&headers)?).await?)
}

async fn deployment_action(
    State(state): State<ApiState>,
    Path((service, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    validate::name(Field::Service, &service)?;
    let command = match action.as_str() {
        "advance" => Command::Advance { service },
        "pause" => Command::Pause { service },
        "resume" => Command::Resume { service },
        "promote" => Command::Promote { service },
        "rollback" => Command::Rollback { service },
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!(
                "unknown deployment action {other:?} (advance, pause, resume, promote, rollback)"
            ),
            ))
        }
    };
    written(state.write(command, request_id(&headers)?).await?)
}

async fn get_deployment(
    State(state): State<ApiState>,
    Path(service): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency"])?;
    validate::name(Field::Service, &service)?;
    let s = service.clone();
    let (deployment, index) = state
        .read(params.consistency()?, move |sm| sm.deployment(&s).cloned())
        .await?;
    let deployment = deployment.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "deployment_not_found",
            format!("service {service:?} has no deployment"),
        )
    })?;
    Ok(at_index(StatusCode::OK, &deployment, index))
}

/// `GET /v1/watch?prefix=P&after=INDEX&timeout_ms=T`: events after `INDEX` under `P`; waits up
/// to `T` (default 10 s, at most 30 s) for one when there is none yet. Served from this node's
/// applied state; pass the last event's index as the next `after`.
async fn watch(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["prefix", "after", "timeout_ms"])?;
    let prefix = params.get("prefix").unwrap_or_default().to_owned();
    let after = params.u64("after")?.unwrap_or(0);
    let wait = Duration::from_millis(params.u64("timeout_ms")?.unwrap_or(10_000)).min(MAX_WATCH);
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = state.node.watch_status();
    loop {
        let p = prefix.clone();
        let (events, index) = state
            .read(Consistency::Stale, move |sm| {
                sm.events_after(&p, after, WATCH_LIMIT)
            })
            .await?;
        let events = events?;
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(at_index(
                StatusCode::OK,
                &json!({"events": events, "index": index}),
                index,
            ));
        }
        // Wake when something is applied (or the wait ends).
        if let Ok(Err(_)) = tokio::time::timeout_at(deadline, changes.changed()).await {
            return Err(ApiError::from(crate::runtime::RequestError::ShuttingDown));
        }
    }
}
