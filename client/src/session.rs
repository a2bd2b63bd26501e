//! [`Session`]: a lease kept alive in the background, with a local jeopardy deadline.
//!
//! Ownership of anything tied to the lease (leadership, locks) ends, on this side, at the send
//! time of the last acknowledged keepalive + TTL − margin, measured on the local monotonic
//! clock. The server's deadline is never earlier (the lease was extended when the keepalive was
//! applied, after it was sent), so once the local deadline passes no other process can have
//! been given what this session held *before* this process stops acting on it — and the
//! deadline fires even when the cluster is unreachable (a partition, every node frozen).

use core::time::Duration;
use std::sync::{Arc, Mutex};

use hyper::Method;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::client::{Call, Client};
use crate::error::{Error, Result};

/// A session's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// The lease's TTL: how long the server keeps it without a keepalive.
    pub ttl: Duration,
    /// How often a keepalive is sent; at most a third of the TTL.
    pub keepalive_interval: Duration,
    /// Subtracted from the TTL for the local deadline (clock-rate drift, scheduling).
    pub margin: Duration,
}

impl SessionOptions {
    /// TTL `ttl`, a keepalive every third of it, a margin of a tenth (50 ms..2 s).
    pub fn new(ttl: Duration) -> Self {
        SessionOptions {
            ttl,
            keepalive_interval: ttl / 3,
            margin: (ttl / 10).clamp(Duration::from_millis(50), Duration::from_secs(2)),
        }
    }

    /// Checks the keepalive interval is at most TTL/3 and the margin leaves room.
    pub fn validate(&self) -> Result<()> {
        if self.ttl < Duration::from_millis(300) {
            return Err(Error::Config(format!("ttl {:?} is below 300 ms", self.ttl)));
        }
        if self.keepalive_interval.is_zero() || self.keepalive_interval > self.ttl / 3 {
            return Err(Error::Config(format!(
                "keepalive interval {:?} must be positive and at most a third of the ttl {:?}",
                self.keepalive_interval, self.ttl
            )));
        }
        if self.margin + self.keepalive_interval >= self.ttl {
            return Err(Error::Config(format!(
                "margin {:?} plus interval {:?} leaves no time within the ttl {:?}",
                self.margin, self.keepalive_interval, self.ttl
            )));
        }
        Ok(())
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The local deadline passed without an acknowledged keepalive.
    Deadline,
    /// The server no longer knows the lease (it expired there).
    Expired,
    /// [`Session::revoke`] ended it.
    Revoked,
}

struct State {
    lease_id: u64,
    options: SessionOptions,
    // Invariant: only ever moves later, and only from an acknowledged keepalive's send time.
    deadline: Mutex<Instant>,
    lost: watch::Sender<Option<Lost>>,
}

impl State {
    fn deadline(&self) -> Instant {
        *self.deadline.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn extend(&self, to: Instant) {
        let mut d = self.deadline.lock().unwrap_or_else(|p| p.into_inner());
        if to > *d {
            *d = to;
        }
    }

    fn lose(&self, why: Lost) {
        self.lost.send_if_modified(|l| {
            if l.is_none() {
                *l = Some(why);
                true
            } else {
                false
            }
        });
    }
}

struct Owner {
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A lease with background keepalives; clones share it. Dropping the last clone stops the
/// keepalives (the lease then expires on the server after its TTL); [`Session::revoke`] ends
/// it at once.
#[derive(Clone)]
pub struct Session {
    owner: Arc<Owner>,
    client: Client,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("lease_id", &self.owner.state.lease_id)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl Session {
    /// Grants a lease and starts keeping it alive (on the current tokio runtime).
    pub async fn grant(client: &Client, options: SessionOptions) -> Result<Session> {
        options.validate()?;
        let sent = Instant::now();
        let ttl_ms = options.ttl.as_millis() as u64;
        let a = client
            .call(Call::write(
                Method::POST,
                "/v1/leases",
                Some(json!({"ttl_ms": ttl_ms})),
            ))
            .await?;
        let lease_id = a.body["lease_id"]
            .as_u64()
            .ok_or_else(|| Error::Protocol(format!("lease grant without lease_id: {}", a.body)))?;
        let (lost, _) = watch::channel(None);
        let state = Arc::new(State {
            lease_id,
            options,
            deadline: Mutex::new(sent + options.ttl - options.margin),
            lost,
        });
        let task = tokio::spawn(keep_alive(client.clone(), state.clone()));
        Ok(Session {
            owner: Arc::new(Owner { state, task }),
            client: client.clone(),
        })
    }

    /// The lease's id.
    pub fn lease_id(&self) -> u64 {
        self.owner.state.lease_id
    }

    /// The session's timing.
    pub fn options(&self) -> SessionOptions {
        self.owner.state.options
    }

    /// The local deadline now (it moves later with every acknowledged keepalive).
    pub fn deadline(&self) -> Instant {
        self.owner.state.deadline()
    }

    /// Whether the session still holds: not lost and before its local deadline. No I/O.
    pub fn is_alive(&self) -> bool {
        self.owner.state.lost.borrow().is_none() && Instant::now() < self.deadline()
    }

    /// Why it ended, once it has.
    pub fn lost_reason(&self) -> Option<Lost> {
        *self.owner.state.lost.borrow()
    }

    /// Resolves when the session ends (at the latest at its local deadline).
    pub async fn lost(&self) -> Lost {
        let mut rx = self.owner.state.lost.subscribe();
        loop {
            if let Some(why) = *rx.borrow_and_update() {
                return why;
            }
            let deadline = self.deadline();
            tokio::select! {
                r = rx.changed() => if r.is_err() { return Lost::Revoked },
                _ = sleep_until(deadline) => {
                    if Instant::now() >= self.deadline() {
                        self.owner.state.lose(Lost::Deadline);
                    }
                }
            }
        }
    }

    /// Ends the session: stops the keepalives and revokes the lease (which releases its locks
    /// and hands on its elections at once).
    pub async fn revoke(&self) -> Result<()> {
        self.owner.task.abort();
        self.owner.state.lose(Lost::Revoked);
        let call = Call::write(
            Method::DELETE,
            format!("/v1/leases/{}", self.lease_id()),
            None,
        );
        match self.client.call(call).await {
            Ok(_) => Ok(()),
            Err(e) if e.is("lease_not_found") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The keepalive loop: one keepalive per interval; a failed one is tried again soon; the
/// session is lost at the local deadline or when the server no longer knows the lease.
async fn keep_alive(client: Client, state: Arc<State>) {
    let o = state.options;
    let retry =
        (o.keepalive_interval / 4).clamp(Duration::from_millis(20), Duration::from_millis(250));
    let mut next = Instant::now() + o.keepalive_interval;
    loop {
        let deadline = state.deadline();
        tokio::select! {
            _ = sleep_until(deadline) => { state.lose(Lost::Deadline); return; }
            _ = sleep_until(next) => {}
        }
        let sent = Instant::now();
        let call = Call::write(
            Method::POST,
            format!("/v1/leases/{}/keepalive", state.lease_id),
            None,
        )
        .attempt((o.keepalive_interval / 2).max(Duration::from_millis(100)))
        .until(deadline);
        tokio::select! {
            _ = sleep_until(deadline) => { state.lose(Lost::Deadline); return; }
            r = client.call(call) => match r {
                Ok(a) => {
                    let mut until = sent + o.ttl - o.margin;
                    if let Some(rem) = a.body["remaining_ms"].as_u64() {
                        // The server's own count, never later than what the send time gives.
                        until = until.min(Instant::now() + Duration::from_millis(rem).saturating_sub(o.margin));
                    }
                    state.extend(until);
                    next = sent + o.keepalive_interval;
                }
                Err(e) if e.is("lease_not_found") => { state.lose(Lost::Expired); return; }
                Err(e) => {
                    tracing::debug!("raftorch session {}: keepalive failed: {e}", state.lease_id);
                    next = Instant::now() + retry;
                }
            }
        }
    }
}
