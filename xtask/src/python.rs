//! `cargo xtask python`: the Python client's tests. Builds the `raftorch` binary, makes a venv
//! under `.tools/venv` (once), installs `./client/python` (maturin comes from PyPI as its
//! build backend) and pytest into it, and runs `client/python/tests` against real clusters,
//! then schemathesis against a live node (see `schemathesis`).

use std::path::PathBuf;

use crate::schemathesis::{self, Budget};
use crate::shell;

/// Where cargo puts its output (`CARGO_TARGET_DIR`, else `target/`).
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => shell::workspace_root().join("target"),
    }
}

/// Builds, installs and runs the Python tests, then the short schemathesis run against a
/// live node.
pub(crate) fn test() -> Result<(), String> {
    let (py, bin) = prepare(true)?;
    shell::run_with_env(
        &py,
        &["-m", "pytest", "-q", "client/python/tests"],
        &[("RAFTORCH_BIN", &bin)],
    )?;
    schemathesis::run(&py, &bin, Budget::Short, None)
}

/// Builds the `raftorch` binary and makes the venv (with `client`, installs the client and
/// pytest into it); the venv's interpreter and the binary's path.
pub(crate) fn prepare(client: bool) -> Result<(String, String), String> {
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
    let bin = target_dir().join("debug/raftorch");
    let bin = bin.to_string_lossy().into_owned();
    if !client {
        return Ok((py, bin));
    }
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
    Ok((py, bin))
}
