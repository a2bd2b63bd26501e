//! Where every known node listens: the configured `--peer` entries and this node's own bound
//! addresses, overlaid with the replicated address book (the orchestrator's member records),
//! which wins. The owner task keeps the transport's peer table and the API's view of it in step
//! with the book as entries apply, snapshots restore, and the log replays after a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use raftorch_core::orchestrator::Orchestrator;
use raftorch_core::raft::NodeId;
use tokio::sync::watch;

use crate::config::PeerSpec;
use crate::transport::Peers;

/// Every known node's addresses, by id, as last published by the owner task.
pub type AddressTable = Arc<BTreeMap<NodeId, PeerSpec>>;

/// The owner's side of the address table.
pub(super) struct AddressBook {
    me: NodeId,
    /// The starting point: configured peers and this node.
    configured: BTreeMap<NodeId, PeerSpec>,
    /// The book index last merged in; `None` forces the next [`AddressBook::sync`].
    synced: Option<u64>,
    table: watch::Sender<AddressTable>,
}

impl AddressBook {
    /// A table of the configured peers and `me` (this node's bound addresses).
    pub(super) fn new(me: PeerSpec, peers: &[PeerSpec]) -> Self {
        let configured: BTreeMap<NodeId, PeerSpec> = peers
            .iter()
            .cloned()
            .chain(std::iter::once(me.clone()))
            .map(|p| (p.id, p))
            .collect();
        let (table, _) = watch::channel(Arc::new(configured.clone()));
        AddressBook {
            me: me.id,
            configured,
            synced: None,
            table,
        }
    }

    /// A receiver of every table published from now on.
    pub(super) fn subscribe(&self) -> watch::Receiver<AddressTable> {
        self.table.subscribe()
    }

    /// Makes the next [`AddressBook::sync`] merge the book whatever its index (the state
    /// machine was replaced by a snapshot).
    pub(super) fn invalidate(&mut self) {
        self.synced = None;
    }

    /// Merges the replicated book of `sm` over the configured addresses when it changed, points
    /// the transport at the result (every node but this one) and publishes it.
    pub(super) fn sync(&mut self, sm: &Orchestrator, peers: &mut Peers) {
        let index = sm.member_book_index();
        if self.synced == Some(index) {
            return;
        }
        self.synced = Some(index);
        let mut table = self.configured.clone();
        for (id, m) in sm.member_addresses() {
            table.insert(
                id,
                PeerSpec {
                    id,
                    peer_addr: m.peer_addr.clone(),
                    api_addr: m.api_addr.clone(),
                },
            );
        }
        for p in table.values().filter(|p| p.id != self.me) {
            if peers.set(p.id, p.peer_addr.clone()) {
                tracing::info!(peer = p.id, addr = %p.peer_addr, api = %p.api_addr, "peer address");
            }
        }
        let gone: Vec<NodeId> = peers
            .addresses()
            .map(|(id, _)| id)
            .filter(|id| !table.contains_key(id))
            .collect();
        for id in gone {
            peers.remove(id);
            tracing::info!(peer = id, "peer address removed");
        }
        self.table.send_replace(Arc::new(table));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use raftorch_core::orchestrator::{Command, Envelope};
    use raftorch_core::state_machine::StateMachine;

    fn spec(id: NodeId, host: &str) -> PeerSpec {
        PeerSpec {
            id,
            peer_addr: format!("{host}:7000"),
            api_addr: format!("{host}:8000"),
        }
    }

    fn apply(sm: &mut Orchestrator, index: u64, command: Command) {
        let output = sm.apply(index, &Envelope::new(0, command).encode());
        assert!(output.is_ok(), "{output:?}");
    }

    #[tokio::test]
    async fn the_book_overrides_and_extends_the_configured_peers() {
        let mut book = AddressBook::new(spec(1, "me"), &[spec(2, "two"), spec(3, "three")]);
        let rx = book.subscribe();
        let sender = crate::transport::Sender {
            me: 1,
            identity: Arc::new(crate::cluster_id::ClusterIdentity::unstored(1)),
            tls: None,
        };
        let mut peers = Peers::new(sender, Arc::new(Metrics::default()));
        let mut sm = Orchestrator::new();
        book.sync(&sm, &mut peers);
        let mut seen: Vec<(NodeId, String)> =
            peers.addresses().map(|(i, a)| (i, a.to_owned())).collect();
        seen.sort();
        assert_eq!(seen, [(2, "two:7000".into()), (3, "three:7000".into())]);
        assert_eq!(
            rx.borrow().len(),
            3,
            "this node is in the table, not a peer"
        );

        let set = |id: NodeId, host: &str| Command::SetMemberAddress {
            id,
            peer_addr: format!("{host}:7000"),
            api_addr: format!("{host}:8000"),
        };
        apply(&mut sm, 1, set(4, "four"));
        apply(&mut sm, 2, set(3, "moved"));
        book.sync(&sm, &mut peers);
        let table = rx.borrow().clone();
        assert_eq!(table.get(&4), Some(&spec(4, "four")));
        assert_eq!(table.get(&3), Some(&spec(3, "moved")));
        assert_eq!(peers.addresses().count(), 3);

        // Removing a record falls back to the configured address, or drops the peer.
        apply(&mut sm, 3, Command::RemoveMemberAddress { id: 3 });
        apply(&mut sm, 4, Command::RemoveMemberAddress { id: 4 });
        book.sync(&sm, &mut peers);
        let table = rx.borrow().clone();
        assert_eq!(table.get(&3), Some(&spec(3, "three")));
        assert_eq!(table.get(&4), None);
        let mut ids: Vec<NodeId> = peers.addresses().map(|(i, _)| i).collect();
        ids.sort_unstable();
        assert_eq!(ids, [2, 3]);
    }
}
