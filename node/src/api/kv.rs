//! The key-value store: `PUT /v1/kv/{key}` with `{"value": "TEXT"}` or `{"value_b64": "..."}`
//! (`?cas=REV`, `?lease=ID`), `GET/DELETE /v1/kv/{key}`, and the paged `GET /v1/kv?prefix=P&limit=N&start_after=K`. Writes take
//! a fence (`?fence=` or `X-Raftorch-Fence`, see `fence`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use raftorch_core::orchestrator::validate;
use raftorch_core::orchestrator::{Command, KeyValue, Page};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::fence;
use super::input::{json, request_id, Body, Params};
use super::page::{put_more, PageQuery};
use super::reply::{at_index, written};
use super::ApiState;

/// A key's JSON: `value` when it is UTF-8, else `value_b64` (standard base64).
pub(super) fn render(key: &str, kv: &KeyValue) -> Value {
    let mut v = json!({
        "key": key,
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
        "version": kv.version,
        "lease": kv.lease,
    });
    put_value(&mut v, &kv.value);
    v
}

/// Sets `value` (UTF-8 text) or `value_b64` (any other bytes) on a JSON object.
pub(super) fn put_value(object: &mut Value, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => object["value"] = Value::from(text),
        Err(_) => object["value_b64"] = Value::from(base64(bytes)),
    }
}

/// Standard base64 with padding.
pub(super) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The largest `PUT /v1/kv` body for values of at most `max_value_bytes`: base64 (4/3) and
/// ordinary JSON escaping (quotes and backslashes, up to 2x) fit; text made of control
/// characters (6x escaped) should go as `value_b64`.
pub(super) fn put_body_limit(max_value_bytes: usize) -> usize {
    (2 * max_value_bytes + (64 << 10)).max(super::MAX_BODY_BYTES)
}

/// The body of `PUT /v1/kv/{key}`: exactly one of `value` (UTF-8 text) and `value_b64`
/// (standard base64 with padding, any bytes).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutBody {
    /// The new value as text.
    value: Option<String>,
    /// The new value as base64.
    value_b64: Option<String>,
}

impl PutBody {
    /// The value's bytes, refused with 413 when over `max` bytes.
    fn into_bytes(self, max: usize) -> Result<Vec<u8>, ApiError> {
        let bytes = match (self.value, self.value_b64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(b64)) => STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| ApiError::invalid(format!("value_b64 is not standard base64: {e}")))?,
            _ => return Err(ApiError::invalid("give exactly one of value and value_b64")),
        };
        if bytes.len() > max {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "the value is {} bytes, over this node's --max-value-bytes {max}",
                    bytes.len()
                ),
            ));
        }
        validate::value(&bytes)?;
        Ok(bytes)
    }
}

/// `PUT /v1/kv/{key}?cas=REV&lease=ID` with `{"value": "TEXT"}` or `{"value_b64": "..."}`; a
/// failed CAS is 409, a value over `--max-value-bytes` 413.
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
    let command = Command::Put {
        key,
        value: b.into_bytes(state.max_value_bytes)?,
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

/// `GET /v1/kv?prefix=P&limit=N&start_after=K`: a page of the keys starting with `P`, in key
/// order, with `more` and `next` (pass it back as `start_after`). The owner task copies at most
/// `limit` entries out; rendering happens here.
pub(super) async fn range(
    State(state): State<ApiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["consistency", "prefix", "limit", "start_after"])?;
    let prefix = params.get("prefix").unwrap_or_default().to_owned();
    let page = PageQuery::parse(&params)?;
    let (page, index) = state
        .read(params.consistency()?, move |sm| {
            Page::take(
                sm.kv_range_from(&prefix, page.start_after.as_deref()),
                page.limit,
            )
            .map(|(k, kv)| (k.to_owned(), kv.clone()))
        })
        .await?;
    let mut body = Map::new();
    put_more(&mut body, &page, |(k, _)| k);
    let items: Vec<Value> = page.items.iter().map(|(k, kv)| render(k, kv)).collect();
    body.insert("items".into(), Value::Array(items));
    body.insert("index".into(), Value::from(index));
    Ok(at_index(StatusCode::OK, &Value::Object(body), index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_values_render_as_base64() {
        let mut v = json!({});
        put_value(&mut v, b"plain");
        assert_eq!(v, json!({"value": "plain"}));
        let mut v = json!({});
        put_value(&mut v, &[0xff, 0x00, 0x80]);
        assert_eq!(v, json!({"value_b64": "/wCA"}));
    }

    #[test]
    fn put_bodies_take_exactly_one_value() {
        let body = |j: &str| serde_json::from_str::<PutBody>(j).unwrap();
        assert_eq!(body(r#"{"value":"x"}"#).into_bytes(10).unwrap(), b"x");
        assert_eq!(
            body(r#"{"value_b64":"/wCA"}"#).into_bytes(10).unwrap(),
            [0xff, 0, 0x80]
        );
        for bad in [
            r#"{}"#,
            r#"{"value":"x","value_b64":"eA=="}"#,
            r#"{"value_b64":"@@"}"#,
        ] {
            assert_eq!(
                body(bad).into_bytes(10).unwrap_err().status,
                StatusCode::BAD_REQUEST
            );
        }
        let big = body(r#"{"value":"12345678901"}"#)
            .into_bytes(10)
            .unwrap_err();
        assert_eq!(
            (big.status, big.code),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
    }
}
