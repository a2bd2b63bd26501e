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
/// it left the queue.
pub(super) async fn until_held(
    state: &ApiState,
    name: String,
    lease_id: u64,
    wait: Duration,
) -> Result<Response, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
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
        let body = match standing {
            Standing::Holds(token) => {
                json!({"result": "lock_acquired", "fencing_token": token, "index": index})
            }
            Standing::Queued(position) if tokio::time::Instant::now() >= deadline => {
                json!({"result": "lock_queued", "position": position, "index": index})
            }
            Standing::Queued(_) => {
                if let Ok(Err(_)) = tokio::time::timeout_at(deadline, changes.changed()).await {
                    return Err(ApiError::from(RequestError::ShuttingDown));
                }
                continue;
            }
            Standing::Out {
                lease_exists: false,
            } => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "lease_not_found",
                    format!("lease {lease_id} ended while it waited for lock {name:?}"),
                ))
            }
            Standing::Out { lease_exists: true } => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_lock_holder",
                    format!("lease {lease_id} left the queue of lock {name:?} while it waited"),
                ))
            }
        };
        return Ok(at_index(StatusCode::OK, &body, index));
    }
}
