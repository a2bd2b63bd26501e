//! A Jepsen-style harness for raftorch: five real `raftorch node` processes, each in a network
//! namespace of its own on a bridge the harness creates, under a seeded schedule of partitions,
//! `kill -9`s, SIGSTOP pauses and clock skew, while clients outside the namespaces run a kv
//! register workload, a fenced-lock workload, lease-expiry probes, a registry and routing
//! workload and watch clients that resume across faults. The recorded history is checked with the core's linearizability checker; after
//! healing, every node must reach the same applied index and kv state, with every acknowledged
//! write present; while running, nodes at the same index must report the same state digest.
//! `cargo xtask nemesis` runs it and writes a JSON report and an SVG timeline.
//!
//! ```text
//! net::Network::create(seed, 5)      namespaces rn-<seed>-<i>, bridge, veths (removed on drop)
//! cluster::Cluster::spawn(i)         ip netns exec rn-<seed>-<i> raftorch node ...
//! workload::client(..)               PUT/GET /v1/kv/nem/... through random nodes, recorded
//! locks::client(..)                  lease + fenced lock nem-lock, hold, release
//! fenced::write(..)                  kv writes fenced by the lock token, held and after release
//! expiry::client(..)                 a 2 s lease never kept alive must expire in time
//! routing::{registrar, router}(..)   instances with TTL + heartbeats; routes from every node
//! watch::client(..)                  long-polls kv / services watches, resumes with `after`
//! digests::poller(..)                GET /v1/debug/digests of every node, compared by index
//! nemesis::run_step(..)              each scheduled fault, then its heal
//! check::{linearizability, convergence, lost_writes}, routing::check, watch::check, fenced::check
//! report::{json, table}, svg::timeline
//! ```

// A std host tool: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

pub mod check;
pub mod cluster;
pub mod digests;
pub mod expiry;
pub mod fenced;
pub mod locks;
pub mod nemesis;
pub mod net;
pub mod report;
pub mod routing;
pub mod run;
pub mod svg;
pub mod watch;
pub mod workload;
