//! Exactly-once application of client requests: the last output per client, bounded.
//!
//! A retry is answered with the output of the first application *and its index*, so a client
//! that retried learns where its write really took effect (a kv put's revision is that index),
//! and a request id reused for a different command is refused instead of answered with another
//! command's output.

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

/// Where a client's last request first applied, and which command it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Origin {
    /// Index of the entry that first applied it.
    pub(crate) applied_at: u64,
    /// xxh3-64 of the command's encoding: a retry carries the same command.
    pub(crate) digest: u64,
}

/// The answer to a request that was applied before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repeat {
    /// The output to answer with.
    pub(crate) output: Output,
    /// Index of the entry whose output it is, when known (tables restored from snapshots
    /// before format 7 do not know it).
    pub(crate) applied_at: Option<u64>,
}

/// Where the entry applied last first applied, when it repeated an earlier request: a
/// by-product of the last apply, not replicated state, so it always compares equal.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RepeatedFrom(pub(crate) Option<u64>);

impl PartialEq for RepeatedFrom {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for RepeatedFrom {}

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
    /// Where each client's last request first applied. Snapshots encode it after the rest of
    /// the state (format 7); a client restored from an older snapshot has none.
    origins: BTreeMap<u64, Origin>,
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
            origins: BTreeMap::new(),
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
    /// `Some` when `id` was applied already (the cached output and where it applied), is older
    /// than the last applied request of its client, or repeats its id with another command (an
    /// error); `None` when it is new. `digest` is [`command_digest`] of the command.
    pub(crate) fn seen(
        &mut self,
        id: RequestId,
        digest: u64,
        index: u64,
        now_ms: u64,
    ) -> Option<Repeat> {
        let last = self.clients.get_mut(&id.client_id)?;
        if id.seq == last.seq {
            let origin = self.origins.get(&id.client_id);
            if origin.is_some_and(|o| o.digest != digest) {
                return Some(Repeat {
                    output: Err(OrchestratorError::RequestIdReused {
                        client_id: id.client_id,
                        seq: id.seq,
                    }),
                    applied_at: None,
                });
            }
            self.by_use.remove(&(last.last_used, id.client_id));
            self.by_use.insert((index, id.client_id));
            last.last_used = index;
            last.last_used_ms = now_ms;
            return Some(Repeat {
                output: last.output.clone(),
                applied_at: origin.map(|o| o.applied_at),
            });
        }
        if id.seq < last.seq {
            return Some(Repeat {
                output: Err(OrchestratorError::StaleRequest {
                    client_id: id.client_id,
                    seq: id.seq,
                    last_seq: last.seq,
                }),
                applied_at: None,
            });
        }
        None
    }

    /// Remembers the output of a newly applied request, then forgets clients past the bounds.
    pub(crate) fn record(
        &mut self,
        id: RequestId,
        digest: u64,
        output: Output,
        index: u64,
        now_ms: u64,
    ) {
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
        self.origins.insert(
            id.client_id,
            Origin {
                applied_at: index,
                digest,
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
            self.origins.remove(&oldest);
        }
    }
}

impl Dedup {
    /// Where each remembered client's last request first applied: the snapshot's format 7
    /// section.
    pub(crate) fn origins(&self) -> &BTreeMap<u64, Origin> {
        &self.origins
    }

    /// Restores the origins a snapshot held; those of clients the table does not hold are
    /// dropped.
    pub(crate) fn restore_origins(&mut self, mut origins: BTreeMap<u64, Origin>) {
        origins.retain(|client, _| self.clients.contains_key(client));
        self.origins = origins;
    }
}

/// The digest [`Dedup`] compares a retry's command by: xxh3-64 of the command's encoding
/// (see [`super::envelope::Envelope::command_bytes`]).
pub(crate) fn command_digest(command_bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(command_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::Response;

    fn id(client_id: u64, seq: u64) -> RequestId {
        RequestId { client_id, seq }
    }

    /// The digest every test command has, unless a test says otherwise.
    const D: u64 = 77;

    fn output(repeat: Option<Repeat>) -> Option<Output> {
        repeat.map(|r| r.output)
    }

    #[test]
    fn repeats_stale_and_new() {
        let mut d = Dedup::default();
        assert_eq!(output(d.seen(id(1, 1), D, 1, 0)), None);
        d.record(id(1, 1), D, Ok(Response::Ticked), 1, 0);
        assert_eq!(
            output(d.seen(id(1, 1), D, 2, 0)),
            Some(Ok(Response::Ticked))
        );
        assert_eq!(output(d.seen(id(1, 2), D, 3, 0)), None);
        d.record(id(1, 2), D, Ok(Response::Deregistered), 3, 0);
        assert!(matches!(
            output(d.seen(id(1, 1), D, 4, 0)),
            Some(Err(OrchestratorError::StaleRequest { last_seq: 2, .. }))
        ));
        assert_eq!(output(d.seen(id(2, 1), D, 5, 0)), None);
    }

    #[test]
    fn evicts_least_recently_used_once_unused_for_the_retention_time() {
        let mut d = Dedup::default();
        for c in 0..DEDUP_CLIENTS as u64 {
            d.record(id(c, 1), D, Ok(Response::Ticked), c + 1, 0);
        }
        d.seen(id(0, 1), D, 10_000, 0); // client 0 is fresh again; client 1 is now the oldest
                                        // Within the retention time nobody is forgotten, past the floor too.
        d.record(
            id(99_999, 1),
            D,
            Ok(Response::Ticked),
            10_001,
            DEDUP_RETAIN_MS,
        );
        assert_eq!(d.clients.len(), DEDUP_CLIENTS + 1);
        // Later, the table shrinks back to its floor, least recently used first.
        d.record(
            id(100_000, 1),
            D,
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
        d.record(id(7, 1), D, Ok(Response::Ticked), 1, 0);
        for c in 0..(2 * DEDUP_CLIENTS as u64) {
            d.record(
                id(1_000 + c, 1),
                D,
                Ok(Response::Deregistered),
                c + 2,
                1_000,
            );
        }
        assert_eq!(
            output(d.seen(id(7, 1), D, 100_000, 5_000)),
            Some(Ok(Response::Ticked))
        );
    }

    #[test]
    fn the_hard_bound_holds_under_any_load() {
        let mut d = Dedup::default();
        for c in 0..(DEDUP_CLIENTS_MAX as u64 + 10) {
            d.record(id(c, 1), D, Ok(Response::Ticked), c + 1, 0);
        }
        assert_eq!(d.clients.len(), DEDUP_CLIENTS_MAX);
        assert!(!d.clients.contains_key(&9) && d.clients.contains_key(&10));
    }

    #[test]
    fn a_snapshot_round_trip_keeps_the_eviction_order() {
        let mut d = Dedup::default();
        for c in 0..10 {
            d.record(id(c, 1), D, Ok(Response::Ticked), 100 - c, 0);
        }
        let bytes = postcard::to_allocvec(&d).unwrap();
        let back: Dedup = postcard::from_bytes(&bytes).unwrap();
        assert_eq!((&back.clients, &back.by_use), (&d.clients, &d.by_use));
        assert_eq!(back.by_use.first(), Some(&(91, 9)));
        assert!(
            back.origins.is_empty(),
            "the snapshot carries them in its own section"
        );
    }

    #[test]
    fn a_repeat_carries_where_it_first_applied_and_another_command_is_refused() {
        let mut d = Dedup::default();
        d.record(id(1, 1), D, Ok(Response::Ticked), 5, 0);
        let repeat = d.seen(id(1, 1), D, 9, 0).unwrap();
        assert_eq!(repeat.applied_at, Some(5));
        assert_eq!(d.seen(id(1, 1), D, 12, 0).unwrap().applied_at, Some(5));
        assert_eq!(
            output(d.seen(id(1, 1), D + 1, 13, 0)),
            Some(Err(OrchestratorError::RequestIdReused {
                client_id: 1,
                seq: 1
            }))
        );
        assert_eq!(
            d.clients[&1].last_used, 12,
            "a refused reuse does not count as a use"
        );
        // Forgotten with its client; restored only for clients the table holds.
        let origins = d.origins().clone();
        let mut fresh = Dedup::default();
        fresh.restore_origins(origins.clone());
        assert!(fresh.origins.is_empty());
        d.restore_origins(origins);
        assert_eq!(d.origins[&1].applied_at, 5);
    }
}
