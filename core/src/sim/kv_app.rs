//! A small key-value application for checking the core's linearizability in simulation.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::engine::Application;
use crate::state_machine::StateMachine;

/// A write to the key-value store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvCommand {
    /// Sets `key` to `value`.
    Put {
        /// Key.
        key: String,
        /// Value.
        value: String,
    },
    /// Sets `key` to `new` if its current value is `expected` (`None`: absent).
    Cas {
        /// Key.
        key: String,
        /// Expected current value.
        expected: Option<String>,
        /// New value.
        new: String,
    },
    /// Removes `key`.
    Delete {
        /// Key.
        key: String,
    },
}

impl KvCommand {
    /// Encodes the command as a log payload.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }
}

/// What a write answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvOutput {
    /// Put or delete done.
    Done,
    /// Whether a compare-and-swap succeeded.
    Swapped(bool),
    /// The entry could not be decoded.
    Invalid,
}

/// A replicated map from keys to values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvApp {
    data: BTreeMap<String, String>,
    applied: u64,
}

impl StateMachine for KvApp {
    type Output = KvOutput;

    fn apply(&mut self, index: u64, data: &[u8]) -> KvOutput {
        self.applied = index;
        match postcard::from_bytes::<KvCommand>(data) {
            Ok(KvCommand::Put { key, value }) => {
                self.data.insert(key, value);
                KvOutput::Done
            }
            Ok(KvCommand::Cas { key, expected, new }) => {
                let ok = self.data.get(&key) == expected.as_ref();
                if ok {
                    self.data.insert(key, new);
                }
                KvOutput::Swapped(ok)
            }
            Ok(KvCommand::Delete { key }) => {
                self.data.remove(&key);
                KvOutput::Done
            }
            Err(_) => KvOutput::Invalid,
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    fn restore(&mut self, data: &[u8]) -> Result<(), String> {
        *self = postcard::from_bytes(data).map_err(|e| alloc::format!("bad kv snapshot: {e}"))?;
        Ok(())
    }
}

impl Application for KvApp {
    type Query = String;
    type QueryOutput = Option<String>;

    fn query(&self, key: &String) -> Option<String> {
        self.data.get(key).cloned()
    }
}
