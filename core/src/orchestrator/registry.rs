//! The service registry: instances, their heartbeat deadlines and health.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::error::OrchestratorError;
use super::validate::{self, Field, ValidationError};
use super::watch::{EventKind, WatchLog};

/// An instance that misses its heartbeat deadline turns unhealthy; this many TTLs after the
/// deadline it is removed.
pub const UNHEALTHY_GRACE_TTLS: u64 = 3;

/// One registered instance of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInstance {
    /// The service.
    pub service: String,
    /// The instance id, unique within the service.
    pub instance_id: String,
    /// Host name or IP address.
    pub address: String,
    /// Port.
    pub port: u16,
    /// The version it runs.
    pub version: String,
    /// Routing weight 0..=1000.
    pub weight: u16,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Free-form metadata.
    pub metadata: BTreeMap<String, String>,
    /// Heartbeat TTL; `None` means always healthy.
    pub ttl_ms: Option<u64>,
    /// Whether it met its last heartbeat deadline.
    pub healthy: bool,
    /// When it must heartbeat next (replicated clock, ms); `None` without a TTL.
    pub heartbeat_deadline_ms: Option<u64>,
    /// Index of the entry that first registered it.
    pub registered_index: u64,
    /// Index of the entry that last changed its fields or health.
    pub updated_index: u64,
}

impl ServiceInstance {
    /// Checks every field against the rules in [`validate`].
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        validate::name(Field::Service, &self.service)?;
        validate::name(Field::InstanceId, &self.instance_id)?;
        validate::address(&self.address)?;
        validate::port(self.port)?;
        validate::version(&self.version)?;
        validate::weight(self.weight)?;
        validate::tags(&self.tags)?;
        validate::metadata(&self.metadata)?;
        self.ttl_ms.map_or(Ok(()), validate::ttl_ms)
    }

    /// When its next health transition is due: the heartbeat deadline while healthy, the removal
    /// time while unhealthy. It happens once the clock is past that time.
    fn timer(&self) -> Option<u64> {
        let (deadline, ttl) = (self.heartbeat_deadline_ms?, self.ttl_ms?);
        Some(if self.healthy {
            deadline
        } else {
            deadline.saturating_add(ttl.saturating_mul(UNHEALTHY_GRACE_TTLS))
        })
    }

    fn event_key(&self) -> String {
        format!("services/{}/{}", self.service, self.instance_id)
    }
}

/// The bookkeeping type for pending health transitions: (due time, service, instance).
type Timer = (u64, String, String);

/// All instances by service, plus a deadline index so expiry never scans the whole registry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Registry {
    services: BTreeMap<String, BTreeMap<String, ServiceInstance>>,
    // Invariant: holds exactly one entry (timer(), service, id) per instance with a TTL.
    timers: BTreeSet<Timer>,
}

impl Registry {
    fn set_timer(&mut self, old: Option<&ServiceInstance>, new: Option<&ServiceInstance>) {
        if let Some(i) = old {
            if let Some(when) = i.timer() {
                self.timers
                    .remove(&(when, i.service.clone(), i.instance_id.clone()));
            }
        }
        if let Some(i) = new {
            if let Some(when) = i.timer() {
                self.timers
                    .insert((when, i.service.clone(), i.instance_id.clone()));
            }
        }
    }

    /// Registers or updates `instance` (already validated; its bookkeeping fields are set here).
    /// Returns whether it is new.
    pub(crate) fn upsert(
        &mut self,
        mut instance: ServiceInstance,
        now: u64,
        index: u64,
        watch: &mut WatchLog,
    ) -> bool {
        let old = self.get(&instance.service, &instance.instance_id).cloned();
        instance.healthy = true;
        instance.heartbeat_deadline_ms = instance.ttl_ms.map(|t| now.saturating_add(t));
        instance.registered_index = old.as_ref().map_or(index, |o| o.registered_index);
        instance.updated_index = index;
        self.set_timer(old.as_ref(), Some(&instance));
        let kind = match &old {
            None => EventKind::InstanceRegistered,
            Some(_) => EventKind::InstanceUpdated,
        };
        watch.push(index, instance.event_key(), kind);
        self.services
            .entry(instance.service.clone())
            .or_default()
            .insert(instance.instance_id.clone(), instance);
        old.is_none()
    }

    /// Removes an instance.
    pub(crate) fn deregister(
        &mut self,
        service: &str,
        instance_id: &str,
        index: u64,
        watch: &mut WatchLog,
    ) -> Result<(), OrchestratorError> {
        let removed = self
            .remove(service, instance_id)
            .ok_or_else(|| not_found(service, instance_id))?;
        watch.push(index, removed.event_key(), EventKind::InstanceDeregistered);
        Ok(())
    }

    fn remove(&mut self, service: &str, instance_id: &str) -> Option<ServiceInstance> {
        let instances = self.services.get_mut(service)?;
        let removed = instances.remove(instance_id)?;
        if instances.is_empty() {
            self.services.remove(service);
        }
        self.set_timer(Some(&removed), None);
        Some(removed)
    }

    /// Records a heartbeat: the deadline moves to `now + ttl` and the instance is healthy.
    /// Returns the new deadline (`None` for an instance without TTL, which needs none).
    pub(crate) fn heartbeat(
        &mut self,
        service: &str,
        instance_id: &str,
        now: u64,
        index: u64,
        watch: &mut WatchLog,
    ) -> Result<Option<u64>, OrchestratorError> {
        let old = self
            .get(service, instance_id)
            .cloned()
            .ok_or_else(|| not_found(service, instance_id))?;
        let Some(ttl) = old.ttl_ms else {
            return Ok(None);
        };
        let mut new = old.clone();
        new.heartbeat_deadline_ms = Some(now.saturating_add(ttl));
        if !old.healthy {
            new.healthy = true;
            new.updated_index = index;
            watch.push(index, new.event_key(), EventKind::InstanceHealthy);
        }
        self.set_timer(Some(&old), Some(&new));
        let deadline = new.heartbeat_deadline_ms;
        self.services
            .entry(new.service.clone())
            .or_default()
            .insert(new.instance_id.clone(), new);
        Ok(deadline)
    }

    /// Applies every health transition due before `now`, oldest first (ties by service, id).
    pub(crate) fn expire(&mut self, now: u64, index: u64, watch: &mut WatchLog) {
        while let Some((when, service, id)) = self.timers.first().cloned() {
            if when >= now {
                break;
            }
            let Some(old) = self.get(&service, &id).cloned() else {
                // Unreachable by the invariant; drop the stray timer rather than loop.
                self.timers.remove(&(when, service, id));
                continue;
            };
            if old.healthy {
                let mut new = old.clone();
                new.healthy = false;
                new.updated_index = index;
                self.set_timer(Some(&old), Some(&new));
                watch.push(index, new.event_key(), EventKind::InstanceUnhealthy);
                self.services.entry(service).or_default().insert(id, new);
            } else {
                self.remove(&service, &id);
                watch.push(index, old.event_key(), EventKind::InstanceExpired);
            }
        }
    }

    /// A new leader took over: healthy instances get a full TTL from `now`; unhealthy ones stay
    /// unhealthy, with their removal pushed to a full grace period from `now`.
    pub(crate) fn leader_changed(&mut self, now: u64) {
        self.timers.clear();
        for instance in self.services.values_mut().flat_map(BTreeMap::values_mut) {
            let Some(ttl) = instance.ttl_ms else { continue };
            instance.heartbeat_deadline_ms = Some(if instance.healthy {
                now.saturating_add(ttl)
            } else {
                now
            });
            if let Some(when) = instance.timer() {
                self.timers
                    .insert((when, instance.service.clone(), instance.instance_id.clone()));
            }
        }
    }

    /// One instance.
    pub(crate) fn get(&self, service: &str, instance_id: &str) -> Option<&ServiceInstance> {
        self.services.get(service)?.get(instance_id)
    }

    /// Names of services with at least one instance, sorted.
    pub(crate) fn services(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// Names of services with instances that sort after `start_after`, sorted.
    pub(crate) fn services_from<'a, 'p>(
        &'a self,
        start_after: Option<&'p str>,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'p> {
        super::page::entries_from(&self.services, "", start_after).map(|(k, _)| k)
    }

    /// The instances of a service, sorted by id; `None` when it has none.
    pub(crate) fn instances(&self, service: &str) -> Option<&BTreeMap<String, ServiceInstance>> {
        self.services.get(service)
    }
}

fn not_found(service: &str, instance_id: &str) -> OrchestratorError {
    OrchestratorError::InstanceNotFound {
        service: service.into(),
        instance_id: instance_id.into(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid instance for tests.
    pub(crate) fn instance(
        service: &str,
        id: &str,
        version: &str,
        weight: u16,
        ttl_ms: Option<u64>,
    ) -> ServiceInstance {
        ServiceInstance {
            service: service.into(),
            instance_id: id.into(),
            address: "10.0.0.1".into(),
            port: 8080,
            version: version.into(),
            weight,
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            ttl_ms,
            healthy: true,
            heartbeat_deadline_ms: None,
            registered_index: 0,
            updated_index: 0,
        }
    }

    fn kinds(w: &WatchLog) -> Vec<EventKind> {
        w.after("", 0, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    #[test]
    fn health_goes_unhealthy_then_removed() {
        let (mut r, mut w) = (Registry::default(), WatchLog::default());
        assert!(r.upsert(instance("web", "a", "v1", 1, Some(100)), 0, 1, &mut w));
        r.expire(100, 2, &mut w);
        assert!(
            r.get("web", "a").unwrap().healthy,
            "a deadline equal to now is still met"
        );
        r.expire(101, 3, &mut w);
        assert!(!r.get("web", "a").unwrap().healthy);
        r.expire(100 + 3 * 100, 4, &mut w);
        assert!(r.get("web", "a").is_some());
        r.expire(401, 5, &mut w);
        assert!(r.get("web", "a").is_none());
        assert!(r.services().next().is_none());
        assert!(r.timers.is_empty());
        assert_eq!(
            kinds(&w),
            [
                EventKind::InstanceRegistered,
                EventKind::InstanceUnhealthy,
                EventKind::InstanceExpired
            ]
        );
    }

    #[test]
    fn both_transitions_in_one_jump() {
        let (mut r, mut w) = (Registry::default(), WatchLog::default());
        r.upsert(instance("web", "a", "v1", 1, Some(10)), 0, 1, &mut w);
        r.expire(1_000, 2, &mut w);
        assert!(r.get("web", "a").is_none());
        assert_eq!(
            kinds(&w)[1..],
            [EventKind::InstanceUnhealthy, EventKind::InstanceExpired]
        );
    }

    #[test]
    fn heartbeat_revives_and_extends() {
        let (mut r, mut w) = (Registry::default(), WatchLog::default());
        r.upsert(instance("web", "a", "v1", 1, Some(100)), 0, 1, &mut w);
        assert_eq!(r.heartbeat("web", "a", 50, 2, &mut w), Ok(Some(150)));
        r.expire(151, 3, &mut w);
        assert!(!r.get("web", "a").unwrap().healthy);
        assert_eq!(r.heartbeat("web", "a", 160, 4, &mut w), Ok(Some(260)));
        assert!(r.get("web", "a").unwrap().healthy);
        assert_eq!(r.timers.len(), 1);
        assert_eq!(kinds(&w).last(), Some(&EventKind::InstanceHealthy));
        assert!(matches!(
            r.heartbeat("web", "zz", 0, 5, &mut w),
            Err(OrchestratorError::InstanceNotFound { .. })
        ));
    }

    #[test]
    fn no_ttl_is_always_healthy() {
        let (mut r, mut w) = (Registry::default(), WatchLog::default());
        r.upsert(instance("web", "a", "v1", 1, None), 0, 1, &mut w);
        r.expire(u64::MAX, 2, &mut w);
        assert!(r.get("web", "a").unwrap().healthy);
        assert_eq!(r.heartbeat("web", "a", 5, 3, &mut w), Ok(None));
    }

    #[test]
    fn reregister_updates_and_keeps_first_index() {
        let (mut r, mut w) = (Registry::default(), WatchLog::default());
        r.upsert(instance("web", "a", "v1", 1, Some(100)), 0, 1, &mut w);
        assert!(!r.upsert(instance("web", "a", "v2", 5, None), 10, 7, &mut w));
        let i = r.get("web", "a").unwrap();
        assert_eq!(
            (
                i.version.as_str(),
                i.weight,
                i.registered_index,
                i.updated_index
            ),
            ("v2", 5, 1, 7)
        );
        assert!(r.timers.is_empty(), "dropping the TTL drops the timer");
    }

    #[test]
    fn deregister() {
        let (mut r, mut w) = (Registry::default(), WatchLog::default());
        r.upsert(instance("web", "a", "v1", 1, Some(100)), 0, 1, &mut w);
        assert!(r.deregister("web", "a", 2, &mut w).is_ok());
        assert!(r.timers.is_empty() && r.services.is_empty());
        assert!(matches!(
            r.deregister("web", "a", 3, &mut w),
            Err(OrchestratorError::InstanceNotFound { .. })
        ));
    }

    #[test]
    fn leader_change_extends_healthy_and_keeps_unhealthy() {
        let (mut r, mut w) = (Registry::default(), WatchLog::default());
        r.upsert(instance("web", "a", "v1", 1, Some(100)), 0, 1, &mut w);
        r.upsert(instance("web", "b", "v1", 1, Some(100)), 0, 2, &mut w);
        r.heartbeat("web", "a", 150, 3, &mut w).unwrap();
        r.expire(200, 4, &mut w); // b unhealthy, a due at 250
        r.leader_changed(1_000);
        assert_eq!(
            r.get("web", "a").unwrap().heartbeat_deadline_ms,
            Some(1_100)
        );
        let b = r.get("web", "b").unwrap();
        assert!(!b.healthy);
        assert_eq!(b.timer(), Some(1_300));
        r.expire(1_050, 5, &mut w);
        assert!(r.get("web", "a").unwrap().healthy);
    }
}
