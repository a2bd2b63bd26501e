//! `cargo xtask`: the project's one-command set-up, build, test and demo automation.
//!
//! - `cargo xtask test`: installs what a fresh machine lacks, then runs every check CI runs.
//! - `cargo xtask nemesis`: five real nodes in network namespaces under partitions, kills and
//!   pauses, with a checked client history, a JSON report and an SVG timeline.
//! - `cargo xtask scale`: how a 3-node cluster's figures grow up to 1 GiB of state.
//! - `cargo xtask demo`: builds the browser visualizer and serves it on 127.0.0.1
//!   (`--terminal` for the text demo).
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)] // a host tool, std is fine

mod demo;
mod deploy;
mod fuzz;
mod nemesis;
mod python;
mod scale;
mod schemathesis;
mod serve;
mod setup;
mod shell;
mod test;
mod web;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test    install missing tools, then run formatting, lints, no_std builds, every test, the
          120 s nemesis run (below; a fresh seed, RAFTORCH_NEMESIS_SEED=N replays one), the
          Python client's tests (below), the in-browser tests and the browser end-to-end tests in Chromium and Firefox (--quick:
          200 random seeds instead of 2,000; --web: only the browser visualizer's checks)
  demo    build the browser visualizer and serve it at http://127.0.0.1:8080/ (--port N)
  demo --terminal
          run a simulated 5-node cluster through a leader crash, a partition and a heal,
          printing its event trace (options: --seed N, --nodes N, --verbose)
  nemesis [--seconds N | --minutes N] [--seed N] [--report DIR] [--clients N] [--release]
          run 5 real raftorch nodes, each in its own network namespace (needs root), under a
          seeded schedule of partitions (random halves, leader in the minority, leader alone,
          a bridge node), kill -9 + restart (the leader, two nodes), SIGSTOP of the leader and
          a leader with its clock an hour off, with 4 kv clients, 2 lock clients and lease
          expiry probes; checks linearizability, fencing tokens and mutual exclusion, lease
          expiry, state digests of the nodes while running, convergence and that no
          acknowledged write is lost; writes report.json and timeline.svg (default 120 s,
          2,000 ops required: --min-ops N; report in $CARGO_TARGET_DIR/nemesis/seed-N)
  scale [--fill SIZE] [raftorch bench options]
          build the node optimized and run `raftorch bench --scale`: a 3-node cluster with one
          follower down, filled to 1 GiB of live state (1 KiB values, 32 clients), writes/s,
          p99, RSS and snapshots at 0, 64 MiB, 256 MiB and the fill, then a paged read of every
          key, the follower's catch-up and a restart to ready, against the 1 GiB goals
  python  build and install the Python client (client/python) into .tools/venv and run its
          pytest suite against real 3-node clusters, then a short schemathesis run (below)
  deploy-check
          check deploy/ without a container runtime: the Kubernetes manifests against the
          schema (kubernetes-validate into .tools/venv) and their invariants (quorum-keeping
          PodDisruptionBudget, /readyz, one member per replica), the alert rules (promtool
          check rules + test rules), the systemd unit (systemd-analyze verify + security)
  schemathesis [--long] [--seed N]
          fuzz a live node with schemathesis (PyPI, pinned) from its OpenAPI document
          (node/openapi.json): no 5xx, every error in the JSON error shape, answers as
          documented; short by default (15 examples per operation, at most 75 s, as CI),
          --long: 300 per operation, up to 20 minutes
  fuzz [--minutes N | --seconds N] [--target NAME]...
          run the libFuzzer targets in fuzz/ (peer_frame, wal_record, api_input, raft_step)
          one after another, N per target (default 60 s), with nightly and cargo-fuzz
          (installed if missing); crashes land in fuzz/artifacts/NAME, which cargo test replays.
          Without nightly: the stable proptest harness, cases scaled to the time
  setup   only install the tools the other commands need (trunk, wasm-bindgen, wasm-pack,
          wasm-opt, Chromium, Firefox ESR, geckodriver)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("demo") if args.iter().any(|a| a == "--terminal") => {
            let rest: Vec<String> = args[1..]
                .iter()
                .filter(|a| *a != "--terminal")
                .cloned()
                .collect();
            demo::run(&rest)
        }
        Some("demo") => serve::run(&args[1..]),
        Some("nemesis") => nemesis::run(&args[1..]),
        Some("scale") => scale::run(&args[1..]),
        Some("python") => python::test(),
        Some("deploy-check") => deploy::check(),
        Some("schemathesis") => schemathesis::command(&args[1..]),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("setup") => web::ensure_tools(true),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
