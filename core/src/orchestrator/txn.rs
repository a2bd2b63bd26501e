//! Transactions: compares on keys, then the `success` or the `failure` operations, applied
//! atomically in one log entry (etcd's `Txn`).
//!
//! Every rule (sizes, keys, values, and the leases of the chosen branch's puts) is checked before
//! any operation runs, and no operation can fail after that, so a transaction applies whole or
//! not at all. Operations run in order: a `get` sees the puts and deletes before it.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::kv::KeyValue;
use super::response::{Output, Response};
use super::validate::{self, Field, Rule, ValidationError};
use super::Orchestrator;

/// Most compares in one transaction.
pub const MAX_TXN_COMPARES: usize = 64;
/// Most operations in one branch of a transaction.
pub const MAX_TXN_OPS: usize = 128;

/// A transaction: if every compare holds, `success` runs, else `failure`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// All must hold for `success` to run (none: `success` runs).
    pub compare: Vec<Compare>,
    /// Run when every compare holds.
    pub success: Vec<TxnOp>,
    /// Run otherwise.
    pub failure: Vec<TxnOp>,
}

/// One condition on a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// The key.
    pub key: String,
    /// How the key's target relates to the operand.
    pub op: CompareOp,
    /// What is compared, with the operand.
    pub target: CompareTarget,
}

/// The relation a [`Compare`] checks: `key's target OP operand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `<`
    Less,
    /// `>`
    Greater,
}

/// What of a key is compared, and the operand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    /// The value's bytes (ordered bytewise). An absent key has no value: only `!=` holds.
    Value(Vec<u8>),
    /// The key's `mod_revision`, 0 when absent.
    Revision(u64),
    /// The key's version, 0 when absent.
    Version(u64),
    /// Whether the key exists (`false < true`).
    Exists(bool),
    /// The key's lease id, 0 when absent or without a lease.
    Lease(u64),
}

/// One operation of a branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    /// Writes a key, as `Put` without a revision check.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// Attach it to this live lease; `None` detaches it.
        lease: Option<u64>,
    },
    /// Deletes a key.
    Delete {
        /// The key.
        key: String,
    },
    /// Reads a key, as the operations before it left it.
    Get {
        /// The key.
        key: String,
    },
}

/// What one operation did, in the order of the branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnResult {
    /// The key was written.
    Put {
        /// Its new `mod_revision` (this entry's index).
        revision: u64,
        /// Its version.
        version: u64,
    },
    /// The delete ran.
    Delete {
        /// Whether the key existed.
        deleted: bool,
    },
    /// The key as read.
    Get {
        /// The key.
        key: String,
        /// Its value; `None` when absent.
        value: Option<Vec<u8>>,
        /// Its `mod_revision`, 0 when absent.
        mod_revision: u64,
        /// Its version, 0 when absent.
        version: u64,
    },
}

impl Compare {
    /// Whether the condition holds for the key's current record.
    fn holds(&self, kv: Option<&KeyValue>) -> bool {
        use core::cmp::Ordering;
        let ordering = match &self.target {
            CompareTarget::Value(want) => match kv {
                Some(kv) => kv.value.as_slice().cmp(want.as_slice()),
                None => return self.op == CompareOp::NotEqual,
            },
            CompareTarget::Revision(want) => kv.map_or(0, |kv| kv.mod_revision).cmp(want),
            CompareTarget::Version(want) => kv.map_or(0, |kv| kv.version).cmp(want),
            CompareTarget::Exists(want) => kv.is_some().cmp(want),
            CompareTarget::Lease(want) => kv.and_then(|kv| kv.lease).unwrap_or(0).cmp(want),
        };
        match self.op {
            CompareOp::Equal => ordering == Ordering::Equal,
            CompareOp::NotEqual => ordering != Ordering::Equal,
            CompareOp::Less => ordering == Ordering::Less,
            CompareOp::Greater => ordering == Ordering::Greater,
        }
    }
}

impl TxnOp {
    fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Self::Put { key, value, .. } => {
                validate::key(key)?;
                validate::value(value)
            }
            Self::Delete { key } | Self::Get { key } => validate::key(key),
        }
    }
}

impl Txn {
    /// Checks every key, value and size, in both branches.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let too_many = |field, max: usize| ValidationError {
            field,
            rule: Rule::TooLong { max: max as u64 },
        };
        if self.compare.len() > MAX_TXN_COMPARES {
            return Err(too_many(Field::TxnCompares, MAX_TXN_COMPARES));
        }
        if self.success.len().max(self.failure.len()) > MAX_TXN_OPS {
            return Err(too_many(Field::TxnOps, MAX_TXN_OPS));
        }
        for c in &self.compare {
            validate::key(&c.key)?;
            if let CompareTarget::Value(v) = &c.target {
                validate::value(v)?;
            }
        }
        self.success
            .iter()
            .chain(&self.failure)
            .try_for_each(TxnOp::validate)
    }
}

impl Orchestrator {
    /// Applies `txn` at `index`: the compares, then the chosen branch, whole or not at all.
    pub(crate) fn apply_txn(&mut self, txn: Txn, index: u64) -> Output {
        txn.validate()?;
        let succeeded = txn.compare.iter().all(|c| c.holds(self.kv.get(&c.key)));
        let ops = if succeeded { txn.success } else { txn.failure };
        for op in &ops {
            if let TxnOp::Put { lease: Some(l), .. } = op {
                self.live_lease(*l)?;
            }
        }
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            // Without an expected revision neither put nor delete can fail: nothing after the
            // checks above can leave the branch half applied.
            results.push(match op {
                TxnOp::Put { key, value, lease } => {
                    let kv = self
                        .kv
                        .put(key, value, lease, None, index, &mut self.watch)?;
                    TxnResult::Put {
                        revision: kv.mod_revision,
                        version: kv.version,
                    }
                }
                TxnOp::Delete { key } => TxnResult::Delete {
                    deleted: self.kv.delete(&key, None, index, &mut self.watch)?,
                },
                TxnOp::Get { key } => {
                    let kv = self.kv.get(&key);
                    TxnResult::Get {
                        value: kv.map(|kv| kv.value.clone()),
                        mod_revision: kv.map_or(0, |kv| kv.mod_revision),
                        version: kv.map_or(0, |kv| kv.version),
                        key,
                    }
                }
            });
        }
        Ok(Response::Txn { succeeded, results })
    }
}
