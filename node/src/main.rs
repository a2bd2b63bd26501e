//! The `raftorch` binary: `node`, `dev` and `ctl` (see `raftorch --help`).

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let filter = EnvFilter::try_from_env("RAFTORCH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = raftorch_node::cli::Cli::parse();
    std::process::exit(raftorch_node::cli::run(cli));
}
