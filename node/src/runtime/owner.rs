//! The task that owns the Raft node: ticks, steps inputs, and runs the `Ready` loop.
//!
//! Group commit falls out of the structure: while one `persist` (and its fsync) runs, inputs queue
//! in the channels; afterwards the loop steps *all* of them and takes one `Ready`, whose entries
//! share the next fsync.

use std::mem;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use raftorch_core::engine::{
    Answer, Chunk, Engine, EngineConfig, EngineReady, PeerMessage, ReadEnd, Refusal, Submitted,
    TransferConfig, WriteEnd,
};
use raftorch_core::orchestrator::{Command, Envelope, Orchestrator};
use raftorch_core::raft::{Config, Error as RaftError, Message, MessageBody, RawNode, Role};
use raftorch_core::state_machine::StateMachine;
use tokio::sync::{mpsc, oneshot, watch};

use super::addresses::AddressBook;
use super::disk_thread::{stopped, DiskThread};
use super::round_phases::{Phase, RoundPhases};
use super::round_trips::RoundTrips;
use super::snapshot_work::{Decoded, Encoded, Finished, SnapshotWork};
use super::space_duty::SpaceDuty;
use super::{
    Applied, Clock, Consistency, Inputs, NodeHandle, NodeStatus, ReadFn, Request, RequestError,
    StateDigests,
};
use crate::config::{NodeConfig, PeerSpec};
use crate::disk_storage::{DiskError, DiskStorage};
use crate::metrics::Metrics;
use crate::telemetry::raft_spans::{RaftSpans, WriteTrace};
use crate::telemetry::Telemetry;
use crate::transport::{Peers, Received, Wire};

/// Reads not confirmed within this time are failed (the client retries).
const READ_EXPIRY: Duration = Duration::from_secs(5);
/// Inputs stepped per round before taking a `Ready` (bounds the latency of one round).
const MAX_INPUTS_PER_ROUND: usize = 4096;
/// A state waits for a snapshot until the log since the last one is this share (percent) of
/// its size, however many entries that is (see `EngineConfig::snapshot_log_share_percent`).
const SNAPSHOT_LOG_SHARE_PERCENT: u64 = 50;
/// ... once it holds this much (a smaller state snapshots by entry count alone).
const SNAPSHOT_LOG_SHARE_ABOVE_BYTES: u64 = 64 << 20;
/// A state with new entries is snapshotted at least this often.
const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(30 * 60);
/// Entries kept in memory behind a snapshot so slightly lagging followers need no snapshot.
const KEEP_AFTER_SNAPSHOT: u64 = 1000;
/// How often a persist refused for want of disk space is tried again.
const DISK_FULL_RETRY: Duration = Duration::from_millis(500);
/// Committed entries handed out per `Ready`, in bytes: a follower catching up applies a long
/// backlog in batches this big instead of 16 MiB at a time.
const APPLY_BYTES_PER_READY: usize = 1 << 20;
/// Bytes of entries in flight to one follower: one that comes back after a snapshot gets the
/// log since it 8 MiB at a time, not 256 messages of 1 MiB in one round.
const INFLIGHT_BYTES_PER_FOLLOWER: usize = 8 << 20;
/// Heartbeats go out again for at most this long of one wait on the disk (or four election
/// timeouts, if longer): a slow fsync is ridden out, a disk that hangs for good is not.
const KEEPALIVE_LIMIT_MIN: Duration = Duration::from_secs(1);
/// A round that has run this long handles no further `Ready`: the loop takes its inputs (peers'
/// heartbeats and votes, the tick) before it goes on with the backlog.
const READY_BUDGET: Duration = Duration::from_millis(20);

type WriteReply = oneshot::Sender<Result<Applied, RequestError>>;

/// What the owner keeps for a write until it ends: who waits, and its span when traced.
struct PendingWrite {
    reply: WriteReply,
    trace: Option<WriteTrace>,
}

/// A started node: its handle, the inputs to feed, and the owner task to run.
pub struct Started {
    /// For the API.
    pub handle: NodeHandle,
    /// Raft messages from peers go here.
    pub messages: mpsc::Sender<Received>,
    /// The owner loop; run it until shutdown.
    pub owner: Owner,
    /// Pass to [`Owner::run`].
    pub inputs: Inputs,
}

/// Opens the data directory and builds the node (nothing runs yet). `me` is where this node
/// listens; `peers` starts empty and is kept in step with the configured peers and the
/// replicated address book by the owner task. With `telemetry` on, the owner records the
/// spans of writes and snapshots (see [`crate::telemetry::raft_spans`]).
pub fn start(
    config: &NodeConfig,
    me: PeerSpec,
    mut peers: Peers,
    metrics: Arc<Metrics>,
    telemetry: &Telemetry,
) -> Result<Started, DiskError> {
    let disk = DiskStorage::open(&config.data_dir, &config.voters())?;
    if config.join && raftorch_core::raft::Storage::last_index(&disk) == 0 {
        tracing::info!("joining: no membership yet; waiting for the leader to add this node");
    }
    let timing = config.timing();
    let mut raft_config = Config::new(config.id);
    raft_config.election_tick = timing.election_tick;
    raft_config.heartbeat_tick = timing.heartbeat_tick;
    raft_config.max_committed_size_per_ready = APPLY_BYTES_PER_READY;
    raft_config.max_inflight_bytes = INFLIGHT_BYTES_PER_FOLLOWER;
    // Seeded per process start: restarts should not replay the same election timeouts.
    raft_config.seed = config.id ^ Clock::new().now_ms().rotate_left(17);
    let incarnation = raft_config.seed;
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
    let engine_config = EngineConfig {
        snapshot_every: config.snapshot_every,
        snapshot_log_share_percent: SNAPSHOT_LOG_SHARE_PERCENT,
        snapshot_log_share_above_bytes: SNAPSHOT_LOG_SHARE_ABOVE_BYTES,
        snapshot_log_bytes: config.snapshot_log_bytes,
        snapshot_max_age_ms: SNAPSHOT_MAX_AGE.as_millis() as u64,
        snapshot_keep_entries: KEEP_AFTER_SNAPSHOT,
        read_timeout_ms: READ_EXPIRY.as_millis() as u64,
        forward_writes: true,
        incarnation,
        digest_every: config.debug.digest_every,
        transfer: match config.debug.snapshot_chunk_bytes {
            0 => TransferConfig::default(),
            chunk_bytes => TransferConfig {
                chunk_bytes,
                ..TransferConfig::default()
            },
        },
    };
    let engine = Engine::new(raw, sm, applied, engine_config);
    let snapshots = SnapshotWork::new(disk.pending_snapshot_file());
    let disk = DiskThread::spawn(disk)?;
    let mut book = AddressBook::new(me, &config.peers);
    book.sync(engine.app(), &mut peers);
    let (request_tx, request_rx) = mpsc::channel(4096);
    let (message_tx, message_rx) = mpsc::channel(8192);
    let mut owner = Owner {
        engine,
        disk,
        peers,
        book,
        clock: Clock::with_offset_ms(config.debug.clock_offset_ms),
        status: watch::channel(placeholder_status(config.id)).0,
        digests: watch::channel(Arc::from(Vec::new())).0,
        metrics: metrics.clone(),
        round_trips: RoundTrips::default(),
        tick: timing.tick,
        keepalive_every: timing.tick * timing.heartbeat_tick.max(1),
        keepalive_limit: KEEPALIVE_LIMIT_MIN.max(timing.tick * timing.election_tick * 4),
        backlog: false,
        spans: telemetry.tracer().cloned().map(RaftSpans::new),
        space: SpaceDuty::new(config.id, config.space, config.data_dir.clone(), &metrics),
        disk_full: false,
        snapshots,
        corrupt_chunk_every: config.debug.corrupt_chunk_every,
        phases: RoundPhases::default(),
        chunks_sent_for_corruption: 0,
    };
    let handle = NodeHandle {
        requests: request_tx,
        status: owner.status.subscribe(),
        digests: owner.digests.subscribe(),
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

/// A handle to no node: its request queue is closed, so every request that needs the node fails
/// at once with "the node is shutting down", and its status stays the placeholder. For driving
/// the API's input handling (parsing, validation, scopes) without a cluster: the fuzz targets.
pub fn detached_handle(id: u64) -> NodeHandle {
    let (requests, _) = mpsc::channel(1);
    NodeHandle {
        requests,
        status: watch::channel(placeholder_status(id)).1,
        digests: watch::channel(Arc::from(Vec::new())).1,
        addresses: watch::channel(Arc::default()).1,
        metrics: Arc::default(),
    }
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

/// Owns the engine (the Raft node, the state machine and the requests in flight) and the disk;
/// carries out what the engine asks.
pub struct Owner {
    engine: Engine<Orchestrator, PendingWrite, ReadFn>,
    /// Owns the `DiskStorage`; persists and compactions run there.
    disk: DiskThread,
    peers: Peers,
    /// Keeps `peers` and the API's address table in step with the replicated address book.
    book: AddressBook,
    clock: Clock,
    status: watch::Sender<NodeStatus>,
    /// The engine's sampled state digests, republished when a new one is taken.
    digests: watch::Sender<StateDigests>,
    metrics: Arc<Metrics>,
    /// Heartbeats awaiting an answer, for the peer round-trip histogram.
    round_trips: RoundTrips,
    tick: Duration,
    /// The spans in progress; `None` when tracing is off.
    spans: Option<RaftSpans>,
    /// The storage quota and the disk reserve.
    space: SpaceDuty,
    /// A persist was refused for want of disk space and is being retried: see
    /// [`Owner::persist`].
    disk_full: bool,
    /// Encodes the snapshots the engine begins and decodes the ones it receives, off this loop.
    snapshots: SnapshotWork,
    /// Testing: damage every Nth snapshot chunk sent (0: never), and how many were sent.
    corrupt_chunk_every: u64,
    chunks_sent_for_corruption: u64,
    /// Whether the last round stopped with `Ready`s still to handle (see [`READY_BUDGET`]).
    backlog: bool,
    /// How often the last heartbeats go out again while the loop waits on the disk.
    keepalive_every: Duration,
    /// For how long of one wait on the disk they do.
    keepalive_limit: Duration,
    /// Where the current round spends its time (slow rounds are logged with it).
    phases: RoundPhases,
}

impl Owner {
    /// Runs until `shutdown` fires. A disk error ends the loop: the node cannot go on safely —
    /// except a write refused for want of space, which makes the node read-only until a retry
    /// succeeds (see [`Owner::persist`]).
    pub async fn run(
        mut self,
        mut inputs: Inputs,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), DiskError> {
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if self.process_ready(&mut inputs, &mut shutdown).await? == Flow::Stop {
            return Ok(());
        }
        loop {
            let woken_by = tokio::select! {
                _ = shutdown.changed() => break,
                _ = ticker.tick() => Wake::Tick,
                Some(m) = inputs.messages.recv() => Wake::Message(m),
                Some(r) = inputs.requests.recv() => Wake::Request(r),
                Some(done) = self.snapshots.finished() => Wake::Snapshot(done),
                // At once: the backlog a round left for the next. That round, like every
                // round, first takes the inputs that queued meanwhile.
                () = std::future::ready(()), if self.backlog => Wake::Backlog,
            };
            // A round's length is how long heartbeats and votes may wait behind it.
            self.phases.begin(woken_by.name());
            match woken_by {
                Wake::Backlog => self.backlog = false,
                Wake::Tick => self.on_tick(),
                Wake::Message(m) => self.step(m),
                Wake::Request(r) => self.on_request(r),
                Wake::Snapshot(Finished::Encoded(done)) => {
                    self.on_snapshot_written(done).await?;
                    self.phases.mark(Phase::Snapshot);
                }
                Wake::Snapshot(Finished::Decoded(done)) => self.on_snapshot_decoded(done),
            }
            self.phases.mark(Phase::Wake);
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
            self.phases.mark(Phase::Inputs);
            let flow = self.process_ready(&mut inputs, &mut shutdown).await?;
            self.metrics.observe_owner_round(self.phases.end());
            if flow == Flow::Stop {
                break;
            }
        }
        tracing::info!("node loop stopped");
        Ok(())
    }

    fn on_tick(&mut self) {
        let now = self.clock.now_ms();
        self.engine.tick(now);
        if let Some(change) = self.space.on_tick(now, self.engine.app(), &self.metrics) {
            self.propose_alarm(now, change);
        }
    }

    /// Proposes an alarm change of this node's own (its answer is not awaited: the state
    /// shows it once applied, and the duty proposes again if it did not take).
    fn propose_alarm(&mut self, now: u64, command: Command) {
        let (reply, _) = oneshot::channel();
        let envelope = Envelope::new(now, command);
        let pending = PendingWrite { reply, trace: None };
        if let Err((e, _)) = self.engine.propose(now, envelope.encode(), pending) {
            tracing::debug!(error = %e, "alarm proposal refused; it is proposed again later");
        }
    }

    /// Hands a peer's message to the engine, timing it if it answers one of our heartbeats.
    fn step(&mut self, received: Received) {
        let wire = received.wire;
        if let PeerMessage::Raft(m) = &wire.message {
            if let Some(rtt) = self.round_trips.on_receive(m) {
                self.metrics.peer_round_trip.observe(rtt);
            }
        }
        let traced_forward = match (&self.spans, &wire.message) {
            (
                Some(_),
                PeerMessage::Forward {
                    request,
                    traceparent: Some(t),
                    ..
                },
            ) => Some((*request, t.clone())),
            _ => None,
        };
        let proposed = self
            .engine
            .receive(self.clock.now_ms(), wire.from, wire.message);
        if let (Some(spans), Some((request, traceparent))) = (&mut self.spans, traced_forward) {
            spans.forward_received(wire.from, request, &traceparent, proposed);
        }
    }

    fn on_request(&mut self, request: Request) {
        let now = self.clock.now_ms();
        match request {
            Request::Propose {
                command,
                request_id,
                reply,
                trace,
            } => {
                if let Err(refused) = self.space.admit(now, self.engine.app(), &command) {
                    let (refusal, raise) = *refused;
                    if let Some(raise) = raise {
                        tracing::warn!(
                            live = self.engine.app().live_bytes(),
                            "the storage quota is reached: raising the quota alarm (writes that grow the state are refused)"
                        );
                        self.propose_alarm(now, raise);
                    }
                    let _ = reply.send(Ok(Applied {
                        index: self.engine.applied(),
                        output: Err(refusal),
                    }));
                    return;
                }
                let envelope = Envelope {
                    now_ms: now,
                    request_id,
                    command,
                };
                let trace = match (&self.spans, trace) {
                    (Some(spans), Some(parent)) => Some(spans.begin_write(*parent)),
                    _ => None,
                };
                let traceparent = trace.as_ref().map(RaftSpans::forward_traceparent);
                let write = PendingWrite {
                    reply,
                    trace: trace.clone(),
                };
                let data = envelope.encode();
                match self.engine.propose_traced(now, data, traceparent, write) {
                    Ok(submitted) => {
                        match submitted {
                            Submitted::Proposed { .. } => Metrics::inc(&self.metrics.proposals),
                            Submitted::Forwarded { .. } => Metrics::inc(&self.metrics.forwarded),
                        }
                        if let (Some(spans), Some(trace)) = (&mut self.spans, &trace) {
                            spans.submitted(trace, submitted);
                        }
                    }
                    Err((e, write)) => {
                        Metrics::inc(&self.metrics.proposals_refused);
                        let _ = write.reply.send(Err(refusal(e)));
                    }
                }
            }
            Request::Read { consistency, read } => {
                Metrics::inc(&self.metrics.reads);
                if let Err((e, read)) = self.engine.read(now, consistency, read) {
                    read(Err(refusal(e)));
                }
                // A stale read is ready at once: serve it now, not after this round's fsync.
                self.answer();
            }
            Request::ConfChange { change, reply } => {
                let proposed = self.engine.propose_conf_change(change).map_err(refusal);
                let _ = reply.send(proposed.map(|p| p.index));
            }
            Request::TransferLeader { to, reply } => {
                let _ = reply.send(self.engine.transfer_leader(to).map_err(refusal));
            }
        }
    }

    /// The `Ready` loop: send, persist, send what depends on the persist, apply, answer, advance;
    /// a `Ready` with nothing to persist applies and answers first, then sends.
    async fn process_ready(
        &mut self,
        inputs: &mut Inputs,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Flow, DiskError> {
        while let Some(mut ready) = self.engine.ready(self.clock.now_ms()) {
            self.phases.ready_handled();
            if let Some(soft) = ready.raft.soft_state {
                self.on_soft_state(soft.role, soft.leader);
            }
            // A snapshot from the leader: its span runs from here (persist) to its install.
            let installing = self
                .spans
                .as_ref()
                .and(ready.raft.snapshot.as_ref())
                .map(|_| SystemTime::now());
            if ready.must_sync() {
                // The appends go out first, so the followers' fsyncs run alongside this one.
                self.send(mem::take(&mut ready.raft.messages));
                self.phases.mark(Phase::Send);
                ready = match self.persist(ready, inputs, shutdown).await? {
                    Some(ready) => ready,
                    None => return Ok(Flow::Stop),
                };
                self.phases.mark(Phase::Persist);
                self.send(mem::take(&mut ready.raft.persisted_messages));
                self.phases.mark(Phase::Send);
                self.apply_ready(&mut ready)?;
                self.phases.mark(Phase::Apply);
            } else {
                // Nothing to make durable: answer the clients first. The messages of such a
                // `Ready` (commit announcements, heartbeats, acks of empty appends) would
                // otherwise wake the followers ahead of the client on a busy CPU.
                self.apply_ready(&mut ready)?;
                self.phases.mark(Phase::Apply);
                self.send(mem::take(&mut ready.raft.messages));
                self.send(mem::take(&mut ready.raft.persisted_messages));
                self.phases.mark(Phase::Send);
            }
            if let (Some(spans), Some(start), Some(snapshot)) =
                (&mut self.spans, installing, &ready.raft.snapshot)
            {
                spans.snapshot_installed(snapshot, start);
            }
            self.engine.advance(ready);
            self.phases.mark(Phase::Apply);
            // The state is encoded and written on another thread: see `snapshot_work`.
            if let Some(job) = self.engine.begin_snapshot() {
                self.snapshots.encode(job);
            }
            self.phases.mark(Phase::Snapshot);
            if self.phases.elapsed() >= READY_BUDGET {
                // More `Ready`s (a catch-up's backlog) wait for the next round.
                self.backlog = true;
                break;
            }
        }
        // The engine's own messages made outside a `Ready` (a client's write forwarded now) or
        // after this round's sends (a forwarded write's answer, applied after a persist).
        self.send(Vec::new());
        self.phases.mark(Phase::Send);
        // A snapshot whose last chunk came in this round is decoded on another thread.
        if let Some(received) = self.engine.take_received_snapshot() {
            self.snapshots.decode(received);
        }
        self.phases.mark(Phase::Snapshot);
        self.publish();
        self.phases.mark(Phase::Publish);
        Ok(Flow::Go)
    }

    /// A snapshot from the leader was decoded: the engine hands it to Raft, and the round's
    /// `Ready` installs it.
    fn on_snapshot_decoded(&mut self, done: Result<Box<Decoded>, String>) {
        match done.map(|d| *d) {
            Ok(Decoded { decoded, took }) => {
                tracing::info!(
                    decode_ms = took.as_millis() as u64,
                    "decoded a snapshot from the leader (off the loop)"
                );
                self.engine.install_decoded(decoded);
            }
            // The leader sends it again.
            Err(e) => {
                tracing::error!(error = %e, "decoding a snapshot from the leader failed");
                self.engine.received_snapshot_lost();
            }
        }
    }

    /// A snapshot begun by the engine was encoded and written to the pending file: the engine
    /// compacts its log, and the disk thread adopts the file and compacts the durable log.
    async fn on_snapshot_written(
        &mut self,
        done: Result<Encoded, String>,
    ) -> Result<(), DiskError> {
        let Encoded {
            snapshot,
            started,
            serialized,
            saved,
        } = match done {
            Ok(encoded) => encoded,
            Err(e) => {
                tracing::error!(error = %e, "making a snapshot failed; the next one is begun when due");
                self.engine.abandon_snapshot();
                return Ok(());
            }
        };
        let (index, bytes) = (snapshot.meta.index, snapshot.data.len() as u64);
        let saved = match saved {
            Ok(saved) => saved,
            // The log on disk keeps its entries (the state there stays whole) until a later
            // snapshot compacts it; the next persist shows whether space is back.
            Err(DiskError::Storage(e)) if e.is_out_of_space() => {
                tracing::warn!(index, error = %e, "cannot save a snapshot: out of disk space; the log is compacted later");
                self.engine.finish_snapshot(snapshot);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let Some(snapshot) = self.engine.finish_snapshot(snapshot) else {
            // A newer snapshot came from the leader meanwhile.
            self.on_disk(|disk| disk.discard_pending_snapshot()).await?;
            return Ok(());
        };
        match self
            .on_disk(move |disk| disk.adopt_snapshot(snapshot))
            .await?
        {
            Err(DiskError::OutOfSpace(e)) => {
                tracing::warn!(index, error = %e, "cannot adopt a snapshot: out of disk space; the log is compacted later");
                return Ok(());
            }
            other => other?,
        }
        if let Some(spans) = &mut self.spans {
            spans.snapshot_taken(index, started);
        }
        Metrics::inc(&self.metrics.snapshots);
        self.metrics.observe_snapshot(serialized, saved, bytes);
        tracing::info!(
            index,
            bytes,
            serialize_ms = serialized.as_millis() as u64,
            save_ms = saved.as_millis() as u64,
            "took a snapshot (off the loop) and compacted the log"
        );
        Ok(())
    }

    /// Runs `work` on the disk thread. While it runs (a slow fsync) the loop steps nothing,
    /// so every heartbeat interval the last heartbeats (or heartbeat responses) go out again:
    /// a disk slow for a moment must not look like a dead leader (see the engine's
    /// `Engine::keepalives`).
    async fn on_disk<R: Send + 'static>(
        &mut self,
        work: impl FnOnce(&mut DiskStorage) -> R + Send + 'static,
    ) -> Result<R, DiskError> {
        let mut answer = self.disk.submit(work)?;
        let waiting_since = Instant::now();
        let every = self.keepalive_every;
        let mut keepalive = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                answered = &mut answer => return answered.map_err(|_| stopped()),
                // A disk that hangs for good must not keep a leader that commits nothing in
                // place: past the limit the followers' election timers run out as they should.
                _ = keepalive.tick(), if waiting_since.elapsed() < self.keepalive_limit => {
                    self.send_keepalives();
                }
            }
        }
    }

    fn send_keepalives(&mut self) {
        let me = self.engine.raw().id();
        for (to, message) in self.engine.keepalives() {
            Metrics::inc(&self.metrics.keepalives_sent);
            self.peers.send(Wire {
                from: me,
                to,
                message,
            });
        }
    }

    /// Queues `messages` to their peers, with the engine's own (forwards and their answers).
    fn send(&mut self, messages: Vec<Message>) {
        for m in &messages {
            self.round_trips.on_send(m);
            if let (Some(spans), MessageBody::InstallSnapshot { snapshot, .. }) =
                (&mut self.spans, &m.body)
            {
                spans.snapshot_sent(m.to, snapshot);
            }
        }
        let me = self.engine.raw().id();
        for (to, mut message) in self.engine.peer_messages(messages) {
            if let PeerMessage::SnapshotChunk(chunk) = &mut message {
                self.corrupt_chunk_testing(chunk);
            }
            if let (Some(spans), PeerMessage::ForwardReply { request, end }) =
                (&mut self.spans, &message)
            {
                spans.forward_replied(to, *request, end);
            }
            self.peers.send(Wire {
                from: me,
                to,
                message,
            });
        }
    }

    /// Testing (`--debug-corrupt-chunk-every N`): damages every Nth chunk sent after its
    /// checksum was taken.
    fn corrupt_chunk_testing(&mut self, chunk: &mut Chunk) {
        let every = self.corrupt_chunk_every;
        if every == 0 {
            return;
        }
        self.chunks_sent_for_corruption += 1;
        if self.chunks_sent_for_corruption.is_multiple_of(every) {
            if let Some(byte) = chunk.data.first_mut() {
                *byte ^= 0xff;
            }
        }
    }

    /// Makes durable what `ready` asks for, on the disk thread, and hands `ready` back (`None`:
    /// shutdown came first).
    ///
    /// A write refused for want of space (`ENOSPC`, `EDQUOT`) does not stop the node: it turns
    /// read-only ([`Owner::while_disk_full`]) and tries the same `ready` again every
    /// [`DISK_FULL_RETRY`] until it is durable. Nothing of `ready` counts as persisted until
    /// then, so no write it carries is acknowledged (by this node's vote in the quorum or to a
    /// client) before it is on disk. Every other disk error, an fsync's above all, stays fatal:
    /// after a failed fsync the kernel may have dropped the written pages, so a retry could
    /// report success for data that is gone.
    async fn persist(
        &mut self,
        mut ready: EngineReady,
        inputs: &mut Inputs,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<EngineReady>, DiskError> {
        loop {
            let (back, stats) = self
                .on_disk(move |disk| {
                    let stats = disk.persist(&ready.raft);
                    (ready, stats)
                })
                .await?;
            ready = back;
            match stats {
                Ok(stats) => {
                    if mem::take(&mut self.disk_full) {
                        tracing::info!("disk space is back: the pending write is durable; accepting writes again");
                        self.metrics.space.disk_full.store(0, Relaxed);
                    }
                    self.metrics.observe_persist(stats.elapsed, stats.entries);
                    return Ok(Some(ready));
                }
                Err(DiskError::OutOfSpace(e)) => {
                    if !self.disk_full {
                        tracing::error!(error = %e, "the data dir's disk is full: refusing writes (507 no_space) and serving stale reads until space is freed; retrying every {DISK_FULL_RETRY:?}");
                        self.disk_full = true;
                        self.metrics.space.disk_full.store(1, Relaxed);
                        Metrics::inc(&self.metrics.space.disk_full_events);
                    }
                    if self.while_disk_full(inputs, shutdown).await == Flow::Stop {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Serves what a node that cannot write may, for [`DISK_FULL_RETRY`]: writes, membership
    /// changes and reads that need Raft are refused with [`RequestError::DiskFull`], stale reads
    /// are answered from the applied state, peers' messages are dropped (Raft resends them; the
    /// node cannot step them before its pending `Ready` is durable), and the clock does not
    /// tick Raft (so it neither campaigns nor expires leadership it cannot use).
    async fn while_disk_full(
        &mut self,
        inputs: &mut Inputs,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Flow {
        let retry = tokio::time::sleep(DISK_FULL_RETRY);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return Flow::Stop,
                _ = &mut retry => return Flow::Go,
                Some(m) = inputs.messages.recv() => {
                    drop(m);
                    Metrics::inc(&self.metrics.space.disk_full_dropped_messages);
                }
                Some(r) = inputs.requests.recv() => self.refuse_while_disk_full(r),
            }
        }
    }

    fn refuse_while_disk_full(&mut self, request: Request) {
        let full = || RequestError::DiskFull;
        match request {
            Request::Propose { reply, .. } => {
                Metrics::inc(&self.metrics.proposals_refused);
                let _ = reply.send(Err(full()));
            }
            Request::Read {
                consistency: Consistency::Stale,
                read,
            } => {
                Metrics::inc(&self.metrics.reads);
                read(Ok((self.engine.app(), self.engine.applied())));
            }
            Request::Read { read, .. } => read(Err(full())),
            Request::ConfChange { reply, .. } => {
                let _ = reply.send(Err(full()));
            }
            Request::TransferLeader { reply, .. } => {
                let _ = reply.send(Err(full()));
            }
        }
    }

    /// Restores a snapshot from the leader, applies committed entries and answers the clients
    /// whose writes and reads they end.
    fn apply_ready(&mut self, ready: &mut EngineReady) -> Result<(), DiskError> {
        let installs_snapshot = ready.raft.snapshot.is_some();
        let applying = match &mut self.spans {
            Some(spans) => {
                if let Some(snapshot) = &ready.raft.snapshot {
                    spans.log_replaced_up_to(snapshot.meta.index);
                }
                Some((
                    spans.committed(&ready.raft.committed_entries),
                    SystemTime::now(),
                ))
            }
            None => None,
        };
        self.engine.apply(ready).map_err(|e| {
            DiskError::Inconsistent(format!("snapshot from the leader does not restore: {e}"))
        })?;
        if let (Some(spans), Some((applying, start))) = (&mut self.spans, applying) {
            spans.applied(applying, start);
        }
        if installs_snapshot {
            self.book.invalidate();
        }
        // Before the next `Ready`'s messages: the leader adds a node only after its address
        // record applied, so the transport knows it by the time there is anything to send.
        self.book.sync(self.engine.app(), &mut self.peers);
        self.answer();
        Ok(())
    }

    /// Tells the waiting clients what the engine answered.
    fn answer(&mut self) {
        for answer in self.engine.take_answers() {
            let answer: Answer<Orchestrator, WriteReply, ReadFn> = match answer {
                Answer::Write(write, end) => {
                    if let (Some(spans), Some(trace)) = (&mut self.spans, write.trace) {
                        spans.write_answered(trace, &end);
                    }
                    Answer::Write(write.reply, end)
                }
                Answer::Read(read, end) => Answer::Read(read, end),
            };
            match answer {
                Answer::Write(reply, WriteEnd::Applied { index, output }) => {
                    let _ = reply.send(Ok(Applied { index, output }));
                }
                // The API retries both under the same exactly-once tag: for an unknown outcome
                // the retry finds the first answer if the write took effect.
                Answer::Write(reply, WriteEnd::Lost | WriteEnd::Unknown) => {
                    Metrics::inc(&self.metrics.proposals_lost);
                    let _ = reply.send(Err(RequestError::Lost));
                }
                Answer::Write(reply, WriteEnd::Refused(Refusal::NotLeader { leader_hint })) => {
                    let _ = reply.send(Err(RequestError::NotLeader(leader_hint)));
                }
                Answer::Write(reply, WriteEnd::Refused(Refusal::Dropped(why))) => {
                    let _ = reply.send(Err(RequestError::Dropped(why)));
                }
                Answer::Read(read, ReadEnd::Ready { index }) => {
                    read(Ok((self.engine.app(), index)))
                }
                Answer::Read(read, ReadEnd::Aborted) => read(Err(RequestError::Aborted)),
            }
        }
    }

    fn on_soft_state(&mut self, role: Role, leader: Option<u64>) {
        tracing::info!(
            role = role.as_str(),
            ?leader,
            term = self.engine.raw().term(),
            "role changed"
        );
        match role {
            Role::Leader => Metrics::inc(&self.metrics.became_leader),
            Role::PreCandidate | Role::Candidate => Metrics::inc(&self.metrics.elections),
            Role::Follower => {}
        }
        if let (Some(spans), false) = (&mut self.spans, role == Role::Leader) {
            spans.stepped_down();
        }
    }

    fn publish(&mut self) {
        // Answers produced outside a `Ready` (stale reads, expired reads) go out here.
        self.answer();
        let s = self.engine.raw().status();
        let status = NodeStatus {
            id: s.id,
            role: s.role,
            term: s.term,
            leader: s.leader,
            commit: s.commit,
            applied: self.engine.applied(),
            last_index: s.last_index,
            snapshot_index: self.engine.snapshot_index(),
            voters: s.conf.voters.iter().copied().collect(),
            learners: s.conf.learners.iter().copied().collect(),
            matched: s.progress.iter().map(|p| (p.0, p.1)).collect(),
        };
        if let Some(spans) = &mut self.spans {
            spans.progress(&status.matched);
        }
        let refused = self.engine.refused_snapshots();
        self.metrics
            .snapshot_failures
            .store(refused, std::sync::atomic::Ordering::Relaxed);
        let t = self.engine.transfer_stats();
        let m = &self.metrics;
        for (counter, value) in [
            (&m.snapshot_chunks_sent, t.chunks_sent),
            (&m.snapshot_chunk_bytes_sent, t.bytes_sent),
            (&m.snapshot_chunks_received, t.chunks_received),
            (&m.snapshot_chunk_bytes_received, t.bytes_received),
            (&m.snapshot_transfers_resumed, t.resumed),
            (&m.snapshot_transfers_restarted, t.restarted),
            (
                &m.snapshot_chunks_corrupt,
                t.corrupt_chunks + t.corrupt_snapshots,
            ),
        ] {
            counter.store(value, std::sync::atomic::Ordering::Relaxed);
        }
        SpaceDuty::publish(self.engine.app(), &self.metrics);
        let newest = self.engine.state_digests().last();
        if newest != self.digests.borrow().last().copied() {
            let all: StateDigests = self.engine.state_digests().collect();
            self.digests.send_replace(all);
        }
        self.status.send_if_modified(|old| {
            let changed = *old != status;
            *old = status;
            changed
        });
    }
}

/// What woke the owner loop.
enum Wake {
    /// The last round left `Ready`s to handle.
    Backlog,
    /// The Raft tick.
    Tick,
    /// A peer's message.
    Message(Received),
    /// A client request.
    Request(Request),
    /// A snapshot taken here was encoded and written, or one from the leader decoded (or the
    /// task failed).
    Snapshot(Finished),
}

impl Wake {
    /// What woke the loop, for the slow-round log.
    fn name(&self) -> &'static str {
        match self {
            Wake::Backlog => "backlog",
            Wake::Tick => "tick",
            Wake::Message(_) => "peer message",
            Wake::Request(_) => "client request",
            Wake::Snapshot(Finished::Encoded(_)) => "snapshot written",
            Wake::Snapshot(Finished::Decoded(_)) => "snapshot decoded",
        }
    }
}

/// Whether the owner loop goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

fn refusal(e: RaftError) -> RequestError {
    match e {
        RaftError::NotLeader { leader_hint } => RequestError::NotLeader(leader_hint),
        other => RequestError::Dropped(other.to_string()),
    }
}
