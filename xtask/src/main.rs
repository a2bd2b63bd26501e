//! `cargo xtask`: the project's one-command set-up, build, test and demo automation.
//!
//! - `cargo xtask test`: installs what a fresh machine lacks, then runs every check CI runs.
//! - `cargo xtask demo`: runs the main job.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)] // a host tool, std is fine

mod demo;
mod setup;
mod shell;
mod test;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test    install missing tools, then run formatting, lints, no_std builds and every test
  demo    run a simulated 5-node cluster through a leader crash, a partition and a heal,
          printing its event trace (options: --seed N, --nodes N, --verbose)
  setup   only install the tools the other commands need";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(&args[1..]),
        Some("demo") => demo::run(&args[1..]),
        Some("setup") => setup::ensure_rust_targets(),
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
