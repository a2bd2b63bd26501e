//! Reads of the applied state. They answer as of [`Orchestrator::applied_index`]; a host that
//! needs linearizable reads waits for a ReadIndex first.

use alloc::vec::Vec;

use super::cursor::{Cursor, EventFilter};
use super::deployment::Deployment;
use super::election::ElectionLeader;
use super::error::OrchestratorError;
use super::kv::KeyValue;
use super::lease::Lease;
use super::lock::LockHolder;
use super::registry::ServiceInstance;
use super::routing::{self, RouteDecision};
use super::watch::{EventPage, WatchEvent};
use super::Orchestrator;

impl Orchestrator {
    /// Index of the last applied entry.
    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// The replicated clock (ms): deadlines are in this time. It began at the first applied
    /// stamp and advances by the elapsed time on each leader's own clock, standing still at
    /// leader changes; it is not the wall time of any node.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Names of the services with at least one instance, sorted.
    pub fn services(&self) -> Vec<&str> {
        self.registry.services().collect()
    }

    /// The instances of `service` sorted by id, only the healthy ones if asked.
    pub fn instances(&self, service: &str, healthy_only: bool) -> Vec<&ServiceInstance> {
        self.registry
            .instances(service)
            .map(|m| m.values().filter(|i| i.healthy || !healthy_only).collect())
            .unwrap_or_default()
    }

    /// Names of services with instances that sort after `start_after`, sorted: page them with
    /// [`Page::take`](super::Page::take).
    pub fn services_from<'a, 'p>(
        &'a self,
        start_after: Option<&'p str>,
    ) -> impl Iterator<Item = &'a str> + use<'a, 'p> {
        self.registry.services_from(start_after)
    }

    /// The instances of `service` whose ids sort after `start_after`, sorted by id; `None` when
    /// the service has no instances.
    pub fn instances_from<'a, 'p>(
        &'a self,
        service: &str,
        start_after: Option<&'p str>,
    ) -> Option<impl Iterator<Item = &'a ServiceInstance> + use<'a, 'p>> {
        let instances = self.registry.instances(service)?;
        Some(super::page::entries_from(instances, "", start_after).map(|(_, i)| i))
    }

    /// One instance.
    pub fn instance(&self, service: &str, instance_id: &str) -> Option<&ServiceInstance> {
        self.registry.get(service, instance_id)
    }

    /// Where a request with `request_key` to `service` goes: a pure function of the state, so
    /// every replica at the same index answers the same (see [`routing`] for the rules).
    pub fn route(
        &self,
        service: &str,
        request_key: &[u8],
    ) -> Result<RouteDecision, OrchestratorError> {
        routing::route(
            &self.registry,
            self.deployments.get(service),
            service,
            request_key,
            self.applied_index,
        )
    }

    /// The deployment of `service` (the last one started, finished or not).
    pub fn deployment(&self, service: &str) -> Option<&Deployment> {
        self.deployments.get(service)
    }

    /// One key.
    pub fn kv_get(&self, key: &str) -> Option<&KeyValue> {
        self.kv.get(key)
    }

    /// Every key starting with `prefix`, in key order.
    pub fn kv_range(&self, prefix: &str) -> Vec<(&str, &KeyValue)> {
        self.kv.range(prefix).collect()
    }

    /// The keys starting with `prefix` that sort after `start_after`, in key order: page them
    /// with [`Page::take`](super::Page::take).
    pub fn kv_range_from<'a, 'p>(
        &'a self,
        prefix: &'p str,
        start_after: Option<&'p str>,
    ) -> impl Iterator<Item = (&'a str, &'a KeyValue)> + use<'a, 'p> {
        self.kv.range_from(prefix, start_after)
    }

    /// One live lease.
    pub fn lease(&self, lease_id: u64) -> Option<&Lease> {
        self.leases.get(lease_id)
    }

    /// Who holds lock `name`, with its fencing token.
    pub fn lock_holder(&self, name: &str) -> Option<LockHolder> {
        self.locks.holder(name)
    }

    /// The leases waiting for lock `name`, first in line first.
    pub fn lock_waiters(&self, name: &str) -> Vec<u64> {
        self.locks.waiters(name)
    }

    /// Who leads `election`, and since which index.
    pub fn election_leader(&self, election: &str) -> Option<ElectionLeader> {
        self.elections.leader(election)
    }

    /// The candidates queued in `election`, first in line first.
    pub fn election_candidates(&self, election: &str) -> Vec<&str> {
        self.elections.candidates(election)
    }

    /// The value `candidate` campaigns with in `election`, if it gave one.
    pub fn election_value(&self, election: &str, candidate: &str) -> Option<&str> {
        self.election_values.get(election, candidate)
    }

    /// Up to `limit` events with index greater than `after_index` whose key starts with `prefix`,
    /// oldest first. [`OrchestratorError::Compacted`] when the history no longer reaches back to
    /// `after_index`: the watcher must resynchronize with a full read.
    pub fn events_after(
        &self,
        prefix: &str,
        after_index: u64,
        limit: usize,
    ) -> Result<Vec<WatchEvent>, OrchestratorError> {
        self.watch.after(prefix, after_index, limit)
    }

    /// One page of a watch: up to `limit` events after `after` that pass `filter`, oldest
    /// first, with the values of kv puts when `values`, and the cursor to resume from (see
    /// [`EventPage`]). [`OrchestratorError::Compacted`] when the history (or, with `values`,
    /// its values) no longer reaches back to `after`: the watcher must resynchronize with a
    /// full read and resume from that read's index.
    pub fn events_page(
        &self,
        filter: &EventFilter,
        after: Cursor,
        limit: usize,
        values: bool,
    ) -> Result<EventPage, OrchestratorError> {
        self.watch
            .page(filter, after, limit, values, self.applied_index)
    }
}
