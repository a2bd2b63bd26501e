//! Helpers shared by the storage tests.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use raftorch_node::storage::{Log, LogEntry, LogOptions, Recovered};

/// Tiny segments and buffer, so a few entries exercise roll-over and partial flushes.
pub fn small() -> LogOptions {
    LogOptions {
        segment_size: 200,
        write_buffer: 64,
        preallocate: 0,
    }
}

/// Entry `index` of a test log: term `index / 4 + 1`, a payload whose length varies.
pub fn entry(index: u64) -> LogEntry {
    entry_with_term(index, index / 4 + 1)
}

/// Entry `index` with the given term.
pub fn entry_with_term(index: u64, term: u64) -> LogEntry {
    let payload = format!("payload-{index}-{}", "x".repeat((index % 7) as usize));
    (index, term, payload.into_bytes())
}

/// Appends owned entries.
pub fn append(log: &mut Log, entries: &[LogEntry]) {
    let borrowed: Vec<(u64, u64, &[u8])> = entries
        .iter()
        .map(|(i, t, p)| (*i, *t, p.as_slice()))
        .collect();
    log.append(&borrowed).unwrap();
}

/// A log in `dir` holding entries `1..=n`, synced.
pub fn filled(dir: &Path, n: u64) -> Log {
    let (mut log, _) = Log::open(dir, small()).unwrap();
    let entries: Vec<_> = (1..=n).map(entry).collect();
    append(&mut log, &entries);
    log.sync().unwrap();
    log
}

/// Reopens the log in `dir` with the test options.
pub fn reopen(dir: &Path) -> (Log, Recovered) {
    Log::open(dir, small()).unwrap()
}

/// The segment files in `dir`, sorted.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}
