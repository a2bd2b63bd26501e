//! Application elections: campaign (with a value shown beside the leader), resign, transfer,
//! and observe with a long-poll that also reports "no leader".

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use raftorch_core::orchestrator::validate::{self, Field};
use raftorch_core::orchestrator::{
    Command, EventKind, Orchestrator, OrchestratorError, MAX_ELECTION_VALUE_LEN,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::input::{json, request_id, Body, Params};
use super::reply::{at_index, written};
use super::ApiState;
use crate::runtime::Consistency;

/// Longest an observe or a blocking acquire waits.
pub(super) const MAX_WAIT: Duration = Duration::from_secs(30);

/// The election routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/elections/{name}", get(get_election))
        .route("/v1/elections/{name}/campaign", post(campaign))
        .route("/v1/elections/{name}/resign", post(resign))
        .route("/v1/elections/{name}/transfer", post(transfer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    candidate: String,
    lease_id: u64,
    value: Option<String>,
}

/// `POST /v1/elections/{name}/campaign {"candidate", "lease_id", "value"?}`: `{"result":
/// "elected", "term"}`, or `{"result": "campaign_queued", "position"}` behind the current
/// leader. `value` (at most 4 KiB, e.g. an endpoint) is shown with the leader; campaigning
/// again replaces it.
async fn campaign(
    State(state): State<ApiState>,
    Path(election): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    validate::name(Field::ElectionName, &election)?;
    let b: CampaignBody = json(&body)?;
    validate::name(Field::Candidate, &b.candidate)?;
    let command = match b.value {
        None => Command::Campaign {
            election,
            candidate: b.candidate,
            lease_id: b.lease_id,
        },
        Some(value) if value.len() > MAX_ELECTION_VALUE_LEN => {
            return Err(ApiError::invalid(format!(
                "value is longer than {MAX_ELECTION_VALUE_LEN} bytes"
            )))
        }
        Some(value) => Command::CampaignWithValue {
            election,
            candidate: b.candidate,
            lease_id: b.lease_id,
            value,
        },
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    to: String,
}

/// `POST /v1/elections/{name}/transfer {"to"}`: the queued candidate `to` leads with a new,
/// higher term (`{"result": "elected", "term"}`); the old leader queues at the back. 409
/// `not_a_candidate` when `to` does not wait in the queue.
async fn transfer(
    State(state): State<ApiState>,
    Path(election): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    validate::name(Field::ElectionName, &election)?;
    let b: TransferBody = json(&body)?;
    validate::name(Field::Candidate, &b.to)?;
    let command = Command::TransferElection { election, to: b.to };
    written(state.write(command, request_id(&headers)?).await?)
}

/// What an observer sees of an election at one applied index.
struct Observed {
    body: Value,
    /// Whether the leader changed (by an entry) after the `after` index asked about.
    changed: bool,
}

/// The election's JSON, and whether its leader changed after `after`. A watch history that no
/// longer reaches back to `after` counts as a change: the observer must look again.
fn observe(sm: &Orchestrator, name: &str, after: Option<u64>) -> Observed {
    let leader = sm.election_leader(name).map(|l| {
        let value = sm.election_value(name, &l.candidate).map(str::to_owned);
        let mut v = serde_json::to_value(&l).unwrap_or(Value::Null);
        v["value"] = value.map_or(Value::Null, Value::from);
        v
    });
    let candidates = sm.election_candidates(name);
    let key = format!("elections/{name}");
    let changed = after.is_some_and(|after| match sm.events_after(&key, after, usize::MAX) {
        Ok(events) => events.iter().any(|e| {
            e.key == key
                && matches!(
                    e.kind,
                    EventKind::ElectionLeader { .. } | EventKind::ElectionResigned { .. }
                )
        }),
        Err(OrchestratorError::Compacted { .. }) | Err(_) => true,
    });
    let index = sm.applied_index();
    Observed {
        body: json!({"election": name, "leader": leader, "candidates": candidates,
                     "index": index}),
        changed,
    }
}

/// `GET /v1/elections/{name}?wait_ms=N&after=INDEX`: `{"election", "leader": {"candidate",
/// "lease_id", "term", "since_index", "value"} or null (no leader), "candidates": [queued, first
/// in line first], "index"}`. With `wait_ms` (at most 30 s) it answers as soon as the leader
/// changed by an entry after `INDEX` (default: the index of the first read), or when the wait
/// ends; pass the answer's `index` as the next `after`.
async fn get_election(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency", "wait_ms", "after"])?;
    validate::name(Field::ElectionName, &name)?;
    let wait = params.u64("wait_ms")?.map(Duration::from_millis);
    let mut after = params.u64("after")?;
    let deadline = tokio::time::Instant::now() + wait.unwrap_or_default().min(MAX_WAIT);
    let _slot = match wait {
        Some(_) => Some(state.waiters.admit()?),
        None => None,
    };
    let mut changes = state.node.watch_status();
    let mut consistency = params.consistency()?;
    loop {
        let (n, a) = (name.clone(), after);
        let (seen, index) = state
            .read(consistency, move |sm| observe(sm, &n, a))
            .await?;
        let now = tokio::time::Instant::now();
        if wait.is_none() || seen.changed || now >= deadline {
            return Ok(at_index(StatusCode::OK, &seen.body, index));
        }
        // Without `after`, wait for the next change from what the first read saw.
        after.get_or_insert(index);
        // Later looks are at this node's applied state, which only moves forward.
        consistency = Consistency::Stale;
        if let Ok(Err(_)) = tokio::time::timeout_at(deadline, changes.changed()).await {
            return Err(ApiError::from(crate::runtime::RequestError::ShuttingDown));
        }
    }
}
