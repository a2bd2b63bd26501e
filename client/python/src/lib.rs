//! `raftorch._native`: the Rust state manager exposed to Python. Every call that may wait
//! releases the GIL; keepalives, campaigns and the jeopardy timer run on the client's own
//! tokio threads, never under the GIL. The Python package (`python/raftorch`) builds the
//! documented API (StateManager, codecs, callbacks on their own thread) on these classes.

use std::sync::Mutex;
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use raftorch_client::blocking;
use raftorch_client::{
    Config, Cursor, Error, FailoverConfig, LeaderEvent, StateManagerConfig, Txn, WatchItem,
    WatchTarget,
};

create_exception!(
    raftorch,
    RaftorchError,
    PyException,
    "Any raftorch client error."
);
create_exception!(
    raftorch,
    NotLeaderError,
    RaftorchError,
    "This instance is not the leader."
);
create_exception!(
    raftorch,
    FencedOutError,
    NotLeaderError,
    "The server refused a write made under a term or token that is no longer current."
);
create_exception!(
    raftorch,
    UnavailableError,
    RaftorchError,
    "No node answered in time."
);
create_exception!(
    raftorch,
    LockTimeoutError,
    RaftorchError,
    "The lock was not acquired in time."
);
create_exception!(
    raftorch,
    ClosedError,
    RaftorchError,
    "The state manager is closed."
);

fn py_err(e: Error) -> PyErr {
    let m = e.to_string();
    match e {
        Error::NotLeader | Error::SessionLost => NotLeaderError::new_err(m),
        Error::FencedOut { .. } => FencedOutError::new_err(m),
        Error::Unavailable { .. } => UnavailableError::new_err(m),
        Error::Timeout => LockTimeoutError::new_err(m),
        Error::Config(_) => PyValueError::new_err(m),
        Error::Closed => ClosedError::new_err(m),
        _ => RaftorchError::new_err(m),
    }
}

fn secs(what: &str, s: f64) -> PyResult<Duration> {
    if !s.is_finite() || s <= 0.0 {
        return Err(PyValueError::new_err(format!(
            "{what} must be a positive number of seconds, not {s}"
        )));
    }
    Ok(Duration::from_secs_f64(s))
}

fn failover(interval: f64, timeout: f64, margin: Option<f64>) -> PyResult<FailoverConfig> {
    Ok(FailoverConfig {
        health_check_interval: secs("health_check_interval", interval)?,
        failover_timeout: secs("failover_timeout", timeout)?,
        margin: margin.map(|m| secs("margin", m)).transpose()?,
    })
}

/// The native state manager.
#[pyclass(module = "raftorch._native")]
struct NativeStateManager {
    inner: blocking::StateManager,
}

#[pymethods]
impl NativeStateManager {
    #[new]
    #[pyo3(signature = (project_id, instance_id, region, endpoints, health_check_interval, failover_timeout, margin=None, token=None, cacert=None, traceparent=None))]
    fn new(
        project_id: String,
        instance_id: String,
        region: String,
        endpoints: Vec<String>,
        health_check_interval: f64,
        failover_timeout: f64,
        margin: Option<f64>,
        token: Option<String>,
        cacert: Option<String>,
        traceparent: Option<String>,
    ) -> PyResult<Self> {
        let mut client = Config::new(endpoints);
        client.token = token;
        client.cacert = cacert.map(Into::into);
        client.traceparent = traceparent;
        let config = StateManagerConfig {
            project_id,
            instance_id,
            region,
            client,
            failover: failover(health_check_interval, failover_timeout, margin)?,
        };
        Ok(NativeStateManager {
            inner: blocking::StateManager::new(config).map_err(py_err)?,
        })
    }

    fn start(&self) -> PyResult<()> {
        self.inner.start().map_err(py_err)
    }

    fn is_leader(&self) -> bool {
        self.inner.is_leader()
    }

    fn term(&self) -> Option<u64> {
        self.inner.term()
    }

    /// (health_check_interval, failover_timeout, margin) in seconds.
    fn failover(&self) -> (f64, f64, Option<f64>) {
        let f = self.inner.failover();
        (
            f.health_check_interval.as_secs_f64(),
            f.failover_timeout.as_secs_f64(),
            f.margin.map(|m| m.as_secs_f64()),
        )
    }

    #[pyo3(signature = (health_check_interval, failover_timeout, margin=None))]
    fn configure_failover(
        &self,
        health_check_interval: f64,
        failover_timeout: f64,
        margin: Option<f64>,
    ) -> PyResult<()> {
        self.inner
            .configure_failover(failover(health_check_interval, failover_timeout, margin)?)
            .map_err(py_err)
    }

    /// Saves the raw text; the new revision.
    fn save_state_raw(&self, py: Python<'_>, text: String) -> PyResult<u64> {
        py.allow_threads(|| self.inner.save_state_raw(&text))
            .map(|r| r.revision)
            .map_err(py_err)
    }

    fn get_state_raw(&self, py: Python<'_>) -> PyResult<Option<String>> {
        py.allow_threads(|| self.inner.get_state_raw())
            .map_err(py_err)
    }

    fn trigger_failover(&self, py: Python<'_>, target_instance: String) -> PyResult<u64> {
        py.allow_threads(|| self.inner.trigger_failover(&target_instance))
            .map_err(py_err)
    }

    fn subscribe(&self) -> NativeEvents {
        NativeEvents {
            inner: Mutex::new(self.inner.subscribe()),
        }
    }

    fn lock(&self, py: Python<'_>, name: String, timeout: f64) -> PyResult<NativeLock> {
        let timeout = secs("timeout", timeout)?;
        let guard = py
            .allow_threads(|| self.inner.lock(&name, timeout))
            .map_err(py_err)?;
        Ok(NativeLock {
            inner: Mutex::new(Some(guard)),
        })
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| self.inner.close()).map_err(py_err)
    }

    /// `POST /v1/txn` with the JSON text `body`; the answer as JSON text.
    fn txn_raw(&self, py: Python<'_>, body: String) -> PyResult<String> {
        let txn: Txn = serde_json::from_str(&body)
            .map_err(|e| PyValueError::new_err(format!("not a transaction: {e}")))?;
        let result = py
            .allow_threads(|| self.inner.client().txn(&txn))
            .map_err(py_err)?;
        serde_json::to_string(&result).map_err(|e| RaftorchError::new_err(e.to_string()))
    }

    /// Every key under `prefix` as `(key, value, mod_revision)`, and the index read at.
    fn range_raw(&self, py: Python<'_>, prefix: String) -> PyResult<RangeAnswer> {
        let (items, index) = py
            .allow_threads(|| self.inner.client().range(&prefix))
            .map_err(py_err)?;
        let items = items
            .into_iter()
            .map(|kv| (kv.key, kv.value, kv.mod_revision))
            .collect();
        Ok((items, index))
    }

    /// Watches kv key `key` (with values) from after index `after`.
    fn watch_key(&self, key: String, after: u64) -> NativeWatch {
        let after = Cursor {
            index: after,
            pos: None,
        };
        let watch = self.inner.client().watch(
            WatchTarget::KvKey(key),
            after,
            true,
            Duration::from_millis(500),
        );
        NativeWatch {
            inner: Mutex::new(watch),
        }
    }
}

/// A range read as Python sees it: `([(key, value, mod_revision)], index)`.
type RangeAnswer = (Vec<(String, String, u64)>, u64);

/// A watch item as Python sees it: `(kind, key, value, index, pos)`.
type PyWatchItem = (String, String, Option<String>, u64, u32);

/// A resumable kv watch.
#[pyclass(module = "raftorch._native")]
struct NativeWatch {
    inner: Mutex<blocking::Watch>,
}

#[pymethods]
impl NativeWatch {
    /// The next item within `timeout` seconds, or `None`: `("put"|"delete", key, value,
    /// index, pos)`, or `("resync", "", state_json, index, 0)` after compaction.
    fn next(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<PyWatchItem>> {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        let got = py.allow_threads(|| {
            let mut watch = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            watch.next_timeout(timeout)
        });
        Ok(match got.map_err(py_err)? {
            None => None,
            Some(WatchItem::Event(e)) => {
                Some((e.kind, e.key, e.value, e.index, e.pos.unwrap_or(0)))
            }
            Some(WatchItem::Resync { index, state, .. }) => Some((
                "resync".into(),
                String::new(),
                Some(state.to_string()),
                index,
                0,
            )),
        })
    }

    /// The cursor after the last item, as `INDEX` or `INDEX.POS`.
    fn cursor(&self) -> String {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cursor()
            .to_string()
    }
}

/// An event as Python sees it: `(kind, term, since_index, state)`.
type PyEvent = (String, u64, u64, Option<String>);

/// Leadership events of one subscriber.
#[pyclass(module = "raftorch._native")]
struct NativeEvents {
    inner: Mutex<blocking::LeaderEvents>,
}

#[pymethods]
impl NativeEvents {
    /// The next event within `timeout` seconds: `("became", term, since_index, state)`,
    /// `("lost", term, 0, None)`, `None` on timeout, `("closed", 0, 0, None)` at the end.
    fn next(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<PyEvent>> {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        let got = py.allow_threads(|| {
            let mut events = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            events.recv_timeout(timeout)
        });
        Ok(match got {
            Ok(Some(LeaderEvent::Became {
                term,
                since_index,
                state,
            })) => Some(("became".into(), term, since_index, state)),
            Ok(Some(LeaderEvent::Lost { term })) => Some(("lost".into(), term, 0, None)),
            Ok(None) => None,
            Err(_) => Some(("closed".into(), 0, 0, None)),
        })
    }
}

/// A held lock.
#[pyclass(module = "raftorch._native")]
struct NativeLock {
    inner: Mutex<Option<blocking::LockGuard>>,
}

#[pymethods]
impl NativeLock {
    /// The fencing token.
    fn token(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |g| g.fencing_token())
    }

    /// Whether the holding session is before its local deadline.
    fn is_held(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|g| g.is_held())
    }

    fn release(&self, py: Python<'_>) -> PyResult<()> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        match guard {
            Some(g) => py.allow_threads(|| g.release()).map_err(py_err),
            None => Ok(()),
        }
    }
}

/// A new W3C `traceparent` (a new, sampled trace with random ids).
#[pyfunction]
fn new_traceparent() -> String {
    raftorch_client::trace::generate()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(new_traceparent, m)?)?;
    m.add_class::<NativeStateManager>()?;
    m.add_class::<NativeEvents>()?;
    m.add_class::<NativeLock>()?;
    m.add_class::<NativeWatch>()?;
    m.add("RaftorchError", py.get_type::<RaftorchError>())?;
    m.add("NotLeaderError", py.get_type::<NotLeaderError>())?;
    m.add("FencedOutError", py.get_type::<FencedOutError>())?;
    m.add("UnavailableError", py.get_type::<UnavailableError>())?;
    m.add("LockTimeoutError", py.get_type::<LockTimeoutError>())?;
    m.add("ClosedError", py.get_type::<ClosedError>())?;
    Ok(())
}
