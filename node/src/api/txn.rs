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

use axum::extract::{Query, State};
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

/// The transaction route.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/v1/txn", post(txn))
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

impl From<OpBody> for TxnOp {
    fn from(op: OpBody) -> Self {
        match op {
            OpBody::Put {
                key,
                value,
                lease_id,
            } => TxnOp::Put {
                key,
                value: value.into_bytes(),
                lease: lease_id,
            },
            OpBody::Delete { key } => TxnOp::Delete { key },
            OpBody::Get { key } => TxnOp::Get { key },
        }
    }
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
        success: b.success.into_iter().map(TxnOp::from).collect(),
        failure: b.failure.into_iter().map(TxnOp::from).collect(),
    };
    txn.validate()?;
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
