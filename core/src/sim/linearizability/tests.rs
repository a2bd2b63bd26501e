//! Hand-written classic histories with known verdicts.

use alloc::vec;
use alloc::vec::Vec;

use super::*;

type V = &'static str;
type History = Vec<Operation<KvOp<V>, KvRet<V>>>;

fn put(client: u64, call: u64, ret: u64, key: &str, value: V) -> Operation<KvOp<V>, KvRet<V>> {
    Operation::complete(client, call, ret, KvOp::Put(key.into(), value), KvRet::Ok)
}

fn get(
    client: u64,
    call: u64,
    ret: u64,
    key: &str,
    seen: Option<V>,
) -> Operation<KvOp<V>, KvRet<V>> {
    Operation::complete(client, call, ret, KvOp::Get(key.into()), KvRet::Value(seen))
}

fn cas(
    client: u64,
    (call, ret): (u64, u64),
    key: &str,
    expected: Option<V>,
    new: V,
    ok: bool,
) -> Operation<KvOp<V>, KvRet<V>> {
    let op = KvOp::Cas {
        key: key.into(),
        expected,
        new,
    };
    Operation::complete(client, call, ret, op, KvRet::CasResult(ok))
}

fn lost_put(client: u64, call: u64, key: &str, value: V) -> Operation<KvOp<V>, KvRet<V>> {
    Operation::indeterminate(client, call, KvOp::Put(key.into(), value))
}

/// Checks `history` all three ways (whole store, per key, per key via `check_kv`) and asserts
/// they agree; returns the whole-store verdict.
fn verdict(history: &History) -> CheckResult {
    let whole = check(&KvSpec::new(), history, 100_000);
    let per_key = check_kv(history, 100_000);
    assert_eq!(
        whole.is_linearizable(),
        per_key.is_linearizable(),
        "{whole:?} vs {per_key:?}"
    );
    whole
}

fn counterexample(history: &History) -> Counterexample {
    match verdict(history) {
        CheckResult::NotLinearizable(c) => c,
        other => panic!("expected NotLinearizable, got {other:?}"),
    }
}

#[test]
fn empty_history_is_linearizable() {
    assert_eq!(verdict(&vec![]), CheckResult::Linearizable);
}

#[test]
fn stale_read_after_completed_write_is_not_linearizable() {
    let history = vec![
        put(1, 0, 10, "x", "a"),
        put(1, 20, 30, "x", "b"),
        get(2, 40, 50, "x", Some("a")),
    ];
    let c = counterexample(&history);
    assert_eq!(c.prefix, vec![0, 1]);
    assert_eq!(c.overdue, Some(2));
    assert_eq!(c.candidates, vec![2]);
    let text = c.explain(&KvSpec::new(), &history);
    assert!(text.contains("recorded Some(Value(Some(\"a\")))"), "{text}");
    assert!(text.contains("spec answers Value(Some(\"b\"))"), "{text}");
}

#[test]
fn concurrent_write_and_read_may_go_either_way() {
    for seen in [Some("a"), Some("b")] {
        let history = vec![
            put(1, 0, 10, "x", "a"),
            put(1, 20, 40, "x", "b"),
            get(2, 25, 35, "x", seen),
        ];
        assert_eq!(verdict(&history), CheckResult::Linearizable, "{seen:?}");
    }
}

#[test]
fn read_of_a_value_never_written_is_not_linearizable() {
    let history = vec![put(1, 0, 10, "x", "a"), get(2, 5, 15, "x", Some("z"))];
    let c = counterexample(&history);
    assert_eq!(c.overdue, Some(1));
}

#[test]
fn indeterminate_write_that_later_appears_is_linearizable() {
    let history = vec![
        get(2, 0, 5, "x", None),
        lost_put(1, 10, "x", "a"),
        get(2, 20, 30, "x", Some("a")),
        get(2, 40, 50, "x", Some("a")),
    ];
    assert_eq!(verdict(&history), CheckResult::Linearizable);
}

#[test]
fn indeterminate_write_that_never_appears_is_linearizable() {
    let history = vec![
        lost_put(1, 10, "x", "a"),
        get(2, 20, 30, "x", None),
        get(2, 40, 50, "x", None),
    ];
    assert_eq!(verdict(&history), CheckResult::Linearizable);
}

#[test]
fn indeterminate_write_cannot_appear_then_vanish() {
    let history = vec![
        lost_put(1, 10, "x", "a"),
        get(2, 20, 30, "x", Some("a")),
        get(2, 40, 50, "x", None),
    ];
    counterexample(&history);
}

#[test]
fn indeterminate_write_cannot_take_effect_before_its_call() {
    let history = vec![get(2, 0, 10, "x", Some("a")), lost_put(1, 20, "x", "a")];
    counterexample(&history);
}

#[test]
fn two_concurrent_writes_settle_on_one_value() {
    let mut history = vec![
        put(1, 0, 10, "x", "a"),
        put(2, 0, 10, "x", "b"),
        get(3, 20, 30, "x", Some("b")),
        get(3, 40, 50, "x", Some("b")),
    ];
    assert_eq!(verdict(&history), CheckResult::Linearizable);
    history[3] = get(3, 40, 50, "x", Some("a"));
    let c = counterexample(&history);
    assert_eq!(c.overdue, Some(3));
}

#[test]
fn touching_intervals_are_concurrent() {
    let history = vec![put(1, 0, 10, "x", "a"), get(2, 10, 20, "x", None)];
    assert_eq!(verdict(&history), CheckResult::Linearizable);
    let history = vec![put(1, 0, 10, "x", "a"), get(2, 11, 20, "x", None)];
    counterexample(&history);
}

#[test]
fn cas_succeeds_once_from_absent() {
    let history = vec![
        cas(1, (0, 10), "x", None, "a", true),
        cas(2, (0, 10), "x", None, "b", false),
        get(3, 20, 30, "x", Some("a")),
        cas(3, (40, 50), "x", Some("a"), "c", true),
        Operation::complete(1, 60, 70, KvOp::Delete("x".into()), KvRet::Ok),
        get(2, 80, 90, "x", None),
    ];
    assert_eq!(verdict(&history), CheckResult::Linearizable);

    let history = vec![
        cas(1, (0, 10), "x", None, "a", true),
        cas(2, (0, 10), "x", None, "b", true),
    ];
    counterexample(&history);
}

#[test]
fn lost_cas_takes_effect_at_most_once() {
    let lost_cas = |client, call| {
        let op = KvOp::Cas {
            key: "x".into(),
            expected: Some("a"),
            new: "b",
        };
        Operation::indeterminate(client, call, op)
    };
    let history = vec![
        put(1, 0, 10, "x", "a"),
        lost_cas(2, 20),
        get(3, 30, 40, "x", Some("b")),
        put(1, 50, 60, "x", "a"),
        get(3, 70, 80, "x", Some("b")),
    ];
    counterexample(&history);
}

#[test]
fn response_without_time_must_still_be_placed() {
    let mut read = get(2, 20, 0, "x", Some("a"));
    read.ret_time = None;
    let history = vec![put(1, 0, 10, "x", "b"), read.clone()];
    counterexample(&history);
    let history = vec![put(1, 0, 10, "x", "b"), read, put(1, 30, 40, "x", "a")];
    assert_eq!(verdict(&history), CheckResult::Linearizable);
}

#[test]
fn keys_are_independent_and_first_failing_key_is_reported() {
    let history = vec![
        put(1, 0, 10, "b", "1"),
        put(1, 0, 10, "c", "1"),
        put(1, 0, 10, "a", "1"),
        get(2, 20, 30, "c", None),
        get(2, 20, 30, "b", None),
        get(2, 20, 30, "a", Some("1")),
    ];
    match check_kv(&history, 1000) {
        PartitionedResult::NotLinearizable {
            key,
            counterexample,
        } => {
            assert_eq!(key, "b");
            assert_eq!(counterexample.prefix, vec![0]);
            assert_eq!(counterexample.overdue, Some(4));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn exhausted_budget_is_unknown() {
    let history = vec![put(1, 0, 10, "x", "a"), get(2, 20, 30, "x", Some("a"))];
    assert_eq!(check(&KvSpec::new(), &history, 1), CheckResult::Unknown);
    assert_eq!(
        check_kv(&history, 1),
        PartitionedResult::Unknown { key: "x".into() }
    );
    assert_eq!(
        check(&KvSpec::new(), &history, 2),
        CheckResult::Linearizable
    );
}

#[test]
fn response_before_call_is_rejected() {
    let history = vec![put(1, 0, 10, "x", "a"), get(2, 30, 20, "x", Some("a"))];
    assert_eq!(
        check(&KvSpec::new(), &history, 100),
        CheckResult::InvalidOperation { op: 1 }
    );
    assert_eq!(
        check_kv(&history, 100),
        PartitionedResult::InvalidOperation { op: 1 }
    );
}

#[test]
fn many_lost_writes_do_not_explode_the_search() {
    // Thirty lost writes are all pending when the read answers: 2^30 subsets of them could have
    // landed, but only which one landed last matters, and the dominance cache sees that.
    const VALUES: [&str; 30] = [
        "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
        "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29",
    ];
    let mut history = vec![put(0, 0, 1, "x", "start")];
    for (i, value) in VALUES.into_iter().enumerate() {
        history.push(lost_put(i as u64 + 1, i as u64 + 2, "x", value));
    }
    history.push(get(99, 100, 101, "x", Some("17")));
    assert_eq!(
        check(&KvSpec::new(), &history, 10_000),
        CheckResult::Linearizable
    );
    let last = history.len() - 1;
    history[last] = get(99, 100, 101, "x", Some("never written"));
    match check(&KvSpec::new(), &history, 10_000) {
        CheckResult::NotLinearizable(c) => assert_eq!(c.overdue, Some(last)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lost_reads_are_ignored() {
    let lost_get = Operation::indeterminate(3, 0, KvOp::Get("x".into()));
    let history = vec![
        lost_get,
        put(1, 0, 10, "x", "a"),
        get(2, 20, 30, "x", Some("a")),
    ];
    assert_eq!(verdict(&history), CheckResult::Linearizable);
}
