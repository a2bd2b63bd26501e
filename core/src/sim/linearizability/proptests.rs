//! Generated histories whose verdict is known by construction, a differential test against a
//! brute-force checker, and a timing test on a realistic history.

extern crate std;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;
use proptest::sample::Index;
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::*;

type Op = KvOp<u8>;
type Ret = KvRet<u8>;
type History = Vec<Operation<Op, Ret>>;

fn kv_op(key: u8, kind: u8, value: u8) -> Op {
    let key = format!("k{key}");
    match kind % 4 {
        0 => KvOp::Get(key),
        1 => KvOp::Put(key, value),
        2 => KvOp::Cas {
            key,
            expected: (value % 3 != 0).then_some(value / 2),
            new: value,
        },
        _ => KvOp::Delete(key),
    }
}

/// How a generated operation is recorded.
#[derive(Clone, Copy, Debug)]
enum Fate {
    /// Took effect and the client saw the response.
    Complete,
    /// Took effect, but the client never heard back.
    Lost,
    /// Never took effect and the client never heard back.
    Phantom,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![8 => Just(Fate::Complete), 1 => Just(Fate::Lost), 1 => Just(Fate::Phantom)]
}

/// Runs `ops` one at a time, the i-th taking effect at instant `40 + 10 * i`, and records each
/// with an interval `[point - before, point + after]` around that instant: linearizable by
/// construction, however much the intervals overlap. Keys listed in `sequential` get tight
/// intervals, so their operations never overlap one another.
fn sequential_history(ops: &[(u8, u8, u8, u64, u64, Fate)], sequential: &[u8]) -> History {
    let spec = KvSpec::new();
    let mut state = spec.init();
    let mut history = Vec::new();
    for (i, &(key, kind, value, before, after, fate)) in ops.iter().enumerate() {
        let point = 40 + 10 * i as u64;
        let (before, after) = if sequential.contains(&key) {
            (4, 4)
        } else {
            (before, after)
        };
        let op = kv_op(key, kind, value);
        let record = match fate {
            Fate::Complete | Fate::Lost => {
                let (next, ret) = spec.apply(&state, &op);
                state = next;
                match fate {
                    Fate::Complete => {
                        Operation::complete(i as u64, point - before, point + after, op, ret)
                    }
                    _ => Operation::indeterminate(i as u64, point - before, op),
                }
            }
            Fate::Phantom => Operation::indeterminate(i as u64, point - before, op),
        };
        history.push(record);
    }
    history
}

/// The definition, literally: some sequence of distinct operations, containing every one with a
/// response, respects real time (nothing goes before an operation that answered before it was
/// invoked) and reproduces every recorded response.
fn brute_force(history: &History) -> bool {
    fn extend(history: &History, sequence: &mut Vec<usize>) -> bool {
        let complete = history
            .iter()
            .enumerate()
            .all(|(i, o)| o.ret.is_none() || sequence.contains(&i));
        if complete && valid(history, sequence) {
            return true;
        }
        for i in 0..history.len() {
            if !sequence.contains(&i) {
                sequence.push(i);
                let found = extend(history, sequence);
                sequence.pop();
                if found {
                    return true;
                }
            }
        }
        false
    }
    fn valid(history: &History, sequence: &[usize]) -> bool {
        let spec = KvSpec::new();
        let mut state = spec.init();
        for (pos, &i) in sequence.iter().enumerate() {
            let later_answered_first = sequence[pos + 1..]
                .iter()
                .any(|&j| history[j].deadline().is_some_and(|d| d < history[i].call));
            let (next, ret) = spec.apply(&state, &history[i].op);
            if later_answered_first || history[i].ret.as_ref().is_some_and(|r| *r != ret) {
                return false;
            }
            state = next;
        }
        true
    }
    extend(history, &mut Vec::new())
}

fn arbitrary_ret(kind: u8, pick: u8) -> Ret {
    match kind % 4 {
        0 => KvRet::Value((pick % 3 != 0).then_some(pick % 3)),
        2 => KvRet::CasResult(pick % 2 == 0),
        _ => KvRet::Ok,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn sequential_runs_with_overlapping_intervals_are_linearizable(
        ops in prop::collection::vec((0u8..3, 0u8..4, 0u8..4, 0u64..35, 0u64..35, fate()), 0..80),
    ) {
        let history = sequential_history(&ops, &[]);
        // Over the whole store, the search is exponential in the indeterminate operations: it
        // may run out of budget (a saved case has 12 of 26 over three keys), but it must never
        // reject. Key by key, as `check_kv` and every caller check, it must decide.
        let whole = check(&KvSpec::new(), &history, 1_000_000);
        prop_assert!(
            matches!(whole, CheckResult::Linearizable | CheckResult::Unknown),
            "{:?}",
            whole
        );
        prop_assert_eq!(check_kv(&history, 1_000_000), PartitionedResult::Linearizable);
    }

    #[test]
    fn swapping_two_sequential_reads_is_not_linearizable(
        ops in prop::collection::vec((0u8..3, 0u8..4, 0u8..4, 0u64..35, 0u64..35), 2..80),
        first in any::<Index>(),
        second in any::<Index>(),
    ) {
        // Key k0's operations never overlap each other, so they have exactly one order (real
        // time) and each read of k0 exactly one correct answer; swapping the answers of two reads
        // that saw different values makes both wrong, whatever the other keys do.
        let ops: Vec<_> = ops.into_iter().map(|(k, o, v, b, a)| (k, o, v, b, a, Fate::Complete)).collect();
        let mut history = sequential_history(&ops, &[0]);
        let reads: Vec<usize> = (0..history.len())
            .filter(|&i| history[i].op == KvOp::Get("k0".into()))
            .collect();
        prop_assume!(reads.len() >= 2);
        let (a, b) = (reads[first.index(reads.len())], reads[second.index(reads.len())]);
        prop_assume!(history[a].ret != history[b].ret);
        let (ret_a, ret_b) = (history[a].ret.clone(), history[b].ret.clone());
        history[a].ret = ret_b;
        history[b].ret = ret_a;
        let whole = check(&KvSpec::new(), &history, 1_000_000);
        prop_assert!(matches!(whole, CheckResult::NotLinearizable(_)), "{:?}", whole);
        let per_key = check_kv(&history, 1_000_000);
        prop_assert!(
            matches!(&per_key, PartitionedResult::NotLinearizable { key, .. } if key == "k0"),
            "{:?}", per_key
        );
    }

    #[test]
    fn agrees_with_brute_force_on_small_histories(
        ops in prop::collection::vec(
            (0u8..4, 0u8..4, 0u8..6, 0u64..12, 0u64..6, prop::bool::weighted(0.35)),
            0..8,
        ),
    ) {
        let history: History = ops
            .iter()
            .enumerate()
            .map(|(i, &(kind, value, pick, call, len, lost))| {
                let op = kv_op(0, kind, value);
                if lost {
                    Operation::indeterminate(i as u64, call, op)
                } else {
                    Operation::complete(i as u64, call, call + len, op, arbitrary_ret(kind, pick))
                }
            })
            .collect();
        let expected = brute_force(&history);
        let got = check(&KvKeySpec::new(), &history, u64::MAX);
        prop_assert_eq!(got.is_linearizable(), expected, "{:?}", got);
        prop_assert!(
            !matches!(got, CheckResult::Unknown | CheckResult::InvalidOperation { .. }),
            "{:?}",
            got
        );
    }
}

/// `clients` clients issuing operations back to back over `keys` keys, each taking effect at a
/// random instant inside its interval; `lost_per_mille` of them are lost (half of those never
/// applied).
fn concurrent_history(
    seed: u64,
    count: usize,
    clients: u64,
    keys: u8,
    lost_per_mille: u64,
) -> History {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut roll = |n: u64| rng.next_u64() % n;
    let mut clock = vec![0u64; clients as usize];
    // (point, client, call, ret_time, op, lost, applied)
    let mut planned = Vec::with_capacity(count);
    for i in 0..count {
        let client = i as u64 % clients;
        let call = clock[client as usize];
        let point = call + 1 + roll(5);
        let ret_time = point + 1 + roll(5);
        clock[client as usize] = ret_time + roll(3);
        let op = kv_op(roll(u64::from(keys)) as u8, roll(4) as u8, roll(5) as u8);
        let lost = roll(1000) < lost_per_mille;
        let applied = !lost || roll(2) == 0;
        planned.push((point, client, call, ret_time, op, lost, applied));
    }
    planned.sort_by_key(|p| (p.0, p.1));
    let spec = KvSpec::new();
    let mut state = spec.init();
    let mut history: History = planned
        .into_iter()
        .map(|(_, client, call, ret_time, op, lost, applied)| {
            let mut ret = None;
            if applied {
                let (next, r) = spec.apply(&state, &op);
                state = next;
                ret = Some(r);
            }
            match (lost, ret) {
                (false, Some(ret)) => Operation::complete(client, call, ret_time, op, ret),
                _ => Operation::indeterminate(client, call, op),
            }
        })
        .collect();
    history.sort_by_key(|o| (o.call, o.client));
    history
}

/// Checks `history` per key, then with the last read that saw a value changed to report one never
/// written, which must fail on that read's key.
fn check_kv_and_a_broken_copy(history: &History, budget: u64) {
    assert_eq!(check_kv(history, budget), PartitionedResult::Linearizable);
    let mut broken = history.clone();
    let last_read = (0..broken.len())
        .rev()
        .find(|&i| matches!(broken[i].ret, Some(KvRet::Value(Some(_)))))
        .expect("some read saw a value");
    broken[last_read].ret = Some(KvRet::Value(Some(99)));
    let verdict = check_kv(&broken, budget);
    let key = String::from(broken[last_read].op.key());
    assert!(
        matches!(&verdict, PartitionedResult::NotLinearizable { key: k, .. } if *k == key),
        "{verdict:?}"
    );
}

/// Large histories are decided within a fixed search budget (a deterministic measure of work;
/// speed itself is for benchmarks, not unit tests).
#[test]
fn two_thousand_ops_over_ten_keys_are_decided_within_budget() {
    const OPS: usize = 2_000;
    // Budgets are per partition; a broken history with many lost operations needs the most, as
    // every way the lost operations could have landed is ruled out before the verdict.
    let budget = 500 * OPS as u64;
    for lost_per_mille in [10, 100] {
        let history = concurrent_history(42, OPS, 5, 10, lost_per_mille);
        assert!(history.iter().any(|o| o.is_indeterminate()));
        check_kv_and_a_broken_copy(&history, budget);
    }
    // The whole store at once, without the help of partitioning.
    let history = concurrent_history(7, OPS, 5, 10, 0);
    assert_eq!(
        check(&KvSpec::new(), &history, budget),
        CheckResult::Linearizable
    );
}
