//! The leader's clock for stamping entries: monotonic within the process, anchored to the wall
//! clock at start so that a new leader's readings are comparable with the old leader's.
//!
//! A pure `Instant` would start near zero in every process, so a leader elected after a restart
//! would stamp times far behind the replicated clock (which never moves backwards) and TTLs would
//! stall. Wall time alone can jump backwards; anchoring once and adding monotonic elapsed time
//! cannot.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch at start-up, advanced by a monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    anchor_ms: u64,
    start: Instant,
}

impl Clock {
    /// A clock anchored at the wall time now.
    pub fn new() -> Self {
        let anchor_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Clock {
            anchor_ms,
            start: Instant::now(),
        }
    }

    /// A clock anchored at the wall time now plus `offset_ms` (negative: behind), as a skewed
    /// wall clock would read.
    pub fn with_offset_ms(offset_ms: i64) -> Self {
        let mut clock = Self::new();
        clock.anchor_ms = clock.anchor_ms.saturating_add_signed(offset_ms);
        clock
    }

    /// The current reading in ms; never decreases.
    pub fn now_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.anchor_ms.saturating_add(elapsed)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
