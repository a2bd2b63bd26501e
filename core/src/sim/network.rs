//! The simulated network's topology: partitions and one-way link cuts.

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;

use crate::raft::NodeId;

/// Which nodes can currently reach which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topology {
    /// `groups[i]`: the partition of node `i + 1`; nodes in different partitions can't talk.
    groups: Vec<u8>,
    /// Directed links that are cut: (from, to).
    cut: BTreeSet<(NodeId, NodeId)>,
}

impl Topology {
    /// A fully connected network of `nodes` nodes.
    pub fn new(nodes: u64) -> Self {
        Topology {
            groups: vec![0; nodes as usize],
            cut: BTreeSet::new(),
        }
    }

    /// Whether a message from `from` can reach `to`.
    pub fn can_reach(&self, from: NodeId, to: NodeId) -> bool {
        let group = |id: NodeId| self.groups.get(id as usize - 1).copied().unwrap_or(0);
        group(from) == group(to) && !self.cut.contains(&(from, to))
    }

    /// Splits the network: `groups[i]` is node `i + 1`'s partition.
    pub fn partition(&mut self, groups: Vec<u8>) {
        self.groups = groups;
    }

    /// Cuts or restores one direction of a link.
    pub fn set_link(&mut self, from: NodeId, to: NodeId, up: bool) {
        if up {
            self.cut.remove(&(from, to));
        } else {
            self.cut.insert((from, to));
        }
    }

    /// Removes every partition and cut.
    pub fn heal(&mut self) {
        self.groups.iter_mut().for_each(|g| *g = 0);
        self.cut.clear();
    }

    /// The partition of each node.
    pub fn groups(&self) -> &[u8] {
        &self.groups
    }

    /// The cut directed links.
    pub fn cut_links(&self) -> impl Iterator<Item = (NodeId, NodeId)> + '_ {
        self.cut.iter().copied()
    }

    /// Whether the network is whole.
    pub fn is_healed(&self) -> bool {
        self.cut.is_empty() && self.groups.iter().all(|&g| g == 0)
    }
}
