//! What a leader knows about each follower's log, and how fast it may send to it.

use alloc::collections::VecDeque;

use super::types::LogIndex;

/// How the leader is currently replicating to one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// The follower's match point is unknown: send one append at a time and wait for the answer.
    Probe,
    /// The follower is keeping up: stream appends optimistically, bounded by the inflight window.
    Replicate,
    /// A snapshot was sent; wait for it to be applied (or for `ticks_left` to run out, then probe).
    Snapshot {
        /// The index of the snapshot in flight.
        pending: LogIndex,
        /// Ticks until the leader assumes the snapshot was lost and probes again.
        ticks_left: u32,
    },
}

/// A bounded window of append messages in flight, each remembered by its last index.
#[derive(Clone, Debug)]
pub(crate) struct Inflights {
    limits: InflightLimits,
    /// Each message's last index and bytes. Invariant: the indexes strictly increase.
    last_indexes: VecDeque<(LogIndex, u64)>,
    /// The bytes of the messages in `last_indexes`.
    bytes: u64,
}

/// How much may be in flight to one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InflightLimits {
    /// Messages.
    pub(crate) msgs: usize,
    /// Bytes of entries (0: no limit).
    pub(crate) bytes: u64,
}

impl super::Config {
    /// This configuration's limits on what is in flight to one follower.
    pub(crate) fn inflight_limits(&self) -> InflightLimits {
        InflightLimits {
            msgs: self.max_inflight_msgs,
            bytes: self.max_inflight_bytes as u64,
        }
    }
}

impl Inflights {
    /// An empty window holding at most what `limits` allow.
    pub(crate) fn new(limits: InflightLimits) -> Self {
        Inflights {
            limits,
            last_indexes: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Whether no more messages may be sent until some are acknowledged.
    pub(crate) fn is_full(&self) -> bool {
        self.last_indexes.len() >= self.limits.msgs
            || (self.limits.bytes > 0 && self.bytes >= self.limits.bytes)
    }

    /// Records a message whose last entry is `last_index`, with `bytes` of entries.
    pub(crate) fn add(&mut self, last_index: LogIndex, bytes: u64) {
        self.last_indexes.push_back((last_index, bytes));
        self.bytes += bytes;
    }

    /// Forgets every message whose last entry is at or below `index` (it was acknowledged).
    pub(crate) fn free_up_to(&mut self, index: LogIndex) {
        while let Some(&(last, bytes)) = self.last_indexes.front() {
            if last > index {
                break;
            }
            self.last_indexes.pop_front();
            self.bytes -= bytes;
        }
    }

    /// Forgets the oldest message (used when a heartbeat answer shows the follower is alive but
    /// acknowledgements were lost).
    pub(crate) fn free_first(&mut self) {
        if let Some((_, bytes)) = self.last_indexes.pop_front() {
            self.bytes -= bytes;
        }
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.last_indexes.clear();
        self.bytes = 0;
    }
}

/// The leader's view of one member's log.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// Highest index known to be replicated on the member.
    // Invariant: matched < next.
    pub(crate) matched: LogIndex,
    /// Next index to send.
    pub(crate) next: LogIndex,
    /// Replication mode.
    pub(crate) state: ProgressState,
    /// In probe state: an append was sent and not answered yet.
    pub(crate) probe_sent: bool,
    /// Appends in flight (replicate state).
    pub(crate) inflights: Inflights,
    /// Whether the member answered since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// The highest heartbeat round the member acknowledged.
    pub(crate) acked_seq: u64,
    /// Learners replicate but do not count for quorums.
    pub(crate) is_learner: bool,
}

impl Progress {
    /// Progress for a member whose log is assumed to end at `last_index`.
    pub(crate) fn new(
        last_index: LogIndex,
        max_inflight: InflightLimits,
        is_learner: bool,
    ) -> Self {
        Progress {
            matched: 0,
            next: last_index + 1,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights: Inflights::new(max_inflight),
            recent_active: false,
            acked_seq: 0,
            is_learner,
        }
    }

    /// Whether the leader must hold off sending appends to this member.
    pub(crate) fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.is_full(),
            ProgressState::Snapshot { .. } => true,
        }
    }

    /// Switches to probe state, resending from just after the match point.
    pub(crate) fn become_probe(&mut self) {
        if let ProgressState::Snapshot { pending, .. } = self.state {
            self.next = (self.matched.max(pending)) + 1;
        } else {
            self.next = self.matched + 1;
        }
        self.state = ProgressState::Probe;
        self.probe_sent = false;
        self.inflights.clear();
    }

    /// Switches to streaming replication.
    pub(crate) fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflights.clear();
    }

    /// Switches to waiting for a snapshot at `index`.
    pub(crate) fn become_snapshot(&mut self, index: LogIndex, ticks: u32) {
        self.state = ProgressState::Snapshot {
            pending: index,
            ticks_left: ticks,
        };
        self.probe_sent = false;
        self.inflights.clear();
    }

    /// Records an acknowledgement up to `index`; returns whether it told the leader anything new.
    pub(crate) fn maybe_update(&mut self, index: LogIndex) -> bool {
        let updated = index > self.matched;
        if updated {
            self.matched = index;
            self.probe_sent = false;
        }
        self.next = self.next.max(index.saturating_add(1));
        updated
    }

    /// Handles a rejection of the append whose previous index was `rejected`; `hint` is where
    /// the logs may match. Returns false when the rejection is stale.
    pub(crate) fn maybe_decrease_to(&mut self, rejected: LogIndex, hint: LogIndex) -> bool {
        if self.state == ProgressState::Replicate {
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched + 1;
            return true;
        }
        if self.next == 0 || self.next - 1 != rejected {
            return false;
        }
        self.next = rejected.min(hint.saturating_add(1)).max(self.matched + 1);
        self.probe_sent = false;
        true
    }

    /// Records that an append ending at `last_index` was sent, with `entry_count` entries of
    /// `bytes` payload bytes.
    pub(crate) fn sent_entries(&mut self, last_index: LogIndex, entry_count: usize, bytes: u64) {
        match self.state {
            ProgressState::Replicate => {
                if entry_count > 0 {
                    self.next = last_index + 1;
                    self.inflights.add(last_index, bytes);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicate_window_pauses_when_full_and_frees_on_ack() {
        let mut p = Progress::new(10, limits(2, 0), false);
        p.maybe_update(10);
        p.become_replicate();
        p.sent_entries(12, 2, 100);
        p.sent_entries(14, 2, 100);
        assert!(p.is_paused());
        assert_eq!(p.next, 15);
        p.maybe_update(12);
        p.inflights.free_up_to(12);
        assert!(!p.is_paused());
    }

    fn limits(msgs: usize, bytes: u64) -> InflightLimits {
        InflightLimits { msgs, bytes }
    }

    #[test]
    fn replicate_window_also_pauses_on_bytes_in_flight() {
        let mut p = Progress::new(10, limits(256, 1000), false);
        p.maybe_update(10);
        p.become_replicate();
        p.sent_entries(11, 1, 600);
        assert!(!p.is_paused());
        p.sent_entries(12, 1, 600);
        assert!(p.is_paused(), "1,200 bytes in flight");
        p.inflights.free_up_to(11);
        assert!(!p.is_paused(), "600 bytes left");
        p.inflights.free_first();
        assert_eq!(p.inflights.bytes, 0);
    }

    #[test]
    fn probe_backtracks_to_hint_but_not_below_match() {
        let mut p = Progress::new(20, limits(4, 0), false);
        p.matched = 3;
        assert!(p.maybe_decrease_to(20, 7));
        assert_eq!(p.next, 8);
        // A stale rejection (for a different prev index) is ignored.
        assert!(!p.maybe_decrease_to(20, 1));
        assert!(p.maybe_decrease_to(7, 0));
        assert_eq!(p.next, 4);
    }

    #[test]
    fn stale_rejection_in_replicate_is_ignored() {
        let mut p = Progress::new(5, limits(4, 0), false);
        p.maybe_update(5);
        p.become_replicate();
        assert!(!p.maybe_decrease_to(4, 0));
        assert!(p.maybe_decrease_to(6, 0));
        assert_eq!(p.next, 6);
    }
}
