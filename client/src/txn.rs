//! Transactions (`POST /v1/txn`): compares, then the success or the failure operations, applied
//! atomically in one entry.

use hyper::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::{Call, Client};
use crate::error::{Error, Result};
use crate::fence::Fence;

/// What a compare looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The value.
    Value,
    /// The key's `mod_revision`.
    Revision,
    /// The key's version (0 when absent).
    Version,
    /// Whether the key exists (compare with `true`/`false`).
    Exists,
    /// The key's lease id (0 when none).
    Lease,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `==`
    #[serde(rename = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>`
    #[serde(rename = ">")]
    Gt,
}

/// One compare.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compare {
    /// The key.
    pub key: String,
    /// What of it.
    pub target: Target,
    /// How.
    pub op: CmpOp,
    /// With what.
    pub value: Value,
}

impl Compare {
    /// `key`'s `target` `op` `value`.
    pub fn new(key: impl Into<String>, target: Target, op: CmpOp, value: impl Into<Value>) -> Self {
        Compare {
            key: key.into(),
            target,
            op,
            value: value.into(),
        }
    }
}

/// One operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TxnOp {
    /// Write a key.
    Put {
        /// The key.
        key: String,
        /// Its new value.
        value: Value,
        /// Attach it to a lease.
        #[serde(skip_serializing_if = "Option::is_none")]
        lease_id: Option<u64>,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: String,
    },
    /// Read a key.
    Get {
        /// The key.
        key: String,
    },
}

/// A transaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Txn {
    /// All must hold for `success` to run; else `failure` runs.
    pub compare: Vec<Compare>,
    /// Run when every compare holds.
    pub success: Vec<TxnOp>,
    /// Run otherwise.
    pub failure: Vec<TxnOp>,
    /// Apply only while this fence holds (wire form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fence: Option<String>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Self {
        Txn::default()
    }

    /// Adds a compare.
    pub fn when(mut self, c: Compare) -> Self {
        self.compare.push(c);
        self
    }

    /// Adds a success operation.
    pub fn then(mut self, op: TxnOp) -> Self {
        self.success.push(op);
        self
    }

    /// Adds a failure operation.
    pub fn or_else(mut self, op: TxnOp) -> Self {
        self.failure.push(op);
        self
    }

    /// Fences the whole transaction.
    pub fn fenced(mut self, fence: &Fence) -> Self {
        self.fence = Some(fence.to_string());
        self
    }
}

/// A transaction's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnResult {
    /// Whether the compares held.
    pub succeeded: bool,
    /// The entry's index.
    pub index: u64,
    /// One result per operation run (`{"op":"put","revision","version"}`, ...).
    pub results: Vec<Value>,
}

impl Client {
    /// `POST /v1/txn`.
    pub async fn txn(&self, txn: &Txn) -> Result<TxnResult> {
        let body = serde_json::to_value(txn).map_err(|e| Error::Codec(e.to_string()))?;
        let a = self
            .call(Call::write(Method::POST, "/v1/txn", Some(body)))
            .await?;
        serde_json::from_value(a.body).map_err(|e| Error::Protocol(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_as_the_contract_says() {
        let t = Txn::new()
            .when(Compare::new("a", Target::Revision, CmpOp::Eq, 7))
            .then(TxnOp::Put {
                key: "a".into(),
                value: json!("x"),
                lease_id: None,
            })
            .or_else(TxnOp::Get { key: "a".into() })
            .fenced(&Fence::Election {
                name: "e".into(),
                term: 3,
            });
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            json!({"compare": [{"key": "a", "target": "revision", "op": "==", "value": 7}],
                   "success": [{"op": "put", "key": "a", "value": "x"}],
                   "failure": [{"op": "get", "key": "a"}],
                   "fence": "election:e:3"})
        );
    }
}
