//! The lease-expiry workload: a client grants a short lease now and then, never keeps it
//! alive, and watches for it to expire. Time in the state machine comes from the leaders'
//! stamps, so a leader whose clock is skewed (the clock-skew fault) must not freeze expiry: a
//! lease whose holder is gone has to go within a bounded time whatever the clocks say.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

/// The TTL of each probe lease.
pub const TTL_MS: u64 = 2_000;
/// A probe lease must be gone this long after its grant was acknowledged. Generous: elections
/// renew every lease (a new leader cannot know how long the old one was gone), and a fault can
/// leave the cluster without a leader for several seconds; a leader with a clock an hour ahead
/// would hold the lease an hour.
pub const EXPIRY_BOUND_MS: u64 = 20_000;
/// How long a probe is watched before it counts as never expired.
const GIVE_UP_MS: u64 = 60_000;

/// One probe: when its grant was acknowledged and, if seen, when it was first seen gone (µs
/// since the run's epoch).
#[derive(Clone, Debug)]
pub struct Probe {
    /// The lease.
    pub lease: u64,
    /// Grant acknowledged.
    pub granted_us: u64,
    /// First seen expired; `None` if not within the watch.
    pub expired_us: Option<u64>,
}

/// Every probe.
pub type Probes = Arc<Mutex<Vec<Probe>>>;

/// The probe client's loop until `stop`: one probe at a time, each watched until it expires,
/// `stop` comes, or [`GIVE_UP_MS`] passes. Lease lookups go to random nodes, linearizably.
pub fn client(urls: Vec<String>, epoch: Instant, stop: Arc<AtomicBool>, probes: Probes) {
    let agent = ureq::AgentBuilder::new()
        .timeout(crate::workload::CLIENT_TIMEOUT)
        .build();
    let micros = |at: Instant| at.duration_since(epoch).as_micros() as u64;
    let mut turn = 0usize;
    let mut next = || {
        turn += 1;
        urls[turn % urls.len()].clone()
    };
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(1_000));
        let granted = agent
            .post(&format!("{}/v1/leases", next()))
            .send_string(&json!({ "ttl_ms": TTL_MS }).to_string())
            .ok()
            .and_then(|r| r.into_string().ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["lease_id"].as_u64());
        let Some(lease) = granted else {
            continue;
        };
        let granted_at = Instant::now();
        let index = {
            let mut all = probes.lock().expect("probes lock");
            all.push(Probe {
                lease,
                granted_us: micros(granted_at),
                expired_us: None,
            });
            all.len() - 1
        };
        while !stop.load(Ordering::Relaxed)
            && granted_at.elapsed() < Duration::from_millis(GIVE_UP_MS)
        {
            std::thread::sleep(Duration::from_millis(200));
            let answer = agent.get(&format!("{}/v1/leases/{lease}", next())).call();
            if let Err(ureq::Error::Status(404, _)) = answer {
                probes.lock().expect("probes lock")[index].expired_us =
                    Some(micros(Instant::now()));
                break;
            }
        }
    }
}

/// Probes that took longer than [`EXPIRY_BOUND_MS`] to expire, or were watched that long and
/// never did; `end_us` is when the workload stopped (younger unexpired probes are not judged).
pub fn check(probes: &[Probe], end_us: u64) -> Vec<String> {
    let bound_us = EXPIRY_BOUND_MS * 1_000;
    probes
        .iter()
        .filter_map(|p| match p.expired_us {
            Some(at) if at - p.granted_us > bound_us => Some(format!(
                "lease {} (ttl {TTL_MS} ms, never kept alive) expired {} ms after its grant",
                p.lease,
                (at - p.granted_us) / 1_000
            )),
            None if end_us.saturating_sub(p.granted_us) > bound_us => Some(format!(
                "lease {} (ttl {TTL_MS} ms, never kept alive) had not expired {} ms after its grant",
                p.lease,
                (end_us - p.granted_us) / 1_000
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judges_late_and_missing_expiries_only() {
        let p = |granted_us, expired_us| Probe {
            lease: 1,
            granted_us,
            expired_us,
        };
        let bound = EXPIRY_BOUND_MS * 1_000;
        assert!(check(&[p(0, Some(2_500_000))], bound * 2).is_empty());
        assert_eq!(check(&[p(0, Some(bound + 1))], bound * 2).len(), 1);
        assert_eq!(check(&[p(0, None)], bound + 1).len(), 1);
        assert!(check(&[p(0, None)], bound).is_empty(), "too young to judge");
    }
}
