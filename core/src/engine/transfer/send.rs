//! The sender's side of one transfer: what was acknowledged, what is in flight, when to resend.

use super::{checksum, Chunk, ChunkAck, RunningChecksum, TransferConfig, TransferStats};
use crate::raft::{LogIndex, Snapshot, SnapshotMeta, Term};

/// A snapshot on its way to one follower.
#[derive(Clone, Debug)]
pub(in crate::engine) struct Outgoing {
    term: Term,
    snapshot: Snapshot,
    /// The data hashed so far, a chunk at a time as it is first cut. Invariant:
    /// `next <= whole.fed()`, so the chunk ending at the total length finds every byte hashed.
    whole: RunningChecksum,
    /// Bytes the receiver holds (its last acknowledgement). Invariant: `acked <= next`.
    acked: u64,
    /// Offset of the next chunk to send. Invariant: `next <= total_len`.
    next: u64,
    /// Whether the chunk ending at the total length was sent since the last rewind (an empty
    /// snapshot is one empty chunk).
    sent_last: bool,
    /// When an acknowledgement last moved `acked` forward, if one ever did.
    last_ack_ms: Option<u64>,
    /// When chunks were last sent or acknowledged: the retransmission timer runs from here.
    last_activity_ms: u64,
    started_ms: u64,
}

impl Outgoing {
    pub(in crate::engine) fn new(term: Term, snapshot: Snapshot, now_ms: u64) -> Self {
        Outgoing {
            term,
            snapshot,
            whole: RunningChecksum::default(),
            acked: 0,
            next: 0,
            sent_last: false,
            last_ack_ms: None,
            last_activity_ms: now_ms,
            started_ms: now_ms,
        }
    }

    pub(in crate::engine) fn index(&self) -> LogIndex {
        self.snapshot.meta.index
    }

    pub(in crate::engine) fn acked(&self) -> u64 {
        self.acked
    }

    pub(in crate::engine) fn total_len(&self) -> u64 {
        self.snapshot.data.len() as u64
    }

    /// Whether this transfer sends the snapshot `meta` describes.
    pub(in crate::engine) fn is_for(&self, meta: &SnapshotMeta) -> bool {
        self.snapshot.meta.index == meta.index && self.snapshot.meta.term == meta.term
    }

    pub(in crate::engine) fn matches_ack(&self, ack: &ChunkAck) -> bool {
        ack.index == self.snapshot.meta.index && ack.snapshot_term == self.snapshot.meta.term
    }

    /// Whether the receiver acknowledged something within the abandon time: such a transfer
    /// holds back compaction and is not replaced by a newer snapshot.
    pub(in crate::engine) fn is_live(&self, now_ms: u64, config: TransferConfig) -> bool {
        self.last_ack_ms
            .is_some_and(|at| now_ms.saturating_sub(at) < config.abandon_ms)
    }

    /// Whether nothing was acknowledged for the abandon time.
    pub(in crate::engine) fn is_abandoned(&self, now_ms: u64, config: TransferConfig) -> bool {
        let since = self.last_ack_ms.unwrap_or(self.started_ms);
        now_ms.saturating_sub(since) >= config.abandon_ms
    }

    /// The next chunk the window allows, if any.
    pub(in crate::engine) fn next_chunk(&mut self, config: TransferConfig) -> Option<Chunk> {
        let total = self.total_len();
        let chunk_bytes = u64::from(config.chunk_bytes.max(1));
        let window = chunk_bytes.saturating_mul(u64::from(config.window.max(1)));
        if self.sent_last || self.next >= self.acked.saturating_add(window) {
            return None;
        }
        let end = self.next.saturating_add(chunk_bytes).min(total);
        // Both within `data`: `next <= end <= total`.
        let data = self.snapshot.data[self.next as usize..end as usize].to_vec();
        // Hashed the first time it is cut; a resend is behind what was hashed already (or, after
        // a rewind to an odd offset, partly: its new bytes are hashed).
        self.whole.feed_from(self.next, &data);
        let total_checksum = (end == total).then(|| self.whole.digest());
        let chunk = Chunk {
            term: self.term,
            meta: self.snapshot.meta.clone(),
            offset: self.next,
            total_len: total,
            total_checksum,
            checksum: checksum(&data),
            data,
        };
        self.next = end;
        self.sent_last = end == total;
        Some(chunk)
    }

    /// The receiver holds `received` bytes. Returns whether the transfer is complete.
    pub(in crate::engine) fn on_ack(
        &mut self,
        received: u64,
        now_ms: u64,
        stats: &mut TransferStats,
    ) -> bool {
        let total = self.total_len();
        if received >= total && self.sent_last {
            stats.completed += 1;
            return true;
        }
        if received > self.next {
            return false; // acknowledges what was never sent: not this transfer's
        }
        if received < self.acked {
            // The receiver lost what it held (restarted) or found the whole checksum wrong.
            stats.restarted += 1;
            self.rewind_to(received);
        } else if received > self.acked {
            self.acked = received;
        } else {
            return false; // a duplicate acknowledgement: the timer handles loss
        }
        self.last_ack_ms = Some(now_ms);
        self.last_activity_ms = now_ms;
        false
    }

    /// Resends from the acknowledged offset when nothing moved for the retransmission time.
    /// Returns whether it did (the caller then sends the window).
    pub(in crate::engine) fn retransmit_due(
        &mut self,
        now_ms: u64,
        config: TransferConfig,
        stats: &mut TransferStats,
    ) -> bool {
        if now_ms.saturating_sub(self.last_activity_ms) < config.retransmit_ms {
            return false;
        }
        self.resend(now_ms, stats);
        true
    }

    /// Raft asked for this snapshot again: resend from the acknowledged offset unless chunks
    /// went out or were acknowledged recently.
    pub(in crate::engine) fn nudge(
        &mut self,
        now_ms: u64,
        config: TransferConfig,
        stats: &mut TransferStats,
    ) {
        let _ = self.retransmit_due(now_ms, config, stats);
    }

    fn resend(&mut self, now_ms: u64, stats: &mut TransferStats) {
        if self.acked > 0 {
            stats.resumed += 1;
        }
        let acked = self.acked;
        self.rewind_to(acked);
        self.last_activity_ms = now_ms;
    }

    fn rewind_to(&mut self, offset: u64) {
        self.acked = offset;
        self.next = offset;
        self.sent_last = false;
    }
}
