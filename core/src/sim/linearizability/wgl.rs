//! The Wing–Gong–Lowe search: depth-first over "which pending operation takes effect next",
//! memoizing every (set of linearized operations, state) pair already explored.
//!
//! Following Lowe, "Testing for linearizability" (2017) and Porcupine: invocations and responses
//! sit in one time-sorted list. Walking it from the front, any invocation met before the first
//! response is a candidate to linearize next; a response means that operation must already have
//! taken effect, so reaching one backtracks. Linearizing an operation lifts both of its events
//! out of the list, so the walk restarts from the front. The cache makes the search polynomial
//! for the histories real systems produce, where few operations are concurrent at once: two
//! different orders reaching the same set and the same state have the same future.
//!
//! Indeterminate operations have no response event, so they never force a backtrack, and the
//! search stops as soon as every operation with a response has been placed: whatever
//! indeterminate operations remain can go at the end (or nowhere), which no response observes.
//!
//! They also make plain memoization weak: every subset of the lost operations that could have
//! landed is a different linearized set, so a failing history with twenty lost writes to a key
//! would be explored 2^20 times over. The cache therefore keys on the *determinate* operations
//! placed and the state, and keeps the sets of indeterminate ones placed with it: a configuration
//! is pruned when one with the same key and a subset of its indeterminate operations was already
//! reached, because leaving an indeterminate operation pending only adds choices (it has no
//! deadline, so it never blocks another operation, and it may still be placed later or never).
//! Placing a lost operation on top of other lost operations is likewise skipped when placing it
//! without them reaches the same state: that sibling configuration has the same key and fewer
//! indeterminate operations, and the search tries it anyway. Completeness: were a linearizable
//! history rejected, take a reached configuration from which
//! success is nearest; the first step towards success is reached or pruned by a configuration at
//! least as near, a contradiction. (Exact repeats, the classic WGL cache, are the case of equal
//! subsets.)

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::history::{EventList, Node, Operation};
use super::{CheckResult, Counterexample, SequentialSpec};

/// A set of local operation indices.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Bitset(Vec<u64>);

impl Bitset {
    fn new(len: usize) -> Self {
        Self(alloc::vec![0; len.div_ceil(64)])
    }

    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }

    fn is_subset(&self, other: &Self) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a & !b == 0)
    }
}

/// A fixed pseudo-random word per operation (splitmix64 of its index), xor-ed into a running
/// fingerprint of the placed set so cache comparisons usually end at the first field.
fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which operations the current path has linearized, split by whether they have a response.
struct Placed {
    determinate: Bitset,
    /// Fingerprint of `determinate`.
    fingerprint: u64,
    determinate_count: usize,
    indeterminate: Bitset,
}

impl Placed {
    fn toggle(&mut self, op: usize, determinate: bool, on: bool) {
        let set = if determinate {
            self.fingerprint ^= zobrist(op);
            match on {
                true => self.determinate_count += 1,
                false => self.determinate_count -= 1,
            }
            &mut self.determinate
        } else {
            &mut self.indeterminate
        };
        match on {
            true => set.set(op),
            false => set.clear(op),
        }
    }
}

/// Every configuration reached so far, keyed by (determinate ops placed, state), each with the
/// sets of indeterminate ops placed with it; no set in a list contains another.
struct Cache<State> {
    reached: BTreeMap<(u64, Bitset, State), Vec<Bitset>>,
}

impl<State: Ord> Cache<State> {
    /// Records the configuration `placed` + `state`; false if it is dominated by one reached before.
    fn insert(&mut self, placed: &Placed, state: State) -> bool {
        let key = (placed.fingerprint, placed.determinate.clone(), state);
        let sets = self.reached.entry(key).or_default();
        if sets.iter().any(|s| s.is_subset(&placed.indeterminate)) {
            return false;
        }
        sets.retain(|s| !placed.indeterminate.is_subset(s));
        sets.push(placed.indeterminate.clone());
        true
    }
}

/// One linearized operation on the search stack, with the state to restore when it is undone.
struct Frame<State> {
    op: usize,
    state_before: State,
}

/// Checks whether the operations `history[ops[..]]` are linearizable with respect to `spec`,
/// spending at most `budget` applications of the spec.
///
/// Indices in the result refer to `history`.
pub(super) fn search<S: SequentialSpec>(
    spec: &S,
    history: &[Operation<S::Op, S::Ret>],
    ops: &[usize],
    budget: u64,
) -> CheckResult {
    let mut list = match EventList::new(history, ops) {
        Ok(list) => list,
        Err(op) => return CheckResult::InvalidOperation { op },
    };
    let required = ops.iter().filter(|&&g| history[g].ret.is_some()).count();
    let mut placed = Placed {
        determinate: Bitset::new(ops.len()),
        fingerprint: 0,
        determinate_count: 0,
        indeterminate: Bitset::new(ops.len()),
    };
    let mut state = spec.init();
    let mut cache = Cache {
        reached: BTreeMap::new(),
    };
    let mut stack: Vec<Frame<S::State>> = Vec::new();
    let mut best: Option<Counterexample> = None;
    let mut steps = 0u64;
    let mut node = list.first();
    // Each configuration's candidates are tried in two passes, determinate operations first:
    // the search then reaches configurations with few lost operations placed before those with
    // many, which the dominance cache prunes.
    let mut lost_pass = false;

    loop {
        if placed.determinate_count == required {
            return CheckResult::Linearizable;
        }
        match list.kind(node) {
            Node::Call(op) => {
                let operation = &history[ops[op]];
                let determinate = operation.ret.is_some();
                if determinate == lost_pass {
                    node = list.next(node);
                    continue;
                }
                if steps >= budget {
                    return CheckResult::Unknown;
                }
                steps += 1;
                let (next_state, ret) = spec.apply(&state, &operation.op);
                let fits = operation.ret.as_ref().is_none_or(|r| *r == ret);
                // An indeterminate operation that leaves the state alone (a lost read) changes
                // nothing by being placed, and leaving it pending never blocks anything; nor does
                // one that lands on a state it reaches with fewer indeterminate operations placed.
                let pointless = !determinate
                    && (next_state == state
                        || overwrites(spec, history, ops, &stack, op, &next_state, &mut steps));
                if fits && !pointless {
                    placed.toggle(op, determinate, true);
                    if cache.insert(&placed, next_state.clone()) {
                        let state_before = core::mem::replace(&mut state, next_state);
                        stack.push(Frame { op, state_before });
                        list.lift(op);
                        node = list.first();
                        lost_pass = false;
                        continue;
                    }
                    placed.toggle(op, determinate, false);
                }
                node = list.next(node);
            }
            Node::Return(_) | Node::End if !lost_pass => {
                lost_pass = true;
                node = list.first();
            }
            Node::Return(_) | Node::End => {
                if best.as_ref().is_none_or(|b| stack.len() > b.prefix.len()) {
                    best = Some(counterexample(&list, &stack, ops, node));
                }
                let Some(frame) = stack.pop() else {
                    // `best` was just recorded: the stack is empty, so any depth beats none.
                    return CheckResult::NotLinearizable(best.unwrap_or_default());
                };
                state = frame.state_before;
                let determinate = history[ops[frame.op]].ret.is_some();
                placed.toggle(frame.op, determinate, false);
                list.unlift(frame.op);
                node = list.next(list.call_node(frame.op));
                lost_pass = !determinate;
            }
        }
    }
}

/// True if placing indeterminate local operation `op` to reach `next_state` could be done with
/// fewer indeterminate operations: placing it right after some earlier frame of the run of
/// indeterminate frames on top of the stack reaches the same state (typically `op` is a lost write
/// overwriting other lost writes). That configuration is a sibling the search tries too, and it
/// dominates this one (see the module doc), so this one need not be explored.
fn overwrites<S: SequentialSpec>(
    spec: &S,
    history: &[Operation<S::Op, S::Ret>],
    ops: &[usize],
    stack: &[Frame<S::State>],
    op: usize,
    next_state: &S::State,
    steps: &mut u64,
) -> bool {
    stack
        .iter()
        .rev()
        .take_while(|frame| history[ops[frame.op]].ret.is_none())
        .any(|frame| {
            *steps += 1;
            spec.apply(&frame.state_before, &history[ops[op]].op).0 == *next_state
        })
}

/// Describes a dead end: the operations linearized so far and those that could have gone next.
fn counterexample<State>(
    list: &EventList,
    stack: &[Frame<State>],
    ops: &[usize],
    stuck_at: usize,
) -> Counterexample {
    let mut candidates = Vec::new();
    let mut node = list.first();
    while node != stuck_at {
        if let Node::Call(op) = list.kind(node) {
            candidates.push(ops[op]);
        }
        node = list.next(node);
    }
    let overdue = match list.kind(stuck_at) {
        Node::Return(op) => Some(ops[op]),
        Node::Call(_) | Node::End => None,
    };
    Counterexample {
        prefix: stack.iter().map(|f| ops[f.op]).collect(),
        candidates,
        overdue,
    }
}
