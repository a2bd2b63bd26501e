//! Replays every committed corpus file and every crash file of every target
//! (`fuzz/corpus/NAME/*`, `fuzz/artifacts/NAME/*`), and the built-in seeds: none may panic.
//! `cargo test -p raftorch-fuzz-harness --test corpus -- --ignored write_seed_corpus` writes
//! the seeds into the corpus folders.

use std::fs;
use std::path::{Path, PathBuf};

use raftorch_fuzz_harness::seeds::seeds;
use raftorch_fuzz_harness::{Target, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The files of `dir` (none if it does not exist), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs every file of `folder/NAME` through the target; returns how many ran.
fn replay(target: &Target, folder: &str) -> usize {
    let files = files(&fuzz_dir().join(folder).join(target.name));
    for file in &files {
        let data = fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        eprintln!("{}: {}", target.name, file.display());
        (target.run)(&data);
    }
    files.len()
}

#[test]
fn every_corpus_file_replays() {
    for target in &TARGETS {
        let n = replay(target, "corpus");
        assert!(n > 0, "{}: no corpus committed", target.name);
    }
}

#[test]
fn every_crash_found_replays_without_a_panic() {
    for target in &TARGETS {
        replay(target, "artifacts");
    }
}

#[test]
fn every_seed_runs() {
    for target in &TARGETS {
        let seeds = seeds(target.name);
        assert!(!seeds.is_empty(), "{}: no seeds", target.name);
        for seed in seeds {
            (target.run)(&seed);
        }
    }
}

#[test]
#[ignore = "writes the seed corpus into fuzz/corpus"]
fn write_seed_corpus() {
    for target in &TARGETS {
        let dir = fuzz_dir().join("corpus").join(target.name);
        fs::create_dir_all(&dir).unwrap();
        for (i, seed) in seeds(target.name).iter().enumerate() {
            fs::write(dir.join(format!("seed-{i:02}")), seed).unwrap();
        }
    }
}

/// The API seeds reach what they aim at: past routing, authentication and parsing to the
/// (detached) node, or to the refusal they exist to exercise.
#[test]
fn api_seeds_reach_the_node_or_their_refusal() {
    let statuses: Vec<u16> = seeds("api_input")
        .iter()
        .map(|s| raftorch_fuzz_harness::api_input::status(s).map_or(0, |s| s.as_u16()))
        .collect();
    // The first asks without a token (401); the rest get past authentication and parsing to
    // the node, which is detached (503), or, for reads served from the node's status, answer.
    assert_eq!(statuses[0], 401, "{statuses:?}");
    for (i, status) in statuses.iter().enumerate().skip(1) {
        assert!(
            *status == 503 || *status == 200,
            "seed {i} answered {status}: {statuses:?}"
        );
    }
}

/// The WAL seeds with segment files open as logs (so the fuzzer starts inside recovery, not
/// at its first refusal): three records, the same torn (two left), two segments of two.
#[test]
fn wal_seeds_open_as_logs() {
    let opened: Vec<Option<(u64, u64)>> = seeds("wal_record")
        .iter()
        .map(|s| raftorch_fuzz_harness::wal_record::recovered(s))
        .collect();
    assert_eq!(
        opened,
        vec![None, Some((1, 3)), Some((1, 2)), Some((1, 4))],
        "{opened:?}"
    );
}
