//! Coordination: leases and fenced locks (elections are in `elections`).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use raftorch_core::orchestrator::validate::{self, Field};
use raftorch_core::orchestrator::{Command, Response as SmResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::elections::MAX_WAIT;
use super::error::ApiError;
use super::input::{json, request_id, Body, Params};
use super::lock_wait;
use super::reply::{at_index, written, written_with};
use super::ApiState;
use crate::runtime::Consistency;

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

/// `POST /v1/leases/{id}/keepalive`: `{"result": "lease_kept_alive", "lease_id",
/// "deadline_ms", "remaining_ms"}`; `remaining_ms` is the TTL left by this node's applied
/// replicated clock (at most the TTL).
async fn keep_alive(
    State(state): State<ApiState>,
    Path(lease_id): Path<u64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let applied = state
        .write(Command::KeepAlive { lease_id }, request_id(&headers)?)
        .await?;
    let Ok(SmResponse::LeaseKeptAlive { deadline_ms, .. }) = applied.output else {
        return written(applied);
    };
    let ((now_ms, ttl_ms), _) = state
        .read(Consistency::Stale, move |sm| {
            (sm.now_ms(), sm.lease(lease_id).map(|l| l.ttl_ms))
        })
        .await?;
    let remaining = deadline_ms.saturating_sub(now_ms);
    let remaining = ttl_ms.map_or(remaining, |ttl| remaining.min(ttl));
    let mut extra = Map::new();
    extra.insert("remaining_ms".into(), Value::from(remaining));
    written_with(applied, extra)
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

/// How an acquire waits.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum LockMode {
    /// Queue behind the holder (the default).
    #[default]
    Queue,
    /// Never queue: 409 `lock_held` while another lease holds it.
    Try,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcquireBody {
    lease_id: u64,
    #[serde(default)]
    mode: LockMode,
}

/// `POST /v1/locks/{name}?wait_ms=N {"lease_id", "mode": "queue"|"try"}`: `{"result":
/// "lock_acquired", "fencing_token"}`, or `{"result": "lock_queued", "position"}` while another
/// lease holds it. `mode: "try"` never queues (409 `lock_held`). With `wait_ms` (at most 30 s,
/// queue mode only) a queued request waits until its lease holds the lock or the wait ends
/// (then `lock_queued`; the lease stays queued).
async fn acquire(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["wait_ms"])?;
    validate::name(Field::LockName, &name)?;
    let b: AcquireBody = json(&body)?;
    let wait = params.u64("wait_ms")?.map(Duration::from_millis);
    if b.mode == LockMode::Try && wait.is_some() {
        return Err(ApiError::invalid("wait_ms applies to mode \"queue\" only"));
    }
    let command = match b.mode {
        LockMode::Queue => Command::AcquireLock {
            name: name.clone(),
            lease_id: b.lease_id,
        },
        LockMode::Try => Command::TryLock {
            name: name.clone(),
            lease_id: b.lease_id,
        },
    };
    let applied = state.write(command, request_id(&headers)?).await?;
    match (wait, &applied.output) {
        (Some(wait), Ok(SmResponse::LockQueued { .. })) => {
            lock_wait::until_held(&state, name, b.lease_id, wait.min(MAX_WAIT)).await
        }
        _ => written(applied),
    }
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
