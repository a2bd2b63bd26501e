//! The visualizer's model: plain Rust over the core's simulator, with no DOM, tested on the host.
//! The UI renders a [`Model`] and turns clicks and keys into [`Action`]s for [`Model::apply`].

mod client;
mod events;
mod input;
pub mod lessons;
mod params;
pub mod scenario;
mod timeline;
mod view;

pub use client::{outcome_text, Answer, Asked, Burst, ClientState};
pub use events::{Drop, EventLog, LineKind, LogLine, LogMark};
pub use input::{command_name, describe_groups, Input};
pub use params::{Params, NODES, SPEED};
pub use scenario::{Scenario, Step, SCENARIOS};
pub use timeline::{Sim, Timeline};
pub use view::{
    node_position, packet_view, role_label, NodeView, PacketKind, PacketView, FOCUS_RING_RADIUS,
    NODE_RADIUS, RING, ROLE_LABEL_MAX,
};

use raftorch_core::orchestrator::Command;
use raftorch_core::raft::NodeId;
use raftorch_core::sim::{Consistency, SimConfig};

/// The simulator settings the page uses: slower than the core's defaults (300–600 ms election
/// timeouts, 100 ms heartbeats, 30–60 ms latency) so that messages are visible in flight, and
/// frequent snapshots so compaction shows in the log strips.
pub fn demo_config(nodes: u64, seed: u64) -> SimConfig {
    let mut config = SimConfig::new(nodes, seed);
    config.tick_ms = 10;
    config.election_tick = 30;
    config.heartbeat_tick = 10;
    config.min_latency_ms = 30;
    config.max_latency_ms = 60;
    config.snapshot_every = 30;
    config.snapshot_keep_entries = 5;
    config
}

/// Default playback speed: one simulated second takes ten real seconds.
pub const DEFAULT_SPEED: f64 = 0.1;

/// The top of the loss and duplication sliders, per mille: past half, a run is mostly faults.
pub const DUPLICATE_MAX: u32 = 500;

/// Everything a person can do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `real_ms` of wall time passed: advance by `real_ms * speed` unless paused.
    Frame(f64),
    /// Pause or resume.
    TogglePause,
    /// Process exactly one event, or fire the scenario step due before it (pauses).
    Step,
    /// Set the speed (simulated per real time).
    SetSpeed(f64),
    /// Show simulated time `t`.
    Seek(u64),
    /// Move the shown time by this many simulated ms (pauses).
    Scrub(i64),
    /// Select a node (for keyboard actions and the detail panel).
    Select(NodeId),
    /// Crash the node if up, else restart it.
    ToggleNode(NodeId),
    /// Show the fields of message `id` in flight (`None`: close them).
    SelectPacket(Option<u64>),
    /// Drop the shown message before it arrives.
    DropSelectedPacket,
    /// Pause the node if running, else resume it (a down node stays down).
    TogglePauseNode(NodeId),
    /// Move a node between partition sides A and B in the partition editor.
    ToggleSide(NodeId),
    /// Apply the partition editor's sides.
    ApplyPartition,
    /// Put the selected node alone on side B.
    IsolateSelected,
    /// Cut the link from the selected node to `to` (one way).
    CutLink(NodeId),
    /// Remove every partition and cut.
    Heal,
    /// Transfer leadership to the selected node.
    TransferToSelected,
    /// Message loss, per mille.
    SetDropRate(u32),
    /// Message duplication, per mille.
    SetDuplicateRate(u32),
    /// Latency range.
    SetLatency(u64, u64),
    /// Which node client requests go to (`None`: the leader).
    SetVia(Option<NodeId>),
    /// Read consistency for client reads.
    SetConsistency(Consistency),
    /// An orchestrator write through the client node.
    Write(Command),
    /// Register a new instance `web-<n>` running `version`.
    RegisterInstance(String),
    /// Route `n` keys of `web`.
    RouteBurst(u32),
    /// Write the form's key and value.
    KvPut,
    /// Read the form's key.
    KvGet,
    /// Edit the form's key.
    SetKvKey(String),
    /// Edit the form's value.
    SetKvValue(String),
    /// Set the route burst size.
    SetBurstSize(u32),
    /// Acquire the demo lock.
    AcquireLock,
    /// Start over with these settings.
    Reset {
        /// Seed.
        seed: u64,
        /// Cluster size.
        nodes: u64,
        /// Scenario id, if any.
        scenario: Option<String>,
    },
}

/// The page's whole state.
#[derive(Clone, Debug)]
pub struct Model {
    /// The run.
    pub timeline: Timeline,
    /// Its seed.
    pub seed: u64,
    /// Its size.
    pub nodes: u64,
    /// Simulated ms per real ms.
    pub speed: f64,
    /// Whether playback is paused.
    pub paused: bool,
    /// The shown time with its fraction, for smooth animation (≥ the cluster's `now`).
    pub view_time: f64,
    /// The selected node.
    pub selected: Option<NodeId>,
    /// The message in flight whose fields are shown.
    pub selected_packet: Option<u64>,
    /// The partition editor: side (0 = A, 1 = B) of each node.
    pub sides: Vec<u8>,
    /// The running scenario.
    pub scenario: Option<&'static Scenario>,
    /// Where client requests go (`None`: the leader).
    pub via: Option<NodeId>,
    /// Consistency of client reads.
    pub consistency: Consistency,
    /// Number for the next registered instance's name.
    pub next_instance: u32,
    /// The key/value form's key.
    pub kv_key: String,
    /// The key/value form's value.
    pub kv_value: String,
    /// How many keys a route burst asks.
    pub burst_size: u32,
}

impl Model {
    /// A fresh run.
    pub fn new(seed: u64, nodes: u64, scenario: Option<&str>) -> Model {
        let scenario = scenario.and_then(scenario::find);
        let nodes = nodes.clamp(NODES.0, NODES.1);
        Model {
            timeline: Timeline::new(demo_config(nodes, seed)),
            seed,
            nodes,
            speed: DEFAULT_SPEED,
            paused: false,
            view_time: 0.0,
            selected: None,
            selected_packet: None,
            sides: vec![0; nodes as usize],
            scenario,
            via: None,
            consistency: Consistency::Linearizable,
            next_instance: 1,
            kv_key: "color".into(),
            kv_value: "blue".into(),
            burst_size: 100,
        }
    }

    /// A run set up from the URL: a scenario brings its own size and seed unless the URL names them.
    pub fn from_params(params: &Params) -> Model {
        let scenario = params.scenario.as_deref().and_then(scenario::find);
        let seed = params.seed.or(scenario.map(|s| s.seed)).unwrap_or(1);
        let nodes = params.nodes.or(scenario.map(|s| s.nodes)).unwrap_or(5);
        let mut model = Model::new(seed, nodes, scenario.map(|s| s.id));
        if let Some(speed) = params.speed {
            model.speed = speed;
        }
        model
    }

    /// The query string that reproduces this run.
    pub fn url_query(&self) -> String {
        Params::to_query(
            self.seed,
            self.nodes,
            self.speed,
            self.scenario.map(|s| s.id),
        )
    }

    /// The node client requests go to.
    pub fn via_node(&self) -> NodeId {
        self.via.or(self.timeline.cluster().leader()).unwrap_or(1)
    }

    /// Applies an action.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Frame(real_ms) => {
                if !self.paused {
                    let view_time = self.view_time + real_ms.max(0.0) * self.speed;
                    self.advance(view_time as u64);
                    self.view_time = view_time.max(self.timeline.now() as f64);
                }
            }
            Action::TogglePause => self.paused = !self.paused,
            Action::Step => {
                self.paused = true;
                match self.step_due_before_next_event() {
                    Some((index, step)) => {
                        self.timeline.advance_to(step.at);
                        self.fire(index, step);
                        let text = format!("{} ms: scenario step {}", step.at, index + 1);
                        self.timeline.set_last_event(text);
                    }
                    None => self.timeline.step(),
                }
                self.view_time = self.timeline.now() as f64;
            }
            Action::SetSpeed(speed) => self.speed = speed.clamp(SPEED.0, SPEED.1),
            Action::Seek(t) => {
                if t >= self.timeline.now() {
                    self.advance(t);
                } else {
                    self.timeline.seek(t);
                }
                self.view_time = self.timeline.now() as f64;
            }
            Action::Scrub(delta) => {
                self.paused = true;
                let t = (self.timeline.now() as i64 + delta).max(0) as u64;
                self.apply(Action::Seek(t));
            }
            Action::Select(id) => {
                if id >= 1 && id <= self.nodes {
                    self.selected = Some(id);
                }
            }
            Action::SelectPacket(id) => self.selected_packet = id,
            Action::DropSelectedPacket => {
                if let Some(id) = self.selected_packet.take() {
                    if self.timeline.cluster().in_flight().any(|p| p.id == id) {
                        self.timeline.record(Input::DropMessage(id));
                    }
                }
            }
            Action::ToggleNode(id) => {
                if id >= 1 && id <= self.nodes {
                    self.selected = Some(id);
                    let input = if self.timeline.cluster().node(id).is_up() {
                        Input::Crash(id)
                    } else {
                        Input::Restart(id)
                    };
                    self.timeline.record(input);
                }
            }
            Action::TogglePauseNode(id) => {
                let node = (id >= 1 && id <= self.nodes).then(|| self.timeline.cluster().node(id));
                if let Some(node) = node.filter(|n| n.is_up()) {
                    let paused = !node.paused;
                    self.selected = Some(id);
                    self.timeline.record(Input::Pause { node: id, paused });
                }
            }
            Action::ToggleSide(id) => {
                if let Some(side) = self.sides.get_mut(id as usize - 1) {
                    *side ^= 1;
                }
            }
            Action::ApplyPartition => self.timeline.record(Input::Partition(self.sides.clone())),
            Action::IsolateSelected => {
                if let Some(sel) = self.selected {
                    self.sides = (1..=self.nodes).map(|id| u8::from(id == sel)).collect();
                    self.timeline.record(Input::Partition(self.sides.clone()));
                }
            }
            Action::CutLink(to) => {
                if let Some(from) = self.selected.filter(|&f| f != to) {
                    self.timeline.record(Input::SetLink {
                        from,
                        to,
                        up: false,
                    });
                }
            }
            Action::Heal => {
                self.sides = vec![0; self.nodes as usize];
                self.timeline.record(Input::Heal);
            }
            Action::TransferToSelected => {
                if let (Some(from), Some(to)) = (self.timeline.cluster().leader(), self.selected) {
                    if from != to {
                        self.timeline.record(Input::Transfer { from, to });
                    }
                }
            }
            Action::SetDropRate(pm) => self.timeline.record(Input::DropRate(pm.min(1000))),
            Action::SetDuplicateRate(pm) => {
                self.timeline.record(Input::DuplicateRate(pm.min(1000)))
            }
            Action::SetLatency(lo, hi) => self.timeline.record(Input::Latency(lo, hi.max(lo))),
            Action::SetVia(via) => self.via = via.filter(|&id| id >= 1 && id <= self.nodes),
            Action::SetConsistency(c) => self.consistency = c,
            Action::Write(command) => {
                let node = self.via_node();
                self.timeline.record(Input::Write { node, command });
            }
            Action::RegisterInstance(version) => {
                let n = self.next_instance;
                self.next_instance += 1;
                self.apply(Action::Write(Command::Register {
                    service: "web".into(),
                    instance_id: format!("web-{n}"),
                    address: format!("10.0.0.{n}"),
                    port: 8080,
                    version,
                    weight: 100,
                    tags: vec![],
                    metadata: Default::default(),
                    ttl_ms: None,
                }));
            }
            Action::RouteBurst(count) => {
                let input = Input::RouteBurst {
                    node: self.via_node(),
                    service: "web".into(),
                    count,
                    consistency: self.consistency,
                };
                self.timeline.record(input);
            }
            Action::KvPut => {
                let (key, value) = (self.kv_key.clone(), self.kv_value.clone().into_bytes());
                self.apply(Action::Write(Command::Put {
                    key,
                    value,
                    lease: None,
                    expected_revision: None,
                }));
            }
            Action::SetKvKey(key) => self.kv_key = key,
            Action::SetKvValue(value) => self.kv_value = value,
            Action::SetBurstSize(n) => self.burst_size = n.clamp(1, 1000),
            Action::KvGet => {
                let query = raftorch_core::orchestrator::Query::KvGet {
                    key: self.kv_key.clone(),
                };
                let input = Input::Read {
                    node: self.via_node(),
                    query,
                    consistency: self.consistency,
                };
                self.timeline.record(input);
            }
            Action::AcquireLock => {
                let input = Input::AcquireLock {
                    node: self.via_node(),
                    name: "demo-lock".into(),
                    ttl_ms: 120_000,
                };
                self.timeline.record(input);
            }
            Action::Reset {
                seed,
                nodes,
                scenario,
            } => {
                let speed = self.speed;
                *self = Model::new(seed, nodes, scenario.as_deref());
                self.speed = speed;
            }
        }
    }

    /// Runs forward to simulated time `target`, firing the scenario's steps on the way. However
    /// time moves forward (playing, stepping, scrubbing, seeking), a step fires right after the
    /// last event at its time, once: the run is the same whichever way it was reached.
    fn advance(&mut self, target: u64) {
        while let Some((index, step)) = self.next_step().filter(|(_, s)| s.at <= target) {
            self.timeline.advance_to(step.at);
            self.fire(index, step);
        }
        self.timeline.advance_to(target);
    }

    /// The scenario's first step that has not fired on this run.
    fn next_step(&self) -> Option<(usize, &'static Step)> {
        let index = self.timeline.scenario_steps_fired();
        self.scenario?.steps.get(index).map(|step| (index, step))
    }

    /// The next step, if it is due before the cluster's next event (and no recorded input
    /// comes first): single-stepping fires it instead of processing that event.
    fn step_due_before_next_event(&self) -> Option<(usize, &'static Step)> {
        let next_event = self.timeline.next_event_time();
        self.next_step().filter(|(_, step)| {
            self.timeline.all_inputs_applied() && next_event.is_none_or(|t| step.at < t)
        })
    }

    /// Records scenario step `index` and what it does, now.
    fn fire(&mut self, index: usize, step: &Step) {
        self.timeline.record(Input::ScenarioStep(index));
        for input in step
            .act
            .resolve(self.timeline.cluster(), self.timeline.client())
        {
            self.timeline.record(input);
        }
    }

    /// The narration in force, if a scenario runs.
    pub fn narration(&self) -> &'static str {
        self.scenario
            .map_or("", |s| s.narration(self.timeline.now()))
    }

    /// What every node looks like now.
    pub fn node_views(&self) -> Vec<NodeView> {
        self.timeline
            .cluster()
            .nodes()
            .iter()
            .map(NodeView::of)
            .collect()
    }

    /// The shown message's fields, while it is in flight.
    pub fn selected_packet_view(&self) -> Option<PacketView> {
        let id = self.selected_packet?;
        let packet = self.timeline.cluster().in_flight().find(|p| p.id == id)?;
        Some(packet_view(packet, self.view_time))
    }

    /// Messages in flight, positioned at the shown time.
    pub fn packet_views(&self) -> Vec<PacketView> {
        let mut packets: Vec<PacketView> = self
            .timeline
            .cluster()
            .in_flight()
            .map(|p| packet_view(p, self.view_time))
            .collect();
        packets.sort_by_key(|p| p.id);
        packets
    }
}

#[cfg(test)]
mod lessons_tests;
#[cfg(test)]
mod tests;
