//! The snapshot and compaction policy.

use super::application::Application;
use super::Engine;
use crate::raft::Snapshot;

impl<A: Application, W, R> Engine<A, W, R> {
    /// Once [`super::EngineConfig::snapshot_every`] entries were applied since the last snapshot
    /// and the round is complete, snapshots the application at the applied index and compacts
    /// the in-memory log (keeping [`super::EngineConfig::snapshot_keep_entries`] behind it).
    /// The host persists the returned snapshot (and compacts its durable log).
    pub fn take_snapshot(&mut self) -> Option<Snapshot> {
        let every = self.config.snapshot_every;
        if every == 0
            || self.applied < self.last_snapshot.saturating_add(every)
            || self.raw.has_ready()
            || self.raw.applied_index() != self.applied
        {
            return None;
        }
        // A follower receiving an older snapshot in chunks catches up from the entries after
        // it: keep them while its transfer progresses, or it would need a newer one (a loop).
        let keep = match self.oldest_live_transfer() {
            Some(sending) => {
                (self.applied.saturating_sub(sending)).max(self.config.snapshot_keep_entries)
            }
            None => self.config.snapshot_keep_entries,
        };
        let snapshot = self.raw.compact(self.app.snapshot(), keep);
        self.last_snapshot = snapshot.meta.index;
        Some(snapshot)
    }
}
