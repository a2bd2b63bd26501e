//! Debugging routes: what tests and operators use to look inside a running node.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::json;

use super::reply::at_index;
use super::ApiState;

/// The debugging routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/v1/debug/digests", get(digests))
}

/// `GET /v1/debug/digests`: `{"digests": [{"index", "digest"}]}`, the newest sampled digests
/// of the whole replicated state (oldest first; `digest` as 16 hex digits), one at every
/// multiple of `--digest-every` applied entries (none without it). Every replica samples the
/// same indexes, so two nodes that answer different digests for one index have diverged.
async fn digests(State(state): State<ApiState>) -> Response {
    let samples: Vec<_> = state
        .node
        .state_digests()
        .iter()
        .map(|&(index, digest)| json!({"index": index, "digest": format!("{digest:016x}")}))
        .collect();
    let applied = state.node.status().applied;
    at_index(StatusCode::OK, &json!({"digests": samples}), applied)
}
