//! Watch: a long-poll for the events after an index under a key prefix.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::error::ApiError;
use super::input::Params;
use super::reply::at_index;
use super::ApiState;
use crate::runtime::Consistency;

/// Longest a watch waits for a new event.
const MAX_WATCH: Duration = Duration::from_secs(30);
/// Most events one watch answer carries.
const WATCH_LIMIT: usize = 1000;

/// The watch route.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/v1/watch", get(watch))
}

/// `GET /v1/watch?prefix=P&after=INDEX&wait_ms=W`: events after `INDEX` under `P`; waits up
/// to `W` ms (default 10 s, at most 30 s) for one when there is none yet. Served from this node's
/// applied state; pass the last event's index as the next `after`.
async fn watch(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["prefix", "after", "wait_ms"])?;
    let prefix = params.get("prefix").unwrap_or_default().to_owned();
    let after = params.u64("after")?.unwrap_or(0);
    let wait = Duration::from_millis(params.u64("wait_ms")?.unwrap_or(10_000)).min(MAX_WATCH);
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
