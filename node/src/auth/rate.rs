//! Per-token rate limits: a token bucket per token name, refilled at `rate` requests a second
//! up to `burst`, kept by the node that receives the request (on its monotonic clock). A
//! request that finds its token's bucket empty is answered 429 with `Retry-After`.
//!
//! The buckets outlive a SIGHUP reload: a token keeps its bucket (clamped to a new, smaller
//! burst), a changed rate applies from the next request on, and a removed token's bucket goes.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token's limit: `rate` requests a second on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests a second the bucket refills with (at least 1).
    pub rate: u32,
    /// Requests the full bucket holds (at least 1).
    pub burst: u32,
}

impl RateLimit {
    /// `rate` a second with `burst` (default: `rate`); an error naming `what` for a zero.
    pub fn new(rate: u32, burst: Option<u32>, what: &str) -> Result<Self, String> {
        let burst = burst.unwrap_or(rate);
        if rate == 0 || burst == 0 {
            return Err(format!(
                "{what}: rate and burst must be at least 1 (leave rate out for no limit)"
            ));
        }
        Ok(RateLimit { rate, burst })
    }
}

#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    /// Requests left, fractional between refills.
    level: f64,
    at: Instant,
}

/// The buckets of every limited token, by name.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// Takes one request from `name`'s bucket (made full on first use) at `now`: `Ok`, or
    /// `Err(wait)` until the bucket holds one again.
    pub fn admit(&self, name: &str, limit: RateLimit, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = buckets.entry(name.to_owned()).or_insert(Bucket {
            limit,
            level: f64::from(limit.burst),
            at: now,
        });
        let burst = f64::from(limit.burst);
        let rate = f64::from(limit.rate);
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.level = (bucket.level + elapsed * rate).min(burst);
        bucket.at = now.max(bucket.at);
        bucket.limit = limit;
        if bucket.level >= 1.0 {
            bucket.level -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.level) / rate))
        }
    }

    /// Forgets the buckets of tokens `keep` rejects (after a reload removed them).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|name, _| keep(name));
    }
}

/// Requests refused with 429, by token name (`raftorch_api_rate_limited_total{token=...}`).
#[derive(Debug, Default)]
pub struct RateLimitedCounts {
    by_token: Mutex<BTreeMap<String, u64>>,
}

impl RateLimitedCounts {
    /// Counts one refusal of `token`.
    pub fn inc(&self, token: &str) {
        *self
            .by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(token.to_owned())
            .or_default() += 1;
    }

    /// Appends the series, one sample per token refused at least once.
    pub fn render(&self, out: &mut String) {
        let name = "raftorch_api_rate_limited_total";
        let _ = writeln!(
            out,
            "# HELP {name} API requests refused with 429: the token's rate limit was reached.\n\
             # TYPE {name} counter"
        );
        let by_token = self
            .by_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (token, n) in by_token.iter() {
            let label = token
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = writeln!(out, "{name}{{token=\"{label}\"}} {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_refills_at_its_rate() {
        let limiter = Limiter::default();
        let limit = RateLimit::new(5, Some(5), "t").unwrap();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.admit("a", limit, t0).is_ok());
        }
        let wait = limiter.admit("a", limit, t0).unwrap_err();
        assert!(wait > Duration::from_millis(150) && wait <= Duration::from_millis(200));
        assert!(
            limiter.admit("b", limit, t0).is_ok(),
            "buckets are per token"
        );
        let later = t0 + Duration::from_millis(400);
        assert!(limiter.admit("a", limit, later).is_ok());
        assert!(limiter.admit("a", limit, later).is_ok());
        assert!(
            limiter.admit("a", limit, later).is_err(),
            "0.4 s refills two"
        );
        // A full second refills only up to the burst.
        let much_later = t0 + Duration::from_secs(60);
        for _ in 0..5 {
            assert!(limiter.admit("a", limit, much_later).is_ok());
        }
        assert!(limiter.admit("a", limit, much_later).is_err());
    }

    #[test]
    fn a_smaller_burst_after_a_reload_clamps_the_bucket_and_removed_tokens_are_forgotten() {
        let limiter = Limiter::default();
        let t0 = Instant::now();
        let wide = RateLimit::new(1, Some(100), "t").unwrap();
        assert!(limiter.admit("a", wide, t0).is_ok());
        let narrow = RateLimit::new(1, Some(2), "t").unwrap();
        assert!(limiter.admit("a", narrow, t0).is_ok());
        assert!(limiter.admit("a", narrow, t0).is_ok());
        assert!(limiter.admit("a", narrow, t0).is_err());
        limiter.retain(|n| n != "a");
        assert!(limiter.admit("a", narrow, t0).is_ok(), "a fresh bucket");
    }

    #[test]
    fn zero_rates_are_refused_and_the_burst_defaults_to_the_rate() {
        assert!(RateLimit::new(0, None, "t").is_err());
        assert!(RateLimit::new(3, Some(0), "t").is_err());
        assert_eq!(RateLimit::new(3, None, "t").unwrap().burst, 3);
    }

    #[test]
    fn refusals_are_counted_per_token_with_escaped_labels() {
        let counts = RateLimitedCounts::default();
        counts.inc("bot");
        counts.inc("bot");
        counts.inc("a\"b");
        let mut out = String::new();
        counts.render(&mut out);
        assert!(
            out.contains("raftorch_api_rate_limited_total{token=\"bot\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("raftorch_api_rate_limited_total{token=\"a\\\"b\"} 1"),
            "{out}"
        );
    }
}
