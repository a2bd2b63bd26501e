//! Every API error is `{"error": {"code", "message"}}` with a fitting status. A 503 also carries
//! `Retry-After` and `"leader"` in the error object: the leader this node knows, or `null`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use raftorch_core::orchestrator::validate::{Field, Rule, ValidationError};
use raftorch_core::orchestrator::OrchestratorError;
use raftorch_core::raft::NodeId;
use serde_json::{json, Value};

use crate::runtime::RequestError;

/// Seconds a client should wait before retrying a 503.
pub(super) const RETRY_AFTER_SECS: u64 = 1;

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable, machine-readable code (`snake_case`).
    pub code: &'static str,
    /// For humans.
    pub message: String,
    /// The leader the refusal named (a 503 from a follower that knows it); when `None`, the
    /// answer names the leader this node knows (see [`retry_guidance`]).
    pub leader: Option<NodeId>,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            leader: None,
        }
    }

    /// 400 with code `invalid_argument`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }

    /// 503 with `Retry-After`: the cluster cannot answer right now.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// The code a bare status gets when a framework rejection is normalised into this shape.
    pub fn code_for_status(status: StatusCode) -> &'static str {
        match status {
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_client_error() => "bad_request",
            _ => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some(leader) = self.leader {
            body["error"]["leader"] = Value::from(leader);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let (status, code) = match (e.field, e.rule) {
            (Field::Value, Rule::TooLong { .. }) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            _ => (StatusCode::BAD_REQUEST, "invalid_argument"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<OrchestratorError> for ApiError {
    fn from(e: OrchestratorError) -> Self {
        use OrchestratorError as E;
        let (status, code) = match &e {
            E::Invalid(v) => return ApiError::from(*v),
            E::ServiceNotFound { .. } => (StatusCode::NOT_FOUND, "service_not_found"),
            E::InstanceNotFound { .. } => (StatusCode::NOT_FOUND, "instance_not_found"),
            E::NoHealthyInstance { .. } => (StatusCode::NOT_FOUND, "no_healthy_instance"),
            E::NoDeployment { .. } => (StatusCode::NOT_FOUND, "deployment_not_found"),
            E::LeaseNotFound { .. } => (StatusCode::NOT_FOUND, "lease_not_found"),
            E::CasFailed { .. } => (StatusCode::CONFLICT, "cas_failed"),
            E::InvalidTransition { .. } => (StatusCode::CONFLICT, "invalid_transition"),
            E::NotLockHolder { .. } => (StatusCode::CONFLICT, "not_lock_holder"),
            E::NotCandidate { .. } => (StatusCode::CONFLICT, "not_candidate"),
            E::CandidateLeaseMismatch { .. } => (StatusCode::CONFLICT, "candidate_lease_mismatch"),
            E::StaleRequest { .. } => (StatusCode::CONFLICT, "stale_request"),
            E::RequestIdReused { .. } => (StatusCode::CONFLICT, "request_id_reused"),
            E::Compacted { .. } => (StatusCode::GONE, "compacted"),
            E::AddressInUse { .. } => (StatusCode::CONFLICT, "address_in_use"),
            E::FencedOut { .. } => (StatusCode::CONFLICT, "fenced_out"),
            E::LockHeld { .. } => (StatusCode::CONFLICT, "lock_held"),
            E::NotQueuedCandidate { .. } => (StatusCode::CONFLICT, "not_a_candidate"),
            E::NoSpace { .. } => (StatusCode::INSUFFICIENT_STORAGE, "no_space"),
            E::Decode { .. } | E::StaleIndex { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        if e == RequestError::DiskFull {
            return ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "no_space", e.to_string());
        }
        let code = match &e {
            RequestError::NotLeader(None) => "no_leader",
            RequestError::NotLeader(Some(_)) => "not_leader",
            RequestError::Dropped(_) => "proposal_dropped",
            RequestError::Lost => "proposal_lost",
            RequestError::Aborted => "timeout",
            RequestError::ShuttingDown => "shutting_down",
            RequestError::DiskFull => "no_space",
        };
        let mut error = ApiError::unavailable(code, e.to_string());
        if let RequestError::NotLeader(leader) = e {
            error.leader = leader;
        }
        error
    }
}

/// Makes a 503 say when and where to retry: `Retry-After` (when missing) and `"leader"` in the
/// JSON error object (when missing) as `known_leader`, or `null`. Other answers pass unchanged.
pub(super) async fn retry_guidance(response: Response, known_leader: Option<NodeId>) -> Response {
    if response.status() != StatusCode::SERVICE_UNAVAILABLE {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 10)
        .await
        .unwrap_or_default();
    let mut value: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        json!({"error": {"code": "unavailable",
                         "message": String::from_utf8_lossy(&bytes).trim().to_owned()}})
    });
    if let Some(error) = value.get_mut("error").and_then(Value::as_object_mut) {
        error
            .entry("leader")
            .or_insert_with(|| known_leader.map_or(Value::Null, Value::from));
    }
    parts
        .headers
        .entry(header::RETRY_AFTER)
        .or_insert_with(|| HeaderValue::from(RETRY_AFTER_SECS));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_503_names_the_known_leader_unless_it_named_one() {
        let plain = ApiError::unavailable("proposal_lost", "lost").into_response();
        let guided = retry_guidance(plain, Some(3)).await;
        assert_eq!(guided.headers()[header::RETRY_AFTER], "1");
        assert_eq!(body(guided).await["error"]["leader"], 3);

        let hinted = ApiError::from(RequestError::NotLeader(Some(2))).into_response();
        let guided = retry_guidance(hinted, Some(3)).await;
        let b = body(guided).await;
        assert_eq!(
            (&b["error"]["code"], &b["error"]["leader"]),
            (&json!("not_leader"), &json!(2))
        );

        let leaderless = ApiError::from(RequestError::NotLeader(None)).into_response();
        let b = body(retry_guidance(leaderless, None).await).await;
        assert_eq!(b["error"]["leader"], Value::Null);
        assert!(b["error"]
            .as_object()
            .is_some_and(|e| e.contains_key("leader")));

        let other = ApiError::invalid("no").into_response();
        let passed = retry_guidance(other, Some(3)).await;
        assert!(!passed.headers().contains_key(header::RETRY_AFTER));
        assert!(body(passed).await["error"].get("leader").is_none());
    }
}
