//! `cargo xtask test`: every check CI runs, in order, each failing loudly.

use crate::{deploy, nemesis, python, setup, shell, web};

/// Runs formatting, lints, the no_std builds and the whole test suite. `--web` runs only the
/// browser visualizer's checks (the last step).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--web") {
        return web::test();
    }
    let quick = args.iter().any(|a| a == "--quick");
    setup::ensure_rust_targets()?;
    shell::run("cargo", &["fmt", "--all", "--", "--check"])?;
    shell::run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    for target in setup::NO_STD_TARGETS {
        shell::run(
            "cargo",
            &[
                "build",
                "-p",
                "raftorch-core",
                "--no-default-features",
                "--target",
                target,
            ],
        )?;
    }
    // deploy/: manifests, alert rules and the systemd unit (seconds once the tools are in).
    deploy::check()?;
    // CI's floor is 2,000 randomized 5-node seeds; `--quick` runs 200 for local iteration.
    let seeds = if quick { "200" } else { "2000" };
    let seeds = std::env::var("RAFTORCH_SEEDS").unwrap_or_else(|_| seeds.to_string());
    // `raftorch bench --target etcd` is tested side by side with a real etcd cluster.
    ensure_etcd()?;
    shell::run_with_env(
        "cargo",
        &["test", "--workspace"],
        &[("RAFTORCH_SEEDS", &seeds), ("RAFTORCH_REQUIRE_ETCD", "1")],
    )?;
    // Five real nodes in network namespaces under partitions, kills and pauses for 120 s
    // (root needed: skipped with a message locally, a failure under CI=true). A fresh seed
    // each run, printed; RAFTORCH_NEMESIS_SEED replays one.
    let seed = std::env::var("RAFTORCH_NEMESIS_SEED").unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
            .to_string()
    });
    nemesis::run(&["--seconds".into(), "120".into(), "--seed".into(), seed])?;
    // The Python client: pip installs ./client/python (maturin, PyO3) into .tools/venv and
    // pytest runs it against real clusters and bot processes.
    python::test()?;
    // Benchmarks must keep compiling and running; one quick iteration each, no measurement.
    shell::run("cargo", &["bench", "-p", "raftorch-core", "--", "--test"])?;
    // The browser visualizer: wasm lints, in-browser tests, release build under the size
    // budget, and the end-to-end tests in headless Chromium and Firefox.
    web::test()?;
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// Installs etcd (Debian's `etcd-server`, 3.4) when it is not on `PATH`.
fn ensure_etcd() -> Result<(), String> {
    if shell::output("etcd", &["--version"]).is_ok_and(|v| v.contains("etcd Version")) {
        return Ok(());
    }
    web::apt_get(&["update"])?;
    web::apt_get(&["install", "-y", "etcd-server"])?;
    // The package enables a system service on the default ports; the tests start their own.
    let _ = shell::run("systemctl", &["disable", "--now", "etcd"]);
    Ok(())
}
