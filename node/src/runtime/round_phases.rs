//! Where an owner-loop round spent its time, so a slow round (heartbeats and votes wait behind
//! it) names its cause in the log: the input that woke the loop, the inputs that joined the
//! round, the persists (WAL writes and fsync on the disk thread), the applies, the sends, the
//! snapshot work begun or finished, and the status published at the end.

use std::time::{Duration, Instant};

/// A round longer than this is logged with its phases: past it a heartbeat interval is missed.
pub(super) const SLOW_ROUND: Duration = Duration::from_millis(50);
/// At most one slow round is logged per this interval; the others are counted in the next line.
const SLOW_ROUND_LOG_EVERY: Duration = Duration::from_secs(1);

/// The parts of a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Handling the input that woke the loop.
    Wake,
    /// Stepping the messages and requests that queued meanwhile.
    Inputs,
    /// Waiting for the disk thread to make a `Ready` durable.
    Persist,
    /// Applying committed entries (or installing a snapshot) and answering clients.
    Apply,
    /// Queueing messages to peers (snapshot chunks included).
    Send,
    /// Beginning a snapshot, or adopting one that was written.
    Snapshot,
    /// Publishing the status and metrics.
    Publish,
}

const PHASES: [Phase; 7] = [
    Phase::Wake,
    Phase::Inputs,
    Phase::Persist,
    Phase::Apply,
    Phase::Send,
    Phase::Snapshot,
    Phase::Publish,
];

/// The time one round spent in each [`Phase`], and the slow-round log's rate limit.
#[derive(Debug)]
pub(super) struct RoundPhases {
    started: Instant,
    last: Instant,
    spent: [Duration; PHASES.len()],
    woken_by: &'static str,
    readies: u32,
    last_logged: Option<Instant>,
    slow_unlogged: u64,
}

impl Default for RoundPhases {
    fn default() -> Self {
        let now = Instant::now();
        RoundPhases {
            started: now,
            last: now,
            spent: [Duration::ZERO; PHASES.len()],
            woken_by: "start",
            readies: 0,
            last_logged: None,
            slow_unlogged: 0,
        }
    }
}

impl RoundPhases {
    /// Starts a round woken by `woken_by`.
    pub(super) fn begin(&mut self, woken_by: &'static str) {
        let now = Instant::now();
        self.started = now;
        self.last = now;
        self.spent = [Duration::ZERO; PHASES.len()];
        self.woken_by = woken_by;
        self.readies = 0;
    }

    /// Charges the time since the last mark to `phase`.
    pub(super) fn mark(&mut self, phase: Phase) {
        let now = Instant::now();
        let slot = PHASES.iter().position(|&p| p == phase).unwrap_or(0);
        self.spent[slot] += now.saturating_duration_since(self.last);
        self.last = now;
    }

    /// How long this round has run so far.
    pub(super) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts one `Ready` handled in this round.
    pub(super) fn ready_handled(&mut self) {
        self.readies += 1;
    }

    /// Ends the round: its length, after logging it when it was slow (rate-limited).
    pub(super) fn end(&mut self) -> Duration {
        let now = Instant::now();
        let total = now.saturating_duration_since(self.started);
        if total < SLOW_ROUND {
            return total;
        }
        let due = self
            .last_logged
            .is_none_or(|at| now.saturating_duration_since(at) >= SLOW_ROUND_LOG_EVERY);
        if !due {
            self.slow_unlogged += 1;
            return total;
        }
        self.last_logged = Some(now);
        let ms = |phase: Phase| self.spent(phase).as_secs_f64() * 1e3;
        tracing::warn!(
            total_ms = total.as_secs_f64() * 1e3,
            woken_by = self.woken_by,
            readies = self.readies,
            wake_ms = ms(Phase::Wake),
            inputs_ms = ms(Phase::Inputs),
            persist_ms = ms(Phase::Persist),
            apply_ms = ms(Phase::Apply),
            send_ms = ms(Phase::Send),
            snapshot_ms = ms(Phase::Snapshot),
            publish_ms = ms(Phase::Publish),
            slow_rounds_not_logged = std::mem::take(&mut self.slow_unlogged),
            "slow owner-loop round: heartbeats and votes waited behind it"
        );
        total
    }

    /// The time charged to `phase` in this round.
    pub(super) fn spent(&self, phase: Phase) -> Duration {
        PHASES
            .iter()
            .position(|&p| p == phase)
            .map_or(Duration::ZERO, |slot| self.spent[slot])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_charge_the_time_since_the_last_mark_and_begin_resets() {
        let mut phases = RoundPhases::default();
        phases.begin("tick");
        std::thread::sleep(Duration::from_millis(5));
        phases.mark(Phase::Persist);
        phases.mark(Phase::Apply);
        assert!(phases.spent(Phase::Persist) >= Duration::from_millis(5));
        assert!(phases.spent(Phase::Apply) < phases.spent(Phase::Persist));
        assert!(phases.end() >= Duration::from_millis(5));
        phases.begin("message");
        assert_eq!(phases.spent(Phase::Persist), Duration::ZERO);
    }
}
