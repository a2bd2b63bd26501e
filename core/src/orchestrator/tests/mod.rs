//! Whole-state-machine tests: every command through `apply`, expiry, determinism, dedup,
//! fencing, snapshots and routing.

mod commands;
mod locks;
mod members;
mod registry;
mod replication;
mod routing;
pub(super) mod support;

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
/// applied index.
fn refused(d: &mut Driver, command: Command, expected: OrchestratorError) {
    let before = d.sm.clone();
    let now = d.sm.now_ms;
    assert_eq!(d.at(now, command), Err(expected));
    let mut after = d.sm.clone();
    after.applied_index = before.applied_index;
    assert_eq!(after, before, "a refused command changed the state");
}

fn invalid(field: Field, rule: Rule) -> OrchestratorError {
    OrchestratorError::Invalid(ValidationError { field, rule })
}
