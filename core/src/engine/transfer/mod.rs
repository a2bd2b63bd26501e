//! Snapshots in chunks: a leader sends a follower its snapshot as a stream of bounded,
//! checksummed chunks instead of one message, so no frame size bounds the state.
//!
//! Raft still decides *when* a follower needs a snapshot (its `InstallSnapshot` message); the
//! engine takes that message out of the round's messages ([`Engine::peer_messages`]) and starts
//! (or keeps going) a transfer to that follower. The protocol, the same in every host:
//!
//! - the sender cuts the snapshot's data into chunks of
//!   [`TransferConfig::chunk_bytes`]; each [`Chunk`] carries its offset, the total length, an
//!   xxh3 checksum of its own bytes and the snapshot's meta, and the last one also the xxh3
//!   of the whole data. Both sides hash the data as it goes by, a chunk at a time (the first
//!   time the sender cuts it, as the receiver takes it), so no event loop ever makes a pass
//!   over a whole snapshot of a gigabyte;
//! - the receiver takes a chunk only at the offset it has reached (a duplicate or one out of
//!   order is ignored, a corrupt one dropped) and answers each with a cumulative [`ChunkAck`]:
//!   how many bytes of that snapshot it holds;
//! - at most [`TransferConfig::window`] chunks are sent beyond the acknowledged offset (flow
//!   control); with no acknowledgement for [`TransferConfig::retransmit_ms`] the sender goes
//!   back to the acknowledged offset and resends from there (a dropped connection or lost
//!   chunks resume where the receiver is, not from zero);
//! - once the receiver holds every byte it checks the whole checksum: a mismatch discards what
//!   it holds and acknowledges 0, which restarts the transfer; a match hands the snapshot to
//!   Raft as the `InstallSnapshot` it stands for — checked by restoring it into scratch state
//!   first, as every snapshot from a peer is — and the host persists it as usual;
//! - a transfer without an acknowledgement for [`TransferConfig::abandon_ms`] is dropped (Raft
//!   asks again, and a new one starts). While a transfer makes progress the leader's
//!   compaction keeps the log entries after the snapshot being sent, so the follower can catch
//!   up from it instead of needing a newer snapshot (which would loop).
//!
//! Hosts only move bytes: [`PeerMessage::SnapshotChunk`] and [`PeerMessage::SnapshotAck`]
//! travel like any other engine message (a host should queue chunks behind Raft's own messages
//! so they never delay heartbeats).
//!
//! [`PeerMessage::SnapshotChunk`]: super::PeerMessage::SnapshotChunk
//! [`PeerMessage::SnapshotAck`]: super::PeerMessage::SnapshotAck

mod receive;
mod send;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::application::Application;
use super::forward::PeerMessage;
use super::Engine;
use crate::raft::{LogIndex, Message, MessageBody, NodeId, SnapshotMeta, Term};

pub(super) use receive::Incoming;
pub(super) use send::Outgoing;

/// The chunked transfer's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferConfig {
    /// Bytes of snapshot data per chunk (at least 1).
    pub chunk_bytes: u32,
    /// Chunks sent beyond the acknowledged offset (at least 1).
    pub window: u32,
    /// With no acknowledgement for this long (ms of host time) the sender resends from the
    /// acknowledged offset.
    pub retransmit_ms: u64,
    /// With no acknowledgement for this long the transfer is dropped (and compaction no longer
    /// waits for it).
    pub abandon_ms: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            chunk_bytes: 1 << 20,
            window: 4,
            retransmit_ms: 1_000,
            abandon_ms: 30_000,
        }
    }
}

/// One piece of a snapshot on its way to a follower.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// The sender's term when it sent the chunk (the `InstallSnapshot`'s term).
    pub term: Term,
    /// What the snapshot covers.
    pub meta: SnapshotMeta,
    /// Where `data` starts in the snapshot's data.
    pub offset: u64,
    /// Length of the snapshot's whole data.
    pub total_len: u64,
    /// xxh3-64 of the snapshot's whole data: on the chunk that ends at `total_len` only.
    pub total_checksum: Option<u64>,
    /// xxh3-64 of `data`.
    pub checksum: u64,
    /// The bytes `[offset, offset + data.len())` of the snapshot's data.
    pub data: Vec<u8>,
}

/// The receiver's answer to a chunk: how much of that snapshot it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkAck {
    /// Index of the snapshot.
    pub index: LogIndex,
    /// Term of the snapshot's last entry.
    pub snapshot_term: Term,
    /// Bytes held, from the start: the sender goes on from here (0 after a checksum mismatch or
    /// when the receiver lost what it held; the whole length once the snapshot is complete).
    pub received: u64,
}

/// Counters of the chunked transfers, for the host's metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferStats {
    /// Chunks sent (including resends).
    pub chunks_sent: u64,
    /// Snapshot bytes sent in chunks.
    pub bytes_sent: u64,
    /// Chunks received and taken (in order, checksum valid).
    pub chunks_received: u64,
    /// Snapshot bytes taken from chunks.
    pub bytes_received: u64,
    /// Times a sender went back to the acknowledged offset (above 0) to resend from there.
    pub resumed: u64,
    /// Times a transfer started over from 0 (a whole-snapshot checksum mismatch, or a receiver
    /// that lost what it held).
    pub restarted: u64,
    /// Chunks dropped because their own checksum did not match their bytes.
    pub corrupt_chunks: u64,
    /// Snapshots assembled whose whole checksum did not match.
    pub corrupt_snapshots: u64,
    /// Transfers completed (the receiver held and checked the whole snapshot).
    pub completed: u64,
}

/// xxh3-64 of `bytes`: the chunks' and the snapshot's checksum.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// xxh3-64 of a snapshot's data fed a piece at a time, in order: once every byte went in, the
/// same as [`checksum`] of the whole.
#[derive(Clone, Default)]
pub(crate) struct RunningChecksum {
    hasher: xxhash_rust::xxh3::Xxh3Default,
    /// Bytes fed so far.
    fed: u64,
}

impl RunningChecksum {
    /// Feeds the part of `piece` (the bytes from `offset` on) beyond what was fed so far.
    /// Nothing when it ends before that; and a piece that starts beyond it would leave a gap,
    /// so it is not fed either (callers cut pieces from at most where the feeding ends).
    pub(crate) fn feed_from(&mut self, offset: u64, piece: &[u8]) {
        let Some(skip) = self.fed.checked_sub(offset) else {
            return;
        };
        if let Some(new) = usize::try_from(skip).ok().and_then(|s| piece.get(s..)) {
            self.hasher.update(new);
            self.fed += new.len() as u64;
        }
    }

    /// Bytes fed so far.
    pub(crate) fn fed(&self) -> u64 {
        self.fed
    }

    /// The checksum of the bytes fed so far.
    pub(crate) fn digest(&self) -> u64 {
        self.hasher.digest()
    }
}

impl core::fmt::Debug for RunningChecksum {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RunningChecksum")
            .field("fed", &self.fed)
            .finish_non_exhaustive()
    }
}

impl<A: Application, W, R> Engine<A, W, R> {
    /// Counters of the chunked snapshot transfers so far.
    pub fn transfer_stats(&self) -> TransferStats {
        self.transfer_stats
    }

    /// Snapshot transfers this leader has in progress, by follower: `(index, acknowledged
    /// bytes, total bytes)`.
    pub fn transfers(&self) -> impl Iterator<Item = (NodeId, LogIndex, u64, u64)> + '_ {
        self.outgoing
            .iter()
            .map(|(&to, o)| (to, o.index(), o.acked(), o.total_len()))
    }

    /// Raft wants `message` (an `InstallSnapshot`) sent: start or continue a transfer instead.
    pub(super) fn snapshot_to_chunks(&mut self, message: Message) {
        let MessageBody::InstallSnapshot { snapshot } = message.body else {
            return;
        };
        let now = self.now_ms;
        let config = self.config.transfer;
        let to = message.to;
        if let Some(current) = self.outgoing.get_mut(&to) {
            if current.is_for(&snapshot.meta) {
                // Raft asked again (its snapshot timer ran out): go on from where the receiver is.
                current.nudge(now, config, &mut self.transfer_stats);
                self.send_window(to);
                return;
            }
            // A newer snapshot: keep the transfer that is progressing (compaction keeps the log
            // after it), else start over with the newer one.
            if current.is_live(now, config) && current.index() < snapshot.meta.index {
                return;
            }
        }
        let outgoing = Outgoing::new(message.term, snapshot, now);
        self.outgoing.insert(to, outgoing);
        self.send_window(to);
    }

    /// Queues the chunks the window allows for the transfer to `to`.
    fn send_window(&mut self, to: NodeId) {
        let config = self.config.transfer;
        let Some(outgoing) = self.outgoing.get_mut(&to) else {
            return;
        };
        while let Some(chunk) = outgoing.next_chunk(config) {
            self.transfer_stats.chunks_sent += 1;
            self.transfer_stats.bytes_sent += chunk.data.len() as u64;
            self.outbox.push((to, PeerMessage::SnapshotChunk(chunk)));
        }
    }

    /// A follower acknowledged chunks.
    pub(super) fn on_chunk_ack(&mut self, from: NodeId, ack: ChunkAck) {
        let now = self.now_ms;
        let Some(outgoing) = self.outgoing.get_mut(&from) else {
            return;
        };
        if !outgoing.matches_ack(&ack) {
            return;
        }
        if outgoing.on_ack(ack.received, now, &mut self.transfer_stats) {
            self.outgoing.remove(&from);
            return;
        }
        self.send_window(from);
    }

    /// The host's timer: resend where acknowledgements stopped, drop transfers that died.
    pub(super) fn tick_transfers(&mut self, now_ms: u64) {
        let config = self.config.transfer;
        self.outgoing.retain(|_, o| !o.is_abandoned(now_ms, config));
        let stalled: Vec<NodeId> = self
            .outgoing
            .iter_mut()
            .filter_map(|(&to, o)| {
                o.retransmit_due(now_ms, config, &mut self.transfer_stats)
                    .then_some(to)
            })
            .collect();
        for to in stalled {
            self.send_window(to);
        }
    }

    /// Leadership ended: this node no longer sends snapshots.
    pub(super) fn stop_transfers(&mut self) {
        if !self.raw.is_leader() {
            self.outgoing.clear();
        }
    }

    /// The oldest snapshot index a progressing transfer is sending: compaction keeps the log
    /// after it.
    pub(super) fn oldest_live_transfer(&self) -> Option<LogIndex> {
        let config = self.config.transfer;
        self.outgoing
            .values()
            .filter(|o| o.is_live(self.now_ms, config))
            .map(|o| o.index())
            .min()
    }

    /// A chunk from `from`: take it if it is the next one, answer with what is held, and hand
    /// a complete, verified snapshot to the host to decode ([`Engine::take_received_snapshot`]).
    pub(super) fn on_chunk(&mut self, from: NodeId, chunk: Chunk) {
        if chunk.term < self.raw.term() {
            return; // from a deposed leader
        }
        if checksum(&chunk.data) != chunk.checksum {
            self.transfer_stats.corrupt_chunks += 1;
            return; // the sender resends it when no acknowledgement comes
        }
        let (ack, complete) =
            receive::take(&mut self.incoming, from, chunk, &mut self.transfer_stats);
        self.outbox.push((from, PeerMessage::SnapshotAck(ack)));
        if let Some((term, snapshot)) = complete {
            // Decoded by the host, off its loop: see `snapshot_check`.
            self.received_whole(from, term, snapshot);
        }
    }
}
