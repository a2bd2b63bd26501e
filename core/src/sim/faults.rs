//! Operator actions on the cluster: fault injection (crashes, restarts, pauses, partitions, link
//! cuts, network quality), leadership transfer and membership changes.

use alloc::vec::Vec;

use super::cluster::Cluster;
use super::trace::TraceEvent;
use crate::engine::Application;
use crate::raft::{ConfChange, Error, NodeId, Proposed};

impl<A: Application> Cluster<A> {
    /// Crashes a node: its volatile state (Raft state, application, pending requests) is lost;
    /// its durable storage is kept.
    pub fn crash(&mut self, id: NodeId) {
        let idx = id as usize - 1;
        if !self.nodes[idx].is_up() {
            return;
        }
        // Takes the engine (Raft state, application, requests): all of it is lost.
        self.fail_pending_requests(idx);
        self.invariants.on_crash(id);
        let node = &mut self.nodes[idx];
        node.paused = false;
        node.inbox.clear();
        self.trace
            .record(self.now, TraceEvent::Crashed { node: id });
    }

    /// Restarts a crashed node from its durable storage.
    pub fn restart(&mut self, id: NodeId) {
        let idx = id as usize - 1;
        if self.nodes[idx].is_up() {
            return;
        }
        self.nodes[idx].restarts += 1;
        self.start_node(id);
        self.trace
            .record(self.now, TraceEvent::Restarted { node: id });
        self.process(id);
    }

    /// Pauses or resumes a node (a stop-the-world pause: alive, but processing nothing).
    pub fn set_paused(&mut self, id: NodeId, paused: bool) {
        let idx = id as usize - 1;
        if !self.nodes[idx].is_up() || self.nodes[idx].paused == paused {
            return;
        }
        self.nodes[idx].paused = paused;
        self.trace
            .record(self.now, TraceEvent::Paused { node: id, paused });
        if !paused {
            let inbox: Vec<_> = core::mem::take(&mut self.nodes[idx].inbox);
            for packet in inbox {
                self.receive(packet);
            }
            self.process(id);
        }
    }

    /// Splits the network: `groups[i]` is node `i + 1`'s partition number.
    pub fn partition(&mut self, groups: Vec<u8>) {
        self.topology.partition(groups.clone());
        self.trace
            .record(self.now, TraceEvent::Partitioned { groups });
    }

    /// Cuts (`up == false`) or restores one direction of the link `from → to`.
    pub fn set_link(&mut self, from: NodeId, to: NodeId, up: bool) {
        self.topology.set_link(from, to, up);
        self.trace
            .record(self.now, TraceEvent::LinkChanged { from, to, up });
    }

    /// Removes every partition and link cut.
    pub fn heal(&mut self) {
        self.topology.heal();
        self.trace.record(self.now, TraceEvent::Healed);
    }

    /// Sets the message loss rate (per mille).
    pub fn set_drop_rate(&mut self, per_mille: u32) {
        self.config.drop_per_mille = per_mille.min(1000);
    }

    /// Sets the message duplication rate (per mille).
    pub fn set_duplicate_rate(&mut self, per_mille: u32) {
        self.config.duplicate_per_mille = per_mille.min(1000);
    }

    /// Sets the latency range in simulated milliseconds.
    pub fn set_latency(&mut self, min_ms: u64, max_ms: u64) {
        self.config.min_latency_ms = min_ms;
        self.config.max_latency_ms = max_ms.max(min_ms);
    }

    /// Asks the leader `from` to hand leadership to `to`.
    pub fn transfer_leader(&mut self, from: NodeId, to: NodeId) -> Result<(), Error> {
        let engine = self.nodes[from as usize - 1]
            .engine
            .as_mut()
            .ok_or(Error::NotLeader { leader_hint: None })?;
        engine.transfer_leader(to)?;
        self.trace
            .record(self.now, TraceEvent::TransferRequested { from, to });
        self.process(from);
        Ok(())
    }

    /// Asks node `at` (the leader) to propose a membership change.
    pub fn propose_conf_change(
        &mut self,
        at: NodeId,
        change: ConfChange,
    ) -> Result<Proposed, Error> {
        let engine = self.nodes[at as usize - 1]
            .engine
            .as_mut()
            .ok_or(Error::NotLeader { leader_hint: None })?;
        let proposed = engine.propose_conf_change(change)?;
        self.process(at);
        Ok(proposed)
    }

    /// Drops message `id` while it is in flight: it is lost when it would have arrived, like a
    /// message lost on the wire. Returns false (and changes nothing) when no such message is in
    /// flight.
    pub fn drop_message(&mut self, id: u64) -> bool {
        let in_flight = self.queue.packets().any(|p| p.id == id);
        if in_flight {
            self.dropped_by_hand.insert(id);
        }
        in_flight
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use crate::sim::{Cluster, DropReason, KvApp, SimConfig, TraceEvent};

    #[test]
    fn a_message_dropped_by_hand_never_arrives_and_is_traced() {
        let mut cluster = Cluster::<KvApp>::new(SimConfig::new(3, 7));
        cluster.run_until_leader(5_000).expect("a leader");
        let id = cluster
            .in_flight()
            .next()
            .map(|p| p.id)
            .expect("a message in flight");
        assert!(cluster.drop_message(id));
        assert!(!cluster.drop_message(u64::MAX), "no such message");
        cluster.run_for(1_000);
        let events: Vec<_> = cluster
            .trace()
            .records()
            .iter()
            .filter(|r| match r.event {
                TraceEvent::Delivered { id: got } | TraceEvent::Dropped { id: got, .. } => {
                    got == id
                }
                _ => false,
            })
            .map(|r| r.event.clone())
            .collect();
        assert_eq!(
            events,
            vec![TraceEvent::Dropped {
                id,
                reason: DropReason::ByHand
            }]
        );
        assert!(cluster.violation().is_none());
    }
}
