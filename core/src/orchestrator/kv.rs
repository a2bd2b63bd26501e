//! The key-value store: etcd-style revisions, compare-and-swap and keys attached to leases.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ops::Bound;

use rpds::{RedBlackTreeMapSync, RedBlackTreeSetSync};
use serde::{Deserialize, Serialize};

use super::alarm;
use super::error::OrchestratorError;
use super::watch::{EventKind, WatchLog};

/// One stored key's value and history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The value.
    pub value: Vec<u8>,
    /// Index of the entry that created the key (since it last did not exist).
    pub create_revision: u64,
    /// Index of the entry that last wrote it.
    pub mod_revision: u64,
    /// Writes since creation: 1 after the creating `Put`.
    pub version: u64,
    /// The lease it dies with, if any.
    pub lease: Option<u64>,
}

/// All keys, plus an index of the keys attached to each lease.
///
/// Both are persistent (structurally shared) trees, so a clone of the store costs O(1) however
/// many keys it holds: a snapshot encodes such a clone off the loop that sends heartbeats
/// while this one keeps applying (a write then copies only its path, O(log n)). They encode
/// exactly as the `BTreeMap` and `BTreeSet` they replaced, so older snapshots still restore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KvStore {
    keys: RedBlackTreeMapSync<String, KeyValue>,
    // Invariant: (l, k) is here exactly when keys[k].lease == Some(l).
    by_lease: RedBlackTreeSetSync<(u64, String)>,
    /// The sum of [`alarm::key_bytes`] over `keys`: derived, so not encoded (a decoded store
    /// recounts it, see [`KvStore::recount`]).
    #[serde(skip)]
    bytes: u64,
}

impl Default for KvStore {
    fn default() -> Self {
        KvStore {
            keys: RedBlackTreeMapSync::new_sync(),
            by_lease: RedBlackTreeSetSync::new_sync(),
            bytes: 0,
        }
    }
}

impl KvStore {
    fn check(&self, key: &str, expected_revision: Option<u64>) -> Result<(), OrchestratorError> {
        let current_revision = self.keys.get(key).map_or(0, |kv| kv.mod_revision);
        match expected_revision {
            Some(expected) if expected != current_revision => {
                Err(OrchestratorError::CasFailed { current_revision })
            }
            _ => Ok(()),
        }
    }

    /// Writes `key` (validated by the caller, `lease` known to be live). Returns the new record.
    pub(crate) fn put(
        &mut self,
        key: String,
        value: Vec<u8>,
        lease: Option<u64>,
        expected_revision: Option<u64>,
        index: u64,
        watch: &mut WatchLog,
    ) -> Result<&KeyValue, OrchestratorError> {
        self.check(&key, expected_revision)?;
        let old = self.keys.get(&key);
        let kv = KeyValue {
            value,
            create_revision: old.map_or(index, |o| o.create_revision),
            mod_revision: index,
            version: old.map_or(1, |o| o.version + 1),
            lease,
        };
        let old_bytes = old.map(|o| alarm::key_bytes(&key, o.value.len()));
        if let Some(old_lease) = old.and_then(|o| o.lease) {
            self.by_lease.remove_mut(&(old_lease, key.clone()));
        }
        if let Some(l) = lease {
            self.by_lease.insert_mut((l, key.clone()));
        }
        watch.push_put(
            index,
            format!("kv/{key}"),
            EventKind::KvPut {
                mod_revision: kv.mod_revision,
                version: kv.version,
            },
            kv.value.clone(),
        );
        let added = alarm::key_bytes(&key, kv.value.len());
        self.bytes = self
            .bytes
            .saturating_sub(old_bytes.unwrap_or(0))
            .saturating_add(added);
        self.keys.insert_mut(key.clone(), kv);
        Ok(self.keys.get(&key).expect("just inserted"))
    }

    /// Deletes `key`; `Ok(false)` when it did not exist (and no revision was expected).
    pub(crate) fn delete(
        &mut self,
        key: &str,
        expected_revision: Option<u64>,
        index: u64,
        watch: &mut WatchLog,
    ) -> Result<bool, OrchestratorError> {
        self.check(key, expected_revision)?;
        Ok(self.remove(key, index, watch))
    }

    fn remove(&mut self, key: &str, index: u64, watch: &mut WatchLog) -> bool {
        let Some((len, lease)) = self.keys.get(key).map(|old| (old.value.len(), old.lease)) else {
            return false;
        };
        self.keys.remove_mut(key);
        self.bytes = self.bytes.saturating_sub(alarm::key_bytes(key, len));
        if let Some(l) = lease {
            self.by_lease.remove_mut(&(l, key.into()));
        }
        watch.push(index, format!("kv/{key}"), EventKind::KvDeleted);
        true
    }

    /// Deletes every key attached to `lease`, in key order. Returns how many.
    pub(crate) fn delete_lease_keys(
        &mut self,
        lease: u64,
        index: u64,
        watch: &mut WatchLog,
    ) -> usize {
        let keys: Vec<String> = self
            .by_lease
            .range((lease, String::new())..)
            .take_while(|(l, _)| *l == lease)
            .map(|(_, k)| k.clone())
            .collect();
        keys.iter().filter(|k| self.remove(k, index, watch)).count()
    }

    /// The bytes the keys and values count for in the live state.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// How many keys there are.
    pub(crate) fn len(&self) -> u64 {
        self.keys.size() as u64
    }

    /// Counts [`KvStore::bytes`] again, for a store decoded from a snapshot.
    pub(crate) fn recount(&mut self) {
        self.bytes = self
            .keys
            .iter()
            .map(|(k, v)| alarm::key_bytes(k, v.value.len()))
            .fold(0, u64::saturating_add);
    }

    /// One key.
    pub(crate) fn get(&self, key: &str) -> Option<&KeyValue> {
        self.keys.get(key)
    }

    /// Every key starting with `prefix`, in key order.
    pub(crate) fn range<'a, 'p>(
        &'a self,
        prefix: &'p str,
    ) -> impl Iterator<Item = (&'a str, &'a KeyValue)> + use<'a, 'p> {
        self.range_from(prefix, None)
    }

    /// The keys starting with `prefix` that sort after `start_after`, in key order.
    pub(crate) fn range_from<'a, 'p>(
        &'a self,
        prefix: &'p str,
        start_after: Option<&'p str>,
    ) -> impl Iterator<Item = (&'a str, &'a KeyValue)> + use<'a, 'p> {
        let lower = super::page::lower_bound(prefix, start_after);
        self.keys
            .range::<str, _>((lower, Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn revisions_and_versions() {
        let (mut kv, mut w) = (KvStore::default(), WatchLog::default());
        let a = kv
            .put("a".into(), vec![1], None, None, 3, &mut w)
            .unwrap()
            .clone();
        assert_eq!((a.create_revision, a.mod_revision, a.version), (3, 3, 1));
        let a = kv
            .put("a".into(), vec![2], None, None, 5, &mut w)
            .unwrap()
            .clone();
        assert_eq!(
            (a.create_revision, a.mod_revision, a.version, a.value),
            (3, 5, 2, vec![2])
        );
        assert_eq!(kv.delete("a", None, 6, &mut w), Ok(true));
        assert_eq!(kv.delete("a", None, 7, &mut w), Ok(false));
        let a = kv
            .put("a".into(), vec![3], None, None, 8, &mut w)
            .unwrap()
            .clone();
        assert_eq!(
            (a.create_revision, a.version),
            (8, 1),
            "recreated from scratch"
        );
        assert_eq!(w.after("kv/a", 0, 10).unwrap().len(), 4);
    }

    #[test]
    fn compare_and_swap() {
        let (mut kv, mut w) = (KvStore::default(), WatchLog::default());
        assert!(
            kv.put("a".into(), vec![1], None, Some(0), 2, &mut w)
                .is_ok(),
            "create-only on a new key"
        );
        assert_eq!(
            kv.put("a".into(), vec![2], None, Some(0), 3, &mut w),
            Err(OrchestratorError::CasFailed {
                current_revision: 2
            })
        );
        assert_eq!(
            kv.put("a".into(), vec![2], None, Some(1), 3, &mut w),
            Err(OrchestratorError::CasFailed {
                current_revision: 2
            })
        );
        assert_eq!(
            kv.get("a").unwrap().value,
            vec![1],
            "a failed CAS changes nothing"
        );
        assert!(kv
            .put("a".into(), vec![2], None, Some(2), 3, &mut w)
            .is_ok());
        assert_eq!(
            kv.delete("a", Some(2), 4, &mut w),
            Err(OrchestratorError::CasFailed {
                current_revision: 3
            })
        );
        assert_eq!(
            kv.delete("b", Some(2), 4, &mut w),
            Err(OrchestratorError::CasFailed {
                current_revision: 0
            })
        );
        assert_eq!(kv.delete("a", Some(3), 4, &mut w), Ok(true));
        assert_eq!(w.after("", 0, 10).unwrap().len(), 3);
    }

    #[test]
    fn lease_attachment() {
        let (mut kv, mut w) = (KvStore::default(), WatchLog::default());
        kv.put("a".into(), vec![], Some(7), None, 1, &mut w)
            .unwrap();
        kv.put("b".into(), vec![], Some(7), None, 2, &mut w)
            .unwrap();
        kv.put("c".into(), vec![], Some(8), None, 3, &mut w)
            .unwrap();
        kv.put("b".into(), vec![], None, None, 4, &mut w).unwrap(); // detached
        kv.put("c".into(), vec![], Some(7), None, 5, &mut w)
            .unwrap(); // moved
        assert_eq!(kv.delete_lease_keys(8, 6, &mut w), 0);
        assert_eq!(kv.delete_lease_keys(7, 6, &mut w), 2);
        assert_eq!(kv.range("").map(|(k, _)| k).collect::<Vec<_>>(), ["b"]);
        assert!(kv.by_lease.is_empty());
    }

    #[test]
    fn prefix_range() {
        let (mut kv, mut w) = (KvStore::default(), WatchLog::default());
        for k in ["a", "app/1", "app/2", "apq", "b"] {
            kv.put(k.into(), vec![], None, None, 1, &mut w).unwrap();
        }
        assert_eq!(
            kv.range("app/").map(|(k, _)| k).collect::<Vec<_>>(),
            ["app/1", "app/2"]
        );
        assert_eq!(kv.range("").count(), 5);
        assert_eq!(kv.range("zz").count(), 0);
    }
}
