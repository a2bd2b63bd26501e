//! `cargo xtask python`: the Python client's tests. Builds the `raftorch` binary, makes a venv
//! under `.tools/venv` (once), installs `./client/python` (maturin comes from PyPI as its
//! build backend) and pytest into it, and runs `client/python/tests` against real clusters.

use std::path::PathBuf;

use crate::shell;

/// Where cargo puts its output (`CARGO_TARGET_DIR`, else `target/`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => shell::workspace_root().join("target"),
    }
}

/// Builds, installs and runs the Python tests.
pub(crate) fn test() -> Result<(), String> {
    let root = shell::workspace_root();
    shell::run(
        "cargo",
        &["build", "-p", "raftorch-node", "--bin", "raftorch"],
    )?;
    let venv = root.join(".tools/venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        let venv_s = venv.to_string_lossy().into_owned();
        shell::run("python3", &["-m", "venv", &venv_s])?;
    }
    let py = python.to_string_lossy().into_owned();
    shell::run(&py, &["-m", "pip", "install", "--quiet", "pytest"])?;
    // Always rebuilt: the package's version does not change with its sources.
    shell::run(
        &py,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--force-reinstall",
            "--no-deps",
            "./client/python",
        ],
    )?;
    let bin = target_dir().join("debug/raftorch");
    let bin = bin.to_string_lossy().into_owned();
    shell::run_with_env(
        &py,
        &["-m", "pytest", "-q", "client/python/tests"],
        &[("RAFTORCH_BIN", &bin)],
    )
}
