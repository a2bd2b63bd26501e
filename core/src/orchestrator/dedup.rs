//! Exactly-once application of client requests: the last output per client, bounded.

use alloc::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::envelope::RequestId;
use super::error::OrchestratorError;
use super::response::Output;

/// The table always remembers at least this many of the most recently used clients, however
/// old they are.
pub const DEDUP_CLIENTS: usize = 4096;
/// Beyond [`DEDUP_CLIENTS`], a client is remembered while it was used within this much state
/// machine time: longer than any host retries a request (a node's write gives up after 5 s),
/// so a retry is answered from the table even when thousands of other requests came between.
pub const DEDUP_RETAIN_MS: u64 = 10_000;
/// The hard bound on the table, whatever the load: past it the least recently used client is
/// forgotten even inside [`DEDUP_RETAIN_MS`].
pub const DEDUP_CLIENTS_MAX: usize = 65_536;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LastRequest {
    seq: u64,
    output: Output,
    /// Index of the last entry that applied or repeated it: the eviction order.
    last_used: u64,
    /// The state machine's clock at that entry.
    last_used_ms: u64,
}

/// What a snapshot holds of the table: the eviction order is rebuilt from it.
#[derive(Serialize, Deserialize)]
struct DedupWire {
    clients: BTreeMap<u64, LastRequest>,
}

/// The last applied request of each recent client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "DedupWire", into = "DedupWire")]
pub(crate) struct Dedup {
    clients: BTreeMap<u64, LastRequest>,
    /// `(last_used, client_id)` of every remembered client: the least recently used first, so
    /// eviction is a logarithmic step rather than a scan of the table on every new client.
    by_use: BTreeSet<(u64, u64)>,
}

impl From<DedupWire> for Dedup {
    fn from(wire: DedupWire) -> Self {
        let by_use = wire
            .clients
            .iter()
            .map(|(&c, l)| (l.last_used, c))
            .collect();
        Dedup {
            clients: wire.clients,
            by_use,
        }
    }
}

impl From<Dedup> for DedupWire {
    fn from(dedup: Dedup) -> Self {
        DedupWire {
            clients: dedup.clients,
        }
    }
}

impl Dedup {
    /// `Some(output)` when `id` was applied already (the cached output) or is older than the last
    /// applied request of its client (an error); `None` when it is new.
    pub(crate) fn seen(&mut self, id: RequestId, index: u64, now_ms: u64) -> Option<Output> {
        let last = self.clients.get_mut(&id.client_id)?;
        if id.seq == last.seq {
            self.by_use.remove(&(last.last_used, id.client_id));
            self.by_use.insert((index, id.client_id));
            last.last_used = index;
            last.last_used_ms = now_ms;
            return Some(last.output.clone());
        }
        if id.seq < last.seq {
            return Some(Err(OrchestratorError::StaleRequest {
                client_id: id.client_id,
                seq: id.seq,
                last_seq: last.seq,
            }));
        }
        None
    }

    /// Remembers the output of a newly applied request, then forgets clients past the bounds.
    pub(crate) fn record(&mut self, id: RequestId, output: Output, index: u64, now_ms: u64) {
        if let Some(known) = self.clients.get(&id.client_id) {
            self.by_use.remove(&(known.last_used, id.client_id));
        }
        self.by_use.insert((index, id.client_id));
        self.clients.insert(
            id.client_id,
            LastRequest {
                seq: id.seq,
                output,
                last_used: index,
                last_used_ms: now_ms,
            },
        );
        self.evict(now_ms);
    }

    /// Forgets the least recently used clients while the table is over its hard bound, or over
    /// its floor with clients unused for longer than [`DEDUP_RETAIN_MS`]. The clock never goes
    /// back, so the least recently used client is also the one unused for longest.
    fn evict(&mut self, now_ms: u64) {
        while let Some(&(_, oldest)) = self.by_use.first() {
            let len = self.clients.len();
            let stale = self
                .clients
                .get(&oldest)
                .is_none_or(|l| l.last_used_ms.saturating_add(DEDUP_RETAIN_MS) < now_ms);
            if len <= DEDUP_CLIENTS || (len <= DEDUP_CLIENTS_MAX && !stale) {
                break;
            }
            self.by_use.pop_first();
            self.clients.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::Response;

    fn id(client_id: u64, seq: u64) -> RequestId {
        RequestId { client_id, seq }
    }

    #[test]
    fn repeats_stale_and_new() {
        let mut d = Dedup::default();
        assert_eq!(d.seen(id(1, 1), 1, 0), None);
        d.record(id(1, 1), Ok(Response::Ticked), 1, 0);
        assert_eq!(d.seen(id(1, 1), 2, 0), Some(Ok(Response::Ticked)));
        assert_eq!(d.seen(id(1, 2), 3, 0), None);
        d.record(id(1, 2), Ok(Response::Deregistered), 3, 0);
        assert!(matches!(
            d.seen(id(1, 1), 4, 0),
            Some(Err(OrchestratorError::StaleRequest { last_seq: 2, .. }))
        ));
        assert_eq!(d.seen(id(2, 1), 5, 0), None);
    }

    #[test]
    fn evicts_least_recently_used_once_unused_for_the_retention_time() {
        let mut d = Dedup::default();
        for c in 0..DEDUP_CLIENTS as u64 {
            d.record(id(c, 1), Ok(Response::Ticked), c + 1, 0);
        }
        d.seen(id(0, 1), 10_000, 0); // client 0 is fresh again; client 1 is now the oldest
                                     // Within the retention time nobody is forgotten, past the floor too.
        d.record(id(99_999, 1), Ok(Response::Ticked), 10_001, DEDUP_RETAIN_MS);
        assert_eq!(d.clients.len(), DEDUP_CLIENTS + 1);
        // Later, the table shrinks back to its floor, least recently used first.
        d.record(
            id(100_000, 1),
            Ok(Response::Ticked),
            10_002,
            DEDUP_RETAIN_MS + 1,
        );
        assert_eq!(d.clients.len(), DEDUP_CLIENTS);
        assert_eq!(d.by_use.len(), DEDUP_CLIENTS);
        assert!(d.clients.contains_key(&0) && !d.clients.contains_key(&1));
        assert!(
            !d.clients.contains_key(&2),
            "unused for longer than the retention time"
        );
        assert!(d.clients.contains_key(&99_999) && d.clients.contains_key(&100_000));
    }

    #[test]
    fn a_retry_is_answered_after_many_other_clients_within_the_retention_time() {
        let mut d = Dedup::default();
        d.record(id(7, 1), Ok(Response::Ticked), 1, 0);
        for c in 0..(2 * DEDUP_CLIENTS as u64) {
            d.record(id(1_000 + c, 1), Ok(Response::Deregistered), c + 2, 1_000);
        }
        assert_eq!(d.seen(id(7, 1), 100_000, 5_000), Some(Ok(Response::Ticked)));
    }

    #[test]
    fn the_hard_bound_holds_under_any_load() {
        let mut d = Dedup::default();
        for c in 0..(DEDUP_CLIENTS_MAX as u64 + 10) {
            d.record(id(c, 1), Ok(Response::Ticked), c + 1, 0);
        }
        assert_eq!(d.clients.len(), DEDUP_CLIENTS_MAX);
        assert!(!d.clients.contains_key(&9) && d.clients.contains_key(&10));
    }

    #[test]
    fn a_snapshot_round_trip_keeps_the_eviction_order() {
        let mut d = Dedup::default();
        for c in 0..10 {
            d.record(id(c, 1), Ok(Response::Ticked), 100 - c, 0);
        }
        let bytes = postcard::to_allocvec(&d).unwrap();
        let back: Dedup = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.by_use.first(), Some(&(91, 9)));
    }
}
