//! Static configuration of one Raft node.

use super::error::Error;
use super::types::{LogIndex, NodeId};

/// How a node behaves; every field has a sensible default from [`Config::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id (non-zero).
    pub id: NodeId,
    /// Ticks without hearing from a leader before campaigning; the actual timeout is drawn
    /// uniformly from `[election_tick, 2 * election_tick)` with the seeded RNG.
    pub election_tick: u32,
    /// Ticks between leader heartbeats; must be less than `election_tick`.
    pub heartbeat_tick: u32,
    /// Seed of this node's RNG. Same seed and same inputs give the same behaviour.
    pub seed: u64,
    /// Campaign with a pre-vote round first, so a partitioned node rejoining does not disrupt.
    pub pre_vote: bool,
    /// A leader that has not heard from a quorum for an election timeout steps down, and voters
    /// ignore vote requests while they hear from a leader. Required for lease reads.
    pub check_quorum: bool,
    /// Maximum append messages in flight to one follower in replicate state.
    pub max_inflight_msgs: usize,
    /// Maximum bytes of entries in flight to one follower in replicate state (0: no limit
    /// but the message count). A follower that comes back after a snapshot has the whole log
    /// since it to receive: without a byte limit a leader cuts `max_inflight_msgs` messages of
    /// `max_size_per_msg` at once, hundreds of MiB in one round of its loop.
    pub max_inflight_bytes: usize,
    /// Soft limit on the bytes of entries in one append message.
    pub max_size_per_msg: usize,
    /// Maximum bytes of committed entries handed out in one `Ready` (at least one entry is).
    pub max_committed_size_per_ready: usize,
    /// On restart, the index the host's state machine has already applied (0 if it is rebuilt
    /// from the snapshot and the log).
    pub applied: LogIndex,
}

impl Config {
    /// A configuration with defaults suited to a LAN or the simulator: election timeout of 10
    /// ticks, heartbeat every tick, pre-vote and check-quorum on.
    pub fn new(id: NodeId) -> Self {
        Config {
            id,
            election_tick: 10,
            heartbeat_tick: 1,
            seed: id,
            pre_vote: true,
            check_quorum: true,
            max_inflight_msgs: 256,
            max_inflight_bytes: 16 * 1024 * 1024,
            max_size_per_msg: 1024 * 1024,
            max_committed_size_per_ready: 16 * 1024 * 1024,
            applied: 0,
        }
    }

    /// Checks the invariants between fields.
    pub fn validate(&self) -> Result<(), Error> {
        if self.id == 0 {
            return Err(Error::InvalidConfig("id must be non-zero"));
        }
        if self.heartbeat_tick == 0 {
            return Err(Error::InvalidConfig("heartbeat_tick must be positive"));
        }
        if self.election_tick <= self.heartbeat_tick {
            return Err(Error::InvalidConfig(
                "election_tick must be greater than heartbeat_tick",
            ));
        }
        if self.max_inflight_msgs == 0 {
            return Err(Error::InvalidConfig("max_inflight_msgs must be positive"));
        }
        Ok(())
    }
}
