//! The replicated orchestration state machine: registry, routing, deployments, kv, leases, locks, watches.
