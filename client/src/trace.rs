//! W3C trace context (`traceparent`) for requests: a client given one sends it with every
//! request (the node's spans then join the caller's trace, see the README's "Tracing"), and
//! [`generate`] starts a new trace when the caller has none.

use core::hash::{BuildHasher, Hasher};
use std::collections::hash_map::RandomState;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// The W3C header.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A new, sampled `traceparent` (`00-<trace id>-<span id>-01`) with random ids: the root of a
/// new trace whose id the caller can log or look up in its tracing backend.
pub fn generate() -> String {
    let trace = (random_u64(), random_u64());
    let span = random_u64();
    format!(
        "00-{:016x}{:016x}-{:016x}-01",
        trace.0,
        trace.1,
        span.max(1)
    )
}

/// Checks that `traceparent` is one a node accepts: version `00`, 32 and 16 lower-case hex
/// digits not all zero, 2 hex digits of flags.
pub fn validate(traceparent: &str) -> Result<()> {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let ok = matches!(parts.as_slice(), [v, t, s, f]
        if *v == "00" && hex(t, 32) && hex(s, 16) && hex(f, 2)
            && t.bytes().any(|b| b != b'0') && s.bytes().any(|b| b != b'0'));
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>): {traceparent:?}"
        )))
    }
}

/// 64 bits from std's randomly keyed SipHash (keys drawn from the OS once per thread), mixed
/// with a process-wide counter so two calls never repeat. Unique ids, not secrets.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_traceparents_are_valid_and_distinct() {
        let a = generate();
        let b = generate();
        validate(&a).unwrap();
        validate(&b).unwrap();
        assert_ne!(a[3..35], b[3..35], "two traces share an id");
    }

    #[test]
    fn malformed_traceparents_are_refused() {
        validate("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
        ] {
            assert!(validate(bad).is_err(), "{bad:?} accepted");
        }
    }
}
