//! [`Watch`]: the events of one namespace as a stream that resumes from its cursor, so a
//! reconnect, a failover or a page limit never loses or repeats an event; when the cursor is
//! older than the server's history it yields an explicit [`WatchItem::Resync`] with the
//! state read afresh and goes on from that read's index.

use core::fmt;
use core::time::Duration;
use std::collections::VecDeque;

use serde_json::{Map, Value};

use crate::client::{Call, Client};
use crate::error::{Error, Result};
use crate::transport::encode;

/// What to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// kv keys starting with this prefix.
    KvPrefix(String),
    /// Exactly this kv key.
    KvKey(String),
    /// One service's instances.
    Service(String),
    /// One lock.
    Lock(String),
    /// One election.
    Election(String),
}

/// A position in the event history: after the event at (`index`, `pos`), or after every event
/// of `index` when `pos` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    /// Log index.
    pub index: u64,
    /// Position within the entry.
    pub pos: Option<u32>,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(f, "{}.{p}", self.index),
            None => write!(f, "{}", self.index),
        }
    }
}

impl Cursor {
    /// Parses `INDEX` or `INDEX.POS`.
    pub fn parse(s: &str) -> Option<Cursor> {
        match s.split_once('.') {
            Some((i, p)) => Some(Cursor {
                index: i.parse().ok()?,
                pos: Some(p.parse().ok()?),
            }),
            None => Some(Cursor {
                index: s.parse().ok()?,
                pos: None,
            }),
        }
    }
}

/// One event, in the flat shape.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    /// `put`, `delete`, `expired`, `registered`, `deregistered`, `health`, `lock_acquired`,
    /// `lock_released`, `elected`, `resigned`, ...
    pub kind: String,
    /// `kv`, `services`, `locks`, `elections`, ...
    pub namespace: String,
    /// The key within its namespace (a kv key, a lock name, ...).
    pub key: String,
    /// The entry's index.
    pub index: u64,
    /// The position within the entry, when the server says.
    pub pos: Option<u32>,
    /// A put's value, when values were asked for.
    pub value: Option<String>,
    /// Every other field.
    pub fields: Map<String, Value>,
}

/// What the stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchItem {
    /// An event.
    Event(WatchEvent),
    /// The cursor was compacted away: `state` is the watched state read afresh (for kv, the
    /// `{"items": [...]}` of a range read) at `index`, from which the stream goes on.
    Resync {
        /// The newest index the server dropped, if it said.
        compacted_index: Option<u64>,
        /// The index the fresh read reflects.
        index: u64,
        /// The fresh state.
        state: Value,
    },
}

/// A resumable watch.
#[derive(Debug)]
pub struct Watch {
    client: Client,
    target: Target,
    cursor: Cursor,
    values: bool,
    wait: Duration,
    buffer: VecDeque<WatchItem>,
}

impl Watch {
    /// Watches `target` from after `cursor` (`Cursor::default()`: the whole retained history).
    pub fn new(client: &Client, target: Target, after: Cursor) -> Self {
        Watch {
            client: client.clone(),
            target,
            cursor: after,
            values: false,
            wait: Duration::from_secs(10),
            buffer: VecDeque::new(),
        }
    }

    /// Includes put values in kv events.
    pub fn with_values(mut self) -> Self {
        self.values = true;
        self
    }

    /// The long-poll wait per request (at most 30 s).
    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait.min(Duration::from_secs(30));
        self
    }

    /// The cursor after the last event yielded (or buffered).
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// The next item, waiting as long as it takes (transport failures are retried).
    pub async fn next(&mut self) -> Result<WatchItem> {
        loop {
            if let Some(item) = self.buffer.pop_front() {
                return Ok(item);
            }
            match self.poll_once().await {
                Ok(()) => {}
                Err(Error::Compacted { compacted_index }) => {
                    let (index, state) = self.fresh_state().await?;
                    self.cursor = Cursor { index, pos: None };
                    return Ok(WatchItem::Resync {
                        compacted_index,
                        index,
                        state,
                    });
                }
                Err(Error::Unavailable { .. }) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The next item if one arrives within `timeout`.
    pub async fn next_timeout(&mut self, timeout: Duration) -> Result<Option<WatchItem>> {
        match tokio::time::timeout(timeout, self.next()).await {
            Ok(r) => r.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// One request; fills the buffer and moves the cursor.
    async fn poll_once(&mut self) -> Result<()> {
        let legacy = self.client.features().legacy_watch.get();
        if !legacy {
            let (route, filter) = match &self.target {
                Target::KvPrefix(p) => ("kv", format!("prefix={}", encode(p, false))),
                Target::KvKey(k) => ("kv", format!("key={}", encode(k, false))),
                Target::Service(s) => ("services", format!("service={}", encode(s, false))),
                Target::Lock(n) => ("locks", format!("name={}", encode(n, false))),
                Target::Election(n) => ("elections", format!("name={}", encode(n, false))),
            };
            let mut path = format!(
                "/v1/watch/{route}?{filter}&after={}&wait_ms={}",
                self.cursor,
                self.wait.as_millis()
            );
            if self.values && route == "kv" {
                path.push_str("&values=true");
            }
            match self.client.call(Call::get(path).waiting(self.wait)).await {
                Ok(a) => {
                    let events = a.body["events"].as_array().cloned().unwrap_or_default();
                    for e in &events {
                        let ev = flat_event(e)?;
                        self.cursor = Cursor {
                            index: ev.index,
                            pos: ev.pos,
                        };
                        self.buffer.push_back(WatchItem::Event(ev));
                    }
                    if let Some(next) = a.body["next"].as_str().and_then(Cursor::parse) {
                        self.cursor = self.cursor.max(next);
                    }
                    return Ok(());
                }
                Err(e) if e.is("not_found") => self.client.features().legacy_watch.set(),
                Err(e) => return Err(e),
            }
        }
        self.poll_legacy().await
    }

    /// The raw `/v1/watch?prefix=NS/...` of an older server: index-only cursors, enum-tagged
    /// events (mapped to the flat shape here).
    async fn poll_legacy(&mut self) -> Result<()> {
        let (prefix, exact) = match &self.target {
            Target::KvPrefix(p) => (format!("kv/{p}"), None),
            Target::KvKey(k) => (format!("kv/{k}"), Some(format!("kv/{k}"))),
            Target::Service(s) => (format!("services/{s}/"), None),
            Target::Lock(n) => (format!("locks/{n}"), Some(format!("locks/{n}"))),
            Target::Election(n) => (format!("elections/{n}"), Some(format!("elections/{n}"))),
        };
        let path = format!(
            "/v1/watch?prefix={}&after={}&wait_ms={}",
            encode(&prefix, false),
            self.cursor.index,
            self.wait.as_millis()
        );
        let a = self.client.call(Call::get(path).waiting(self.wait)).await?;
        let events = a.body["events"].as_array().cloned().unwrap_or_default();
        let mut last = self.cursor.index;
        for e in &events {
            let full_key = e["key"].as_str().unwrap_or_default();
            let index = e["index"].as_u64().unwrap_or(0);
            last = last.max(index);
            if exact.as_deref().is_some_and(|x| x != full_key) {
                continue;
            }
            self.buffer.push_back(WatchItem::Event(legacy_event(e)));
        }
        // Without a page cut, an answer covers every event up to the index it was read at.
        let covered = if events.len() >= 1000 {
            last
        } else {
            a.body["index"].as_u64().unwrap_or(last).max(last)
        };
        self.cursor = Cursor {
            index: covered.max(self.cursor.index),
            pos: None,
        };
        Ok(())
    }

    /// Reads the watched state afresh for a resync.
    async fn fresh_state(&self) -> Result<(u64, Value)> {
        let path = match &self.target {
            Target::KvPrefix(p) => {
                let (items, index) = self.client.range(p).await?;
                let items: Vec<Value> = items
                    .iter()
                    .map(|kv| serde_json::json!({"key": kv.key, "value": kv.value, "mod_revision": kv.mod_revision}))
                    .collect();
                return Ok((index, serde_json::json!({ "items": items })));
            }
            Target::KvKey(k) => format!("/v1/kv?prefix={}", encode(k, false)),
            Target::Service(s) => format!("/v1/services/{}?limit=10000", encode(s, false)),
            Target::Lock(n) => format!("/v1/locks/{}", encode(n, false)),
            Target::Election(n) => format!("/v1/elections/{}", encode(n, false)),
        };
        match self.client.call(Call::get(path)).await {
            Ok(a) => Ok((a.body["index"].as_u64().or(a.index).unwrap_or(0), a.body)),
            Err(e) if e.is("service_not_found") => Ok((0, Value::Null)),
            Err(e) => Err(e),
        }
    }
}

/// An event in the flat shape.
fn flat_event(e: &Value) -> Result<WatchEvent> {
    let mut fields = e.as_object().cloned().unwrap_or_default();
    let take_str = |f: &mut Map<String, Value>, k: &str| {
        f.remove(k).and_then(|v| v.as_str().map(str::to_owned))
    };
    let kind = take_str(&mut fields, "type")
        .ok_or_else(|| Error::Protocol(format!("event without type: {e}")))?;
    let namespace = take_str(&mut fields, "namespace").unwrap_or_default();
    let key = take_str(&mut fields, "key").unwrap_or_default();
    let index = fields
        .remove("index")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| Error::Protocol(format!("event without index: {e}")))?;
    let pos = fields
        .remove("pos")
        .and_then(|v| v.as_u64())
        .map(|p| p as u32);
    let value = match fields.remove("value") {
        Some(Value::String(s)) => Some(s),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    Ok(WatchEvent {
        kind,
        namespace,
        key,
        index,
        pos,
        value,
        fields,
    })
}

/// An older server's `{"index", "key": "NS/...", "kind": "Variant" | {"Variant": {...}}}`.
fn legacy_event(e: &Value) -> WatchEvent {
    let full_key = e["key"].as_str().unwrap_or_default();
    let (namespace, key) = full_key.split_once('/').unwrap_or((full_key, ""));
    let (variant, mut fields) = match &e["kind"] {
        Value::String(s) => (s.clone(), Map::new()),
        Value::Object(o) => o
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.as_object().cloned().unwrap_or_default()))
            .unwrap_or_default(),
        _ => (String::new(), Map::new()),
    };
    let kind = match variant.as_str() {
        "KvPut" => "put",
        "KvDeleted" => "delete",
        "InstanceRegistered" => "registered",
        "InstanceUpdated" => "updated",
        "InstanceDeregistered" => "deregistered",
        "InstanceUnhealthy" | "InstanceHealthy" => "health",
        "InstanceExpired" => "expired",
        "LockGranted" => "lock_acquired",
        "LockReleased" => "lock_released",
        "ElectionLeader" => "elected",
        "ElectionResigned" => "resigned",
        "LeaseGranted" => "lease_granted",
        "LeaseRevoked" => "lease_revoked",
        "LeaseExpired" => "lease_expired",
        "DeploymentChanged" => "deployment",
        other => other,
    };
    if variant == "InstanceHealthy" {
        fields.insert("healthy".into(), Value::Bool(true));
    } else if variant == "InstanceUnhealthy" {
        fields.insert("healthy".into(), Value::Bool(false));
    }
    WatchEvent {
        kind: kind.to_owned(),
        namespace: namespace.to_owned(),
        key: key.to_owned(),
        index: e["index"].as_u64().unwrap_or(0),
        pos: None,
        value: None,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_order_and_round_trip() {
        let a = Cursor::parse("7").unwrap();
        let b = Cursor::parse("7.3").unwrap();
        assert_eq!(a.to_string(), "7");
        assert_eq!(b.to_string(), "7.3");
        assert!(Cursor::parse("x").is_none());
        assert!(
            Cursor {
                index: 8,
                pos: None
            } > b
        );
    }

    #[test]
    fn legacy_events_map_to_the_flat_shape() {
        let e = legacy_event(
            &json!({"index": 5, "key": "kv/a/b", "kind": {"KvPut": {"mod_revision": 5, "version": 1}}}),
        );
        assert_eq!(
            (
                e.kind.as_str(),
                e.namespace.as_str(),
                e.key.as_str(),
                e.index
            ),
            ("put", "kv", "a/b", 5)
        );
        assert_eq!(e.fields["version"], 1);
        let d = legacy_event(&json!({"index": 6, "key": "kv/a", "kind": "KvDeleted"}));
        assert_eq!(d.kind, "delete");
    }

    #[test]
    fn flat_events_parse() {
        let e = flat_event(&json!({"type": "put", "namespace": "kv", "key": "a", "index": 9, "pos": 2, "value": "x", "version": 3})).unwrap();
        assert_eq!(e.pos, Some(2));
        assert_eq!(e.value.as_deref(), Some("x"));
        assert_eq!(e.fields["version"], 3);
    }
}
