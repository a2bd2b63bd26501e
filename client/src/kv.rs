//! The key-value store: plain text values, typed JSON values (serde) with CAS, fenced writes.

use hyper::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::client::{Call, Client};
use crate::error::{Error, Result};
use crate::fence::Fence;
use crate::transport::encode;

/// A key as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// Its value (UTF-8 text; typed values are JSON text).
    pub value: String,
    /// Revision (log index) of its latest write; pass it as `cas` to write only if unchanged.
    pub mod_revision: u64,
    /// Revision of its creation.
    pub create_revision: u64,
    /// Writes since creation.
    pub version: u64,
    /// The lease it dies with (0: none).
    pub lease: u64,
}

/// One page of a range read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePage {
    /// The keys, in key order.
    pub items: Vec<KeyValue>,
    /// The key to pass as `start_after` for the next page; `None` on the last page.
    pub next: Option<String>,
    /// The applied index this page reflects.
    pub index: u64,
}

impl KeyValue {
    pub(crate) fn from_json(v: &Value) -> Result<Self> {
        let value = match (
            &v["value"],
            v["value_b64"].as_str().or(v["value_base64"].as_str()),
        ) {
            (Value::String(s), _) => s.clone(),
            (Value::Null, Some(_)) => {
                return Err(Error::Codec("binary value: not text".into()));
            }
            (Value::Null, None) => String::new(),
            // A server that stores JSON values answers them as JSON.
            (other, _) => other.to_string(),
        };
        Ok(KeyValue {
            key: v["key"].as_str().unwrap_or_default().to_owned(),
            value,
            mod_revision: v["mod_revision"].as_u64().unwrap_or(0),
            create_revision: v["create_revision"].as_u64().unwrap_or(0),
            version: v["version"].as_u64().unwrap_or(0),
            lease: v["lease"].as_u64().unwrap_or(0),
        })
    }

    /// The value decoded as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(&self.value).map_err(|e| Error::Codec(e.to_string()))
    }
}

/// A typed value with the revision it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its `mod_revision`, for [`Client::cas_json`].
    pub revision: u64,
}

/// Options of a put.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Write only if the key's `mod_revision` is this (0: only if absent).
    pub cas: Option<u64>,
    /// Attach the key to this lease.
    pub lease: Option<u64>,
    /// Apply only while this fence holds.
    pub fence: Option<Fence>,
}

/// What a put returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutResult {
    /// The key's new `mod_revision`.
    pub revision: u64,
    /// Its version.
    pub version: u64,
}

fn kv_path(key: &str) -> String {
    format!("/v1/kv/{}", encode(key, true))
}

fn with_query(path: String, pairs: &[String]) -> String {
    if pairs.is_empty() {
        path
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

impl Client {
    /// `GET /v1/kv/{key}` (linearizable); `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        match self.call(Call::get(kv_path(key))).await {
            Ok(a) => KeyValue::from_json(&a.body).map(Some),
            Err(e) if e.is("key_not_found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every key starting with `prefix`, in key order, read page by page (1,000 keys a page),
    /// with the index of the first page. Each page is linearizable at its own index, so under
    /// concurrent writes the whole is not one snapshot: a watch resumed after the returned
    /// index sees every change the listing may have missed (and perhaps some it already
    /// holds, recognisable by `mod_revision`).
    pub async fn range(&self, prefix: &str) -> Result<(Vec<KeyValue>, u64)> {
        let mut page = self.range_page(prefix, None, None).await?;
        let (index, mut items) = (page.index, std::mem::take(&mut page.items));
        while let Some(next) = page.next.take() {
            page = self.range_page(prefix, Some(&next), None).await?;
            items.append(&mut page.items);
        }
        Ok((items, index))
    }

    /// One page of the keys starting with `prefix`: at most `limit` (the server's default
    /// 1,000 when `None`, at most 10,000) after `start_after`.
    pub async fn range_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: Option<usize>,
    ) -> Result<RangePage> {
        let mut path = format!("/v1/kv?prefix={}", encode(prefix, false));
        if let Some(after) = start_after {
            path.push_str(&format!("&start_after={}", encode(after, false)));
        }
        if let Some(n) = limit {
            path.push_str(&format!("&limit={n}"));
        }
        let a = self.call(Call::get(path)).await?;
        let items = a.body["items"]
            .as_array()
            .ok_or_else(|| Error::Protocol(format!("range without items: {}", a.body)))?
            .iter()
            .map(KeyValue::from_json)
            .collect::<Result<Vec<_>>>()?;
        let index = a.body["index"].as_u64().or(a.index).unwrap_or(0);
        // A server from before paging sends neither `more` nor `next`: its answer is whole.
        let next = match (&a.body["more"], a.body["next"].as_str()) {
            (Value::Bool(true), Some(next)) => Some(next.to_owned()),
            _ => None,
        };
        Ok(RangePage { items, next, index })
    }

    /// `PUT /v1/kv/{key}` with a text value. A failed CAS is `Err` with code `cas_failed`; a
    /// stale fence is [`Error::FencedOut`].
    pub async fn put(&self, key: &str, value: &str, opts: &PutOptions) -> Result<PutResult> {
        let mut q = Vec::new();
        if let Some(c) = opts.cas {
            q.push(format!("cas={c}"));
        }
        if let Some(l) = opts.lease {
            q.push(format!("lease={l}"));
        }
        if let Some(f) = &opts.fence {
            if self.features().no_fence.get() {
                return Err(Error::Protocol(
                    "this server does not check fences (it predates fenced writes)".into(),
                ));
            }
            q.push(f.query());
        }
        let call = Call::write(
            Method::PUT,
            with_query(kv_path(key), &q),
            Some(json!({"value": value})),
        );
        let a = match self.call(call).await {
            Err(e) if opts.fence.is_some() && e.is_unknown_param("fence") => {
                self.features().no_fence.set();
                return Err(Error::Protocol(
                    "this server does not check fences (it predates fenced writes)".into(),
                ));
            }
            other => other?,
        };
        Ok(PutResult {
            revision: a.body["revision"].as_u64().unwrap_or(0),
            version: a.body["version"].as_u64().unwrap_or(0),
        })
    }

    /// `DELETE /v1/kv/{key}`; whether it existed.
    pub async fn delete(&self, key: &str, cas: Option<u64>, fence: Option<&Fence>) -> Result<bool> {
        let mut q = Vec::new();
        if let Some(c) = cas {
            q.push(format!("cas={c}"));
        }
        if let Some(f) = fence {
            q.push(f.query());
        }
        let a = self
            .call(Call::write(
                Method::DELETE,
                with_query(kv_path(key), &q),
                None,
            ))
            .await?;
        Ok(a.body["deleted"].as_bool().unwrap_or(false))
    }

    /// The key's value decoded from JSON, with its revision.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Versioned<T>>> {
        match self.get(key).await? {
            None => Ok(None),
            Some(kv) => Ok(Some(Versioned {
                value: kv.json()?,
                revision: kv.mod_revision,
            })),
        }
    }

    /// Writes `value` as JSON.
    pub async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        opts: &PutOptions,
    ) -> Result<PutResult> {
        let text = serde_json::to_string(value).map_err(|e| Error::Codec(e.to_string()))?;
        self.put(key, &text, opts).await
    }

    /// Writes `value` as JSON only if the key is still at `revision` (0: only if absent);
    /// `Ok(None)` when another write came first.
    pub async fn cas_json<T: Serialize>(
        &self,
        key: &str,
        revision: u64,
        value: &T,
    ) -> Result<Option<PutResult>> {
        let opts = PutOptions {
            cas: Some(revision),
            ..PutOptions::default()
        };
        match self.put_json(key, value, &opts).await {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.is("cas_failed") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read-modify-write with CAS, retried while other writers interleave: `f` gets the
    /// current value (`None` when absent) and returns the new one.
    pub async fn update_json<T, F>(&self, key: &str, mut f: F) -> Result<(T, PutResult)>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> T,
    {
        loop {
            let current = self.get_json::<T>(key).await?;
            let revision = current.as_ref().map_or(0, |v| v.revision);
            let next = f(current.map(|v| v.value));
            if let Some(r) = self.cas_json(key, revision, &next).await? {
                return Ok((next, r));
            }
        }
    }
}
