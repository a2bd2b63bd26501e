//! [`StateManager`]: the high-availability module of an application (one leader among its
//! instances, fenced state saves, failover), in the shape of the Python bot's module.
//!
//! Mapping: `project_id` names the election `{project_id}.leader` (election names allow
//! `[A-Za-z0-9._-]`) and the state key `{project_id}/state`; `instance_id` is the candidate;
//! `failover_timeout` is the session lease's TTL; `health_check_interval` the keepalive period
//! (at most a third of the TTL).
//!
//! Guarantees: leadership events are delivered in order per subscriber, `Lost` only after
//! `Became` and each with its term; after a loss the instance campaigns again and never
//! gives up (backing off while the cluster is unreachable); `is_leader()` does no I/O and is
//! false from the session's local deadline on; `save_state` is fenced with the term, so a
//! deposed leader's save is refused by the server, never silently applied.

use core::time::Duration;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::client::{Client, Config};
use crate::election::{Election, Leadership, LostLeadership};
use crate::error::{Error, Result};
use crate::fence::Fence;
use crate::kv::{PutOptions, PutResult};
use crate::lock::{Lock, LockGuard};
use crate::session::{Session, SessionOptions};

/// Failover timing, in the bot's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverConfig {
    /// The keepalive period; at most a third of `failover_timeout`.
    pub health_check_interval: Duration,
    /// The session lease's TTL: a crashed leader is replaced within it.
    pub failover_timeout: Duration,
    /// Subtracted from the TTL for the local deadline (default: a tenth, 50 ms..2 s).
    pub margin: Option<Duration>,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        FailoverConfig {
            health_check_interval: Duration::from_secs(3),
            failover_timeout: Duration::from_secs(10),
            margin: None,
        }
    }
}

impl FailoverConfig {
    /// The session options this stands for, validated.
    pub fn session_options(&self) -> Result<SessionOptions> {
        let mut o = SessionOptions::new(self.failover_timeout);
        o.keepalive_interval = self.health_check_interval;
        if let Some(m) = self.margin {
            o.margin = m;
        }
        o.validate()?;
        Ok(o)
    }
}

/// A change of leadership, as subscribers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderEvent {
    /// This instance became leader with `term`; `state` is the saved state (raw text) read
    /// at or after `since_index`, the index where it became leader.
    Became {
        /// The term (the fence of its saves).
        term: u64,
        /// The index of the entry that made it leader.
        since_index: u64,
        /// The state as read then.
        state: Option<String>,
    },
    /// This instance stopped leading `term`.
    Lost {
        /// The term it led.
        term: u64,
    },
}

/// The identity of a state manager.
#[derive(Debug, Clone)]
pub struct StateManagerConfig {
    /// Names the election and the state key.
    pub project_id: String,
    /// This instance (the candidate name).
    pub instance_id: String,
    /// Where it runs (sent as the campaign value).
    pub region: String,
    /// How to reach the cluster.
    pub client: Config,
    /// Failover timing.
    pub failover: FailoverConfig,
}

struct Held {
    term: u64,
    session: Session,
}

struct Inner {
    client: Client,
    project_id: String,
    instance_id: String,
    region: String,
    failover: Mutex<FailoverConfig>,
    held: Mutex<Option<Held>>,
    subscribers: Mutex<Vec<mpsc::UnboundedSender<LeaderEvent>>>,
    session: Mutex<Option<Session>>,
    lock_session: tokio::sync::Mutex<Option<Session>>,
    restart: Notify,
    closed: watch::Sender<bool>,
    started: AtomicBool,
    task: Mutex<Option<JoinHandle<()>>>,
    warned_unfenced: AtomicBool,
}

/// A stream of [`LeaderEvent`]s for one subscriber.
#[derive(Debug)]
pub struct LeaderEvents {
    rx: mpsc::UnboundedReceiver<LeaderEvent>,
}

impl LeaderEvents {
    /// The next event; `None` once the state manager is closed and drained.
    pub async fn recv(&mut self) -> Option<LeaderEvent> {
        self.rx.recv().await
    }

    /// The next event if one is already there.
    pub fn try_recv(&mut self) -> Option<LeaderEvent> {
        self.rx.try_recv().ok()
    }
}

/// The state manager; cheap to clone.
#[derive(Clone)]
pub struct StateManager {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn valid_name(what: &str, s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 100
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "{what} {s:?} must be 1..=100 of [A-Za-z0-9._-], not starting with '.'"
        )))
    }
}

impl StateManager {
    /// A state manager (no I/O until [`StateManager::start`] or the first call that needs it).
    pub fn new(config: StateManagerConfig) -> Result<Self> {
        valid_name("project_id", &config.project_id)?;
        valid_name("instance_id", &config.instance_id)?;
        config.failover.session_options()?;
        let client = Client::new(config.client)?;
        let (closed, _) = watch::channel(false);
        Ok(StateManager {
            inner: Arc::new(Inner {
                client,
                project_id: config.project_id,
                instance_id: config.instance_id,
                region: config.region,
                failover: Mutex::new(config.failover),
                held: Mutex::new(None),
                subscribers: Mutex::new(Vec::new()),
                session: Mutex::new(None),
                lock_session: tokio::sync::Mutex::new(None),
                restart: Notify::new(),
                closed,
                started: AtomicBool::new(false),
                task: Mutex::new(None),
                warned_unfenced: AtomicBool::new(false),
            }),
        })
    }

    /// The client underneath.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The election's name.
    pub fn election_name(&self) -> String {
        format!("{}.leader", self.inner.project_id)
    }

    /// The state key.
    pub fn state_key(&self) -> String {
        format!("{}/state", self.inner.project_id)
    }

    /// This instance's id.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// Starts campaigning (on the current tokio runtime), once; later calls do nothing.
    pub fn start(&self) -> Result<()> {
        if *self.inner.closed.borrow() {
            return Err(Error::Closed);
        }
        if !self.inner.started.swap(true, Ordering::SeqCst) {
            let task = tokio::spawn(run(self.inner.clone()));
            *lock(&self.inner.task) = Some(task);
        }
        Ok(())
    }

    /// Whether this instance leads now: elected, and before its session's local deadline.
    /// No I/O.
    pub fn is_leader(&self) -> bool {
        lock(&self.inner.held)
            .as_ref()
            .is_some_and(|h| h.session.is_alive())
    }

    /// The term this instance leads, while it does.
    pub fn term(&self) -> Option<u64> {
        lock(&self.inner.held)
            .as_ref()
            .filter(|h| h.session.is_alive())
            .map(|h| h.term)
    }

    /// Leadership events from now on (a `Became` first if this instance leads now).
    pub fn subscribe(&self) -> LeaderEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        // Under `held`, so no event can slip between the snapshot and the registration.
        let held = lock(&self.inner.held);
        if let Some(h) = held.as_ref() {
            let _ = tx.send(LeaderEvent::Became {
                term: h.term,
                since_index: 0,
                state: None,
            });
        }
        lock(&self.inner.subscribers).push(tx);
        drop(held);
        LeaderEvents { rx }
    }

    /// The failover timing now.
    pub fn failover(&self) -> FailoverConfig {
        *lock(&self.inner.failover)
    }

    /// Changes the failover timing (validated). A follower starts a new session with it at
    /// once; a leader keeps its session (a lease's TTL cannot change) and uses it from its
    /// next session on.
    pub fn configure_failover(&self, failover: FailoverConfig) -> Result<()> {
        failover.session_options()?;
        *lock(&self.inner.failover) = failover;
        if !self.is_leader() {
            self.inner.restart.notify_one();
        }
        Ok(())
    }

    /// Saves the state (raw text) as leader, fenced with the term: refused with
    /// [`Error::NotLeader`] locally or [`Error::FencedOut`] by the server once deposed.
    pub async fn save_state_raw(&self, text: &str) -> Result<PutResult> {
        let Some(term) = self.term() else {
            return Err(Error::NotLeader);
        };
        let fence = Fence::Election {
            name: self.election_name(),
            term,
        };
        let opts = PutOptions {
            fence: Some(fence),
            ..PutOptions::default()
        };
        let key = self.state_key();
        match self.inner.client.put(&key, text, &opts).await {
            Err(Error::Protocol(m)) if self.inner.client.features().no_fence.get() => {
                // An older server cannot check the term: fall back to the local check alone.
                if !self.inner.warned_unfenced.swap(true, Ordering::Relaxed) {
                    tracing::warn!("raftorch: {m}; state saves are checked locally only");
                }
                if !self.is_leader() {
                    return Err(Error::NotLeader);
                }
                self.inner
                    .client
                    .put(&key, text, &PutOptions::default())
                    .await
            }
            other => other,
        }
    }

    /// The saved state (raw text), read linearizably; `None` before the first save.
    pub async fn get_state_raw(&self) -> Result<Option<String>> {
        Ok(self
            .inner
            .client
            .get(&self.state_key())
            .await?
            .map(|kv| kv.value))
    }

    /// [`StateManager::save_state_raw`] of `state` as JSON.
    pub async fn save_state<T: Serialize>(&self, state: &T) -> Result<PutResult> {
        let text = serde_json::to_string(state).map_err(|e| Error::Codec(e.to_string()))?;
        self.save_state_raw(&text).await
    }

    /// [`StateManager::get_state_raw`] decoded from JSON.
    pub async fn get_state<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        match self.get_state_raw().await? {
            None => Ok(None),
            Some(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| Error::Codec(e.to_string())),
        }
    }

    /// Hands leadership to `target_instance` (a queued candidate); its new term.
    pub async fn trigger_failover(&self, target_instance: &str) -> Result<u64> {
        Election::new(&self.inner.client, self.election_name())
            .transfer(target_instance)
            .await
    }

    /// Takes lock `{project_id}.{name}` (on a session of its own), waiting at most `timeout`.
    pub async fn lock(&self, name: &str, timeout: Duration) -> Result<LockGuard> {
        let session = {
            let mut s = self.inner.lock_session.lock().await;
            match s.as_ref() {
                Some(live) if live.is_alive() => live.clone(),
                _ => {
                    let opts = self.failover().session_options()?;
                    let fresh = Session::grant(&self.inner.client, opts).await?;
                    *s = Some(fresh.clone());
                    fresh
                }
            }
        };
        Lock::new(
            &self.inner.client,
            format!("{}.{name}", self.inner.project_id),
        )
        .acquire(&session, timeout)
        .await
    }

    /// Stops campaigning, resigns (a successor takes over at once, not after a TTL) and
    /// revokes the sessions. Subscribers get `Lost` if this instance led.
    pub async fn close(&self) -> Result<()> {
        if self.inner.closed.send_replace(true) {
            return Ok(());
        }
        if let Some(task) = lock(&self.inner.task).take() {
            task.abort();
        }
        let was_leader = self.inner.lose();
        let election = Election::new(&self.inner.client, self.election_name());
        let mut result = Ok(());
        if self.inner.started.load(Ordering::SeqCst) || was_leader {
            result = election.resign(&self.inner.instance_id).await;
        }
        let session = lock(&self.inner.session).take();
        if let Some(s) = session {
            let r = s.revoke().await;
            if result.is_ok() {
                result = r;
            }
        }
        if let Some(s) = self.inner.lock_session.lock().await.take() {
            let _ = s.revoke().await;
        }
        lock(&self.inner.subscribers).clear();
        result
    }
}

impl Inner {
    fn emit(&self, event: LeaderEvent) {
        lock(&self.subscribers).retain(|tx| tx.send(event.clone()).is_ok());
    }

    fn become_leader(&self, l: &Leadership, state: Option<String>) {
        let mut held = lock(&self.held);
        *held = Some(Held {
            term: l.term(),
            session: l.session().clone(),
        });
        self.emit(LeaderEvent::Became {
            term: l.term(),
            since_index: l.since_index(),
            state,
        });
    }

    /// Clears the leadership; whether there was one.
    fn lose(&self) -> bool {
        let mut held = lock(&self.held);
        match held.take() {
            Some(h) => {
                self.emit(LeaderEvent::Lost { term: h.term });
                true
            }
            None => false,
        }
    }
}

/// The campaign loop: session, campaign, lead until lost, campaign again; never exits
/// before `close`.
async fn run(inner: Arc<Inner>) {
    let client = inner.client.clone();
    let election = Election::new(&client, format!("{}.leader", inner.project_id));
    let state_key = format!("{}/state", inner.project_id);
    let mut backoff = Duration::from_millis(100);
    loop {
        let options = match lock(&inner.failover).session_options() {
            Ok(o) => o,
            Err(e) => {
                tracing::error!("raftorch state manager: {e}");
                return;
            }
        };
        let session = match Session::grant(&client, options).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("raftorch state manager: no session yet: {e}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        *lock(&inner.session) = Some(session.clone());
        lead_with(&inner, &election, &state_key, &session).await;
        let old = session.clone();
        tokio::spawn(async move {
            let _ = old.revoke().await;
        });
    }
}

/// Campaigns and leads with one session until the session ends (or a restart is asked).
async fn lead_with(inner: &Inner, election: &Election, state_key: &str, session: &Session) {
    let value =
        serde_json::json!({"instance": inner.instance_id, "region": inner.region}).to_string();
    loop {
        let won = tokio::select! {
            w = campaign(election, session, &inner.instance_id, &value) => w,
            _ = inner.restart.notified() => return,
        };
        let leadership = match won {
            Ok(l) => l,
            Err(Error::SessionLost) => return,
            Err(e) => {
                tracing::debug!("raftorch state manager: campaign failed: {e}");
                if !session.is_alive() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // The state as of (at least) the index where this instance became leader.
        let state = loop {
            match inner.client.get(state_key).await {
                Ok(kv) => break Some(kv.map(|kv| kv.value)),
                Err(e) if session.is_alive() => {
                    tracing::debug!("raftorch state manager: reading the state: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => break None,
            }
        };
        let Some(state) = state else { return };
        if !session.is_alive() {
            return;
        }
        inner.become_leader(&leadership, state);
        let why = leadership.lost().await;
        inner.lose();
        match why {
            LostLeadership::SessionLost => return,
            // Transferred or resigned by someone: still queued with a live session.
            LostLeadership::Replaced(_) => continue,
        }
    }
}

/// `campaign_and_wait`, clearing a stale claim of this candidate under an older lease.
async fn campaign(
    election: &Election,
    session: &Session,
    candidate: &str,
    value: &str,
) -> Result<Leadership> {
    match election
        .campaign_and_wait(session, candidate, Some(value))
        .await
    {
        Err(e) if e.is("candidate_lease_mismatch") => {
            election.resign(candidate).await?;
            election
                .campaign_and_wait(session, candidate, Some(value))
                .await
        }
        other => other,
    }
}
