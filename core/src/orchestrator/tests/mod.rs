//! Whole-state-machine tests: every command through `apply`, expiry, determinism, dedup,
//! fencing, snapshots and routing.

mod alarms;
mod clock;
mod commands;
mod coordination;
mod locks;
mod members;
mod registry;
mod replication;
mod routing;
pub(super) mod support;
mod watch;

use alloc::string::String;
use alloc::vec::Vec;

use self::support::{register, Driver};
use super::validate::{Field, Rule, ValidationError};
use super::*;
use crate::state_machine::StateMachine;

fn put(key: &str, lease: Option<u64>, expected_revision: Option<u64>) -> Command {
    Command::Put {
        key: key.into(),
        value: Vec::from(*b"v"),
        lease,
        expected_revision,
    }
}

fn acquire(name: &str, lease_id: u64) -> Command {
    Command::AcquireLock {
        name: name.into(),
        lease_id,
    }
}

fn kinds(sm: &Orchestrator, prefix: &str, after: u64) -> Vec<EventKind> {
    sm.events_after(prefix, after, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// Applies `command` and checks it was refused with `expected` and changed nothing but the
/// applied index (and, as the first entry ever, the clock's base).
fn refused(d: &mut Driver, command: Command, expected: OrchestratorError) {
    let before = d.sm.clone();
    // The stamp that leaves the clock where it is in the current epoch.
    let stamp = before
        .clock_epoch
        .map_or(before.now_ms, |e| e.stamp_ms + (before.now_ms - e.clock_ms));
    assert_eq!(d.at(stamp, command), Err(expected));
    let mut after = d.sm.clone();
    after.applied_index = before.applied_index;
    if before.clock_epoch.is_none() {
        after.clock_epoch = None;
    }
    assert_eq!(after, before, "a refused command changed the state");
}

fn invalid(field: Field, rule: Rule) -> OrchestratorError {
    OrchestratorError::Invalid(ValidationError { field, rule })
}
