//! Every target fed 10,000 generated inputs on stable (where libFuzzer cannot run, this is the
//! fuzzing; in CI it is the cheap half of it): random bytes, and seeds with random bytes
//! overwritten, cut or appended, so inputs reach past the first checks. `FUZZ_CASES=N` changes
//! the count.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use raftorch_fuzz_harness::seeds::seeds;
use raftorch_fuzz_harness::Target;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// An input: random bytes, or a seed mutated by up to four byte writes, a cut and a tail.
fn input(seeds: Vec<Vec<u8>>, max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let random = proptest::collection::vec(any::<u8>(), 0..max_len);
    let mutated = (
        proptest::sample::select(seeds),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        any::<usize>(),
        proptest::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(mut seed, writes, cut, tail)| {
            if !seed.is_empty() {
                for (at, byte) in writes {
                    let at = at % seed.len();
                    seed[at] = byte;
                }
                if cut % 3 == 0 {
                    seed.truncate(cut % (seed.len() + 1));
                }
            }
            seed.extend(tail);
            seed
        });
    prop_oneof![1 => random, 3 => mutated]
}

fn fuzz(target: &Target, max_len: usize) {
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&input(seeds(target.name), max_len), |data| {
        (target.run)(&data);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{}: {e}", target.name);
    }
}

#[test]
fn peer_frame() {
    fuzz(&raftorch_fuzz_harness::TARGETS[0], 256);
}

#[test]
fn wal_record() {
    fuzz(&raftorch_fuzz_harness::TARGETS[1], 256);
}

#[test]
fn api_input() {
    fuzz(&raftorch_fuzz_harness::TARGETS[2], 256);
}

#[test]
fn raft_step() {
    fuzz(&raftorch_fuzz_harness::TARGETS[3], 256);
}
