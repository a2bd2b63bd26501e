//! The `raftorch` binary (command line to come).
fn main() {}
