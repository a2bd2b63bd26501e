//! The receiver's side: one snapshot assembled at a time, in order, then verified whole.

use alloc::vec::Vec;

use super::{Chunk, ChunkAck, RunningChecksum, TransferStats};
use crate::raft::{NodeId, Snapshot, SnapshotMeta, Term};

/// A snapshot being received, or the last one completed (so a late duplicate of its chunks is
/// acknowledged as complete rather than starting it over).
#[derive(Clone, Debug)]
pub(in crate::engine) struct Incoming {
    from: NodeId,
    term: Term,
    meta: SnapshotMeta,
    total_len: u64,
    /// The bytes received so far, hashed as they came.
    whole: RunningChecksum,
    /// The bytes received so far; `None` once the snapshot went to Raft.
    data: Option<Vec<u8>>,
}

impl Incoming {
    fn same_snapshot(&self, chunk: &Chunk) -> bool {
        self.meta == chunk.meta && self.total_len == chunk.total_len
    }

    /// Whether this is the snapshot `meta` describes, complete and handed to Raft.
    pub(in crate::engine) fn handed_over(&self, meta: &SnapshotMeta) -> bool {
        self.data.is_none() && &self.meta == meta
    }

    /// Whether a snapshot was completed and handed to Raft (none is being received).
    pub(in crate::engine) fn is_handed_over(&self) -> bool {
        self.data.is_none()
    }

    fn held(&self) -> u64 {
        match &self.data {
            Some(d) => d.len() as u64,
            None => self.total_len,
        }
    }
}

/// Takes `chunk` (its own checksum already checked) into `incoming`. Returns the
/// acknowledgement to send back and, when the chunk completed a snapshot whose whole checksum
/// matches, the term it was sent in and the snapshot.
pub(super) fn take(
    incoming: &mut Option<Incoming>,
    from: NodeId,
    chunk: Chunk,
    stats: &mut TransferStats,
) -> (ChunkAck, Option<(Term, Snapshot)>) {
    let ack = |received| ChunkAck {
        index: chunk.meta.index,
        snapshot_term: chunk.meta.term,
        received,
    };
    let fits = chunk
        .offset
        .checked_add(chunk.data.len() as u64)
        .is_some_and(|end| end <= chunk.total_len);
    if !fits {
        return (ack(0), None); // malformed: ask to start over
    }
    let current = incoming.as_ref().filter(|i| i.same_snapshot(&chunk));
    if current.is_none() {
        // Another snapshot. Start on it only from its first chunk, and never go back to an
        // older one (a late duplicate must not replace the transfer in progress).
        let newer = incoming
            .as_ref()
            .is_none_or(|i| (chunk.term, chunk.meta.index) >= (i.term, i.meta.index));
        if chunk.offset != 0 || !newer {
            return (ack(0), None);
        }
        // Room for the whole snapshot at once: growing by doubling would copy it over and over
        // and, near the end, hold it twice. A length no allocation can hold is refused.
        let mut data = Vec::new();
        let room = usize::try_from(chunk.total_len).ok();
        if room.is_none_or(|room| data.try_reserve_exact(room).is_err()) {
            return (ack(0), None);
        }
        *incoming = Some(Incoming {
            from,
            term: chunk.term,
            meta: chunk.meta.clone(),
            total_len: chunk.total_len,
            whole: RunningChecksum::default(),
            data: Some(data),
        });
    }
    let Some(inc) = incoming.as_mut() else {
        return (ack(0), None);
    };
    inc.from = from;
    inc.term = inc.term.max(chunk.term);
    let Some(data) = inc.data.as_mut() else {
        return (ack(inc.total_len), None); // already complete
    };
    if chunk.offset != data.len() as u64 {
        // A duplicate or a chunk out of order: ignored; the acknowledgement says where we are.
        return (ack(data.len() as u64), None);
    }
    stats.chunks_received += 1;
    stats.bytes_received += chunk.data.len() as u64;
    inc.whole.feed_from(data.len() as u64, &chunk.data);
    data.extend_from_slice(&chunk.data);
    if (data.len() as u64) < inc.total_len {
        return (ack(data.len() as u64), None);
    }
    // Every byte was hashed as it came (`whole` follows `data`); the last chunk says what the
    // whole should be.
    if inc.whole.fed() != inc.total_len || chunk.total_checksum != Some(inc.whole.digest()) {
        stats.corrupt_snapshots += 1;
        data.clear();
        inc.whole = RunningChecksum::default();
        return (ack(0), None);
    }
    let data = inc.data.take().unwrap_or_default();
    let snapshot = Snapshot {
        meta: inc.meta.clone(),
        data: data.into(),
    };
    (ack(inc.held()), Some((inc.term, snapshot)))
}
