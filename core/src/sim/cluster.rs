//! The simulated cluster: nodes, a virtual clock, a faulty network, and the event loop.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::config::SimConfig;
use super::event::{Event, EventQueue, Packet, Payload};
use super::invariants::{Invariants, Violation};
use super::network::Topology;
use super::node::{RequestId, SimNode};
use super::trace::{DropReason, Trace, TraceEvent, WireKind};
use crate::engine::Application;
use crate::engine::{Engine, EngineConfig, PeerMessage};
use crate::raft::{Config, Error, LogIndex, MemStorage, NodeId, RawNode, Role};

/// A read not confirmed within this many simulated ms fails, as on the native node.
const READ_TIMEOUT_MS: u64 = 5_000;

/// How a client request ended.
#[derive(Clone, Debug)]
pub enum Outcome<A: Application> {
    /// The write was committed and applied at `index`.
    Written {
        /// Log index.
        index: LogIndex,
        /// What applying it answered.
        output: A::Output,
    },
    /// The read was served after applying `index`.
    Read {
        /// Applied index the answer reflects.
        index: LogIndex,
        /// The answer.
        output: A::QueryOutput,
    },
    /// Refused without effect (e.g. not the leader: retry at `leader_hint`).
    Rejected(Error),
    /// The write was proposed but a new leader overwrote it: it has no effect.
    Lost,
    /// The node went down with the request pending: it may or may not take effect.
    Unknown,
}

/// The answer to one client request.
#[derive(Clone, Debug)]
pub struct Completion<A: Application> {
    /// Which request.
    pub request: RequestId,
    /// The node that answered.
    pub node: NodeId,
    /// When, in simulated milliseconds.
    pub time: u64,
    /// A logical timestamp from the same counter as request ids: every request id and every
    /// completion gets a distinct, increasing moment, which orders them exactly for history checks.
    pub moment: u64,
    /// How it ended.
    pub outcome: Outcome<A>,
}

/// A whole cluster in one deterministic value.
#[derive(Clone, Debug)]
pub struct Cluster<A: Application> {
    pub(crate) config: SimConfig,
    pub(crate) now: u64,
    pub(crate) queue: EventQueue<A>,
    pub(crate) nodes: Vec<SimNode<A>>,
    pub(crate) topology: Topology,
    pub(crate) rng: Xoshiro256PlusPlus,
    pub(crate) trace: Trace,
    pub(crate) invariants: Invariants,
    pub(crate) completions: Vec<Completion<A>>,
    pub(crate) next_packet_id: u64,
    /// Messages in flight that a person dropped by hand: lost when they would arrive.
    pub(crate) dropped_by_hand: BTreeSet<u64>,
    /// Source of request ids and completion moments.
    pub(crate) next_moment: u64,
    pub(crate) events_processed: u64,
}

impl<A: Application> Cluster<A> {
    /// Builds and starts a cluster of `config.nodes` voters.
    pub fn new(config: SimConfig) -> Self {
        let ids: Vec<NodeId> = (1..=config.nodes).collect();
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let mut queue = EventQueue::default();
        let mut nodes = Vec::new();
        let voters: Vec<NodeId> = (1..=config.voters.min(config.nodes)).collect();
        for &id in &ids {
            let storage = if voters.contains(&id) {
                MemStorage::new_with_voters(&voters)
            } else {
                MemStorage::new_joining()
            };
            nodes.push(SimNode::new(id, storage));
            // Nodes tick out of phase, as real machines do.
            let phase = rng.next_u64() % config.tick_ms.max(1);
            queue.push(phase, Event::Tick(id));
        }
        let mut cluster = Cluster {
            topology: Topology::new(config.nodes),
            trace: Trace::new(config.trace),
            invariants: Invariants::new(config.nodes),
            config,
            now: 0,
            queue,
            nodes,
            rng,
            completions: Vec::new(),
            next_packet_id: 0,
            dropped_by_hand: BTreeSet::new(),
            next_moment: 0,
            events_processed: 0,
        };
        for id in ids {
            let entries = cluster.nodes[id as usize - 1]
                .storage
                .all_entries()
                .to_vec();
            cluster.invariants.seed(id, &entries);
            cluster.start_node(id);
            cluster.process(id);
        }
        cluster
    }

    /// Creates the node's `RawNode` from its durable storage and rebuilds its application.
    pub(crate) fn start_node(&mut self, id: NodeId) {
        let cfg = &self.config;
        let node = &mut self.nodes[id as usize - 1];
        let mut raft = Config::new(id);
        raft.election_tick = cfg.election_tick;
        raft.heartbeat_tick = cfg.heartbeat_tick;
        raft.pre_vote = cfg.pre_vote;
        raft.check_quorum = cfg.check_quorum;
        raft.seed = mix_seed(cfg.seed, id, node.restarts);
        let mut app = A::default();
        let mut applied = 0;
        if let Some(snapshot) = crate::raft::Storage::snapshot(&node.storage) {
            // A snapshot that fails to restore is a bug in the application; the checkers catch it.
            let _ = app.restore(&snapshot.data);
            applied = snapshot.meta.index;
        }
        let engine_config = EngineConfig {
            snapshot_every: cfg.snapshot_every,
            snapshot_keep_entries: cfg.snapshot_keep_entries,
            read_timeout_ms: READ_TIMEOUT_MS,
            forward_writes: cfg.forward_writes,
            incarnation: raft.seed,
            digest_every: cfg.digest_every,
            transfer: cfg.snapshot_transfer,
            ..EngineConfig::default()
        };
        node.engine = RawNode::new(raft, &node.storage)
            .ok()
            .map(|raw| Engine::new(raw, app, applied, engine_config));
        node.shown = None;
    }

    /// The current simulated time in milliseconds.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Node `id`'s own clock in ms: the simulated time plus its configured offset
    /// ([`SimConfig::clock_offsets_ms`]), saturating at 0 and `u64::MAX`.
    pub fn clock_ms(&self, id: NodeId) -> u64 {
        let offset = self
            .config
            .clock_offsets_ms
            .iter()
            .find(|(node, _)| *node == id)
            .map_or(0, |(_, offset)| *offset);
        self.now.saturating_add_signed(offset)
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// All nodes, in id order.
    pub fn nodes(&self) -> &[SimNode<A>] {
        &self.nodes
    }

    /// The node with id `id` (ids start at 1).
    pub fn node(&self, id: NodeId) -> &SimNode<A> {
        &self.nodes[id as usize - 1]
    }

    /// The network topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Messages in flight.
    pub fn in_flight(&self) -> impl Iterator<Item = &Packet<A>> {
        self.queue.packets()
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Takes the trace records kept so far (see [`Trace::take_records`]).
    pub fn take_trace_records(&mut self) -> Vec<super::trace::TraceRecord> {
        self.trace.take_records()
    }

    /// When the next scheduled event happens (`None` when nothing is scheduled): a host that
    /// injects something "at time t" between events uses it to know whether `t` comes first.
    pub fn next_event_time(&self) -> Option<u64> {
        self.queue.peek_time()
    }

    /// Number of events processed.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// The first safety violation found, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.invariants.violation()
    }

    /// The node that is leader in the highest term, among running nodes.
    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter_map(SimNode::raw)
            .filter(|raw| raw.role() == Role::Leader)
            .max_by_key(|raw| raw.term())
            .map(RawNode::id)
    }

    /// Takes the answers to client requests produced so far.
    pub fn take_completions(&mut self) -> Vec<Completion<A>> {
        core::mem::take(&mut self.completions)
    }

    /// Processes the next event. Returns false when nothing is scheduled.
    pub fn step(&mut self) -> bool {
        let Some((at, event)) = self.queue.pop() else {
            return false;
        };
        self.now = self.now.max(at);
        self.events_processed += 1;
        match event {
            Event::Tick(id) => {
                self.queue
                    .push(self.now + self.config.tick_ms, Event::Tick(id));
                let node = &mut self.nodes[id as usize - 1];
                if !node.paused && node.is_up() {
                    self.on_tick(id);
                    self.process(id);
                }
            }
            Event::Deliver(packet) => self.deliver(packet),
        }
        self.invariants.check_step(&self.nodes);
        true
    }

    /// Runs every event up to and including simulated time `until`.
    pub fn run_until(&mut self, until: u64) {
        while self.queue.peek_time().is_some_and(|t| t <= until) {
            self.step();
        }
        self.now = self.now.max(until);
    }

    /// Runs for `ms` simulated milliseconds.
    pub fn run_for(&mut self, ms: u64) {
        self.run_until(self.now + ms);
    }

    /// Runs until some node is leader and every running node knows it, or `timeout_ms` passes.
    pub fn run_until_leader(&mut self, timeout_ms: u64) -> Option<NodeId> {
        let deadline = self.now + timeout_ms;
        while self.now < deadline {
            if let Some(leader) = self.stable_leader() {
                return Some(leader);
            }
            self.run_for(self.config.tick_ms);
        }
        self.stable_leader()
    }

    /// A leader that every running, reachable member follows.
    pub fn stable_leader(&self) -> Option<NodeId> {
        let leader = self.leader()?;
        let leader_raw = self.node(leader).raw()?;
        let term = leader_raw.term();
        let members = leader_raw.conf_state();
        let agree = self
            .nodes
            .iter()
            .filter_map(SimNode::raw)
            .filter(|raw| members.contains(raw.id()) && self.topology.can_reach(leader, raw.id()))
            .all(|raw| raw.leader() == Some(leader) && raw.term() == term);
        agree.then_some(leader)
    }

    fn deliver(&mut self, packet: Packet<A>) {
        let to = packet.to;
        let node = &mut self.nodes[to as usize - 1];
        let by_hand = self.dropped_by_hand.remove(&packet.id);
        if by_hand || !node.is_up() {
            let reason = if by_hand {
                DropReason::ByHand
            } else {
                DropReason::NodeDown
            };
            let event = TraceEvent::Dropped {
                id: packet.id,
                reason,
            };
            self.trace.record(self.now, event);
            return;
        }
        self.trace
            .record(self.now, TraceEvent::Delivered { id: packet.id });
        if node.paused {
            node.inbox.push(packet);
            return;
        }
        self.receive(packet);
    }

    /// A running node handles a packet.
    pub(crate) fn receive(&mut self, packet: Packet<A>) {
        let to = packet.to;
        let clock = self.clock_ms(to);
        if let Some(engine) = self.nodes[to as usize - 1].engine.as_mut() {
            engine.receive(clock, packet.from, packet.payload);
        }
        self.process(to);
    }

    /// Puts a packet on the wire, subject to partitions, loss, duplication and latency.
    pub(crate) fn send_packet(&mut self, from: NodeId, to: NodeId, payload: Payload<A>) {
        if to == 0 || to > self.config.nodes {
            return;
        }
        let (kind, entries) = match &payload {
            PeerMessage::Raft(message) => {
                let entries = match &message.body {
                    crate::raft::MessageBody::Append { entries, .. } => entries.len() as u32,
                    _ => 0,
                };
                (WireKind::Raft(message.body.kind()), entries)
            }
            PeerMessage::Forward { .. } => (WireKind::Forward, 1),
            PeerMessage::ForwardReply { .. } => (WireKind::ForwardReply, 0),
            PeerMessage::SnapshotChunk(_) => (WireKind::SnapshotChunk, 0),
            PeerMessage::SnapshotAck(_) => (WireKind::SnapshotAck, 0),
        };
        let copies = if self.chance(self.config.duplicate_per_mille) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            self.next_packet_id += 1;
            let id = self.next_packet_id;
            let deliver_at = self.now + self.latency();
            let sent = TraceEvent::Sent {
                id,
                from,
                to,
                kind,
                entries,
                deliver_at,
            };
            self.trace.record(self.now, sent);
            let dropped = if !self.topology.can_reach(from, to) {
                Some(DropReason::Partitioned)
            } else if self.chance(self.config.drop_per_mille) {
                Some(DropReason::Lost)
            } else {
                None
            };
            if let Some(reason) = dropped {
                self.trace
                    .record(self.now, TraceEvent::Dropped { id, reason });
                continue;
            }
            let packet = Packet {
                id,
                from,
                to,
                sent_at: self.now,
                deliver_at,
                payload: payload.clone(),
            };
            self.queue.push(deliver_at, Event::Deliver(packet));
        }
    }

    fn latency(&mut self) -> u64 {
        let (lo, hi) = (
            self.config.min_latency_ms,
            self.config.max_latency_ms.max(self.config.min_latency_ms),
        );
        lo + self.rng.next_u64() % (hi - lo + 1)
    }

    /// True with probability `per_mille / 1000`, from the cluster's seeded RNG.
    pub(crate) fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && (self.rng.next_u32() % 1000) < per_mille
    }

    /// Draws a random number from the cluster's seeded RNG.
    pub fn random(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

/// A per-node, per-restart RNG seed derived from the run's seed (splitmix64 finalizer).
fn mix_seed(seed: u64, id: NodeId, restarts: u64) -> u64 {
    let mut z = seed
        ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ restarts.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
