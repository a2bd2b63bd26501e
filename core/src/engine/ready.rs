//! One round of the host loop: what must be durable before what, then applying and answering.
//!
//! # The durability contract
//!
//! For each [`EngineReady`] the host must, in this order:
//!
//! 1. send `raft.messages` (a leader's appends and heartbeats depend on nothing unpersisted, so
//!    they may leave before or while the host persists: followers' fsyncs then run alongside
//!    the leader's);
//! 2. if [`EngineReady::must_sync`], make `raft.hard_state`, `raft.snapshot` and `raft.entries`
//!    durable (fsync) — and not send `raft.persisted_messages` before that is done: they are
//!    vote grants and append acknowledgements that promise what was just written;
//! 3. send `raft.persisted_messages`;
//! 4. call [`Engine::apply`] (restores the snapshot, applies committed entries, answers);
//! 5. call [`Engine::advance`], then [`Engine::take_snapshot`] and persist what it returns.
//!
//! When `must_sync` is false there is nothing to write: a change of the commit index alone is
//! held back by the engine and handed out with the next `Ready` that must sync (a restarted node
//! relearns its commit index from the leader, so it is never needed for safety). Such a round
//! may apply and answer first and send afterwards, which lets a leader answer its client before
//! it wakes the followers with the commit. The engine counts a new term or vote as durable once
//! it has handed it out in a `must_sync` round: a host whose persist fails must stop.

use alloc::string::String;

use super::application::Application;
use super::Engine;
use crate::raft::{EntryPayload, Ready};

/// A `Ready` as the engine hands it to its host, with what must be made durable.
#[derive(Clone, Debug, Default)]
pub struct EngineReady {
    /// Raft's `Ready`. Its `hard_state` is set only when [`EngineReady::must_sync`].
    pub raft: Ready,
    must_sync: bool,
}

impl EngineReady {
    /// Whether `raft.entries`, `raft.snapshot` or `raft.hard_state` must be made durable before
    /// `raft.persisted_messages` are sent (see the module doc).
    pub fn must_sync(&self) -> bool {
        self.must_sync
    }
}

impl<A: Application, W, R> Engine<A, W, R> {
    /// The next round of work at host time `now_ms`, or `None` when there is nothing to do.
    /// A leader's first entries of its term are proposed before anything else.
    pub fn ready(&mut self, now_ms: u64) -> Option<EngineReady> {
        self.now_ms = self.now_ms.max(now_ms);
        // Refused only during a leadership transfer; retried on the next round.
        let _ = self.leader_duties(now_ms);
        if !self.raw.has_ready() {
            return None;
        }
        let mut raft = self.raw.ready();
        if raft.soft_state.is_some() {
            // Role or leader changed: reads in flight may never be confirmed. Fail them, so
            // their clients retry where the leader now is. The same for forwarded writes.
            self.abort_reads();
            self.leader_changed();
            self.stop_transfers();
        }
        if let Some(hs) = raft.hard_state.take() {
            self.unsaved_hard_state = Some(hs);
        }
        let term_vote_changed = self
            .unsaved_hard_state
            .is_some_and(|hs| (hs.term, hs.vote) != self.saved_term_vote);
        let must_sync = !raft.entries.is_empty() || raft.snapshot.is_some() || term_vote_changed;
        if must_sync {
            raft.hard_state = self.unsaved_hard_state.take();
            if let Some(hs) = raft.hard_state {
                self.saved_term_vote = (hs.term, hs.vote);
            }
        }
        Some(EngineReady { raft, must_sync })
    }

    /// Restores the snapshot from the leader (checked when it arrived), applies the
    /// committed entries and answers the writes and reads they end. An error means the
    /// application cannot restore the leader's snapshot: the host must stop.
    pub fn apply(&mut self, ready: &mut EngineReady) -> Result<(), String> {
        if let Some(snapshot) = &ready.raft.snapshot {
            match self.take_checked(snapshot.meta.index, snapshot.meta.term) {
                Some(app) => self.app = app,
                None => self.app.restore(&snapshot.data)?,
            }
            self.applied = snapshot.meta.index;
            self.snapshot_made(snapshot.meta.index);
            self.forget_writes_up_to(snapshot.meta.index);
            self.keepalives.clear();
            let every = self.config.digest_every;
            self.digests.sample(every, self.applied, &self.app);
        }
        for entry in &ready.raft.committed_entries {
            if entry.index <= self.applied {
                // Already in the application: a restart replays the log from the compaction
                // point, which may lie behind the snapshot the application was restored from.
                continue;
            }
            let output = match &entry.payload {
                EntryPayload::Normal(data) => {
                    let bytes = data.len() as u64;
                    self.log_bytes_since_snapshot =
                        self.log_bytes_since_snapshot.saturating_add(bytes);
                    let output = self.app.apply(entry.index, data);
                    let applied_at = self.app.applied_at().unwrap_or(entry.index);
                    Some((applied_at, output))
                }
                EntryPayload::Noop => None,
                EntryPayload::ConfChange(_) => {
                    // Cached heartbeats carry the old membership's progress.
                    self.keepalives.clear();
                    None
                }
            };
            self.applied = entry.index;
            self.digests
                .sample(self.config.digest_every, entry.index, &self.app);
            self.end_write(entry.index, entry.term, output);
        }
        for rs in core::mem::take(&mut ready.raft.read_states) {
            if let Some((waiter, _)) = self.reads.remove(&rs.ctx) {
                self.confirmed_reads.push((rs.index, waiter));
            }
        }
        self.answer_confirmed_reads();
        Ok(())
    }

    /// Tells Raft the round is done.
    pub fn advance(&mut self, ready: EngineReady) {
        self.raw.advance(ready.raft);
    }
}
