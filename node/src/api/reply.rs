//! Building success answers: JSON with the index header.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use raftorch_core::orchestrator::Response as SmResponse;
use raftorch_core::raft::LogIndex;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::INDEX_HEADER;
use crate::runtime::Applied;

/// `body` as JSON with `X-Raftorch-Index: index`.
pub(super) fn at_index(status: StatusCode, body: &impl Serialize, index: LogIndex) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(INDEX_HEADER, HeaderValue::from(index));
    response
}

/// The answer to a write: the state machine's response flattened into an object with a
/// `result` name (`{"result": "kv_put", "revision": 7, ...}`), or its error.
pub(super) fn written(applied: Applied) -> Result<Response, ApiError> {
    written_with(applied, Map::new())
}

/// [`written`] with `extra` fields added to the answer.
pub(super) fn written_with(
    applied: Applied,
    extra: Map<String, Value>,
) -> Result<Response, ApiError> {
    let response = applied.output.map_err(ApiError::from)?;
    let status = match response {
        SmResponse::Registered { created: true, .. } | SmResponse::LeaseGranted { .. } => {
            StatusCode::CREATED
        }
        _ => StatusCode::OK,
    };
    let mut body = flatten(&response);
    body.insert("index".into(), Value::from(applied.index));
    body.extend(extra);
    Ok(at_index(status, &Value::Object(body), applied.index))
}

/// `{"Variant": {fields}}` or `"Variant"` as `{"result": "variant", fields...}`.
fn flatten(response: &SmResponse) -> Map<String, Value> {
    let mut out = Map::new();
    match serde_json::to_value(response).unwrap_or(Value::Null) {
        Value::String(name) => {
            out.insert("result".into(), Value::from(snake(&name)));
        }
        Value::Object(outer) => {
            for (name, inner) in outer {
                out.insert("result".into(), Value::from(snake(&name)));
                match inner {
                    Value::Object(fields) => out.extend(fields),
                    other => {
                        out.insert("value".into(), other);
                    }
                }
            }
        }
        _ => {}
    }
    out
}

fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_flatten() {
        let body = flatten(&SmResponse::KvPut {
            revision: 7,
            version: 2,
        });
        assert_eq!(body["result"], "kv_put");
        assert_eq!(body["revision"], 7);
        assert_eq!(flatten(&SmResponse::Deregistered)["result"], "deregistered");
    }
}
