//! `cargo xtask fuzz [--minutes N | --seconds N] [--target NAME]...`: runs the libFuzzer
//! targets in `fuzz/` one after another (the machines have few cores), each for the given time
//! (default 60 s), with the nightly toolchain and cargo-fuzz (installed from crates.io when
//! missing). Each run starts from the committed corpus `fuzz/corpus/NAME` and writes what it
//! discovers to `fuzz/scratch/NAME` (ignored by git); a crash lands in `fuzz/artifacts/NAME`,
//! where `cargo test` replays it from then on. Without a nightly toolchain it says so and runs
//! the stable property-test harness (`fuzz/harness/tests/proptest.rs`) with a case count
//! scaled to the time instead.
//!
//! Built with debug assertions and overflow checks (`-a`) and without AddressSanitizer
//! (`--sanitizer none`): the code under test forbids `unsafe`, so ASan would find nothing a
//! panic does not, at several times the cost per execution and gigabytes more of build output.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::shell;

/// The targets, as `fuzz/Cargo.toml` names them.
const TARGETS: [&str; 4] = ["peer_frame", "wal_record", "api_input", "raft_step"];

/// What one target's run did.
struct Outcome {
    target: String,
    executions: String,
    coverage: String,
    crashed: bool,
}

/// Parses the options and runs every chosen target.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut chosen: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--minutes" => {
                let m: f64 = value()?.parse().map_err(|_| "--minutes takes a number")?;
                seconds = (m * 60.0).round().max(1.0) as u64;
            }
            "--seconds" => {
                seconds = value()?.parse().map_err(|_| "--seconds takes a number")?;
            }
            "--target" => {
                let name = value()?.clone();
                if !TARGETS.contains(&name.as_str()) {
                    return Err(format!(
                        "no fuzz target {name:?} (targets: {})",
                        TARGETS.join(", ")
                    ));
                }
                chosen.push(name);
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if chosen.is_empty() {
        chosen = TARGETS.iter().map(|t| (*t).to_string()).collect();
    }
    if !has_nightly() {
        return stable_fallback(seconds);
    }
    ensure_cargo_fuzz()?;
    shell::run(
        "cargo",
        &["+nightly", "fuzz", "build", "-a", "--sanitizer", "none"],
    )?;
    let mut outcomes = Vec::new();
    for target in &chosen {
        outcomes.push(fuzz_one(target, seconds)?);
    }
    eprintln!("\nxtask fuzz: {seconds} s per target");
    for o in &outcomes {
        eprintln!(
            "  {:<11} {:>12} executions, coverage {:>6}{}",
            o.target,
            o.executions,
            o.coverage,
            if o.crashed {
                "  CRASH (see fuzz/artifacts)"
            } else {
                ""
            }
        );
    }
    let crashed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.crashed)
        .map(|o| o.target.as_str())
        .collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "crashes in {}: the inputs are in fuzz/artifacts/NAME/; fix them and keep the files \
             (cargo test replays them)",
            crashed.join(", ")
        ))
    }
}

/// Whether `cargo +nightly` works here.
fn has_nightly() -> bool {
    Command::new("cargo")
        .args(["+nightly", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs cargo-fuzz from crates.io unless `cargo fuzz` already runs.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    shell::run("cargo", &["install", "--locked", "cargo-fuzz"])
}

/// No nightly: the same targets under proptest, about 2,000 cases a second of the asked time.
fn stable_fallback(seconds: u64) -> Result<(), String> {
    let cases = (seconds * 2_000).max(10_000).to_string();
    eprintln!(
        "xtask fuzz: no nightly toolchain (`rustup toolchain install nightly` adds it), so no \
         libFuzzer: running the stable proptest harness instead, {cases} cases per target"
    );
    shell::run_with_env(
        "cargo",
        &[
            "test",
            "--release",
            "-p",
            "raftorch-fuzz-harness",
            "--test",
            "proptest",
        ],
        &[("FUZZ_CASES", &cases)],
    )
}

/// Fuzzes `target` for `seconds`, streaming libFuzzer's output and keeping its final stats.
fn fuzz_one(target: &str, seconds: u64) -> Result<Outcome, String> {
    let root = shell::workspace_root();
    let scratch = root.join("fuzz").join("scratch").join(target);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let corpus = format!("fuzz/corpus/{target}");
    let scratch = format!("fuzz/scratch/{target}");
    let args = [
        "+nightly".to_string(),
        "fuzz".into(),
        "run".into(),
        "-a".into(),
        "--sanitizer".into(),
        "none".into(),
        target.into(),
        scratch,
        corpus,
        "--".into(),
        format!("-max_total_time={seconds}"),
        "-max_len=4096".into(),
        "-rss_limit_mb=2048".into(),
        "-print_final_stats=1".into(),
    ];
    eprintln!("$ cargo {}", args.join(" "));
    let mut child = Command::new("cargo")
        .args(&args)
        .current_dir(&root)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
    let mut executions = String::from("?");
    let mut coverage = String::from("?");
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
                executions = n.trim().to_string();
            }
            // Progress lines: "#1234\tpulse  cov: 567 ft: ...".
            if let Some(at) = line.find("cov: ") {
                coverage = line[at + 5..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("?")
                    .to_string();
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo fuzz run {target}: {e}"))?;
    Ok(Outcome {
        target: target.to_string(),
        executions,
        coverage,
        crashed: !status.success(),
    })
}
