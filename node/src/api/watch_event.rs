//! A watch event's JSON: flat and namespaced, as etcd and Consul answer, e.g.
//! `{"type": "put", "namespace": "kv", "key": "app/x", "index": 9, "pos": 0,
//! "mod_revision": 9, "version": 2, "value": "blue"}`.

use raftorch_core::orchestrator::{EventKind, WatchEvent};
use serde_json::{json, Value};

use super::kv::put_value;

/// The event's JSON. `key` is within its `namespace` (`kv`, `services`, `locks`, `elections`,
/// `leases`, `deployments`); `value` (or `value_b64`) appears on kv puts read with values.
pub(super) fn render(e: &WatchEvent) -> Value {
    let (namespace, key) = e.key.split_once('/').unwrap_or(("", e.key.as_str()));
    let mut v = json!({
        "namespace": namespace,
        "key": key,
        "index": e.index,
        "pos": e.pos,
    });
    let (kind, extra) = fields(&e.kind);
    v["type"] = Value::from(kind);
    for (name, value) in extra {
        v[name] = value;
    }
    match namespace {
        "services" => {
            let (service, instance) = key.split_once('/').unwrap_or((key, ""));
            v["service"] = Value::from(service);
            v["instance_id"] = Value::from(instance);
        }
        "leases" => {
            if let Ok(id) = key.parse::<u64>() {
                v["lease_id"] = Value::from(id);
            }
        }
        _ => {}
    }
    if let Some(bytes) = &e.value {
        put_value(&mut v, bytes);
    }
    v
}

/// The `type` of a kind and the fields it adds.
fn fields(kind: &EventKind) -> (&'static str, Vec<(&'static str, Value)>) {
    use EventKind as K;
    match kind {
        K::InstanceRegistered => ("registered", vec![]),
        K::InstanceUpdated => ("updated", vec![]),
        K::InstanceDeregistered => ("deregistered", vec![]),
        K::InstanceUnhealthy => ("health", vec![("healthy", Value::from(false))]),
        K::InstanceHealthy => ("health", vec![("healthy", Value::from(true))]),
        K::InstanceExpired => ("expired", vec![]),
        K::DeploymentChanged { canary_percent } => (
            "deployment",
            vec![("canary_percent", Value::from(*canary_percent))],
        ),
        K::KvPut {
            mod_revision,
            version,
        } => (
            "put",
            vec![
                ("mod_revision", Value::from(*mod_revision)),
                ("version", Value::from(*version)),
            ],
        ),
        K::KvDeleted => ("delete", vec![]),
        K::LeaseGranted => ("granted", vec![]),
        K::LeaseRevoked => ("revoked", vec![]),
        K::LeaseExpired => ("expired", vec![]),
        K::LockGranted {
            lease_id,
            fencing_token,
        } => (
            "lock_acquired",
            vec![
                ("lease_id", Value::from(*lease_id)),
                ("fencing_token", Value::from(*fencing_token)),
            ],
        ),
        K::LockReleased { lease_id } => {
            ("lock_released", vec![("lease_id", Value::from(*lease_id))])
        }
        K::ElectionLeader { candidate, term } => (
            "elected",
            vec![
                ("candidate", Value::from(candidate.as_str())),
                ("term", Value::from(*term)),
            ],
        ),
        K::ElectionResigned { candidate } => (
            "resigned",
            vec![("candidate", Value::from(candidate.as_str()))],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &str, kind: EventKind, value: Option<&[u8]>) -> WatchEvent {
        WatchEvent {
            index: 9,
            pos: 2,
            key: key.into(),
            kind,
            value: value.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn events_are_flat_and_namespaced() {
        let put = EventKind::KvPut {
            mod_revision: 9,
            version: 2,
        };
        assert_eq!(
            render(&event("kv/app/x", put.clone(), Some(b"blue"))),
            json!({"type": "put", "namespace": "kv", "key": "app/x", "index": 9, "pos": 2,
                   "mod_revision": 9, "version": 2, "value": "blue"})
        );
        assert_eq!(
            render(&event("kv/b", put, Some(&[0xff])))["value_b64"],
            "/w=="
        );
        assert_eq!(
            render(&event("services/web/a", EventKind::InstanceUnhealthy, None)),
            json!({"type": "health", "healthy": false, "namespace": "services",
                   "key": "web/a", "service": "web", "instance_id": "a", "index": 9, "pos": 2})
        );
        let granted = EventKind::LockGranted {
            lease_id: 3,
            fencing_token: 7,
        };
        assert_eq!(
            render(&event("locks/db", granted, None)),
            json!({"type": "lock_acquired", "namespace": "locks", "key": "db", "index": 9,
                   "pos": 2, "lease_id": 3, "fencing_token": 7})
        );
        assert_eq!(
            render(&event("leases/3", EventKind::LeaseExpired, None)),
            json!({"type": "expired", "namespace": "leases", "key": "3", "index": 9, "pos": 2,
                   "lease_id": 3})
        );
    }
}
