//! `raftorch-nemesis [--seconds N | --minutes N] [--seed N] [--report DIR] [--clients N]
//! [--min-ops N] --binary PATH`: one run of the harness (see the library's docs). Usually started
//! by `cargo xtask nemesis`, which builds the node binary first.

#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)] // a host tool

use std::path::PathBuf;
use std::process::ExitCode;

use raftorch_nemesis::net;
use raftorch_nemesis::run::{run, Options};

const USAGE: &str = "usage: raftorch-nemesis --binary PATH [--seconds N | --minutes N] [--seed N] \
                     [--report DIR] [--clients N] [--min-ops N]";

fn parse(args: &[String]) -> Result<Options, String> {
    let mut opts = Options {
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
        seconds: 120,
        clients: 4,
        min_ops: 2_000,
        binary: PathBuf::new(),
        report_dir: PathBuf::new(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--seconds" => opts.seconds = number(value()?)?,
            "--minutes" => opts.seconds = 60 * number(value()?)?,
            "--seed" => opts.seed = number(value()?)?,
            "--clients" => opts.clients = number(value()?)?.max(1),
            "--min-ops" => opts.min_ops = number(value()?)? as usize,
            "--binary" => opts.binary = PathBuf::from(value()?),
            "--report" => opts.report_dir = PathBuf::from(value()?),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if opts.binary.as_os_str().is_empty() {
        return Err(format!("--binary is required\n{USAGE}"));
    }
    if opts.report_dir.as_os_str().is_empty() {
        opts.report_dir = PathBuf::from(format!("nemesis-report/seed-{}", opts.seed));
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(why) = net::unavailable() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            eprintln!("nemesis: cannot run in CI: {why}");
            return ExitCode::FAILURE;
        }
        println!("nemesis: skipped: {why}");
        return ExitCode::SUCCESS;
    }
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
