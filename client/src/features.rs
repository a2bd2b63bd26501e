//! What the server turned out not to support (an older node without the newer API forms):
//! found out once, on the first refusal, and remembered so later calls use the older form.

use std::sync::atomic::{AtomicBool, Ordering};

/// One flag per newer API form.
#[derive(Debug, Default)]
pub(crate) struct Features {
    /// `?fence=` on writes is refused (unknown parameter).
    pub(crate) no_fence: Flag,
    /// `GET /v1/elections/{name}?wait_ms=&after=` is refused.
    pub(crate) no_election_wait: Flag,
    /// `"value"` in a campaign body is refused.
    pub(crate) no_campaign_value: Flag,
    /// `POST /v1/locks/{name}?wait_ms=` is refused.
    pub(crate) no_lock_wait: Flag,
    /// `"mode": "try"` in a lock body is refused.
    pub(crate) no_lock_try: Flag,
    /// `/v1/watch/kv` and friends are missing (only the raw `/v1/watch`).
    pub(crate) legacy_watch: Flag,
}

/// A sticky boolean.
#[derive(Debug, Default)]
pub(crate) struct Flag(AtomicBool);

impl Flag {
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self) {
        if !self.0.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "raftorch client: the server predates a newer API form; using the older one"
            );
        }
    }
}
