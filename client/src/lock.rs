//! [`Lock`]: a fenced lock held by a session's lease, as an RAII [`LockGuard`] with its
//! fencing token. A waiter whose session ends is never handed the lock (the server skips
//! dead leases; this side stops waiting at the session's deadline).

use core::time::Duration;

use hyper::Method;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::client::{Call, Client};
use crate::error::{Error, Result};
use crate::fence::Fence;
use crate::session::Session;
use crate::transport::encode;

/// The server's longest lock wait.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// One named lock.
#[derive(Debug, Clone)]
pub struct Lock {
    client: Client,
    name: String,
}

/// Holding a lock. Dropping the guard releases it in the background (on the runtime it was
/// acquired on); [`LockGuard::release`] does it and reports the outcome.
#[derive(Debug)]
pub struct LockGuard {
    lock: Lock,
    session: Session,
    token: u64,
    released: bool,
}

impl Lock {
    /// Lock `name` (`[A-Za-z0-9._-]`, up to 128 bytes).
    pub fn new(client: &Client, name: impl Into<String>) -> Self {
        Lock {
            client: client.clone(),
            name: name.into(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn path(&self, query: &str) -> String {
        format!("/v1/locks/{}{query}", encode(&self.name, false))
    }

    fn guard(&self, session: &Session, token: u64) -> LockGuard {
        LockGuard {
            lock: self.clone(),
            session: session.clone(),
            token,
            released: false,
        }
    }

    /// Acquires the lock for `session`, waiting in line for at most `timeout`. On timeout the
    /// session leaves the line and the answer is [`Error::Timeout`].
    pub async fn acquire(&self, session: &Session, timeout: Duration) -> Result<LockGuard> {
        let deadline = Instant::now() + timeout;
        let body = json!({"lease_id": session.lease_id()});
        let features = self.client.features();
        let mut after = None;
        loop {
            if !session.is_alive() {
                self.leave(session).await;
                return Err(Error::SessionLost);
            }
            let now = Instant::now();
            let wait = deadline.saturating_duration_since(now).min(MAX_WAIT);
            let answer = if features.no_lock_wait.get() {
                self.legacy_step(session, &body, after, wait).await?
            } else {
                let call = Call::write(
                    Method::POST,
                    self.path(&format!("?wait_ms={}", wait.as_millis())),
                    Some(body.clone()),
                )
                .waiting(wait);
                match self.client.call(call).await {
                    Ok(a) => (a.body, a.index),
                    Err(e) if e.is_unknown_param("wait_ms") => {
                        features.no_lock_wait.set();
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            };
            if let Some(token) = token_of(&answer.0, session.lease_id()) {
                return Ok(self.guard(session, token));
            }
            after = answer.1;
            if Instant::now() >= deadline {
                self.leave(session).await;
                return Err(Error::Timeout);
            }
        }
    }

    /// An older server without `?wait_ms`: acquire (idempotent: queued again answers the
    /// place), then wait for any event of this lock in the raw watch.
    async fn legacy_step(
        &self,
        session: &Session,
        body: &Value,
        after: Option<u64>,
        wait: Duration,
    ) -> Result<(Value, Option<u64>)> {
        if let Some(after) = after {
            let prefix = encode(&format!("locks/{}", self.name), false);
            let path = format!(
                "/v1/watch?prefix={prefix}&after={after}&wait_ms={}",
                wait.as_millis()
            );
            self.client.call(Call::get(path).waiting(wait)).await?;
        }
        let a = self
            .client
            .call(Call::write(Method::POST, self.path(""), Some(body.clone())))
            .await?;
        let _ = session;
        Ok((a.body, a.index))
    }

    /// Takes the lock only if it is free now; `None` if another lease holds it (this lease
    /// never joins the line).
    pub async fn try_acquire(&self, session: &Session) -> Result<Option<LockGuard>> {
        let features = self.client.features();
        if !features.no_lock_try.get() {
            let body = json!({"lease_id": session.lease_id(), "mode": "try"});
            match self
                .client
                .call(Call::write(Method::POST, self.path(""), Some(body)))
                .await
            {
                Ok(a) => {
                    return Ok(token_of(&a.body, session.lease_id()).map(|t| self.guard(session, t)))
                }
                Err(e) if e.is("lock_held") => return Ok(None),
                Err(e) if e.is_unknown_param("mode") => features.no_lock_try.set(),
                Err(e) => return Err(e),
            }
        }
        // An older server: queue, and leave the line at once when not granted.
        let body = json!({"lease_id": session.lease_id()});
        let a = self
            .client
            .call(Call::write(Method::POST, self.path(""), Some(body)))
            .await?;
        match token_of(&a.body, session.lease_id()) {
            Some(t) => Ok(Some(self.guard(session, t))),
            None => {
                self.leave(session).await;
                Ok(None)
            }
        }
    }

    /// Leaves the line (or releases), best effort.
    async fn leave(&self, session: &Session) {
        if let Err(e) = release(&self.client, &self.name, session.lease_id()).await {
            tracing::debug!("raftorch lock {}: leaving the line failed: {e}", self.name);
        }
    }

    /// The holder now: `(lease_id, fencing_token)`.
    pub async fn holder(&self) -> Result<Option<(u64, u64)>> {
        let a = self.client.call(Call::get(self.path(""))).await?;
        let h = &a.body["holder"];
        Ok(h["lease_id"].as_u64().zip(h["fencing_token"].as_u64()))
    }
}

/// The fencing token if `body` says `lease` holds the lock.
fn token_of(body: &Value, lease: u64) -> Option<u64> {
    match body["result"].as_str() {
        Some("lock_acquired") => body["fencing_token"].as_u64(),
        _ => {
            let h = &body["holder"];
            (h["lease_id"].as_u64() == Some(lease)).then(|| h["fencing_token"].as_u64())?
        }
    }
}

async fn release(client: &Client, name: &str, lease_id: u64) -> Result<()> {
    let path = format!("/v1/locks/{}?lease_id={lease_id}", encode(name, false));
    match client.call(Call::write(Method::DELETE, path, None)).await {
        Ok(_) => Ok(()),
        Err(e) if e.is("not_lock_holder") || e.is("lease_not_found") => Ok(()),
        Err(e) => Err(e),
    }
}

impl LockGuard {
    /// The fencing token: present it to every resource the lock guards.
    pub fn fencing_token(&self) -> u64 {
        self.token
    }

    /// The fence for writes made under this lock.
    pub fn fence(&self) -> Fence {
        Fence::Lock {
            name: self.lock.name.clone(),
            token: self.token,
        }
    }

    /// Whether the holding session is before its local deadline. No I/O.
    pub fn is_held(&self) -> bool {
        !self.released && self.session.is_alive()
    }

    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.lock.name
    }

    /// Releases the lock.
    pub async fn release(mut self) -> Result<()> {
        self.released = true;
        release(&self.lock.client, &self.lock.name, self.session.lease_id()).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let client = self.lock.client.clone();
            let name = self.lock.name.clone();
            let lease = self.session.lease_id();
            handle.spawn(async move {
                if let Err(e) = release(&client, &name, lease).await {
                    tracing::warn!("raftorch lock {name}: release on drop failed: {e}");
                }
            });
        } else {
            tracing::warn!(
                "raftorch lock {}: guard dropped outside a runtime; the lock is held until the session ends",
                self.lock.name
            );
        }
    }
}
