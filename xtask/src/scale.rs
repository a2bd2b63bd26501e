//! `cargo xtask scale`: builds the node optimized and runs `raftorch bench --scale` (a 3-node
//! cluster filled to 1 GiB of live state by default, 1 KiB values, 32 clients), printing the
//! figures against the goals of a large state. Not a CI step: a full run takes many minutes.

use crate::nemesis::target_dir;
use crate::shell;

/// Builds `raftorch` (release) and runs the scale benchmark; `args` go to `raftorch bench`
/// with the defaults `--fill 1GiB --value-size 1024 --clients 32 --duration 10s` for those
/// `args` do not set (e.g. `--fill 200MiB`).
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    shell::run(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "raftorch-node",
            "--bin",
            "raftorch",
        ],
    )?;
    let binary = target_dir().join("release").join("raftorch");
    let binary = binary.to_string_lossy();
    let mut bench = vec!["bench", "--scale"];
    for (flag, value) in [
        ("--fill", "1GiB"),
        ("--value-size", "1024"),
        ("--clients", "32"),
        ("--duration", "10s"),
    ] {
        if !args
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        {
            bench.extend([flag, value]);
        }
    }
    bench.extend(args.iter().map(String::as_str));
    shell::run(&binary, &bench)
}
