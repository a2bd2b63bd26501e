//! Sequential specifications of a key-value store with compare-and-set.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::marker::PhantomData;

use super::{check_partitioned, Operation, PartitionedResult, SequentialSpec};

/// A key-value operation. Keys are strings; values are any `V` (typically `String` or `Vec<u8>`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KvOp<V> {
    /// Reads the key; answers [`KvRet::Value`].
    Get(String),
    /// Sets the key; answers [`KvRet::Ok`].
    Put(String, V),
    /// Sets `key` to `new` if its value is `expected` (`None`: the key must be absent); answers
    /// [`KvRet::CasResult`] saying whether it did.
    Cas {
        /// The key to update.
        key: String,
        /// The value the key must hold, or `None` if it must be absent.
        expected: Option<V>,
        /// The value to store on success.
        new: V,
    },
    /// Removes the key (absent or not); answers [`KvRet::Ok`].
    Delete(String),
}

impl<V> KvOp<V> {
    /// The key the operation touches: the partition key for [`check_partitioned`].
    pub fn key(&self) -> &str {
        match self {
            Self::Get(key) | Self::Put(key, _) | Self::Cas { key, .. } | Self::Delete(key) => key,
        }
    }
}

/// What a [`KvOp`] answers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KvRet<V> {
    /// A `Get`'s result: the value, or `None` if the key was absent.
    Value(Option<V>),
    /// A `Put` or `Delete` was applied.
    Ok,
    /// Whether a `Cas` matched and stored its new value.
    CasResult(bool),
}

/// The effect of `op` on one key whose value is `current`: the key's next value and the answer.
fn step<V: Clone + PartialEq>(current: Option<&V>, op: &KvOp<V>) -> (Option<V>, KvRet<V>) {
    match op {
        KvOp::Get(_) => (current.cloned(), KvRet::Value(current.cloned())),
        KvOp::Put(_, value) => (Some(value.clone()), KvRet::Ok),
        KvOp::Cas { expected, new, .. } => {
            if current == expected.as_ref() {
                (Some(new.clone()), KvRet::CasResult(true))
            } else {
                (current.cloned(), KvRet::CasResult(false))
            }
        }
        KvOp::Delete(_) => (None, KvRet::Ok),
    }
}

/// The whole store: state is a map from key to value. Use it with [`super::check`].
///
/// Prefer [`KvKeySpec`] with [`check_partitioned`] (or [`check_kv`]): it gives the same verdict,
/// since keys never interact, with far smaller searches.
#[derive(Debug)]
pub struct KvSpec<V>(PhantomData<fn() -> V>);

impl<V> KvSpec<V> {
    /// The spec of an initially empty store.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<V> Default for KvSpec<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone + Ord> SequentialSpec for KvSpec<V> {
    type State = BTreeMap<String, V>;
    type Op = KvOp<V>;
    type Ret = KvRet<V>;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn apply(&self, state: &Self::State, op: &Self::Op) -> (Self::State, Self::Ret) {
        let current = state.get(op.key());
        let (next, ret) = step(current, op);
        if next.as_ref() == current {
            return (state.clone(), ret);
        }
        let mut state = state.clone();
        match next {
            Some(value) => state.insert(String::from(op.key()), value),
            None => state.remove(op.key()),
        };
        (state, ret)
    }
}

/// A single key of the store: state is just its value. Operations' keys are ignored, so only
/// check histories of one key with it, e.g. through [`check_partitioned`] keyed by [`KvOp::key`].
#[derive(Debug)]
pub struct KvKeySpec<V>(PhantomData<fn() -> V>);

impl<V> KvKeySpec<V> {
    /// The spec of an initially absent key.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<V> Default for KvKeySpec<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone + Ord> SequentialSpec for KvKeySpec<V> {
    type State = Option<V>;
    type Op = KvOp<V>;
    type Ret = KvRet<V>;

    fn init(&self) -> Self::State {
        None
    }

    fn apply(&self, state: &Self::State, op: &Self::Op) -> (Self::State, Self::Ret) {
        step(state.as_ref(), op)
    }
}

/// Checks a key-value history key by key with [`KvKeySpec`]; `budget` applies to each key.
pub fn check_kv<V: Clone + Ord>(
    history: &[Operation<KvOp<V>, KvRet<V>>],
    budget: u64,
) -> PartitionedResult<String> {
    check_partitioned(
        &KvKeySpec::new(),
        history,
        |op| String::from(op.key()),
        budget,
    )
}
