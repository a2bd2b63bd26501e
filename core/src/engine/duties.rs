//! The host's timer and the leader's duties: the application's first entries of each term,
//! before any client write, and its periodic entry.

use super::application::Application;
use super::Engine;
use crate::raft::Error;

impl<A: Application, W, R> Engine<A, W, R> {
    /// The host's timer fired at `now_ms`: one Raft tick, reads past their deadline fail, and a
    /// leader proposes the application's periodic entry when it is due.
    pub fn tick(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        self.raw.tick();
        self.tick_transfers(now_ms);
        self.expire_reads(now_ms);
        self.expire_forwards(now_ms);
        if self.leader_duties(now_ms).is_err() || !self.raw.is_leader() {
            return;
        }
        if A::PERIODIC_MS > 0 && now_ms >= self.next_periodic_at {
            self.next_periodic_at = now_ms.saturating_add(A::PERIODIC_MS);
            if let Some(entry) = A::periodic_entry(now_ms) {
                // Refused only during a leadership transfer: the next one will do.
                let _ = self.raw.propose(entry);
            }
        }
    }

    /// As a leader that has not yet done so in this term, proposes the application's first
    /// entries ([`Application::leader_entries`]). Until they are proposed no client write is:
    /// the application may rely on them coming first in each term (the orchestrator starts a
    /// new clock epoch with them). A refusal is retried on the next input.
    pub(super) fn leader_duties(&mut self, now_ms: u64) -> Result<(), Error> {
        let term = self.raw.term();
        if !self.raw.is_leader() || self.announced_term == Some(term) {
            return Ok(());
        }
        let entries = A::leader_entries(now_ms);
        if !entries.is_empty() {
            self.raw.propose_batch(entries)?;
        }
        self.announced_term = Some(term);
        self.next_periodic_at = now_ms.saturating_add(A::PERIODIC_MS);
        Ok(())
    }
}
