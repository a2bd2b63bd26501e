//! Space alarms: `GET /v1/alarms` lists the active ones with the live state's size, and
//! `POST /v1/alarms/disarm` (admin) clears them. While any is active, writes that grow the
//! state get 507 `no_space`; a cause that persists (a disk still under its reserve) is raised
//! again by the node that sees it, and a quota alarm also clears itself once the live state is
//! back under 90% of the quota.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use raftorch_core::orchestrator::{Alarm, AlarmKind, Command};
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::input::{json, request_id, Body, Params};
use super::reply::{at_index, written};
use super::ApiState;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/v1/alarms", get(list))
        .route("/v1/alarms/disarm", post(disarm))
}

fn alarm_json(a: &Alarm) -> serde_json::Value {
    json!({
        "member": a.member,
        "kind": a.kind.as_str(),
        "raised_index": a.raised_index,
        "quota_bytes": a.quota_bytes,
    })
}

/// `GET /v1/alarms`: `{"alarms": [{"member", "kind", "raised_index", "quota_bytes"}],
/// "live_bytes", "quota_bytes"}` (`quota_bytes` at the top is this node's `--quota-bytes`).
/// While this node's own disk is full (a log write failed with ENOSPC) the list also holds
/// `{"member": this node, "kind": "disk_full", "raised_index": its applied index, "local":
/// true}`: a state of this node, not a replicated alarm, so only this node lists it (and
/// `disarm` does not clear it: freeing space does).
async fn list(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency"])?;
    let ((alarms, live), index) = state
        .read(params.consistency()?, |sm| {
            let alarms: Vec<_> = sm.alarms().map(alarm_json).collect();
            (alarms, sm.live_bytes())
        })
        .await?;
    let mut alarms = alarms;
    let space = &state.node.metrics.space;
    if space.disk_full.load(Relaxed) == 1 {
        // This node's own, not replicated: its log cannot be written to propose it.
        let status = state.node.status();
        alarms.push(json!({
            "member": status.id,
            "kind": "disk_full",
            "raised_index": status.applied,
            "quota_bytes": space.quota_bytes.load(Relaxed),
            "local": true,
        }));
    }
    let quota = space.quota_bytes.load(Relaxed);
    let body = json!({"alarms": alarms, "live_bytes": live, "quota_bytes": quota});
    Ok(at_index(StatusCode::OK, &body, index))
}

/// The body of `POST /v1/alarms/disarm`: both optional; none clears every alarm.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisarmBody {
    member: Option<u64>,
    kind: Option<String>,
}

/// `POST /v1/alarms/disarm`: `{"result": "alarms_disarmed", "count", "index"}`.
async fn disarm(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let b: DisarmBody = if body.is_empty() {
        DisarmBody::default()
    } else {
        json(&body)?
    };
    let kind = match b.kind.as_deref() {
        None => None,
        Some(name) => Some(AlarmKind::parse(name).ok_or_else(|| {
            ApiError::invalid(format!(
                "unknown alarm kind {name:?}: quota or disk_reserve"
            ))
        })?),
    };
    let command = Command::DisarmAlarm {
        member: b.member,
        kind,
    };
    written(state.write(command, request_id(&headers)?).await?)
}
