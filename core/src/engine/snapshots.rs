//! The snapshot and compaction policy.
//!
//! A snapshot is due once entries were applied since the last one and any of these holds:
//!
//! - [`EngineConfig::snapshot_every`] entries were applied, and their payloads add up to at
//!   least [`EngineConfig::snapshot_log_share_percent`] of the state's size — for a state under
//!   [`EngineConfig::snapshot_log_share_above_bytes`] the entry count decides; for a larger one
//!   the log must be a fair share of the state before the whole state is serialized again
//!   (bounded write amplification);
//! - their payloads add up to [`EngineConfig::snapshot_log_bytes`] (disk and replay bounded);
//! - [`EngineConfig::snapshot_max_age_ms`] of host time passed since the last one.

use super::application::Application;
use super::{Engine, EngineConfig};
use crate::raft::{LogIndex, Snapshot, SnapshotMeta};

/// What the policy weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SinceSnapshot {
    /// Entries applied since the last snapshot.
    pub(super) entries: u64,
    /// Their payload bytes.
    pub(super) log_bytes: u64,
    /// Host ms since the last snapshot.
    pub(super) age_ms: u64,
    /// The application's [`Application::state_bytes`].
    pub(super) state_bytes: u64,
}

/// Whether a snapshot is due (see the module's rules).
pub(super) fn snapshot_due(config: &EngineConfig, since: SinceSnapshot) -> bool {
    if since.entries == 0 {
        return false;
    }
    let share = config.snapshot_log_share_percent;
    let log_is_a_fair_share = share == 0
        || since.state_bytes < config.snapshot_log_share_above_bytes
        || since.log_bytes.saturating_mul(100) >= since.state_bytes.saturating_mul(share);
    let by_count =
        config.snapshot_every != 0 && since.entries >= config.snapshot_every && log_is_a_fair_share;
    let by_bytes = config.snapshot_log_bytes != 0 && since.log_bytes >= config.snapshot_log_bytes;
    let by_age = config.snapshot_max_age_ms != 0 && since.age_ms >= config.snapshot_max_age_ms;
    by_count || by_bytes || by_age
}

/// A snapshot being made: a clone of the application as of `meta.index` (cheap to take: the
/// large parts of the state are persistent, structurally shared maps), for the host to encode
/// ([`SnapshotJob::encode`], the costly part) away from the loop that sends heartbeats and
/// votes, then hand back with [`Engine::finish_snapshot`]. Applies go on meanwhile.
#[derive(Clone, Debug)]
pub struct SnapshotJob<A> {
    meta: SnapshotMeta,
    image: A,
}

impl<A: Application> SnapshotJob<A> {
    /// The index the snapshot covers.
    pub fn index(&self) -> LogIndex {
        self.meta.index
    }

    /// Serializes the state: the snapshot to hand to [`Engine::finish_snapshot`].
    pub fn encode(self) -> Snapshot {
        Snapshot {
            meta: self.meta,
            data: self.image.snapshot().into(),
        }
    }
}

impl<A: Application, W, R> Engine<A, W, R> {
    /// Once a snapshot is due (see the module), the round is complete and no other is being
    /// made, starts one at the applied index: the host encodes the returned job off its event
    /// loop and hands the result to [`Engine::finish_snapshot`].
    pub fn begin_snapshot(&mut self) -> Option<SnapshotJob<A>> {
        if self.snapshot_in_flight.is_some() {
            return None;
        }
        let age_ms = match self.last_snapshot_at_ms {
            Some(at) => self.now_ms.saturating_sub(at),
            None => {
                // The clock starts at the first input with a time in it (host clocks need not
                // start at 0).
                if self.now_ms != 0 {
                    self.last_snapshot_at_ms = Some(self.now_ms);
                }
                0
            }
        };
        let since = SinceSnapshot {
            entries: self.applied.saturating_sub(self.last_snapshot),
            log_bytes: self.log_bytes_since_snapshot,
            age_ms,
            state_bytes: self.app.state_bytes(),
        };
        if !snapshot_due(&self.config, since)
            || self.raw.has_ready()
            || self.raw.applied_index() != self.applied
        {
            return None;
        }
        let meta = self.raw.snapshot_meta_at_applied();
        self.snapshot_in_flight = Some(meta.index);
        // The policy counts from here: what is applied while this one is encoded goes into
        // the next.
        self.snapshot_made(meta.index);
        Some(SnapshotJob {
            meta,
            image: self.app.clone(),
        })
    }

    /// Takes the encoded snapshot of a job from [`Engine::begin_snapshot`]: compacts the
    /// in-memory log (keeping [`EngineConfig::snapshot_keep_entries`] behind it, and whatever
    /// a follower's transfer in progress still needs) and returns the snapshot for the host to
    /// persist (then compact its durable log). `None` when a newer snapshot arrived from the
    /// leader meanwhile: this one is obsolete, and the host drops it.
    pub fn finish_snapshot(&mut self, snapshot: Snapshot) -> Option<Snapshot> {
        let index = snapshot.meta.index;
        if self.snapshot_in_flight == Some(index) {
            self.snapshot_in_flight = None;
        }
        if index <= self.raw.held_snapshot_index() || index > self.applied {
            return None;
        }
        // A follower receiving an older snapshot in chunks catches up from the entries after
        // it: keep them while its transfer progresses, or it would need a newer one (a loop).
        let mut compact_to = index.saturating_sub(self.config.snapshot_keep_entries);
        if let Some(sending) = self.oldest_live_transfer() {
            compact_to = compact_to.min(sending);
        }
        self.raw.compact_with(snapshot.clone(), compact_to);
        Some(snapshot)
    }

    /// Forgets a job from [`Engine::begin_snapshot`] that the host could not finish (its
    /// encoding task failed): the next one can start.
    pub fn abandon_snapshot(&mut self) {
        self.snapshot_in_flight = None;
    }

    /// Whether a snapshot is being made (begun and not finished).
    pub fn snapshot_in_flight(&self) -> Option<LogIndex> {
        self.snapshot_in_flight
    }

    /// [`Engine::begin_snapshot`], encoded and finished at once, for hosts with nothing else to
    /// do meanwhile (tests, tools).
    pub fn take_snapshot(&mut self) -> Option<Snapshot> {
        let job = self.begin_snapshot()?;
        self.finish_snapshot(job.encode())
    }

    /// Restarts the policy's counts at a snapshot taken or installed at `index`.
    pub(super) fn snapshot_made(&mut self, index: LogIndex) {
        self.last_snapshot = index;
        self.log_bytes_since_snapshot = 0;
        self.last_snapshot_at_ms = Some(self.now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn node_like() -> EngineConfig {
        EngineConfig {
            snapshot_every: 10_000,
            snapshot_log_share_percent: 50,
            snapshot_log_share_above_bytes: 64 * MIB,
            snapshot_log_bytes: 512 * MIB,
            snapshot_max_age_ms: 1_800_000,
            ..EngineConfig::default()
        }
    }

    fn since(entries: u64, log_bytes: u64, state_bytes: u64) -> SinceSnapshot {
        SinceSnapshot {
            entries,
            log_bytes,
            age_ms: 1_000,
            state_bytes,
        }
    }

    #[test]
    fn a_small_state_snapshots_by_entry_count() {
        let c = node_like();
        assert!(!snapshot_due(&c, since(9_999, 10 * MIB, MIB)));
        assert!(snapshot_due(&c, since(10_000, 10 * MIB, MIB)));
        // Tiny entries (ticks) over a state just under the floor: still by count.
        assert!(snapshot_due(&c, since(10_000, 200_000, 63 * MIB)));
        assert!(!snapshot_due(&c, since(10_000, 200_000, 65 * MIB)));
    }

    #[test]
    fn a_large_state_waits_until_the_log_is_a_fair_share_of_it() {
        let c = node_like();
        // 1 GiB of state, 10,000 entries of 1 KiB: 10 MiB of log is not worth 1 GiB written.
        assert!(!snapshot_due(&c, since(10_000, 10 * MIB, 1024 * MIB)));
        assert!(!snapshot_due(&c, since(400_000, 400 * MIB, 1024 * MIB)));
        // Half the state's size in log: due.
        assert!(snapshot_due(&c, since(512_000, 512 * MIB, 1024 * MIB)));
        // 4 GiB of state: the byte bound keeps the log (and a restart's replay) bounded.
        assert!(snapshot_due(&c, since(600_000, 512 * MIB, 4096 * MIB)));
        assert!(!snapshot_due(&c, since(600_000, 511 * MIB, 4096 * MIB)));
    }

    #[test]
    fn age_alone_is_enough_but_nothing_new_is_never_snapshotted() {
        let c = node_like();
        let old = SinceSnapshot {
            age_ms: 1_800_000,
            ..since(3, 100, 1024 * MIB)
        };
        assert!(snapshot_due(&c, old));
        assert!(!snapshot_due(&c, SinceSnapshot { entries: 0, ..old }));
    }

    #[test]
    fn the_default_policy_is_the_entry_count_alone() {
        let c = EngineConfig::default();
        assert!(snapshot_due(&c, since(10_000, 1, u64::MAX)));
        assert!(!snapshot_due(&c, since(9_999, u64::MAX, 0)));
        let never = EngineConfig {
            snapshot_every: 0,
            ..c
        };
        assert!(!snapshot_due(&never, since(u64::MAX, u64::MAX, 0)));
    }
}
