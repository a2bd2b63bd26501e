//! Random sequences of append (with overwrite), sync, compact and reopen, checked against an
//! in-memory model after every step.

mod common;

use std::path::Path;

use proptest::prelude::*;
use raftorch_node::storage::{Log, LogEntry, LogOptions};

/// Small segments and a small buffer so that rolls and partial flushes happen constantly, and
/// zeros written ahead that run out and get cut by truncation.
fn options() -> LogOptions {
    LogOptions {
        segment_size: 256,
        write_buffer: 100,
        preallocate: 150,
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// Append `count` entries starting `back` entries before the end (overwriting those).
    Append {
        back: u64,
        count: u64,
        len: usize,
    },
    Sync,
    /// Compact through `first - 1 + at % (len + 4)`: sometimes nothing, sometimes past the end.
    Compact {
        at: u64,
    },
    /// Drop the log (with or without a sync first) and open it again.
    Reopen {
        sync_first: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..6u64, 1..8u64, 0..120usize).prop_map(|(back, count, len)| Op::Append { back, count, len }),
        3 => Just(Op::Sync),
        1 => (0..64u64).prop_map(|at| Op::Compact { at }),
        2 => any::<bool>().prop_map(|sync_first| Op::Reopen { sync_first }),
    ]
}

/// What the log should hold.
struct Model {
    /// Logical first index.
    first: u64,
    /// Entries `first..`.
    entries: Vec<LogEntry>,
    /// Every entry up to here is on disk for sure.
    durable: u64,
}

impl Model {
    fn last(&self) -> u64 {
        self.first + self.entries.len() as u64 - 1
    }

    fn truncate_after(&mut self, last: u64) {
        self.entries.truncate((last + 1 - self.first) as usize);
        self.durable = self.durable.min(last);
    }
}

fn check(log: &Log, model: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(log.first_index(), model.first);
    prop_assert_eq!(log.last_index(), model.last());
    prop_assert_eq!(
        &log.entries(model.first, model.last() + 1).unwrap(),
        &model.entries
    );
    for (index, term, _) in &model.entries {
        prop_assert_eq!(log.term(*index).unwrap(), *term);
    }
    Ok(())
}

fn run(dir: &Path, ops: &[Op]) -> Result<(), TestCaseError> {
    let (mut log, _) = Log::open(dir, options()).unwrap();
    let mut model = Model {
        first: 1,
        entries: Vec::new(),
        durable: 0,
    };
    for (step, op) in ops.iter().enumerate() {
        match *op {
            Op::Append { back, count, len } => {
                let start = (model.last() + 1).saturating_sub(back).max(model.first);
                let new: Vec<LogEntry> = (start..start + count)
                    .map(|i| (i, step as u64, vec![(i as u8) ^ (step as u8); len]))
                    .collect();
                common::append(&mut log, &new);
                model.truncate_after(start - 1);
                model.entries.extend(new);
            }
            Op::Sync => {
                log.sync().unwrap();
                model.durable = model.last();
            }
            Op::Compact { at } => {
                let index = model.first - 1 + at % (model.entries.len() as u64 + 4);
                log.compact_through(index).unwrap();
                if index > model.last() {
                    // Restarting the log is durable at once.
                    model = Model {
                        first: index + 1,
                        entries: Vec::new(),
                        durable: index,
                    };
                } else if index >= model.first {
                    model.entries.drain(..(index + 1 - model.first) as usize);
                    model.first = index + 1;
                }
            }
            Op::Reopen { sync_first } => {
                if sync_first {
                    log.sync().unwrap();
                    model.durable = model.last();
                }
                drop(log);
                let (reopened, recovered) = Log::open(dir, options()).unwrap();
                log = reopened;
                // Without a real crash nothing is damaged; only the unflushed buffer is gone.
                prop_assert_eq!(recovered.truncated, None);
                prop_assert!(log.first_index() <= model.first.max(1));
                // The host re-applies its snapshot's compaction after opening.
                log.compact_through(model.first - 1).unwrap();
                let last = log.last_index();
                prop_assert!(
                    last >= model.durable.max(model.first - 1) && last <= model.last(),
                    "reopened last {} outside [{}, {}]",
                    last,
                    model.durable,
                    model.last()
                );
                model.truncate_after(last);
                // Whatever survived is now what the model holds, as far as durability goes.
                model.durable = model.durable.min(last);
            }
        }
        check(&log, &model)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        run(dir.path(), &ops)?;
    }
}
