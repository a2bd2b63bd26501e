//! Watch: long-polls for the events after a cursor, one route per namespace (`/v1/watch/kv`,
//! `/v1/watch/services`, `/v1/watch/locks`, `/v1/watch/elections`) and the raw `/v1/watch`
//! over every namespaced key.
//!
//! Every route takes `after` (a cursor, default 0), `wait_ms` (default 10 s, at most 30 s) and
//! `limit` (events per answer, 1..=1000, default 1000). Every answer is
//! `{"events", "next", "more", "index"}`: pass `next` as the next `after`.
//! A cursor is `INDEX.POS` (after that event) or `INDEX` (after every event of that entry), so
//! a page may end inside an entry with many events and the next one resumes right after it.
//! Served from this node's applied state, so a watch may resume on any node. A waiting watch
//! wakes only when an event it passes is applied, and at most `--max-watchers` long-polls wait
//! at once (see [`super::waiters`]): beyond it 503 `too_many_waiters` with `Retry-After`.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use raftorch_core::orchestrator::{Cursor, EventFilter, OrchestratorError};
use serde_json::json;

use super::error::ApiError;
use super::input::Params;
use super::reply::at_index;
use super::watch_event::render;
use super::ApiState;
use crate::runtime::Consistency;

/// Longest a watch waits for a new event.
const MAX_WATCH: Duration = Duration::from_secs(30);
/// How long a watch waits by default.
const DEFAULT_WAIT_MS: u64 = 10_000;
/// Most events one watch answer carries (`?limit=` may ask for fewer).
const WATCH_LIMIT: u64 = 1000;

/// The watch routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/watch", get(raw))
        .route("/v1/watch/kv", get(kv))
        .route("/v1/watch/services", get(services))
        .route("/v1/watch/locks", get(locks))
        .route("/v1/watch/elections", get(elections))
}

/// What one watch asks for.
struct Watch {
    filter: EventFilter,
    after: Cursor,
    limit: usize,
    wait: Duration,
    values: bool,
}

impl Watch {
    /// Reads `after`, `limit` and `wait_ms` from `params`.
    fn new(params: &Params, filter: EventFilter, values: bool) -> Result<Self, ApiError> {
        let after = match params.get("after") {
            None => Cursor::default(),
            Some(text) => text
                .parse()
                .map_err(|e| ApiError::invalid(format!("after: {e}")))?,
        };
        let limit = params.u64("limit")?.unwrap_or(WATCH_LIMIT);
        if !(1..=WATCH_LIMIT).contains(&limit) {
            return Err(ApiError::invalid(format!(
                "limit must be between 1 and {WATCH_LIMIT}"
            )));
        }
        let wait_ms = params.u64("wait_ms")?.unwrap_or(DEFAULT_WAIT_MS);
        Ok(Watch {
            filter,
            after,
            limit: limit as usize,
            wait: Duration::from_millis(wait_ms).min(MAX_WATCH),
            values,
        })
    }
}

/// `GET /v1/watch?prefix=P&after=CURSOR&wait_ms=W`: every event whose namespaced key starts
/// with `P` (`kv/KEY`, `services/SVC/INST`, `locks/NAME`, `elections/NAME`, `leases/ID`,
/// `deployments/SVC`; `""` is all of them).
async fn raw(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["prefix", "after", "wait_ms", "limit"])?;
    let prefix = params.get("prefix").unwrap_or_default();
    let filter = EventFilter::Prefix(prefix.to_owned());
    long_poll(state, Watch::new(&params, filter, false)?).await
}

/// `GET /v1/watch/kv?prefix=P|key=K&values=true&after=&wait_ms=`: kv puts and deletes under
/// prefix `P` (default: every key), or of exactly key `K`; with `values=true` puts carry
/// `value` (UTF-8) or `value_b64`.
async fn kv(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(
        query,
        &["prefix", "key", "values", "after", "wait_ms", "limit"],
    )?;
    let filter = match (params.get("prefix"), params.get("key")) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give prefix or key, not both")),
        (_, Some(key)) => EventFilter::Exact(format!("kv/{key}")),
        (prefix, None) => EventFilter::Prefix(format!("kv/{}", prefix.unwrap_or_default())),
    };
    let values = params.bool("values")?;
    long_poll(state, Watch::new(&params, filter, values)?).await
}

/// `GET /v1/watch/services?service=S&after=&wait_ms=`: registrations, health changes and
/// removals of the instances of `S` (default: every service).
async fn services(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["service", "after", "wait_ms", "limit"])?;
    let filter = match params.get("service") {
        Some(service) => EventFilter::Prefix(format!("services/{service}/")),
        None => EventFilter::Prefix("services/".into()),
    };
    long_poll(state, Watch::new(&params, filter, false)?).await
}

/// `GET /v1/watch/locks?name=N&after=&wait_ms=`: lock grants and releases of lock `N`
/// (default: every lock).
async fn locks(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    named(state, query, "locks").await
}

/// `GET /v1/watch/elections?name=N&after=&wait_ms=`: leaders elected and resigned in election
/// `N` (default: every election).
async fn elections(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    named(state, query, "elections").await
}

/// A watch of one namespace whose keys are names: exactly `?name=`, or all of them.
async fn named(
    state: ApiState,
    query: HashMap<String, String>,
    namespace: &str,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["name", "after", "wait_ms", "limit"])?;
    let filter = match params.get("name") {
        Some(name) => EventFilter::Exact(format!("{namespace}/{name}")),
        None => EventFilter::Prefix(format!("{namespace}/")),
    };
    long_poll(state, Watch::new(&params, filter, false)?).await
}

/// Answers as soon as a page has events, or empty (with `next` advanced to the applied index)
/// when the wait ends; 410 `compacted` (with `compacted_index`) when the history no longer
/// reaches back to the cursor.
async fn long_poll(state: ApiState, watch: Watch) -> Result<Response, ApiError> {
    let deadline = tokio::time::Instant::now() + watch.wait;
    // Registered before the first read: an event applied after it wakes this watch.
    let slot = state.waiters.watch(watch.filter.clone())?;
    loop {
        let (filter, after, values) = (watch.filter.clone(), watch.after, watch.values);
        let limit = watch.limit;
        let (page, index) = state
            .read(Consistency::Stale, move |sm| {
                sm.events_page(&filter, after, limit, values)
            })
            .await?;
        let page = match page {
            Ok(page) => page,
            Err(e @ OrchestratorError::Compacted { oldest }) => return Ok(compacted(&e, oldest)),
            Err(e) => return Err(e.into()),
        };
        if !page.events.is_empty() || tokio::time::Instant::now() >= deadline {
            let events: Vec<_> = page.events.iter().map(render).collect();
            let body = json!({
                "events": events,
                "next": page.next.to_string(),
                "more": page.more,
                "index": index,
            });
            return Ok(at_index(StatusCode::OK, &body, index));
        }
        // Wake when an event this watch passes is applied (or the wait ends); a stopped node
        // wakes every watch, and the next read says so.
        let _ = tokio::time::timeout_at(deadline, slot.woken()).await;
    }
}

/// 410 with the error's usual fields and `compacted_index`: resynchronize with a read and
/// resume from its index.
fn compacted(e: &OrchestratorError, oldest: u64) -> Response {
    let body = json!({"error": {
        "code": "compacted",
        "message": e.to_string(),
        "compacted_index": oldest,
    }});
    (StatusCode::GONE, Json(body)).into_response()
}
