//! `POST /v1/txn`: compares on keys, then the `success` or the `failure` operations, applied
//! atomically in one log entry (one state save, one event append); fenced like any kv write.
//!
//! ```json
//! {"compare": [{"key": "a", "target": "value|revision|version|exists|lease",
//!               "op": "==|!=|<|>", "value": ...}],
//!  "success": [{"op": "put", "key": "a", "value": "text", "lease_id": 7},
//!              {"op": "delete", "key": "b"}, {"op": "get", "key": "c"}],
//!  "failure": [...], "fence": "election:NAME:TERM"}
//! ```
//! answers `{"succeeded", "index", "results": [{"op": "put", "revision", "version"} |
//! {"op": "delete", "deleted"} | {"op": "get", "key", "value" (null when absent),
//! "mod_revision", "version"}]}`.

use std::collections::HashMap;

use axum::extract::{DefaultBodyLimit, Extension, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use raftorch_core::orchestrator::{
    Command, Compare, CompareOp, CompareTarget, Response as SmResponse, Txn, TxnOp, TxnResult,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::fence;
use super::input::{json, request_id, Body, Params};
use super::kv::base64;
use super::reply::at_index;
use super::ApiState;
use crate::auth::{self, Caller};

/// The transaction route. Its body may carry values as large as a kv put's.
pub(super) fn routes(max_value_bytes: usize) -> Router<ApiState> {
    let limit = DefaultBodyLimit::max(super::kv::put_body_limit(max_value_bytes));
    Router::new().route("/v1/txn", post(txn).layer(limit))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TxnBody {
    #[serde(default)]
    compare: Vec<CompareBody>,
    #[serde(default)]
    success: Vec<OpBody>,
    #[serde(default)]
    failure: Vec<OpBody>,
    fence: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompareBody {
    key: String,
    target: String,
    op: String,
    value: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "op", rename_all = "lowercase")]
enum OpBody {
    Put {
        key: String,
        value: String,
        lease_id: Option<u64>,
    },
    Delete {
        key: String,
    },
    Get {
        key: String,
    },
}

impl CompareBody {
    fn parse(self) -> Result<Compare, ApiError> {
        let op = match self.op.as_str() {
            "==" => CompareOp::Equal,
            "!=" => CompareOp::NotEqual,
            "<" => CompareOp::Less,
            ">" => CompareOp::Greater,
            other => {
                return Err(ApiError::invalid(format!(
                    "compare op {other:?} is not ==, !=, < or >"
                )))
            }
        };
        let number = || {
            self.value.as_u64().ok_or_else(|| {
                ApiError::invalid(format!(
                    "compare on {} takes a non-negative integer value",
                    self.target
                ))
            })
        };
        let target = match self.target.as_str() {
            "value" => CompareTarget::Value(
                self.value
                    .as_str()
                    .ok_or_else(|| ApiError::invalid("compare on value takes a string value"))?
                    .as_bytes()
                    .to_vec(),
            ),
            "revision" => CompareTarget::Revision(number()?),
            "version" => CompareTarget::Version(number()?),
            "lease" => CompareTarget::Lease(number()?),
            "exists" => CompareTarget::Exists(
                self.value
                    .as_bool()
                    .ok_or_else(|| ApiError::invalid("compare on exists takes true or false"))?,
            ),
            other => {
                return Err(ApiError::invalid(format!(
                    "compare target {other:?} is not value, revision, version, exists or lease"
                )))
            }
        };
        Ok(Compare {
            key: self.key,
            op,
            target,
        })
    }
}

impl OpBody {
    /// The operation, a put's value refused with 413 when over `max_value_bytes` (the node's
    /// `--max-value-bytes`, as for `PUT /v1/kv/{key}`).
    fn into_op(self, max_value_bytes: usize) -> Result<TxnOp, ApiError> {
        Ok(match self {
            OpBody::Put {
                key,
                value,
                lease_id,
            } => {
                if value.len() > max_value_bytes {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        format!(
                            "the value of key {key:?} is {} bytes, over this node's \
                             --max-value-bytes {max_value_bytes}",
                            value.len()
                        ),
                    ));
                }
                TxnOp::Put {
                    key,
                    value: value.into_bytes(),
                    lease: lease_id,
                }
            }
            OpBody::Delete { key } => TxnOp::Delete { key },
            OpBody::Get { key } => TxnOp::Get { key },
        })
    }
}

/// Every operation of a branch.
fn ops(body: Vec<OpBody>, max_value_bytes: usize) -> Result<Vec<TxnOp>, ApiError> {
    body.into_iter()
        .map(|op| op.into_op(max_value_bytes))
        .collect()
}

/// One operation's result as JSON.
fn render(result: &TxnResult) -> Value {
    match result {
        TxnResult::Put { revision, version } => {
            json!({"op": "put", "revision": revision, "version": version})
        }
        TxnResult::Delete { deleted } => json!({"op": "delete", "deleted": deleted}),
        TxnResult::Get {
            key,
            value,
            mod_revision,
            version,
        } => {
            let mut v = json!({"op": "get", "key": key, "value": null,
                               "mod_revision": mod_revision, "version": version});
            match value.as_deref().map(std::str::from_utf8) {
                Some(Ok(text)) => v["value"] = Value::from(text),
                Some(Err(_)) => {
                    v["value_b64"] = Value::from(base64(value.as_deref().unwrap_or(&[])))
                }
                None => {}
            }
            v
        }
    }
}

/// `POST /v1/txn?fence=F` (or `X-Raftorch-Fence`, or `"fence"` in the body; all given must agree).
async fn txn(
    State(state): State<ApiState>,
    caller: Option<Extension<Caller>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let params = Params::new(query, &["fence"])?;
    let b: TxnBody = json(&body)?;
    let outside = fence::from_request(&params, &headers)?;
    let inside = fence::parse_either(b.fence.as_deref(), None)?;
    let fence = match (outside, inside) {
        (Some(x), Some(y)) if x != y => {
            return Err(ApiError::invalid(format!(
                "two different fences given: {x} and {y}"
            )))
        }
        (Some(f), _) | (None, Some(f)) => Some(f),
        (None, None) => None,
    };
    let txn = Txn {
        compare: b
            .compare
            .into_iter()
            .map(CompareBody::parse)
            .collect::<Result<_, _>>()?,
        success: ops(b.success, state.max_value_bytes)?,
        failure: ops(b.failure, state.max_value_bytes)?,
    };
    txn.validate()?;
    // A scoped token must be able to name every key the transaction reads or writes.
    let caller = caller.map(|Extension(c)| c);
    let op_keys = txn.success.iter().chain(&txn.failure).map(|op| match op {
        TxnOp::Put { key, .. } | TxnOp::Delete { key } | TxnOp::Get { key } => key,
    });
    for key in txn.compare.iter().map(|c| &c.key).chain(op_keys) {
        auth::permit(caller.as_ref(), key)?;
    }
    let command = fence::wrap(Command::Txn(txn), fence);
    let applied = state.write(command, request_id(&headers)?).await?;
    match applied.output.map_err(ApiError::from)? {
        SmResponse::Txn { succeeded, results } => {
            let results: Vec<Value> = results.iter().map(render).collect();
            let body = json!({"succeeded": succeeded, "index": applied.index, "results": results});
            Ok(at_index(StatusCode::OK, &body, applied.index))
        }
        other => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("a transaction answered {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_values_over_the_limit_are_413() {
        let put = |n: usize| OpBody::Put {
            key: "k".into(),
            value: "x".repeat(n),
            lease_id: None,
        };
        assert!(ops(vec![put(10), OpBody::Get { key: "k".into() }], 10).is_ok());
        let e = ops(vec![OpBody::Delete { key: "a".into() }, put(11)], 10).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
    }
}
