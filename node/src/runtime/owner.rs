//! The task that owns the Raft node: ticks, steps inputs, and runs the `Ready` loop.
//!
//! Group commit falls out of the structure: while one `persist` (and its fsync) runs, inputs queue
//! in the channels; afterwards the loop steps *all* of them and takes one `Ready`, whose entries
//! share the next fsync.

use std::collections::{BTreeMap, HashMap};
use std::mem;
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftorch_core::orchestrator::{Command, Envelope, Orchestrator};
use raftorch_core::raft::{
    Config, Entry, EntryPayload, Error as RaftError, HardState, LogIndex, Message, NodeId, RawNode,
    ReadMode, Ready, Role, Term,
};
use raftorch_core::state_machine::StateMachine;
use tokio::sync::{mpsc, oneshot, watch};

use super::addresses::AddressBook;
use super::disk_thread::DiskThread;
use super::round_trips::RoundTrips;
use super::{
    Applied, Clock, Consistency, Inputs, NodeHandle, NodeStatus, ReadFn, Request, RequestError,
};
use crate::config::{NodeConfig, PeerSpec};
use crate::disk_storage::{DiskError, DiskStorage};
use crate::metrics::Metrics;
use crate::transport::Peers;

/// The leader proposes `Tick` this often, so TTLs expire without client traffic.
const TICK_PROPOSAL_EVERY: Duration = Duration::from_millis(500);
/// Reads not confirmed within this time are failed (the client retries).
const READ_EXPIRY: Duration = Duration::from_secs(5);
/// Inputs stepped per round before taking a `Ready` (bounds the latency of one round).
const MAX_INPUTS_PER_ROUND: usize = 4096;
/// Entries kept in memory behind a snapshot so slightly lagging followers need no snapshot.
const KEEP_AFTER_SNAPSHOT: u64 = 1000;

type WriteReply = oneshot::Sender<Result<Applied, RequestError>>;

/// A started node: its handle, the inputs to feed, and the owner task to run.
pub struct Started {
    /// For the API.
    pub handle: NodeHandle,
    /// Raft messages from peers go here.
    pub messages: mpsc::Sender<raftorch_core::raft::Message>,
    /// The owner loop; run it until shutdown.
    pub owner: Owner,
    /// Pass to [`Owner::run`].
    pub inputs: Inputs,
}

/// Opens the data directory and builds the node (nothing runs yet). `me` is where this node
/// listens; `peers` starts empty and is kept in step with the configured peers and the
/// replicated address book by the owner task.
pub fn start(
    config: &NodeConfig,
    me: PeerSpec,
    mut peers: Peers,
    metrics: Arc<Metrics>,
) -> Result<Started, DiskError> {
    let disk = DiskStorage::open(&config.data_dir, &config.voters())?;
    if config.join && raftorch_core::raft::Storage::last_index(&disk) == 0 {
        tracing::info!("joining: no membership yet; waiting for the leader to add this node");
    }
    let timing = config.timing();
    let mut raft_config = Config::new(config.id);
    raft_config.election_tick = timing.election_tick;
    raft_config.heartbeat_tick = timing.heartbeat_tick;
    // Seeded per process start: restarts should not replay the same election timeouts.
    raft_config.seed = config.id ^ Clock::new().now_ms().rotate_left(17);
    let raw = RawNode::new(raft_config, &disk)
        .map_err(|e| DiskError::Inconsistent(format!("cannot start Raft from disk: {e}")))?;
    // Rebuild the state machine: the snapshot, then the committed log entries as Raft hands them
    // out again (`Config::applied` is 0, so they all come back through `Ready`).
    let mut sm = Orchestrator::new();
    let mut applied = 0;
    if let Some(snapshot) = raftorch_core::raft::Storage::snapshot(&disk) {
        sm.restore(&snapshot.data)
            .map_err(|e| DiskError::Inconsistent(format!("snapshot does not restore: {e}")))?;
        applied = snapshot.meta.index;
    }
    let last_snapshot = applied;
    let (hard_state, _) = raftorch_core::raft::Storage::initial_state(&disk)
        .map_err(|e| DiskError::Inconsistent(format!("cannot read the hard state: {e}")))?;
    let disk = DiskThread::spawn(disk)?;
    let mut book = AddressBook::new(me, &config.peers);
    book.sync(&sm, &mut peers);
    let (request_tx, request_rx) = mpsc::channel(4096);
    let (message_tx, message_rx) = mpsc::channel(8192);
    let owner = Owner {
        raw,
        disk,
        unsaved_hard_state: None,
        saved_term_vote: (hard_state.term, hard_state.vote),
        sm,
        applied,
        last_snapshot,
        snapshot_every: config.snapshot_every,
        peers,
        book,
        clock: Clock::new(),
        pending_writes: BTreeMap::new(),
        pending_reads: HashMap::new(),
        confirmed_reads: Vec::new(),
        next_ctx: 1,
        last_tick_proposal: Instant::now(),
        announce_leadership: false,
        status: watch::channel(placeholder_status(config.id)).0,
        metrics: metrics.clone(),
        round_trips: RoundTrips::default(),
        tick: timing.tick,
    };
    let handle = NodeHandle {
        requests: request_tx,
        status: owner.status.subscribe(),
        addresses: owner.book.subscribe(),
        metrics,
    };
    owner.publish();
    Ok(Started {
        handle,
        messages: message_tx,
        owner,
        inputs: Inputs {
            messages: message_rx,
            requests: request_rx,
        },
    })
}

fn placeholder_status(id: u64) -> NodeStatus {
    NodeStatus {
        id,
        role: Role::Follower,
        term: 0,
        leader: None,
        commit: 0,
        applied: 0,
        last_index: 0,
        snapshot_index: 0,
        voters: Vec::new(),
        learners: Vec::new(),
        matched: Vec::new(),
    }
}

/// Owns the Raft node, the disk and the state machine.
pub struct Owner {
    raw: RawNode,
    /// Owns the `DiskStorage`; persists and compactions run there.
    disk: DiskThread,
    /// The newest hard state not yet handed to the disk thread. A change of the commit index
    /// alone is not worth a trip to the disk (Raft relearns it from the leader after a restart),
    /// so it rides along with the next persist.
    unsaved_hard_state: Option<HardState>,
    /// Term and vote as last made durable: a change of either must reach the disk before any
    /// message that depends on it goes out.
    saved_term_vote: (Term, Option<NodeId>),
    sm: Orchestrator,
    applied: LogIndex,
    last_snapshot: LogIndex,
    snapshot_every: u64,
    peers: Peers,
    /// Keeps `peers` and the API's address table in step with the replicated address book.
    book: AddressBook,
    clock: Clock,
    /// Proposals made here, by index: the term they were proposed in, and who waits.
    pending_writes: BTreeMap<LogIndex, (Term, WriteReply)>,
    /// Reads waiting for their read index, by ctx.
    pending_reads: HashMap<u64, (ReadFn, Instant)>,
    /// Reads with a read index, waiting for `applied` to reach it.
    confirmed_reads: Vec<(LogIndex, ReadFn)>,
    next_ctx: u64,
    last_tick_proposal: Instant,
    /// Became leader and has not yet logged `LeaderChanged`.
    announce_leadership: bool,
    status: watch::Sender<NodeStatus>,
    metrics: Arc<Metrics>,
    /// Heartbeats awaiting an answer, for the peer round-trip histogram.
    round_trips: RoundTrips,
    tick: Duration,
}

impl Owner {
    /// Runs until `shutdown` fires. A disk error ends the loop: the node cannot go on safely.
    pub async fn run(
        mut self,
        mut inputs: Inputs,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), DiskError> {
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.process_ready().await?;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = ticker.tick() => self.on_tick(),
                Some(m) = inputs.messages.recv() => self.step(m),
                Some(r) = inputs.requests.recv() => self.on_request(r),
            }
            // Everything that queued meanwhile (e.g. during the last fsync) joins this round.
            for _ in 0..MAX_INPUTS_PER_ROUND {
                match inputs.messages.try_recv() {
                    Ok(m) => self.step(m),
                    Err(_) => break,
                }
            }
            for _ in 0..MAX_INPUTS_PER_ROUND {
                match inputs.requests.try_recv() {
                    Ok(r) => self.on_request(r),
                    Err(_) => break,
                }
            }
            self.process_ready().await?;
        }
        tracing::info!("node loop stopped");
        Ok(())
    }

    /// Steps a peer's message, timing it if it answers one of our heartbeats.
    fn step(&mut self, m: Message) {
        if let Some(rtt) = self.round_trips.on_receive(&m) {
            self.metrics.peer_round_trip.observe(rtt);
        }
        self.raw.step(m);
    }

    fn on_tick(&mut self) {
        self.raw.tick();
        if self.raw.is_leader() && self.last_tick_proposal.elapsed() >= TICK_PROPOSAL_EVERY {
            self.last_tick_proposal = Instant::now();
            self.propose_internal(Command::Tick);
        }
        let now = Instant::now();
        let expired: Vec<u64> = self
            .pending_reads
            .iter()
            .filter(|(_, (_, at))| now.duration_since(*at) > READ_EXPIRY)
            .map(|(&ctx, _)| ctx)
            .collect();
        for ctx in expired {
            if let Some((read, _)) = self.pending_reads.remove(&ctx) {
                read(Err(RequestError::Aborted));
            }
        }
    }

    fn propose_internal(&mut self, command: Command) -> bool {
        let envelope = Envelope::new(self.clock.now_ms(), command);
        self.raw.propose(envelope.encode()).is_ok()
    }

    fn on_request(&mut self, request: Request) {
        match request {
            Request::Propose {
                command,
                request_id,
                reply,
            } => {
                let envelope = Envelope {
                    now_ms: self.clock.now_ms(),
                    request_id,
                    command,
                };
                match self.raw.propose(envelope.encode()) {
                    Ok(p) => {
                        Metrics::inc(&self.metrics.proposals);
                        self.pending_writes.insert(p.index, (p.term, reply));
                    }
                    Err(e) => {
                        Metrics::inc(&self.metrics.proposals_refused);
                        let _ = reply.send(Err(refusal(e)));
                    }
                }
            }
            Request::Read { consistency, read } => {
                Metrics::inc(&self.metrics.reads);
                let mode = match consistency {
                    Consistency::Stale => return read(Ok((&self.sm, self.applied))),
                    Consistency::Lease => ReadMode::Lease,
                    Consistency::Linearizable => ReadMode::Linearizable,
                };
                let ctx = self.next_ctx;
                self.next_ctx += 1;
                match self.raw.read_index(ctx, mode) {
                    Ok(()) => {
                        self.pending_reads.insert(ctx, (read, Instant::now()));
                    }
                    Err(e) => read(Err(refusal(e))),
                }
            }
            Request::ConfChange { change, reply } => {
                let proposed = self.raw.propose_conf_change(change).map_err(refusal);
                let _ = reply.send(proposed.map(|p| p.index));
            }
            Request::TransferLeader { to, reply } => {
                let _ = reply.send(self.raw.transfer_leader(to).map_err(refusal));
            }
        }
    }

    /// The `Ready` loop: send, persist, send what depends on the persist, apply, answer, advance;
    /// a `Ready` with nothing to persist applies and answers first, then sends.
    async fn process_ready(&mut self) -> Result<(), DiskError> {
        loop {
            if self.announce_leadership && self.raw.is_leader() {
                self.announce_leadership = !self.propose_internal(Command::LeaderChanged);
                self.last_tick_proposal = Instant::now();
            }
            if !self.raw.has_ready() {
                break;
            }
            let mut ready = self.raw.ready();
            if let Some(soft) = ready.soft_state {
                self.on_soft_state(soft.role, soft.leader);
            }
            if self.needs_disk(&mut ready) {
                // The appends go out first, so the followers' fsyncs run alongside this one.
                self.send(mem::take(&mut ready.messages));
                ready = self.persist(ready).await?;
                self.send(mem::take(&mut ready.persisted_messages));
                self.apply_ready(&mut ready)?;
            } else {
                // Nothing to make durable: answer the clients first. The messages of such a
                // `Ready` (commit announcements, heartbeats, acks of empty appends) would
                // otherwise wake the followers ahead of the client on a busy CPU.
                self.apply_ready(&mut ready)?;
                self.send(mem::take(&mut ready.messages));
                self.send(mem::take(&mut ready.persisted_messages));
            }
            self.raw.advance(ready);
            self.maybe_snapshot().await?;
        }
        self.publish();
        Ok(())
    }

    /// Whether `ready` has anything that must be durable before its `persisted_messages` go
    /// out: entries, a snapshot, or a new term or vote. A change of the commit index alone is
    /// kept aside (in `unsaved_hard_state`) to ride along with the next persist: on the leader,
    /// the `Ready` that applies a just-committed write needs no trip to the disk.
    fn needs_disk(&mut self, ready: &mut Ready) -> bool {
        if let Some(hs) = ready.hard_state.take() {
            self.unsaved_hard_state = Some(hs);
        }
        let term_vote_changed = self
            .unsaved_hard_state
            .is_some_and(|hs| (hs.term, hs.vote) != self.saved_term_vote);
        !ready.entries.is_empty() || ready.snapshot.is_some() || term_vote_changed
    }

    /// Queues `messages` to their peers.
    fn send(&mut self, messages: Vec<Message>) {
        for m in messages {
            self.round_trips.on_send(&m);
            self.peers.send(m);
        }
    }

    /// Makes durable what `ready` asks for (with the hard state kept aside by
    /// [`Owner::needs_disk`]), on the disk thread, and hands `ready` back.
    async fn persist(&mut self, mut ready: Ready) -> Result<Ready, DiskError> {
        ready.hard_state = self.unsaved_hard_state.take();
        let (ready, stats) = self
            .disk
            .run(move |disk| {
                let stats = disk.persist(&ready);
                (ready, stats)
            })
            .await?;
        let stats = stats?;
        if let Some(hs) = ready.hard_state {
            self.saved_term_vote = (hs.term, hs.vote);
        }
        self.metrics.observe_persist(stats.elapsed, stats.entries);
        Ok(ready)
    }

    /// Restores a snapshot from the leader, applies committed entries (answering the clients
    /// that wait on them) and serves the reads that became ready.
    fn apply_ready(&mut self, ready: &mut Ready) -> Result<(), DiskError> {
        if let Some(snapshot) = &ready.snapshot {
            self.sm.restore(&snapshot.data).map_err(|e| {
                DiskError::Inconsistent(format!("snapshot from the leader does not restore: {e}"))
            })?;
            self.applied = snapshot.meta.index;
            self.last_snapshot = snapshot.meta.index;
            self.book.invalidate();
            // Whatever was proposed at or below it: the outcome is unknown here.
            let covered: Vec<LogIndex> = self
                .pending_writes
                .range(..=snapshot.meta.index)
                .map(|(&i, _)| i)
                .collect();
            for index in covered {
                if let Some((_, reply)) = self.pending_writes.remove(&index) {
                    let _ = reply.send(Err(RequestError::Lost));
                }
            }
        }
        for entry in &ready.committed_entries {
            self.apply(entry);
        }
        // Before the next `Ready`'s messages: the leader adds a node only after its address
        // record applied, so the transport knows it by the time there is anything to send.
        self.book.sync(&self.sm, &mut self.peers);
        for rs in mem::take(&mut ready.read_states) {
            if let Some((read, _)) = self.pending_reads.remove(&rs.ctx) {
                self.confirmed_reads.push((rs.index, read));
            }
        }
        self.answer_confirmed_reads();
        Ok(())
    }

    fn on_soft_state(&mut self, role: Role, leader: Option<u64>) {
        tracing::info!(
            role = role.as_str(),
            ?leader,
            term = self.raw.term(),
            "role changed"
        );
        match role {
            Role::Leader => {
                Metrics::inc(&self.metrics.became_leader);
                self.announce_leadership = true;
            }
            Role::PreCandidate | Role::Candidate => Metrics::inc(&self.metrics.elections),
            Role::Follower => {}
        }
        // Reads in flight may never be confirmed by the old leadership: fail them for a retry.
        for (_, (read, _)) in self.pending_reads.drain() {
            read(Err(RequestError::Aborted));
        }
    }

    fn apply(&mut self, entry: &Entry) {
        let output = match &entry.payload {
            EntryPayload::Normal(data) => Some(self.sm.apply(entry.index, data)),
            EntryPayload::Noop | EntryPayload::ConfChange(_) => None,
        };
        self.applied = entry.index;
        if let Some((term, reply)) = self.pending_writes.remove(&entry.index) {
            let result = match output {
                Some(output) if term == entry.term => Ok(Applied {
                    index: entry.index,
                    output,
                }),
                _ => {
                    Metrics::inc(&self.metrics.proposals_lost);
                    Err(RequestError::Lost)
                }
            };
            let _ = reply.send(result);
        }
    }

    fn answer_confirmed_reads(&mut self) {
        let applied = self.applied;
        let (ready, waiting): (Vec<_>, Vec<_>) = mem::take(&mut self.confirmed_reads)
            .into_iter()
            .partition(|(index, _)| *index <= applied);
        self.confirmed_reads = waiting;
        for (_, read) in ready {
            read(Ok((&self.sm, applied)));
        }
    }

    async fn maybe_snapshot(&mut self) -> Result<(), DiskError> {
        if self.snapshot_every == 0
            || self.applied < self.last_snapshot + self.snapshot_every
            || self.raw.has_ready()
            || self.raw.applied_index() != self.applied
        {
            return Ok(());
        }
        let snapshot = self.raw.compact(self.sm.snapshot(), KEEP_AFTER_SNAPSHOT);
        let index = snapshot.meta.index;
        self.disk.run(move |disk| disk.compact(snapshot)).await??;
        self.last_snapshot = index;
        Metrics::inc(&self.metrics.snapshots);
        tracing::info!(index, "took a snapshot and compacted the log");
        Ok(())
    }

    fn publish(&self) {
        let s = self.raw.status();
        let status = NodeStatus {
            id: s.id,
            role: s.role,
            term: s.term,
            leader: s.leader,
            commit: s.commit,
            applied: self.applied,
            last_index: s.last_index,
            snapshot_index: self.last_snapshot,
            voters: s.conf.voters.iter().copied().collect(),
            learners: s.conf.learners.iter().copied().collect(),
            matched: s.progress.iter().map(|p| (p.0, p.1)).collect(),
        };
        self.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
    }
}

fn refusal(e: RaftError) -> RequestError {
    match e {
        RaftError::NotLeader { leader_hint } => RequestError::NotLeader(leader_hint),
        other => RequestError::Dropped(other.to_string()),
    }
}
