//! A hand-driven network of `RawNode`s: every message is queued, and the test decides what is
//! delivered, dropped or held back.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::raft::{Config, Entry, MemStorage, Message, MessageKind, NodeId, RawNode, ReadState};

pub(super) struct Net {
    pub(super) nodes: BTreeMap<NodeId, RawNode>,
    pub(super) storage: BTreeMap<NodeId, MemStorage>,
    /// Messages sent and not yet delivered.
    pub(super) queue: Vec<Message>,
    /// Directed links that drop everything.
    pub(super) cut: BTreeSet<(NodeId, NodeId)>,
    /// Every message delivered, in order.
    pub(super) delivered: Vec<Message>,
    pub(super) applied: BTreeMap<NodeId, Vec<Entry>>,
    pub(super) reads: BTreeMap<NodeId, Vec<ReadState>>,
}

impl Net {
    pub(super) fn new(ids: &[NodeId]) -> Net {
        Net::with_config(ids, |_| {})
    }

    pub(super) fn with_config(ids: &[NodeId], configure: impl Fn(&mut Config)) -> Net {
        let mut net = Net {
            nodes: BTreeMap::new(),
            storage: BTreeMap::new(),
            queue: Vec::new(),
            cut: BTreeSet::new(),
            delivered: Vec::new(),
            applied: BTreeMap::new(),
            reads: BTreeMap::new(),
        };
        for &id in ids {
            let storage = MemStorage::new_with_voters(ids);
            let mut config = Config::new(id);
            configure(&mut config);
            net.nodes
                .insert(id, RawNode::new(config, &storage).unwrap());
            net.storage.insert(id, storage);
        }
        for &id in ids {
            net.process(id);
        }
        net
    }

    /// Adds node `id` with empty storage, as a node joining an existing cluster starts: no
    /// membership, no log.
    pub(super) fn add_joining(&mut self, id: NodeId) {
        let storage = MemStorage::new_joining();
        self.nodes
            .insert(id, RawNode::new(Config::new(id), &storage).unwrap());
        self.storage.insert(id, storage);
        self.process(id);
    }

    pub(super) fn node(&mut self, id: NodeId) -> &mut RawNode {
        self.nodes.get_mut(&id).unwrap()
    }

    /// Runs one node's host loop: persist, queue messages, record applied entries and reads.
    pub(super) fn process(&mut self, id: NodeId) {
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        while node.has_ready() {
            let ready = node.ready();
            self.storage.get_mut(&id).unwrap().persist(&ready);
            self.queue.extend(ready.messages.iter().cloned());
            self.queue.extend(ready.persisted_messages.iter().cloned());
            self.applied
                .entry(id)
                .or_default()
                .extend(ready.committed_entries.iter().cloned());
            self.reads
                .entry(id)
                .or_default()
                .extend(ready.read_states.iter().copied());
            node.advance(ready);
        }
    }

    /// Delivers queued messages (dropping those on cut links) until the network is quiet.
    pub(super) fn stabilize(&mut self) {
        for _ in 0..10_000 {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.process(id);
            }
            if self.queue.is_empty() {
                return;
            }
            for message in core::mem::take(&mut self.queue) {
                self.deliver(message);
            }
        }
        panic!("the network did not quiesce");
    }

    /// Delivers one message now.
    pub(super) fn deliver(&mut self, message: Message) {
        if self.cut.contains(&(message.from, message.to)) {
            return;
        }
        let to = message.to;
        if let Some(node) = self.nodes.get_mut(&to) {
            self.delivered.push(message.clone());
            node.step(message);
            self.process(to);
        }
    }

    /// Ticks every node `n` times, stabilizing after each round.
    pub(super) fn tick_all(&mut self, n: usize) {
        for _ in 0..n {
            let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
            for id in ids {
                self.node(id).tick();
                self.process(id);
            }
            self.stabilize();
        }
    }

    /// Makes `id` campaign and runs the election to the end.
    pub(super) fn elect(&mut self, id: NodeId) {
        self.node(id).campaign().unwrap();
        self.process(id);
        self.stabilize();
        assert!(self.node(id).is_leader(), "node {id} won");
    }

    /// Isolates `id` from everyone (both directions).
    pub(super) fn isolate(&mut self, id: NodeId) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for other in ids.into_iter().filter(|&o| o != id) {
            self.cut.insert((id, other));
            self.cut.insert((other, id));
        }
    }

    pub(super) fn heal(&mut self) {
        self.cut.clear();
    }

    /// Number of delivered messages of a kind.
    pub(super) fn count(&self, kind: MessageKind) -> usize {
        self.delivered
            .iter()
            .filter(|m| m.body.kind() == kind)
            .count()
    }

    /// Proposes through `id` and stabilizes.
    pub(super) fn propose(&mut self, id: NodeId, data: &[u8]) -> u64 {
        let proposed = self.node(id).propose(data.to_vec()).unwrap();
        self.process(id);
        self.stabilize();
        proposed.index
    }
}
