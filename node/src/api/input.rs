//! Turning request parts into typed input, with every failure an [`ApiError`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use raftorch_core::orchestrator::RequestId;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::runtime::Consistency;

/// The raw body, with the size limit's rejection turned into a JSON 413.
pub(super) struct Body(pub(super) Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|r| {
                ApiError::new(
                    r.status(),
                    ApiError::code_for_status(r.status()),
                    r.body_text(),
                )
            })
    }
}

/// A JSON body; unknown fields (the types deny them) and malformed JSON are 400s.
pub(super) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let message = e.to_string();
        let code = if message.starts_with("unknown field") {
            "unknown_field"
        } else if e.is_data() {
            "invalid_argument"
        } else {
            "malformed_json"
        };
        ApiError::new(axum::http::StatusCode::BAD_REQUEST, code, message)
    })
}

/// Query parameters, with the names a route accepts: anything else is a 400.
pub(super) struct Params(HashMap<String, String>);

impl Params {
    /// Checks that only `allowed` names appear.
    pub(super) fn new(raw: HashMap<String, String>, allowed: &[&str]) -> Result<Self, ApiError> {
        if let Some(unknown) = raw.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(ApiError::invalid(format!(
                "unknown query parameter {unknown:?} (allowed: {})",
                allowed.join(", ")
            )));
        }
        Ok(Params(raw))
    }

    /// A string parameter.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A numeric parameter.
    pub(super) fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::invalid(format!("{name} must be a non-negative integer"))
                })
            })
            .transpose()
    }

    /// A boolean parameter (`true`/`false`, `1`/`0`).
    pub(super) fn bool(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("false" | "0") => Ok(false),
            Some("true" | "1" | "") => Ok(true),
            Some(_) => Err(ApiError::invalid(format!("{name} must be true or false"))),
        }
    }

    /// `?consistency=linearizable|lease|stale`, linearizable by default.
    pub(super) fn consistency(&self) -> Result<Consistency, ApiError> {
        match self.get("consistency") {
            None | Some("linearizable") => Ok(Consistency::Linearizable),
            Some("lease") => Ok(Consistency::Lease),
            Some("stale") => Ok(Consistency::Stale),
            Some(other) => Err(ApiError::invalid(format!(
                "consistency {other:?} is not linearizable, lease or stale"
            ))),
        }
    }
}

/// The optional `X-Raftorch-Request-Id: CLIENT:SEQ` header for exactly-once writes.
pub(super) fn request_id(headers: &HeaderMap) -> Result<Option<RequestId>, ApiError> {
    let Some(value) = headers.get("x-raftorch-request-id") else {
        return Ok(None);
    };
    let bad = || ApiError::invalid("X-Raftorch-Request-Id must be CLIENT:SEQ (two integers)");
    let text = value.to_str().map_err(|_| bad())?;
    let (client, seq) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some(RequestId {
        client_id: client.trim().parse().map_err(|_| bad())?,
        seq: seq.trim().parse().map_err(|_| bad())?,
    }))
}
