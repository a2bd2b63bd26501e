//! The key-value store: `PUT /v1/kv/{key}` with `{"value": "..."}` (`?cas=REV`, `?lease=ID`),
//! `GET/DELETE /v1/kv/{key}`, and `GET /v1/kv?prefix=P`. Writes take a fence (`?fence=` or
//! `X-Raftorch-Fence`, see `fence`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use raftorch_core::orchestrator::validate;
use raftorch_core::orchestrator::{Command, KeyValue};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::fence;
use super::input::{json, request_id, Body, Params};
use super::reply::{at_index, written};
use super::ApiState;

/// A key's JSON: `value` when it is UTF-8, else `value_base64`.
pub(super) fn render(key: &str, kv: &KeyValue) -> Value {
    let mut v = json!({
        "key": key,
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
        "version": kv.version,
        "lease": kv.lease,
    });
    match std::str::from_utf8(&kv.value) {
        Ok(text) => v["value"] = Value::from(text),
        Err(_) => v["value_base64"] = Value::from(base64(&kv.value)),
    }
    v
}

/// Standard base64 with padding.
pub(super) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The body of `PUT /v1/kv/{key}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutBody {
    /// The new value (UTF-8 text).
    pub(super) value: String,
}

/// `PUT /v1/kv/{key}?cas=REV&lease=ID` with `{"value": "..."}`; a failed CAS is 409.
pub(super) async fn put(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["cas", "lease", "fence"])?;
    let fence = fence::from_request(&params, &headers)?;
    validate::key(&key)?;
    let b: PutBody = json(&body)?;
    validate::value(b.value.as_bytes())?;
    let command = Command::Put {
        key,
        value: b.value.into_bytes(),
        lease: params.u64("lease")?,
        expected_revision: params.u64("cas")?,
    };
    let command = fence::wrap(command, fence);
    written(state.write(command, request_id(&headers)?).await?)
}

/// `DELETE /v1/kv/{key}?cas=REV`.
pub(super) async fn delete(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["cas", "fence"])?;
    let fence = fence::from_request(&params, &headers)?;
    validate::key(&key)?;
    let command = Command::Delete {
        key,
        expected_revision: params.u64("cas")?,
    };
    let command = fence::wrap(command, fence);
    written(state.write(command, request_id(&headers)?).await?)
}

/// `GET /v1/kv/{key}`.
pub(super) async fn get(
    State(state): State<ApiState>,
    Path(key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency"])?;
    validate::key(&key)?;
    let k = key.clone();
    let (found, index) = state
        .read(params.consistency()?, move |sm| {
            sm.kv_get(&k).map(|kv| render(&k, kv))
        })
        .await?;
    match found {
        Some(v) => Ok(at_index(StatusCode::OK, &v, index)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "key_not_found",
            format!("key {key:?} does not exist"),
        )),
    }
}

/// `GET /v1/kv?prefix=P`: every key starting with `P`, in key order.
pub(super) async fn range(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency", "prefix"])?;
    let prefix = params.get("prefix").unwrap_or_default().to_owned();
    let (items, index) = state
        .read(params.consistency()?, move |sm| {
            sm.kv_range(&prefix)
                .into_iter()
                .map(|(k, kv)| render(k, kv))
                .collect::<Vec<_>>()
        })
        .await?;
    Ok(at_index(
        StatusCode::OK,
        &json!({"items": items, "index": index}),
        index,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(input.as_bytes()), want);
        }
    }
}
