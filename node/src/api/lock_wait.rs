//! Blocking lock acquire: a queued request waits, on this node's applied state, until its lease
//! holds the lock or the wait ends.
//!
//! The lock itself is only ever granted by the state machine, which hands a freed lock to the
//! first waiter whose lease is live at that entry; this wait only watches for that grant, so a
//! waiter whose lease expired is never answered `lock_acquired`.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::error::ApiError;
use super::reply::at_index;
use super::ApiState;
use crate::runtime::{Consistency, RequestError};

/// Where a lease stands with a lock at one applied index.
enum Standing {
    /// It holds the lock with this token.
    Holds(u64),
    /// It waits at this 1-based position.
    Queued(u32),
    /// It neither holds nor waits: its lease ended, or it left the queue.
    Out { lease_exists: bool },
}

/// Waits up to `wait` for `lease_id` to hold `name`: `{"result": "lock_acquired",
/// "fencing_token", "index"}`, or `{"result": "lock_queued", "position", "index"}` when the wait
/// ends first. 404 `lease_not_found` when the lease ended meanwhile, 409 `not_lock_holder` when
/// it left the queue. `queued` is the write's index and the position it answered: only states
/// from that index on are looked at, since a follower may relay the answer before it applied
/// the entry itself.
pub(super) async fn until_held(
    state: &ApiState,
    name: String,
    lease_id: u64,
    queued: (u64, u32),
    wait: Duration,
) -> Result<Response, ApiError> {
    let (queued_at, queued_position) = queued;
    let deadline = tokio::time::Instant::now() + wait;
    let _slot = state.waiters.admit()?;
    let mut changes = state.node.watch_status();
    loop {
        let n = name.clone();
        let (standing, index) = state
            .read(Consistency::Stale, move |sm| {
                if let Some(h) = sm.lock_holder(&n).filter(|h| h.lease_id == lease_id) {
                    return Standing::Holds(h.fencing_token);
                }
                match sm.lock_waiters(&n).iter().position(|&l| l == lease_id) {
                    Some(p) => Standing::Queued(p as u32 + 1),
                    None => Standing::Out {
                        lease_exists: sm.lease(lease_id).is_some(),
                    },
                }
            })
            .await?;
        let timed_out = tokio::time::Instant::now() >= deadline;
        let body = match standing {
            _ if index < queued_at && timed_out => {
                json!({"result": "lock_queued", "position": queued_position, "index": queued_at})
            }
            Standing::Holds(token) if index >= queued_at => {
                json!({"result": "lock_acquired", "fencing_token": token, "index": index})
            }
            Standing::Queued(position) if timed_out => {
                json!({"result": "lock_queued", "position": position, "index": index})
            }
            Standing::Out { lease_exists } if index >= queued_at => {
                return Err(left(&name, lease_id, lease_exists));
            }
            // Still queued, or this node has not applied the write yet: wait for the next entry.
            _ => {
                if let Ok(Err(_)) = tokio::time::timeout_at(deadline, changes.changed()).await {
                    return Err(ApiError::from(RequestError::ShuttingDown));
                }
                continue;
            }
        };
        return Ok(at_index(StatusCode::OK, &body, index.max(queued_at)));
    }
}

/// The answer when the lease neither holds nor waits any more.
fn left(name: &str, lease_id: u64, lease_exists: bool) -> ApiError {
    if lease_exists {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_lock_holder",
            format!("lease {lease_id} left the queue of lock {name:?} while it waited"),
        )
    } else {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "lease_not_found",
            format!("lease {lease_id} ended while it waited for lock {name:?}"),
        )
    }
}
