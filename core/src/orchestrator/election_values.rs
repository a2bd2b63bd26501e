//! The value each candidate campaigns with (e.g. its endpoint), shown with the leader.
//!
//! Kept apart from the candidacies so the state the snapshot encodes first keeps its layout
//! (snapshot format 4 appends this map); entries are pruned whenever a candidate leaves.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// Longest campaign value, in bytes.
pub const MAX_ELECTION_VALUE_LEN: usize = 4096;

/// `election → candidate → value`, only for candidates that gave one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct ElectionValues {
    // Invariant: no inner map is empty; every entry names a candidate that leads or waits.
    by_election: BTreeMap<String, BTreeMap<String, String>>,
}

impl ElectionValues {
    /// Records `value` for `candidate`, replacing an earlier one.
    pub(crate) fn set(&mut self, election: &str, candidate: &str, value: String) {
        self.by_election
            .entry(election.into())
            .or_default()
            .insert(candidate.into(), value);
    }

    /// The value `candidate` campaigns with in `election`.
    pub(crate) fn get(&self, election: &str, candidate: &str) -> Option<&str> {
        self.by_election
            .get(election)?
            .get(candidate)
            .map(String::as_str)
    }

    /// Whether no candidate has a value.
    #[cfg(test)]
    pub(crate) fn by_election_is_empty(&self) -> bool {
        self.by_election.is_empty()
    }

    /// Forgets the values of `election`'s candidates for which `present` is false.
    pub(crate) fn prune(&mut self, election: &str, present: impl Fn(&str) -> bool) {
        let Some(values) = self.by_election.get_mut(election) else {
            return;
        };
        let gone: Vec<String> = values.keys().filter(|c| !present(c)).cloned().collect();
        for c in gone {
            values.remove(&c);
        }
        if values.is_empty() {
            self.by_election.remove(election);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_prune() {
        let mut v = ElectionValues::default();
        v.set("x", "a", "http://a".into());
        v.set("x", "b", "http://b".into());
        v.set("x", "a", "http://a2".into());
        assert_eq!(v.get("x", "a"), Some("http://a2"));
        v.prune("x", |c| c == "b");
        assert_eq!((v.get("x", "a"), v.get("x", "b")), (None, Some("http://b")));
        v.prune("x", |_| false);
        assert!(v.by_election.is_empty());
    }
}
