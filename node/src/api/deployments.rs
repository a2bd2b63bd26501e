//! Canary deployments: start one, move it along, read where it is.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use raftorch_core::orchestrator::validate::{self, Field};
use raftorch_core::orchestrator::Command;
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiError;
use super::input::{json, request_id, Body, Params};
use super::reply::{at_index, written};
use super::ApiState;

/// The deployment routes.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/v1/deployments/{service}",
            get(get_deployment).put(start_deployment),
        )
        .route(
            "/v1/deployments/{service}/{action}",
            post(deployment_action),
        )
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

/// `GET /v1/deployments/{service}`: the deployment as stored (`service`, `stable_version`,
/// `canary_version`, `steps`, `state`, `started_index`, `percent_changed_index`) plus
/// `canary_percent`, the share of request keys the canary version gets now.
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
    let mut body = serde_json::to_value(&deployment)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    body["canary_percent"] = Value::from(deployment.canary_percent());
    Ok(at_index(StatusCode::OK, &body, index))
}
