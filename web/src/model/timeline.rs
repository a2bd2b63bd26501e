//! Time travel: the shown cluster, periodic clones of it, and every input with the exact event
//! count at which it happened. Seeking backward restores the last clone before the target and
//! replays events and inputs up to it; a new input in the past discards the old future.

use raftorch_core::orchestrator::Orchestrator;
use raftorch_core::sim::{Cluster, SimConfig};

use super::client::ClientState;
use super::events::{EventLog, LineKind, LogMark};
use super::input::Input;

/// The simulated cluster the visualizer runs.
pub type Sim = Cluster<Orchestrator>;

/// At most this many clones are kept; past it, every other one is dropped and the spacing doubles.
const MAX_CHECKPOINTS: usize = 400;

/// An input at a precise point of the run.
#[derive(Clone, Debug)]
struct Recorded {
    /// `events_processed()` when it happened.
    events: u64,
    /// `now()` when it happened.
    time: u64,
    input: Input,
}

/// Everything needed to resume from a moment.
#[derive(Clone, Debug)]
struct Checkpoint {
    cluster: Sim,
    inputs_applied: usize,
    log: LogMark,
    client: ClientState,
}

/// The run, navigable in time.
#[derive(Clone, Debug)]
pub struct Timeline {
    cluster: Sim,
    client: ClientState,
    log: EventLog,
    checkpoints: Vec<Checkpoint>,
    checkpoint_every: u64,
    inputs: Vec<Recorded>,
    /// `inputs[..next_input]` are applied to `cluster`.
    next_input: usize,
    /// The furthest simulated time reached.
    head: u64,
}

impl Timeline {
    /// A fresh run.
    pub fn new(config: SimConfig) -> Self {
        let cluster = Sim::new(config);
        let mut timeline = Timeline {
            cluster,
            client: ClientState::default(),
            log: EventLog::default(),
            checkpoints: Vec::new(),
            checkpoint_every: 250,
            inputs: Vec::new(),
            next_input: 0,
            head: 0,
        };
        timeline.collect();
        timeline.checkpoint();
        timeline
    }

    /// The cluster as of the shown moment.
    pub fn cluster(&self) -> &Sim {
        &self.cluster
    }

    /// The event log up to the shown moment.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// The client's state.
    pub fn client(&self) -> &ClientState {
        &self.client
    }

    /// The shown simulated time.
    pub fn now(&self) -> u64 {
        self.cluster.now()
    }

    /// The furthest simulated time reached.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Whether the shown moment is the live edge (not replaying recorded inputs).
    pub fn is_live(&self) -> bool {
        self.next_input == self.inputs.len() && self.now() >= self.head
    }

    /// Whether every recorded input is applied (nothing recorded lies ahead of the shown moment).
    pub fn all_inputs_applied(&self) -> bool {
        self.next_input == self.inputs.len()
    }

    /// When the cluster's next event happens.
    pub fn next_event_time(&self) -> Option<u64> {
        self.cluster.next_event_time()
    }

    /// How many steps of the running scenario this run has fired: steps fire in order and each
    /// records an [`Input::ScenarioStep`] marker, so it is one past the last marker's index. An
    /// input recorded in the past drops the markers after it, and those steps fire again.
    pub fn scenario_steps_fired(&self) -> usize {
        self.inputs
            .iter()
            .rev()
            .find_map(|r| match r.input {
                Input::ScenarioStep(i) => Some(i + 1),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Describes what the last single step did.
    pub fn set_last_event(&mut self, text: String) {
        self.log.last_event = Some(text);
    }

    /// Runs every event up to and including simulated time `target` (also those at `target`
    /// itself when the shown moment is already there), replaying recorded inputs on the way.
    pub fn advance_to(&mut self, target: u64) {
        while let Some(rec) = self
            .inputs
            .get(self.next_input)
            .filter(|r| r.time <= target)
            .cloned()
        {
            while self.cluster.events_processed() < rec.events && self.cluster.step() {}
            if self.cluster.now() < rec.time {
                self.cluster.run_until(rec.time);
            }
            self.apply(&rec.input);
            self.next_input += 1;
        }
        loop {
            let next = (self.cluster.now() / self.checkpoint_every + 1) * self.checkpoint_every;
            self.cluster.run_until(next.min(target));
            self.collect();
            if self.cluster.now() == next {
                self.checkpoint();
            }
            if self.cluster.now() >= target {
                break;
            }
        }
        self.head = self.head.max(self.now());
    }

    /// Processes exactly one event (or the next recorded input, if it comes first).
    pub fn step(&mut self) {
        if let Some(rec) = self.inputs.get(self.next_input).cloned() {
            if rec.events <= self.cluster.events_processed() {
                self.apply(&rec.input);
                self.next_input += 1;
                self.log.last_event = Some(format!("{} ms: {}", rec.time, rec.input.describe()));
                return;
            }
        }
        self.log.last_event = None;
        self.cluster.step();
        self.collect();
        if self.log.last_event.is_none() {
            self.log.last_event = Some(format!(
                "{} ms: a node's clock ticked (nothing else happened)",
                self.now()
            ));
        }
        if self.now() >= self.last_checkpoint_time() + self.checkpoint_every {
            self.checkpoint();
        }
        self.head = self.head.max(self.now());
    }

    /// Shows simulated time `target`, backward or forward.
    pub fn seek(&mut self, target: u64) {
        if target >= self.now() {
            self.advance_to(target);
            return;
        }
        let at = self
            .checkpoints
            .iter()
            .rposition(|c| c.cluster.now() <= target)
            .unwrap_or(0);
        let cp = self.checkpoints[at].clone();
        self.cluster = cp.cluster;
        self.client = cp.client;
        self.next_input = cp.inputs_applied;
        self.log.rewind(&cp.log);
        self.advance_to(target);
    }

    /// Applies a new input now; if the shown moment is in the past, the old future is dropped.
    pub fn record(&mut self, input: Input) {
        if self.next_input < self.inputs.len() || self.now() < self.head {
            let now = self.now();
            self.inputs.truncate(self.next_input);
            self.checkpoints
                .retain(|c| c.cluster.now() <= now && c.inputs_applied <= self.next_input);
            self.head = now;
        }
        self.inputs.push(Recorded {
            events: self.cluster.events_processed(),
            time: self.now(),
            input: input.clone(),
        });
        self.next_input += 1;
        self.apply(&input);
    }

    fn apply(&mut self, input: &Input) {
        let c = &mut self.cluster;
        match input {
            Input::Crash(id) => c.crash(*id),
            Input::Restart(id) => c.restart(*id),
            Input::Partition(groups) => c.partition(groups.clone()),
            Input::SetLink { from, to, up } => c.set_link(*from, *to, *up),
            Input::Heal => c.heal(),
            Input::DropRate(pm) => c.set_drop_rate(*pm),
            Input::Latency(lo, hi) => c.set_latency(*lo, *hi),
            Input::Transfer { from, to } => {
                if let Err(e) = c.transfer_leader(*from, *to) {
                    let text = format!("transfer {from} → {to} refused: {e}");
                    self.log.push(c.now(), LineKind::Election, text);
                }
            }
            Input::Pause { node, paused } => c.set_paused(*node, *paused),
            Input::DropMessage(id) => {
                c.drop_message(*id);
            }
            Input::Membership { node, change } => {
                if let Err(e) = c.propose_conf_change(*node, *change) {
                    let text = format!("membership change {change:?} refused: {e}");
                    self.log.push(c.now(), LineKind::Election, text);
                }
            }
            Input::DuplicateRate(pm) => c.set_duplicate_rate(*pm),
            Input::ScenarioStep(_) => {}
            Input::Write { .. }
            | Input::Read { .. }
            | Input::RouteBurst { .. }
            | Input::AcquireLock { .. } => {
                self.client.submit(c, input);
            }
        }
        let traced = matches!(
            input,
            Input::Crash(_)
                | Input::Restart(_)
                | Input::Partition(_)
                | Input::SetLink { .. }
                | Input::Heal
                | Input::Pause { .. }
                // The narration banner tells what a scenario step does.
                | Input::ScenarioStep(_)
        );
        if !traced {
            self.log
                .push(self.cluster.now(), LineKind::Input, input.describe());
        }
        self.collect();
    }

    /// Moves trace records and client answers into the log.
    fn collect(&mut self) {
        let records = self.cluster.take_trace_records();
        self.log.ingest(&records);
        self.client.collect(&mut self.cluster, &mut self.log);
        // Follow-up requests (a lock after its lease) may have traced events too.
        let records = self.cluster.take_trace_records();
        self.log.ingest(&records);
    }

    fn last_checkpoint_time(&self) -> u64 {
        self.checkpoints.last().map_or(0, |c| c.cluster.now())
    }

    fn checkpoint(&mut self) {
        if !self.checkpoints.is_empty() && self.now() <= self.last_checkpoint_time() {
            return;
        }
        self.checkpoints.push(Checkpoint {
            cluster: self.cluster.clone(),
            inputs_applied: self.next_input,
            log: self.log.mark(),
            client: self.client.clone(),
        });
        if self.checkpoints.len() > MAX_CHECKPOINTS {
            // Keep the first (time 0) and every other one after it.
            let mut i = 0;
            self.checkpoints.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.checkpoint_every *= 2;
        }
    }
}
