//! Parameters of a simulated cluster.

use alloc::vec::Vec;

use crate::engine::TransferConfig;
use crate::raft::NodeId;

/// How a simulated cluster is built and how hostile its network is. Rates are per mille.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Number of nodes, 1 to 9; ids are `1..=nodes`.
    pub nodes: u64,
    /// How many of the nodes (ids `1..=voters`) bootstrap the cluster as voters; the others
    /// start empty and wait to be added with a membership change.
    pub voters: u64,
    /// The one seed every random choice derives from.
    pub seed: u64,
    /// Simulated milliseconds per Raft tick.
    pub tick_ms: u64,
    /// Election timeout in ticks (randomized up to twice this).
    pub election_tick: u32,
    /// Heartbeat interval in ticks.
    pub heartbeat_tick: u32,
    /// Minimum one-way message latency in simulated milliseconds.
    pub min_latency_ms: u64,
    /// Maximum one-way message latency (messages overtake each other when it exceeds the minimum).
    pub max_latency_ms: u64,
    /// Chance that a message is lost.
    pub drop_per_mille: u32,
    /// Chance that a message is delivered twice.
    pub duplicate_per_mille: u32,
    /// Take a snapshot once this many entries were applied since the last one (0: never).
    pub snapshot_every: u64,
    /// Entries kept in the log behind a snapshot for slightly lagging followers.
    pub snapshot_keep_entries: u64,
    /// Raft pre-vote.
    pub pre_vote: bool,
    /// Raft check-quorum.
    pub check_quorum: bool,
    /// Record every event in the trace (turn off for the fastest runs).
    pub trace: bool,
    /// A follower forwards client writes to the leader it knows (else it refuses them with
    /// `NotLeader`, and the client retries at the hinted leader).
    pub forward_writes: bool,
    /// Per-node clock skew: node `id`'s own clock reads the simulated time plus this many ms
    /// (see [`Cluster::clock_ms`](super::Cluster::clock_ms)); nodes not listed read the simulated
    /// time. Only what a leader stamps on entries uses it. Empty by default.
    pub clock_offsets_ms: Vec<(NodeId, i64)>,
    /// Every node samples a digest of its application state at each multiple of this index
    /// (0: off), and the invariant checker compares the samples of different nodes (see
    /// [`EngineConfig::digest_every`](crate::engine::EngineConfig::digest_every)). Off by
    /// default: each sample serializes the whole state.
    pub digest_every: u64,
    /// How snapshots travel in chunks. Small chunks by default (1 KiB, a window of 4, a resend
    /// after 100 ms without an acknowledgement), so every seed that sends a snapshot sends it in
    /// many chunks.
    pub snapshot_transfer: TransferConfig,
}

impl SimConfig {
    /// A healthy cluster of `nodes` nodes with default timings: 10 ms ticks, 150–300 ms
    /// election timeouts, 20 ms heartbeats, 1–10 ms latency.
    pub fn new(nodes: u64, seed: u64) -> Self {
        SimConfig {
            nodes,
            voters: nodes,
            seed,
            tick_ms: 10,
            election_tick: 15,
            heartbeat_tick: 2,
            min_latency_ms: 1,
            max_latency_ms: 10,
            drop_per_mille: 0,
            duplicate_per_mille: 0,
            snapshot_every: 200,
            snapshot_keep_entries: 20,
            pre_vote: true,
            check_quorum: true,
            trace: true,
            forward_writes: true,
            clock_offsets_ms: Vec::new(),
            digest_every: 0,
            snapshot_transfer: TransferConfig {
                chunk_bytes: 1024,
                window: 4,
                retransmit_ms: 100,
                abandon_ms: 3_000,
            },
        }
    }
}
