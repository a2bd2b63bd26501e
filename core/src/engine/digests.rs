//! Digests of the application's state at sampled indexes, so that replicas can be compared
//! while they run: every node samples the same indexes (multiples of
//! [`super::EngineConfig::digest_every`]), and two nodes whose digests at one index differ have
//! diverged. A digest is XXH64 over the application's snapshot bytes, which are deterministic
//! for a deterministic state machine; it detects accidents, not forgeries.

use alloc::collections::VecDeque;

use xxhash_rust::xxh64::xxh64;

use crate::raft::LogIndex;
use crate::state_machine::StateMachine;

/// How many sampled digests a node keeps (the oldest go first).
pub const DIGESTS_KEPT: usize = 256;

/// The most recent `(index, digest)` samples, oldest first.
#[derive(Clone, Debug, Default)]
pub(super) struct StateDigests {
    samples: VecDeque<(LogIndex, u64)>,
}

impl StateDigests {
    /// Records the digest of `app` as of `index` when `index` is a sample point of `every`
    /// (0: sampling is off).
    pub(super) fn sample(&mut self, every: u64, index: LogIndex, app: &impl StateMachine) {
        if every == 0 || index == 0 || index % every != 0 {
            return;
        }
        if self.samples.back().is_some_and(|&(i, _)| i >= index) {
            // A restart replays from an older snapshot: keep the newest samples only.
            self.samples.retain(|&(i, _)| i < index);
        }
        if self.samples.len() == DIGESTS_KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back((index, xxh64(&app.snapshot(), 0)));
    }

    /// The samples, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (LogIndex, u64)> + '_ {
        self.samples.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::KvApp;

    #[test]
    fn samples_only_multiples_and_keeps_the_newest_after_a_replay() {
        let app = KvApp::default();
        let mut d = StateDigests::default();
        for index in 1..=9 {
            d.sample(4, index, &app);
        }
        let indexes: alloc::vec::Vec<LogIndex> = d.iter().map(|(i, _)| i).collect();
        assert_eq!(indexes, [4, 8]);
        // A restart replays from index 5: the sample at 8 is taken again, not twice.
        d.sample(4, 8, &app);
        assert_eq!(d.iter().count(), 2);
        d.sample(0, 12, &app);
        assert_eq!(d.iter().count(), 2, "0 turns sampling off");
    }

    #[test]
    fn keeps_a_bounded_window() {
        let app = KvApp::default();
        let mut d = StateDigests::default();
        for index in 1..=(DIGESTS_KEPT as u64 + 10) {
            d.sample(1, index, &app);
        }
        assert_eq!(d.iter().count(), DIGESTS_KEPT);
        assert_eq!(d.iter().next().map(|(i, _)| i), Some(11));
    }
}
