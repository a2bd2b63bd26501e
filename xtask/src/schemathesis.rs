//! `cargo xtask schemathesis [--long]`: schemathesis (PyPI, pinned) against one live node, from
//! `node/openapi.json` as the node serves it: no 5xx on any generated request, every error in
//! the JSON error shape, every answer as documented. The driver is
//! `node/tests/schemathesis/run.py` (it starts the node); `cargo xtask python` runs the short
//! budget after the Python tests.

use crate::python;
use crate::shell;

/// The schemathesis release the run is pinned to (works offline: it sends nothing but the
/// test requests to the node).
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// How hard to try.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// CI: at most 15 examples per operation, 75 s in all (about 80 s on 2 cores).
    Short,
    /// `--long`: 300 examples per operation, up to 20 minutes.
    Long,
}

/// `cargo xtask schemathesis [--long] [--seed N]`.
pub(crate) fn command(args: &[String]) -> Result<(), String> {
    let budget = if args.iter().any(|a| a == "--long") {
        Budget::Long
    } else {
        Budget::Short
    };
    let seed = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let (py, bin) = python::prepare(false)?;
    run(&py, &bin, budget, seed.as_deref())
}

/// Installs schemathesis into the venv whose interpreter is `py` and runs it against a node
/// of the `raftorch` binary `bin`.
pub(crate) fn run(py: &str, bin: &str, budget: Budget, seed: Option<&str>) -> Result<(), String> {
    shell::run(py, &["-m", "pip", "install", "--quiet", SCHEMATHESIS])?;
    let (examples, seconds) = match budget {
        Budget::Short => ("15", "75"),
        Budget::Long => ("300", "1200"),
    };
    let mut args = vec![
        "node/tests/schemathesis/run.py",
        bin,
        "--max-examples",
        examples,
        "--max-time",
        seconds,
    ];
    if let Some(seed) = seed {
        args.extend(["--seed", seed]);
    }
    shell::run(py, &args)
}
