//! The cluster's address book: where each Raft member's transport and HTTP API listen, as
//! replicated state, so a node learns the addresses of members added at run time from the log
//! (or a snapshot) like everything else.
//!
//! Why here and not inside the Raft membership-change entry (etcd's `ConfChange.Context`): the
//! consensus core stays free of transport concerns (the simulator and the browser have no
//! addresses), the record gets the orchestrator's validation, snapshot and deterministic
//! encoding for free, and an address can be corrected without a membership change. The price is
//! two log entries per change, so the host orders them: the address is committed *before* the
//! `AddLearner`/`AddVoter` that makes the leader replicate to the node, and removed only *after*
//! the `RemoveNode` is applied. A record whose membership change never followed is harmless (only
//! members are sent messages) and is replaced by the next record for the same id.

use alloc::collections::BTreeMap;
use alloc::string::String;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;
use super::validate::{self, Field};
use super::Orchestrator;

/// Where a member listens, as the operator who added it advertised it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberAddress {
    /// Its Raft transport address, `HOST:PORT`.
    pub peer_addr: String,
    /// Its HTTP API address, `HOST:PORT`.
    pub api_addr: String,
    /// Index of the entry that set this record.
    pub set_index: u64,
}

/// Every member's address record, by node id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MemberBook {
    by_id: BTreeMap<u64, MemberAddress>,
    /// Index of the last entry that changed the book (0: never changed), so a host can tell
    /// cheaply whether its peer table needs refreshing.
    changed_index: u64,
}

impl MemberBook {
    /// An empty book that changed at `index`.
    pub(crate) fn forgotten(index: u64) -> Self {
        MemberBook {
            by_id: BTreeMap::new(),
            changed_index: index,
        }
    }

    /// Sets (or replaces) node `id`'s record. Refused when invalid, when both addresses are the
    /// same, or when another node's record already holds one of them (two nodes cannot listen on
    /// one address: it is a typo, and messages for one would reach the other). Returns whether
    /// the record is new.
    pub(crate) fn set(
        &mut self,
        id: u64,
        peer_addr: String,
        api_addr: String,
        index: u64,
    ) -> Result<bool, OrchestratorError> {
        validate::node_id(id)?;
        validate::listen_address(Field::PeerAddr, &peer_addr)?;
        validate::listen_address(Field::ApiAddr, &api_addr)?;
        let clash = self.by_id.iter().find(|(&other, m)| {
            other != id
                && [&m.peer_addr, &m.api_addr]
                    .iter()
                    .any(|a| **a == peer_addr || **a == api_addr)
        });
        if let Some((&holder, m)) = clash {
            let address = if m.peer_addr == peer_addr || m.api_addr == peer_addr {
                peer_addr
            } else {
                api_addr
            };
            return Err(OrchestratorError::AddressInUse {
                address,
                node_id: holder,
            });
        }
        if peer_addr == api_addr {
            return Err(OrchestratorError::AddressInUse {
                address: api_addr,
                node_id: id,
            });
        }
        if let Some(old) = self.by_id.get(&id) {
            if old.peer_addr == peer_addr && old.api_addr == api_addr {
                // Same addresses: keep the record (and the hosts' tables) as they were.
                return Ok(false);
            }
        }
        let record = MemberAddress {
            peer_addr,
            api_addr,
            set_index: index,
        };
        let created = self.by_id.insert(id, record).is_none();
        self.changed_index = index;
        Ok(created)
    }

    /// Drops node `id`'s record; whether there was one.
    pub(crate) fn remove(&mut self, id: u64, index: u64) -> Result<bool, OrchestratorError> {
        validate::node_id(id)?;
        let removed = self.by_id.remove(&id).is_some();
        if removed {
            self.changed_index = index;
        }
        Ok(removed)
    }

    pub(crate) fn get(&self, id: u64) -> Option<&MemberAddress> {
        self.by_id.get(&id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &MemberAddress)> + '_ {
        self.by_id.iter().map(|(&id, m)| (id, m))
    }

    pub(crate) fn changed_index(&self) -> u64 {
        self.changed_index
    }
}

impl Orchestrator {
    /// Node `id`'s address record, if it has one.
    pub fn member_address(&self, id: u64) -> Option<&MemberAddress> {
        self.members.get(id)
    }

    /// Every address record, by node id.
    pub fn member_addresses(&self) -> impl Iterator<Item = (u64, &MemberAddress)> + '_ {
        self.members.iter()
    }

    /// Index of the last entry that changed an address record (0: none ever did). A host
    /// refreshes its peer table when this moves (or after restoring a snapshot).
    pub fn member_book_index(&self) -> u64 {
        self.members.changed_index()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::validate::{Rule, ValidationError};

    #[test]
    fn set_replace_and_remove() {
        let mut book = MemberBook::default();
        assert_eq!(
            book.set(4, "10.0.0.4:7000".into(), "10.0.0.4:8000".into(), 5),
            Ok(true)
        );
        assert_eq!(book.changed_index(), 5);
        // The same addresses again: nothing changes, not even the index.
        assert_eq!(
            book.set(4, "10.0.0.4:7000".into(), "10.0.0.4:8000".into(), 6),
            Ok(false)
        );
        assert_eq!(book.changed_index(), 5);
        assert_eq!(book.get(4).map(|m| m.set_index), Some(5));
        // New addresses replace the record.
        assert_eq!(
            book.set(4, "10.0.0.9:7000".into(), "10.0.0.9:8000".into(), 7),
            Ok(false)
        );
        assert_eq!(
            book.get(4).map(|m| m.peer_addr.as_str()),
            Some("10.0.0.9:7000")
        );
        assert_eq!(book.changed_index(), 7);
        assert_eq!(book.remove(4, 8), Ok(true));
        assert_eq!(book.remove(4, 9), Ok(false));
        assert_eq!(book.changed_index(), 8);
        assert_eq!(book.iter().count(), 0);
    }

    #[test]
    fn another_nodes_address_is_refused() {
        let mut book = MemberBook::default();
        book.set(4, "h4:7000".into(), "h4:8000".into(), 1).unwrap();
        assert_eq!(
            book.set(5, "h5:7000".into(), "h4:7000".into(), 2),
            Err(OrchestratorError::AddressInUse {
                address: "h4:7000".into(),
                node_id: 4
            })
        );
        assert_eq!(
            book.set(5, "h4:8000".into(), "h5:8000".into(), 2),
            Err(OrchestratorError::AddressInUse {
                address: "h4:8000".into(),
                node_id: 4
            })
        );
        assert_eq!(
            book.set(0, "h0:7000".into(), "h0:8000".into(), 2),
            Err(OrchestratorError::Invalid(ValidationError {
                field: Field::NodeId,
                rule: Rule::OutOfRange {
                    min: 1,
                    max: u64::MAX
                }
            }))
        );
        assert_eq!(book.changed_index(), 1);
    }
}
