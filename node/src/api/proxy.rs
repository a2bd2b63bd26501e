//! Passing a whole HTTP request on to the leader's API, for the requests that are not one
//! state-machine command a follower could forward through [`ApiState::write`]: membership
//! changes, which the leader itself must sequence (address record, configuration change, wait).
//!
//! The passed-on request carries [`FORWARDED_HEADER`]; a node that receives it does not pass it
//! on again (leadership may have moved meanwhile), so a request crosses at most one hop. It also
//! carries the caller's `Authorization` header: the leader checks the token again (with its own
//! auth file, which should be the same), as it would the caller's own request.

use std::time::Duration;

use axum::body::Body as AxumBody;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use raftorch_core::raft::NodeId;

use super::consensus::WRITE_TIMEOUT;
use super::error::ApiError;
use super::{ApiState, INDEX_HEADER};

/// How long connecting to the leader's API may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

/// The HTTP client a node passes membership requests on with: connections to the leader are
/// kept and reused, and redirects are never followed. With `tls` it speaks HTTPS, trusting the
/// cluster's CA only and presenting this node's certificate.
pub(super) fn leader_agent(tls: Option<std::sync::Arc<rustls::ClientConfig>>) -> ureq::Agent {
    let builder = ureq::AgentBuilder::new()
        .timeout_connect(CONNECT_TIMEOUT)
        .redirects(0)
        .max_idle_connections_per_host(8);
    match tls {
        Some(tls) => builder.tls_config(tls).build(),
        None => builder.build(),
    }
}

/// Marks a request a follower passed on to the leader.
pub(super) const FORWARDED_HEADER: &str = "x-raftorch-forwarded";

/// Whether `headers` mark a request already passed on once.
pub(super) fn was_forwarded(headers: &HeaderMap) -> bool {
    headers.contains_key(FORWARDED_HEADER)
}

/// Sends `method path` with `body` (JSON, or empty) and the caller's token from `headers` to
/// `leader`'s API and answers with what it answered: status, JSON body and index header. 503
/// when the leader cannot be reached.
pub(super) async fn to_leader(
    state: &ApiState,
    headers: &HeaderMap,
    leader: NodeId,
    method: &'static str,
    path: String,
    body: Vec<u8>,
) -> Result<Response, ApiError> {
    let addr = state.api_addr(leader).ok_or_else(|| {
        ApiError::unavailable(
            "no_leader_address",
            format!("the leader is node {leader}, whose API address this node does not know"),
        )
    })?;
    let agent = state.forwarder.clone();
    let url = format!("{}://{addr}{path}", state.scheme);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The leader's spans for the request continue this node's trace.
    let traceparent = crate::telemetry::current_traceparent();
    let answer = tokio::task::spawn_blocking(move || {
        let mut request = agent
            .request(method, &url)
            // The leader answers within its own write timeout; a little more for the hop.
            .timeout(WRITE_TIMEOUT + Duration::from_secs(1))
            .set(FORWARDED_HEADER, "1")
            .set("content-type", "application/json");
        if let Some(a) = &authorization {
            request = request.set("authorization", a);
        }
        if let Some(t) = &traceparent {
            request = request.set(crate::telemetry::http_layer::TRACEPARENT, t);
        }
        let result = if body.is_empty() {
            request.call()
        } else {
            request.send_bytes(&body)
        };
        match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => {
                let status = r.status();
                let index = r.header(INDEX_HEADER).map(str::to_owned);
                let text = r.into_string().map_err(|e| e.to_string())?;
                Ok((status, index, text))
            }
            Err(e) => Err(e.to_string()),
        }
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r)
    .map_err(|e| {
        ApiError::unavailable(
            "leader_unreachable",
            format!("passing the request on to the leader, node {leader}, failed: {e}"),
        )
    })?;
    let (status, index, text) = answer;
    let mut response = Response::new(AxumBody::from(text));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(v) = index.and_then(|i| HeaderValue::from_str(&i).ok()) {
        headers.insert(INDEX_HEADER, v);
    }
    Ok(response)
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
