//! The blocking facade: the same client and state manager for code without an async runtime
//! (and for the Python bindings). Each owns a small tokio runtime whose threads run the
//! keepalives and campaigns; calls block the calling thread only. Do not call these from
//! inside an async task.

use core::time::Duration;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::kv::{KeyValue, PutOptions, PutResult, Versioned};
use crate::state_manager::{FailoverConfig, LeaderEvent, StateManagerConfig};
use crate::txn::{Txn, TxnResult};
use crate::watch::{Cursor, Target, WatchItem};
use crate::Config;

fn runtime() -> Result<Arc<tokio::runtime::Runtime>> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("raftorch-client")
        .enable_all()
        .build()
        .map(Arc::new)
        .map_err(|e| Error::Config(format!("cannot start the client runtime: {e}")))
}

/// A blocking [`crate::Client`].
#[derive(Clone)]
pub struct Client {
    rt: Arc<tokio::runtime::Runtime>,
    inner: crate::Client,
}

impl Client {
    /// A client with its own runtime.
    pub fn new(config: Config) -> Result<Self> {
        Ok(Client {
            rt: runtime()?,
            inner: crate::Client::new(config)?,
        })
    }

    /// The async client (use it on [`Client::runtime`]).
    pub fn inner(&self) -> &crate::Client {
        &self.inner
    }

    /// The runtime the client's background work runs on.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// See [`crate::Client::get`].
    pub fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.rt.block_on(self.inner.get(key))
    }

    /// See [`crate::Client::put`].
    pub fn put(&self, key: &str, value: &str, opts: &PutOptions) -> Result<PutResult> {
        self.rt.block_on(self.inner.put(key, value, opts))
    }

    /// See [`crate::Client::delete`].
    pub fn delete(&self, key: &str) -> Result<bool> {
        self.rt.block_on(self.inner.delete(key, None, None))
    }

    /// See [`crate::Client::range`].
    pub fn range(&self, prefix: &str) -> Result<(Vec<KeyValue>, u64)> {
        self.rt.block_on(self.inner.range(prefix))
    }

    /// See [`crate::Client::get_json`].
    pub fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Versioned<T>>> {
        self.rt.block_on(self.inner.get_json(key))
    }

    /// See [`crate::Client::cas_json`].
    pub fn cas_json<T: Serialize>(
        &self,
        key: &str,
        revision: u64,
        value: &T,
    ) -> Result<Option<PutResult>> {
        self.rt.block_on(self.inner.cas_json(key, revision, value))
    }

    /// See [`crate::Client::txn`].
    pub fn txn(&self, txn: &Txn) -> Result<TxnResult> {
        self.rt.block_on(self.inner.txn(txn))
    }

    /// See [`crate::Client::status`].
    pub fn status(&self) -> Result<Value> {
        self.rt.block_on(self.inner.status())
    }

    /// A [`crate::Watch`] of `target` from after `after`, each long-poll waiting at most
    /// `wait`; with `values`, kv events carry their values.
    pub fn watch(&self, target: Target, after: Cursor, values: bool, wait: Duration) -> Watch {
        let mut inner = crate::Watch::new(&self.inner, target, after).with_wait(wait);
        if values {
            inner = inner.with_values();
        }
        Watch {
            rt: self.rt.clone(),
            inner,
        }
    }
}

/// A blocking [`crate::Watch`]: resumes from its cursor across failovers, never losing or
/// repeating an event.
pub struct Watch {
    rt: Arc<tokio::runtime::Runtime>,
    inner: crate::Watch,
}

impl Watch {
    /// The next item if one arrives within `timeout`. A request cut short by the timeout
    /// moves nothing: the next call asks again from the same cursor.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchItem>> {
        self.rt.block_on(self.inner.next_timeout(timeout))
    }

    /// The cursor after the last event yielded.
    pub fn cursor(&self) -> Cursor {
        self.inner.cursor()
    }
}

/// A blocking [`crate::StateManager`].
#[derive(Clone)]
pub struct StateManager {
    rt: Arc<tokio::runtime::Runtime>,
    inner: crate::StateManager,
}

/// Blocking leadership events.
pub struct LeaderEvents {
    rt: Arc<tokio::runtime::Runtime>,
    inner: crate::state_manager::LeaderEvents,
}

impl LeaderEvents {
    /// The next event within `timeout`; `Err(Closed)` once the manager is closed.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<LeaderEvent>> {
        let inner = &mut self.inner;
        match self
            .rt
            .block_on(async { tokio::time::timeout(timeout, inner.recv()).await })
        {
            Ok(Some(e)) => Ok(Some(e)),
            Ok(None) => Err(Error::Closed),
            Err(_) => Ok(None),
        }
    }
}

/// A held lock; released when dropped.
pub struct LockGuard {
    rt: Arc<tokio::runtime::Runtime>,
    inner: Option<crate::LockGuard>,
}

impl LockGuard {
    /// The fencing token.
    pub fn fencing_token(&self) -> u64 {
        self.inner.as_ref().map_or(0, |g| g.fencing_token())
    }

    /// Whether the holding session is before its local deadline.
    pub fn is_held(&self) -> bool {
        self.inner.as_ref().is_some_and(|g| g.is_held())
    }

    /// Releases the lock.
    pub fn release(mut self) -> Result<()> {
        match self.inner.take() {
            Some(g) => self.rt.block_on(g.release()),
            None => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(g) = self.inner.take() {
            if let Err(e) = self.rt.block_on(g.release()) {
                tracing::warn!("raftorch lock: release failed: {e}");
            }
        }
    }
}

impl StateManager {
    /// A state manager with its own runtime; it starts campaigning at [`StateManager::start`].
    pub fn new(config: StateManagerConfig) -> Result<Self> {
        let rt = runtime()?;
        let inner = {
            let _guard = rt.enter();
            crate::StateManager::new(config)?
        };
        Ok(StateManager { rt, inner })
    }

    /// The async state manager.
    pub fn inner(&self) -> &crate::StateManager {
        &self.inner
    }

    /// The blocking client underneath (on the same runtime).
    pub fn client(&self) -> Client {
        Client {
            rt: self.rt.clone(),
            inner: self.inner.client().clone(),
        }
    }

    /// Starts campaigning (once).
    pub fn start(&self) -> Result<()> {
        let _guard = self.rt.enter();
        self.inner.start()
    }

    /// See [`crate::StateManager::is_leader`]. No I/O.
    pub fn is_leader(&self) -> bool {
        self.inner.is_leader()
    }

    /// See [`crate::StateManager::term`].
    pub fn term(&self) -> Option<u64> {
        self.inner.term()
    }

    /// See [`crate::StateManager::subscribe`].
    pub fn subscribe(&self) -> LeaderEvents {
        LeaderEvents {
            rt: self.rt.clone(),
            inner: self.inner.subscribe(),
        }
    }

    /// See [`crate::StateManager::configure_failover`].
    pub fn configure_failover(&self, failover: FailoverConfig) -> Result<()> {
        self.inner.configure_failover(failover)
    }

    /// See [`crate::StateManager::failover`].
    pub fn failover(&self) -> FailoverConfig {
        self.inner.failover()
    }

    /// See [`crate::StateManager::save_state_raw`].
    pub fn save_state_raw(&self, text: &str) -> Result<PutResult> {
        self.rt.block_on(self.inner.save_state_raw(text))
    }

    /// See [`crate::StateManager::get_state_raw`].
    pub fn get_state_raw(&self) -> Result<Option<String>> {
        self.rt.block_on(self.inner.get_state_raw())
    }

    /// See [`crate::StateManager::save_state`].
    pub fn save_state<T: Serialize>(&self, state: &T) -> Result<PutResult> {
        self.rt.block_on(self.inner.save_state(state))
    }

    /// See [`crate::StateManager::get_state`].
    pub fn get_state<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.rt.block_on(self.inner.get_state())
    }

    /// See [`crate::StateManager::trigger_failover`].
    pub fn trigger_failover(&self, target_instance: &str) -> Result<u64> {
        self.rt
            .block_on(self.inner.trigger_failover(target_instance))
    }

    /// See [`crate::StateManager::lock`].
    pub fn lock(&self, name: &str, timeout: Duration) -> Result<LockGuard> {
        let g = self.rt.block_on(self.inner.lock(name, timeout))?;
        Ok(LockGuard {
            rt: self.rt.clone(),
            inner: Some(g),
        })
    }

    /// See [`crate::StateManager::close`].
    pub fn close(&self) -> Result<()> {
        self.rt.block_on(self.inner.close())
    }
}
