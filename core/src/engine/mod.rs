//! The host engine: everything a host must remember between two `Ready`s, once, for every host.
//!
//! [`RawNode`] decides consensus; the [`Engine`] wraps it together with the replicated
//! [`Application`] and owns the bookkeeping around it: proposals in flight and how each ends,
//! reads waiting on ReadIndex or a lease, the leader's duties (the application's first entries
//! of a term, its periodic entry), the snapshot and compaction policy, and which parts of a
//! `Ready` must be durable before what. Like the rest of the core it is sans-IO and
//! deterministic: time comes in as milliseconds of host time, effects go out as values. The
//! simulator (and so the browser) and the native node drive the same engine; they only carry out
//! its effects.
//!
//! The loop every host runs:
//!
//! ```
//! use raftorch_core::engine::{Engine, EngineConfig, Answer};
//! use raftorch_core::raft::{Config, MemStorage, RawNode};
//! use raftorch_core::sim::KvApp;
//!
//! let mut storage = MemStorage::new_with_voters(&[1]);
//! let raw = RawNode::new(Config::new(1), &storage).unwrap();
//! let mut engine: Engine<KvApp, u32, u32> = Engine::new(raw, KvApp::default(), 0, EngineConfig::default());
//! for now_ms in (0..3000).step_by(10) {
//!     engine.tick(now_ms); // on a timer; `engine.step(message)` when a peer's message arrives
//!     while let Some(mut ready) = engine.ready(now_ms) {
//!         // 1. send `ready.messages`
//!         if ready.must_sync() {
//!             storage.persist(&ready.raft); // 2. durably (fsync)
//!         }
//!         // 3. send `ready.raft.persisted_messages`
//!         engine.apply(&mut ready).unwrap(); // 4. restore, apply, answer
//!         engine.advance(ready); // 5. done
//!         if let Some(snapshot) = engine.take_snapshot() {
//!             storage.compact(snapshot); // the policy said it is time
//!         }
//!     }
//!     for answer in engine.take_answers() {
//!         // answer the clients: `Answer::Write` / `Answer::Read`
//!         # let _ = answer;
//!     }
//! }
//! assert!(engine.raw().is_leader());
//! ```
//!
//! Snapshots are costly for a large state, and a host with heartbeats to send does their costly
//! halves elsewhere: [`Engine::begin_snapshot`] (a cheap clone of the state) instead of
//! [`Engine::take_snapshot`], [`SnapshotJob::encode`] on another thread, then
//! [`Engine::finish_snapshot`]; and after each round, [`Engine::take_received_snapshot`] (a
//! snapshot from the leader whose last chunk came in), [`ReceivedSnapshot::decode`] on another
//! thread, then [`Engine::install_decoded`]. A host must do the latter (or call
//! [`Engine::install_received_now`]): a snapshot that arrived in chunks reaches Raft no other
//! way. The simulator does both a round later, the native node on blocking threads.

mod answer;
mod application;
mod digests;
mod duties;
mod forward;
mod keepalive;
mod ready;
mod requests;
mod snapshot_check;
mod snapshots;
mod transfer;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

pub use answer::{Answer, ReadEnd, WriteEnd};
pub use application::{Application, Consistency};
pub use digests::DIGESTS_KEPT;
pub use forward::{PeerMessage, Refusal, Submitted, FORWARD_TIMEOUT_MS};
pub use ready::EngineReady;
pub use snapshot_check::{DecodedSnapshot, ReceivedSnapshot};
pub use snapshots::SnapshotJob;
pub use transfer::{Chunk, ChunkAck, TransferConfig, TransferStats};

use crate::raft::{HardState, LogIndex, Message, NodeId, RawNode, Term};

/// The engine's policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Take a snapshot once this many entries were applied since the last one (0: never).
    pub snapshot_every: u64,
    /// ... but only once those entries' payloads add up to this share (percent) of the
    /// application's [`Application::state_bytes`] (0: the entry count alone decides): a large
    /// state is not serialized again for every few megabytes of log.
    pub snapshot_log_share_percent: u64,
    /// ... for states of at least this many bytes: a smaller state is cheap to serialize, and
    /// the entry count alone decides.
    pub snapshot_log_share_above_bytes: u64,
    /// Take a snapshot once the entries applied since the last one hold this many payload bytes,
    /// whatever the other rules say (0: never): the log on disk and the replay after a restart
    /// stay bounded.
    pub snapshot_log_bytes: u64,
    /// Take a snapshot once this many ms of host time passed since the last one (or since the
    /// engine started) and an entry was applied meanwhile (0: never).
    pub snapshot_max_age_ms: u64,
    /// Entries kept in the log behind a snapshot, so slightly lagging followers need none.
    pub snapshot_keep_entries: u64,
    /// A read not confirmed within this many ms of host time fails (the client retries).
    pub read_timeout_ms: u64,
    /// Whether a follower forwards client writes to the leader it knows (else it refuses them
    /// with `NotLeader` and the leader's id).
    pub forward_writes: bool,
    /// A value that differs on every start of the node (e.g. its Raft RNG seed). Read contexts
    /// are numbered from it, so a ReadIndex answer meant for a read made before a restart can
    /// never confirm a read made after it.
    pub incarnation: u64,
    /// Record a digest of the application's state at every index that is a multiple of this
    /// (0: never), for comparing replicas while they run ([`Engine::state_digests`]). Each
    /// sample serializes the whole state, so this is for tests and debugging.
    pub digest_every: u64,
    /// How snapshots travel to followers: in chunks of this size, with this window.
    pub transfer: TransferConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            snapshot_every: 10_000,
            snapshot_log_share_percent: 0,
            snapshot_log_share_above_bytes: 0,
            snapshot_log_bytes: 0,
            snapshot_max_age_ms: 0,
            snapshot_keep_entries: 1_000,
            read_timeout_ms: 5_000,
            forward_writes: true,
            incarnation: 0,
            digest_every: 0,
            transfer: TransferConfig::default(),
        }
    }
}

/// A Raft node, its application and the host's bookkeeping, driven by a host. `W` is what the
/// host keeps for a write until it ends (a reply channel, a request id), `R` the same for a read.
#[derive(Clone, Debug)]
pub struct Engine<A: Application, W, R> {
    raw: RawNode,
    app: A,
    /// Index of the last entry applied to `app` (or restored from a snapshot).
    applied: LogIndex,
    config: EngineConfig,
    /// Proposals made here, by index: the term they were proposed in, and who waits.
    /// Invariant: every key is above the index of the last restored snapshot.
    writes: BTreeMap<LogIndex, (Term, Waiter<W>)>,
    /// Writes forwarded to the leader, by request id: who waits, when they give up, and the
    /// node they went to.
    forwarded: BTreeMap<u64, (W, u64, NodeId)>,
    next_forward_id: u64,
    /// Forwards proposed here as leader, by (follower, request), until when they are
    /// remembered: a forward delivered twice is proposed once.
    seen_forwards: BTreeMap<(NodeId, u64), u64>,
    /// The engine's own messages to peers (forwards and their answers).
    outbox: Vec<(NodeId, PeerMessage<A::Output>)>,
    /// Reads waiting for their read index, by context: who waits, and when they give up.
    reads: BTreeMap<u64, (R, u64)>,
    /// Reads with a read index, waiting for `applied` to reach it.
    confirmed_reads: Vec<(LogIndex, R)>,
    next_read_ctx: u64,
    /// Leadership duties: the term whose first entries were proposed, the next periodic entry.
    announced_term: Option<Term>,
    next_periodic_at: u64,
    /// Index of the newest snapshot begun here or installed from the leader (for the policy).
    last_snapshot: LogIndex,
    /// Payload bytes of the entries applied since that snapshot.
    log_bytes_since_snapshot: u64,
    /// Host time of that snapshot (`None`: none since the engine started, and no input yet).
    last_snapshot_at_ms: Option<u64>,
    /// The index of the snapshot being encoded by the host, if one is.
    snapshot_in_flight: Option<LogIndex>,
    /// The newest hard state not yet made durable: a change of the commit index alone waits to
    /// ride along with the next persist (Raft relearns it from the leader after a restart).
    unsaved_hard_state: Option<HardState>,
    /// Term and vote as last made durable.
    saved_term_vote: (Term, Option<NodeId>),
    /// A snapshot received whole in chunks, until the host takes it to decode.
    received: Option<snapshot_check::ReceivedSnapshot<A>>,
    /// The last snapshot from a peer that restored into scratch state, until it is applied.
    checked_snapshot: Option<snapshot_check::CheckedSnapshot<A>>,
    refused_snapshots: u64,
    /// Sampled digests of the application's state.
    digests: digests::StateDigests,
    /// Answers for the host, in the order they happened.
    answers: Vec<Answer<A, W, R>>,
    /// Snapshot transfers this leader has in progress, by follower.
    outgoing: BTreeMap<NodeId, transfer::Outgoing>,
    /// The snapshot being received in chunks (or the last one completed).
    incoming: Option<transfer::Incoming>,
    transfer_stats: TransferStats,
    /// The last heartbeat or heartbeat response handed out to each peer (see `keepalive`).
    keepalives: BTreeMap<NodeId, Message>,
    /// The host time of the latest input (tick, receive, ready).
    now_ms: u64,
}

impl<A: Application, W, R> Engine<A, W, R> {
    /// Wraps a node started from its storage, with the application as restored from the
    /// storage's snapshot at `applied` (0 without one). The committed entries after it come back
    /// through [`Engine::ready`] and are applied as usual.
    pub fn new(raw: RawNode, app: A, applied: LogIndex, config: EngineConfig) -> Self {
        let hard = raw.status();
        Engine {
            saved_term_vote: (hard.term, hard.vote),
            raw,
            app,
            applied,
            config,
            writes: BTreeMap::new(),
            forwarded: BTreeMap::new(),
            next_forward_id: config.incarnation << 32,
            seen_forwards: BTreeMap::new(),
            outbox: Vec::new(),
            reads: BTreeMap::new(),
            confirmed_reads: Vec::new(),
            // The high half names the incarnation, the low half counts its reads.
            next_read_ctx: config.incarnation << 32,
            announced_term: None,
            next_periodic_at: 0,
            last_snapshot: applied,
            log_bytes_since_snapshot: 0,
            last_snapshot_at_ms: None,
            snapshot_in_flight: None,
            unsaved_hard_state: None,
            received: None,
            checked_snapshot: None,
            refused_snapshots: 0,
            digests: digests::StateDigests::default(),
            answers: Vec::new(),
            outgoing: BTreeMap::new(),
            incoming: None,
            transfer_stats: TransferStats::default(),
            keepalives: BTreeMap::new(),
            now_ms: 0,
        }
    }

    /// The Raft node (read-only: every input goes through the engine).
    pub fn raw(&self) -> &RawNode {
        &self.raw
    }

    /// The application as applied so far.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Index of the last entry applied to the application.
    pub fn applied(&self) -> LogIndex {
        self.applied
    }

    /// Index of the newest snapshot, taken here or installed from the leader.
    pub fn snapshot_index(&self) -> LogIndex {
        self.raw.held_snapshot_index()
    }

    /// The sampled `(index, digest)` pairs of the application's state, oldest first (see
    /// [`EngineConfig::digest_every`]); replicas agree at every index both sampled.
    pub fn state_digests(&self) -> impl Iterator<Item = (LogIndex, u64)> + '_ {
        self.digests.iter()
    }

    /// The engine's policies.
    pub fn config(&self) -> EngineConfig {
        self.config
    }

    /// Takes the answers produced so far, in order.
    pub fn take_answers(&mut self) -> Vec<Answer<A, W, R>> {
        core::mem::take(&mut self.answers)
    }

    /// Ends the engine (the node stops or crashes): every write and read still waiting, for
    /// the host to tell their clients the outcome is unknown.
    pub fn into_waiting(self) -> (Vec<W>, Vec<R>) {
        let mut writes: Vec<W> = self
            .writes
            .into_values()
            .filter_map(|(_, w)| match w {
                Waiter::Local(w) => Some(w),
                Waiter::Remote { .. } => None,
            })
            .collect();
        writes.extend(self.forwarded.into_values().map(|(w, _, _)| w));
        let mut reads: Vec<R> = self.reads.into_values().map(|(r, _)| r).collect();
        reads.extend(self.confirmed_reads.into_iter().map(|(_, r)| r));
        (writes, reads)
    }
}

/// Who waits for a write proposed here: a local client, or a follower that forwarded it.
#[derive(Clone, Debug)]
enum Waiter<W> {
    Local(W),
    Remote { from: NodeId, request: u64 },
}

#[cfg(test)]
mod tests;
