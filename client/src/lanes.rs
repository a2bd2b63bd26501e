//! Exactly-once request ids. The server keeps one sequence per client id and forgets a client
//! idle for ~10 s, so every concurrent request gets a lane of its own (a client id with a
//! strictly increasing sequence), and a write stops retrying well inside that window
//! ([`crate::Config::write_deadline`] is capped at 9 s).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One lane: a client id and its next sequence number.
#[derive(Debug)]
pub(crate) struct Lane {
    pub(crate) client_id: u64,
    next_seq: u64,
}

impl Lane {
    /// The next `CLIENT:SEQ` of this lane.
    pub(crate) fn next_id(&mut self) -> String {
        let seq = self.next_seq;
        self.next_seq += 1;
        format!("{}:{seq}", self.client_id)
    }
}

/// Free lanes; a request takes one (or a new one) and gives it back when done.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    free: Mutex<Vec<Lane>>,
}

/// A fresh, random, non-zero client id.
fn random_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        let id = h.finish() >> 1; // below 2^63, so any JSON reader keeps it exact
        if id != 0 {
            return id;
        }
    }
}

impl Lanes {
    pub(crate) fn take(&self) -> Lane {
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_else(|| Lane {
                client_id: random_id(),
                next_seq: 1,
            })
    }

    pub(crate) fn give_back(&self, lane: Lane) {
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(lane);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_requests_get_distinct_lanes_and_sequences_grow() {
        let lanes = Lanes::default();
        let mut a = lanes.take();
        let b = lanes.take();
        assert_ne!(a.client_id, b.client_id);
        let first = a.next_id();
        let second = a.next_id();
        assert_eq!(first, format!("{}:1", a.client_id));
        assert_eq!(second, format!("{}:2", a.client_id));
        let id = a.client_id;
        lanes.give_back(a);
        let mut again = lanes.take();
        assert_eq!(again.client_id, id);
        assert_eq!(again.next_id(), format!("{id}:3"));
    }
}
