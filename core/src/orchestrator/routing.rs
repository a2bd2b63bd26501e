//! Request routing: a pure function of (replicated state, service, request key), so every node
//! answers the same.
//!
//! 1. Candidates are the healthy instances with a non-zero weight.
//! 2. With a deployment, the key's canary bucket ([`canary_bucket`], 0..10 000) picks a side:
//!    below `percent × 100` the instances running `canary_version`, otherwise all the others
//!    (the stable version *and any version that is neither*, so an unrelated version keeps
//!    serving). An empty side falls back to the other. A promoted deployment is 100 % (everyone on
//!    the new stable), a rolled-back one 0 %.
//! 3. Within the side, weighted rendezvous hashing ([`rendezvous_score`]): highest score wins,
//!    ties go to the smallest instance id.

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::deployment::Deployment;
use super::error::OrchestratorError;
use super::registry::{Registry, ServiceInstance};

/// Seed of the instance-choice hash (ASCII "raftorch"). Changing it reshuffles every key.
pub const ROUTE_SEED: u64 = 0x7261_6674_6f72_6368;
/// Seed of the canary-bucket hash (ASCII "canary!!"), independent of [`ROUTE_SEED`] so the side
/// chosen says nothing about the instance chosen.
pub const CANARY_SEED: u64 = 0x6361_6e61_7279_2121;
/// Number of canary buckets: a percentage `p` sends buckets `0..p*100` to the canary.
pub const CANARY_BUCKETS: u16 = 10_000;

/// Where a request goes, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteDecision {
    /// The chosen instance, as registered.
    pub instance: ServiceInstance,
    /// Its version.
    pub version: String,
    /// Whether it serves as the canary of an active deployment.
    pub canary: bool,
    /// The key's canary bucket, 0..10 000.
    pub bucket: u16,
    /// The applied index of the state that decided.
    pub index: u64,
}

/// The key's canary bucket: `xxh3_64_with_seed(key, CANARY_SEED) % 10_000`.
pub fn canary_bucket(request_key: &[u8]) -> u16 {
    (xxh3_64_with_seed(request_key, CANARY_SEED) % u64::from(CANARY_BUCKETS)) as u16
}

/// Weighted rendezvous score of an instance for a key: `weight / -ln(u)` where
/// `h = xxh3_64_with_seed(key ++ [0xff] ++ instance_id, ROUTE_SEED)` and
/// `u = ((h >> 11) + 0.5) / 2^53`, strictly inside (0, 1). Taking the top 53 bits makes the
/// conversion to `f64` exact; `libm::log` is pure Rust, so every platform computes the same bits.
pub fn rendezvous_score(request_key: &[u8], instance_id: &str, weight: u16) -> f64 {
    let mut buf = Vec::with_capacity(request_key.len() + 1 + instance_id.len());
    buf.extend_from_slice(request_key);
    buf.push(0xff);
    buf.extend_from_slice(instance_id.as_bytes());
    score(&buf, weight)
}

fn score(key_and_id: &[u8], weight: u16) -> f64 {
    const TWO_POW_53: f64 = (1u64 << 53) as f64;
    let h = xxh3_64_with_seed(key_and_id, ROUTE_SEED);
    let u = ((h >> 11) as f64 + 0.5) / TWO_POW_53;
    f64::from(weight) / -libm::log(u)
}

/// The highest-scoring instance, ties to the smallest id (the candidates come sorted by id).
fn pick<'a>(candidates: &[&'a ServiceInstance], request_key: &[u8]) -> Option<&'a ServiceInstance> {
    let mut buf = Vec::with_capacity(request_key.len() + 1 + 32);
    let mut best: Option<(f64, &ServiceInstance)> = None;
    for &i in candidates {
        buf.clear();
        buf.extend_from_slice(request_key);
        buf.push(0xff);
        buf.extend_from_slice(i.instance_id.as_bytes());
        let s = score(&buf, i.weight);
        if best.is_none_or(|(b, _)| s > b) {
            best = Some((s, i));
        }
    }
    best.map(|(_, i)| i)
}

/// Routes `request_key` to an instance of `service` (see the module doc for the rules).
pub(crate) fn route(
    registry: &Registry,
    deployment: Option<&Deployment>,
    service: &str,
    request_key: &[u8],
    index: u64,
) -> Result<RouteDecision, OrchestratorError> {
    let instances =
        registry
            .instances(service)
            .ok_or_else(|| OrchestratorError::ServiceNotFound {
                service: service.into(),
            })?;
    let candidates: Vec<&ServiceInstance> = instances
        .values()
        .filter(|i| i.healthy && i.weight > 0)
        .collect();
    let bucket = canary_bucket(request_key);
    let (chosen, canary) = match deployment {
        None => (pick(&candidates, request_key), false),
        Some(d) => {
            let (canary_side, stable_side): (Vec<_>, Vec<_>) = candidates
                .iter()
                .partition(|i| i.version == d.canary_version);
            let wants_canary = u32::from(bucket) < u32::from(d.canary_percent()) * 100;
            let (first, second) = if wants_canary {
                (canary_side, stable_side)
            } else {
                (stable_side, canary_side)
            };
            let side = if first.is_empty() { second } else { first };
            let chosen = pick(&side, request_key);
            let canary = d.is_active() && chosen.is_some_and(|i| i.version == d.canary_version);
            (chosen, canary)
        }
    };
    let instance = chosen.ok_or_else(|| OrchestratorError::NoHealthyInstance {
        service: service.into(),
    })?;
    Ok(RouteDecision {
        instance: instance.clone(),
        version: instance.version.clone(),
        canary,
        bucket,
        index,
    })
}
