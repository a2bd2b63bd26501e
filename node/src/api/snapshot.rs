//! `GET /v1/snapshot`: the whole replicated state at a linearizable point, for backups
//! (`raftorch snapshot save`). Admin only: it holds every key and value, and it is not in the
//! policy table, which makes it admin by default.
//!
//! The body is the state machine's snapshot (`application/octet-stream`); the header
//! `X-Raftorch-Snapshot` describes it as a JSON [`BackupMeta`]. The owner task only clones the
//! state at the read's index (the snapshot is serialized on a blocking thread, not on the loop
//! that sends heartbeats).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use raftorch_core::state_machine::StateMachine;

use super::error::ApiError;
use super::{ApiState, INDEX_HEADER};
use crate::backup::BackupMeta;
use crate::runtime::Consistency;

/// The header carrying the snapshot's metadata.
pub const SNAPSHOT_HEADER: &str = "x-raftorch-snapshot";

/// The snapshot route.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/v1/snapshot", get(snapshot))
}

async fn snapshot(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let (copy, _) = state
        .read(Consistency::Linearizable, |sm| sm.clone())
        .await?;
    let (data, counts, index) =
        tokio::task::spawn_blocking(move || (copy.snapshot(), copy.counts(), copy.applied_index()))
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("snapshot task failed: {e}"),
                )
            })?;
    let status = state.node.status();
    let meta = BackupMeta {
        index,
        term: status.term,
        cluster_id: crate::cluster_id::show(state.cluster_id().unwrap_or(0)),
        voters: status.voters,
        learners: status.learners,
        taken_from: state.id,
        taken_at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        snapshot_format: data.first().copied().unwrap_or(0),
        body_bytes: data.len() as u64,
        counts,
        raftorch_version: env!("CARGO_PKG_VERSION").into(),
    };
    let described = serde_json::to_string(&meta).unwrap_or_default();
    let described = HeaderValue::from_str(&described).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("snapshot metadata: {e}"),
        )
    })?;
    let mut response = Response::new(Body::from(data));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(SNAPSHOT_HEADER, described);
    headers.insert(INDEX_HEADER, HeaderValue::from(index));
    Ok(response)
}
