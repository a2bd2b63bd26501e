//! Exactly-once application of client requests: the last output per client, bounded.

use alloc::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::envelope::RequestId;
use super::error::OrchestratorError;
use super::response::Output;

/// How many clients the table remembers; past that, the least recently used is forgotten.
pub const DEDUP_CLIENTS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LastRequest {
    seq: u64,
    output: Output,
    /// Index of the last entry that applied or repeated it: the eviction order.
    last_used: u64,
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
    pub(crate) fn seen(&mut self, id: RequestId, index: u64) -> Option<Output> {
        let last = self.clients.get_mut(&id.client_id)?;
        if id.seq == last.seq {
            self.by_use.remove(&(last.last_used, id.client_id));
            self.by_use.insert((index, id.client_id));
            last.last_used = index;
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

    /// Remembers the output of a newly applied request.
    pub(crate) fn record(&mut self, id: RequestId, output: Output, index: u64) {
        match self.clients.get(&id.client_id) {
            Some(known) => {
                self.by_use.remove(&(known.last_used, id.client_id));
            }
            None if self.clients.len() >= DEDUP_CLIENTS => {
                if let Some((_, oldest)) = self.by_use.pop_first() {
                    self.clients.remove(&oldest);
                }
            }
            None => {}
        }
        self.by_use.insert((index, id.client_id));
        self.clients.insert(
            id.client_id,
            LastRequest {
                seq: id.seq,
                output,
                last_used: index,
            },
        );
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
        assert_eq!(d.seen(id(1, 1), 1), None);
        d.record(id(1, 1), Ok(Response::Ticked), 1);
        assert_eq!(d.seen(id(1, 1), 2), Some(Ok(Response::Ticked)));
        assert_eq!(d.seen(id(1, 2), 3), None);
        d.record(id(1, 2), Ok(Response::Deregistered), 3);
        assert!(matches!(
            d.seen(id(1, 1), 4),
            Some(Err(OrchestratorError::StaleRequest { last_seq: 2, .. }))
        ));
        assert_eq!(d.seen(id(2, 1), 5), None);
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut d = Dedup::default();
        for c in 0..DEDUP_CLIENTS as u64 {
            d.record(id(c, 1), Ok(Response::Ticked), c + 1);
        }
        d.seen(id(0, 1), 10_000); // client 0 is fresh again; client 1 is now the oldest
        d.record(id(99_999, 1), Ok(Response::Ticked), 10_001);
        assert_eq!(d.clients.len(), DEDUP_CLIENTS);
        assert_eq!(d.by_use.len(), DEDUP_CLIENTS);
        assert!(d.clients.contains_key(&0) && !d.clients.contains_key(&1));
    }

    #[test]
    fn a_snapshot_round_trip_keeps_the_eviction_order() {
        let mut d = Dedup::default();
        for c in 0..10 {
            d.record(id(c, 1), Ok(Response::Ticked), 100 - c);
        }
        let bytes = postcard::to_allocvec(&d).unwrap();
        let back: Dedup = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.by_use.first(), Some(&(91, 9)));
    }
}
