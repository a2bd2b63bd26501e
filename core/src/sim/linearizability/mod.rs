//! Linearizability checking of client histories against a sequential specification.
//!
//! A history is linearizable when every operation can be given a single instant, between its
//! invocation and its response, at which it takes effect, such that running the operations one at
//! a time in that order through the [`SequentialSpec`] yields exactly the responses the clients
//! saw. Operations whose response never arrived ([`Operation::indeterminate`]) may take effect at
//! any instant after their invocation, or not at all.
//!
//! [`check`] runs the Wing–Gong–Lowe search with Lowe's memoization (as Porcupine does);
//! [`check_partitioned`] first splits the history by a key (linearizability is compositional, so
//! a history is linearizable exactly when every per-key sub-history is), which keeps each search
//! small. [`KvSpec`] and [`KvKeySpec`] model the orchestrator's key-value store.
//!
//! ```
//! use raftorch_core::sim::linearizability::{check_kv, KvOp, KvRet, Operation, PartitionedResult};
//!
//! let put = |v: &str| KvOp::Put("x".into(), v.to_string());
//! let get = || KvOp::Get("x".into());
//! let seen = |v: &str| KvRet::Value(Some(v.to_string()));
//! let history = [
//!     Operation::complete(1, 0, 10, put("a"), KvRet::Ok),
//!     Operation::complete(2, 20, 30, get(), seen("a")),
//!     Operation::indeterminate(1, 40, put("b")), // the client crashed
//!     Operation::complete(2, 50, 60, get(), seen("b")), // ..but the write landed
//! ];
//! assert_eq!(check_kv(&history, 10_000), PartitionedResult::Linearizable);
//! ```

mod history;
mod kv_spec;
mod wgl;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{Debug, Write};

pub use history::Operation;
pub use kv_spec::{check_kv, KvKeySpec, KvOp, KvRet, KvSpec};

/// A sequential object: the behaviour a concurrent one must appear to have.
///
/// `apply` must be a pure function of its arguments: the search calls it many times on the same
/// state and compares the results.
pub trait SequentialSpec {
    /// The object's whole state. `Ord` lets the search remember which states it has explored.
    type State: Clone + Ord;
    /// An operation a client can invoke.
    type Op: Clone;
    /// What an operation answers.
    type Ret: Clone + PartialEq;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Runs `op` on `state`, returning the next state and the answer.
    fn apply(&self, state: &Self::State, op: &Self::Op) -> (Self::State, Self::Ret);
}

/// The verdict on one history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// Some order of the operations explains every response.
    Linearizable,
    /// No order does; the counterexample shows where the best attempt got stuck.
    NotLinearizable(Counterexample),
    /// The search budget ran out before either answer was found.
    Unknown,
    /// `history[op]` has a response time earlier than its invocation: the recorder is broken.
    InvalidOperation {
        /// Index of the malformed operation in the history.
        op: usize,
    },
}

impl CheckResult {
    /// True only for [`CheckResult::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Self::Linearizable)
    }
}

/// The deepest dead end of a failed search. All indices refer to the checked history.
///
/// The prefix is one linearization of the operations that could be ordered; it is not the only
/// one, but no extension of any ordering the search tried could place the remaining operations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counterexample {
    /// The longest sequence of operations, in linearization order, the search could justify.
    pub prefix: Vec<usize>,
    /// The operations that could have taken effect next, given real time; none of them fits (its
    /// recorded response disagrees with the spec, or it leads to an already failed state).
    pub candidates: Vec<usize>,
    /// The operation whose response forced the issue: it must have taken effect before the instant
    /// it answered, and by then nothing fits. `None` if only unbounded operations were left.
    pub overdue: Option<usize>,
}

impl Counterexample {
    /// A human-readable account: the state after the prefix, then for each candidate what the
    /// client recorded against what the spec would have answered at that point.
    pub fn explain<S>(&self, spec: &S, history: &[Operation<S::Op, S::Ret>]) -> String
    where
        S: SequentialSpec,
        S::State: Debug,
        S::Op: Debug,
        S::Ret: Debug,
    {
        let mut state = spec.init();
        for &i in &self.prefix {
            state = spec.apply(&state, &history[i].op).0;
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "not linearizable: after linearizing {} ops {:?} the state is {:?}",
            self.prefix.len(),
            self.prefix,
            state
        );
        if let Some(i) = self.overdue {
            let o = &history[i];
            let _ = writeln!(
                out,
                "op #{i} (client {}) answered at {:?}, so it must have taken effect by then, \
                 but no candidate fits:",
                o.client, o.ret_time
            );
        }
        for &i in &self.candidates {
            let o = &history[i];
            let (_, would) = spec.apply(&state, &o.op);
            let _ = writeln!(
                out,
                "  #{i} client {} [{}, {:?}] {:?}: recorded {:?}, spec answers {:?}",
                o.client, o.call, o.ret_time, o.op, o.ret, would
            );
        }
        out
    }
}

/// Checks whether `history` is linearizable with respect to `spec`.
///
/// `budget` caps the number of `spec.apply` calls; when it runs out the answer is
/// [`CheckResult::Unknown`]. A few times the history's length suffices for histories with
/// little concurrency; pass `u64::MAX` for no limit. Prefer [`check_partitioned`] whenever the
/// spec allows it: pending lost operations on unrelated keys multiply the states one search must
/// consider, and a partition sees only its own.
pub fn check<S: SequentialSpec>(
    spec: &S,
    history: &[Operation<S::Op, S::Ret>],
    budget: u64,
) -> CheckResult {
    let all: Vec<usize> = (0..history.len()).collect();
    wgl::search(spec, history, &all, budget)
}

/// The verdict on a history checked one partition at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionedResult<K> {
    /// Every partition is linearizable, hence so is the whole history.
    Linearizable,
    /// The partition of `key` (the smallest such key) is not linearizable.
    NotLinearizable {
        /// The failing partition.
        key: K,
        /// Where its search got stuck; indices refer to the whole history.
        counterexample: Counterexample,
    },
    /// No partition failed, but the search budget ran out on the partition of `key`.
    Unknown {
        /// The first partition left undecided.
        key: K,
    },
    /// `history[op]` has a response time earlier than its invocation.
    InvalidOperation {
        /// Index of the malformed operation in the history.
        op: usize,
    },
}

impl<K> PartitionedResult<K> {
    /// True only for [`PartitionedResult::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Self::Linearizable)
    }
}

/// Checks `history` one partition at a time, the partitions being the operations that share a
/// `key_of(op)`.
///
/// This is sound exactly when operations on different keys never interact in `spec` (the
/// history is then linearizable iff every partition is; Herlihy and Wing's locality). `spec` sees
/// only one partition's operations, so its state need only model one key. `budget` applies to
/// each partition separately. Partitions are checked in key order, so the result is
/// deterministic; a definite failure is preferred over an exhausted budget.
pub fn check_partitioned<S, K>(
    spec: &S,
    history: &[Operation<S::Op, S::Ret>],
    key_of: impl Fn(&S::Op) -> K,
    budget: u64,
) -> PartitionedResult<K>
where
    S: SequentialSpec,
    K: Ord,
{
    if let Some(op) = history
        .iter()
        .position(|o| o.deadline().is_some_and(|d| d < o.call))
    {
        return PartitionedResult::InvalidOperation { op };
    }
    let mut partitions: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, operation) in history.iter().enumerate() {
        partitions.entry(key_of(&operation.op)).or_default().push(i);
    }
    let mut undecided = None;
    for (key, ops) in partitions {
        match wgl::search(spec, history, &ops, budget) {
            CheckResult::Linearizable => {}
            CheckResult::NotLinearizable(counterexample) => {
                return PartitionedResult::NotLinearizable {
                    key,
                    counterexample,
                };
            }
            CheckResult::Unknown => {
                undecided.get_or_insert(key);
            }
            CheckResult::InvalidOperation { op } => {
                return PartitionedResult::InvalidOperation { op }
            }
        }
    }
    match undecided {
        Some(key) => PartitionedResult::Unknown { key },
        None => PartitionedResult::Linearizable,
    }
}
