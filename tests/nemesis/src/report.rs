//! The run's report: operations by outcome, faults with their times and the time to recover
//! after each, latency percentiles per phase, and the checks' verdicts; as JSON and as a short
//! table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::nemesis::Fault;
use crate::routing::{Recorded, Verdict};
use crate::watch::Stream;
use crate::workload::{Kind, Record};

/// Everything a run produced that the report shows.
pub struct Run<'a> {
    /// The seed.
    pub seed: u64,
    /// Length of the faulty part of the run, in seconds.
    pub seconds: u64,
    /// Client threads.
    pub clients: u64,
    /// Every recorded request.
    pub records: &'a [Record],
    /// Every fault, in order.
    pub faults: &'a [Fault],
    /// What went wrong (empty when the run passed).
    pub failures: &'a [String],
    /// The applied index all nodes agreed on at the end, and how long that took after healing.
    pub converged: Option<(u64, u64)>,
    /// Lock acquisitions granted (each checked for fencing and mutual exclusion).
    pub lock_grants: usize,
    /// How the holders' fenced writes ended (each checked for interleaving and late writes).
    pub fenced: crate::fenced::Counts,
    /// Lease-expiry probes: how many, and the slowest expiry seen (ms after the grant).
    pub expiry_probes: (usize, u64),
    /// Indexes at which at least two nodes' state digests were compared.
    pub digests_compared: usize,
    /// The registry and routing workload's requests and answers.
    pub routing: &'a Recorded,
    /// What the routing checks compared.
    pub route_check: &'a Verdict,
    /// Every watch client's stream.
    pub streams: &'a [Stream],
}

/// Client operations by workload: kv requests, lock grants, registry requests, route answers,
/// watch polls answered.
pub fn by_workload(run: &Run<'_>) -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("kv", run.records.len()),
        ("lock-grants", run.lock_grants),
        ("lease-probes", run.expiry_probes.0),
        ("registry", run.routing.registry.len()),
        ("routes", run.routing.routes.len()),
        (
            "watch-polls",
            run.streams.iter().map(|s| s.polls as usize).sum(),
        ),
    ])
}

/// Registry requests counted by `"op answer"`.
fn registry_answers(run: &Run<'_>) -> BTreeMap<String, u64> {
    let mut m: BTreeMap<String, u64> = BTreeMap::new();
    for o in &run.routing.registry {
        *m.entry(format!("{} {}", o.op, o.answer)).or_default() += 1;
    }
    m
}

/// The watch clients' totals, as JSON.
fn watch_json(run: &Run<'_>) -> Value {
    let clients: Vec<Value> = run
        .streams
        .iter()
        .map(|s| {
            json!({
                "client": s.client,
                "topic": s.topic.name(),
                "events": s.segments.iter().map(|g| g.events.len()).sum::<usize>(),
                "polls": s.polls,
                "reconnects": s.reconnects,
                "resyncs_after_410": s.resyncs,
            })
        })
        .collect();
    json!({
        "events_delivered": crate::watch::delivered(run.streams),
        "resyncs_after_410": run.streams.iter().map(|s| s.resyncs).sum::<u64>(),
        "clients": clients,
    })
}

/// The phase an operation invoked at `call_us` belongs to: the fault in force, or `healthy`.
pub fn phase(faults: &[Fault], call_us: u64) -> &'static str {
    faults
        .iter()
        .find(|f| f.start_us <= call_us && call_us < f.end_us)
        .map_or("healthy", |f| f.kind.name())
}

/// How long after `fault` healed the first write was acknowledged (ms), if one was.
pub fn recovery_ms(records: &[Record], fault: &Fault) -> Option<u64> {
    records
        .iter()
        .filter(|r| r.kind != Kind::Get && r.outcome.label() == "ok" && r.ret_us >= fault.end_us)
        .map(|r| r.ret_us - fault.end_us)
        .min()
        .map(|us| us / 1_000)
}

/// The `q`-quantile of sorted `values`.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i]
}

/// Latencies (µs) of answered operations, per phase, sorted.
fn latencies(run: &Run<'_>) -> BTreeMap<&'static str, Vec<u64>> {
    let mut by_phase: BTreeMap<&'static str, Vec<u64>> = BTreeMap::new();
    for r in run.records.iter().filter(|r| r.outcome.label() == "ok") {
        by_phase
            .entry(phase(run.faults, r.call_us))
            .or_default()
            .push(r.ret_us - r.call_us);
    }
    for v in by_phase.values_mut() {
        v.sort_unstable();
    }
    by_phase
}

fn count_by(records: &[Record], f: impl Fn(&Record) -> String) -> Value {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for r in records {
        *counts.entry(f(r)).or_default() += 1;
    }
    json!(counts)
}

fn kind_name(r: &Record) -> &'static str {
    match r.kind {
        Kind::Get => "get",
        Kind::Put => "put",
        Kind::PutUnique => "put-unique",
    }
}

/// The JSON report.
pub fn json(run: &Run<'_>) -> Value {
    let faults: Vec<Value> = run
        .faults
        .iter()
        .map(|f| {
            json!({
                "kind": f.kind.name(),
                "detail": f.detail,
                "start_s": f.start_us as f64 / 1e6,
                "end_s": f.end_us as f64 / 1e6,
                "recovered_after_ms": recovery_ms(run.records, f),
            })
        })
        .collect();
    let latency: BTreeMap<&str, Value> = latencies(run)
        .into_iter()
        .map(|(phase, v)| {
            (
                phase,
                json!({
                    "ops": v.len(),
                    "p50_ms": quantile(&v, 0.5) as f64 / 1e3,
                    "p99_ms": quantile(&v, 0.99) as f64 / 1e3,
                }),
            )
        })
        .collect();
    json!({
        "seed": run.seed,
        "seconds": run.seconds,
        "clients": run.clients,
        "passed": run.failures.is_empty(),
        "failures": run.failures,
        "operations": {
            "total": run.records.len(),
            "by_outcome": count_by(run.records, |r| r.outcome.label().into()),
            "by_kind": count_by(run.records, |r| kind_name(r).into()),
            "by_phase_and_outcome": count_by(run.records, |r| {
                format!("{} {}", phase(run.faults, r.call_us), r.outcome.label())
            }),
            "by_answer": count_by(run.records, |r| format!("{} {}", kind_name(r), r.answer)),
        },
        "operations_by_workload": by_workload(run),
        "registry": {
            "requests_by_answer": registry_answers(run),
            "route_answers": run.routing.routes.len(),
            "route_errors": run.routing.routes.iter().filter(|r| r.choice.starts_with('!')).count(),
            "same_index_groups_compared": run.route_check.same_index_groups,
            "recomputed_from_registry_history": run.route_check.recomputed,
        },
        "watch": watch_json(run),
        "lock_grants": run.lock_grants,
        "fenced_writes": {
            "sent": run.fenced.sent,
            "applied": run.fenced.applied,
            "refused_while_held": run.fenced.held_refused,
            "refused_after_release": run.fenced.late_refused,
        },
        "expiry_probes": {"count": run.expiry_probes.0, "slowest_ms": run.expiry_probes.1},
        "digests_compared": run.digests_compared,
        "faults": faults,
        "latency_by_phase": latency,
        "converged": run.converged.map(|(index, ms)| json!({"applied_index": index, "after_ms": ms})),
    })
}

/// The short table printed at the end of a run.
pub fn table(run: &Run<'_>) -> String {
    let mut out = String::new();
    let by = |label: &str| {
        run.records
            .iter()
            .filter(|r| r.outcome.label() == label)
            .count()
    };
    let _ = writeln!(
        out,
        "nemesis seed {}: {} operations ({} ok, {} fail, {} indeterminate), {} faults",
        run.seed,
        run.records.len(),
        by("ok"),
        by("fail"),
        by("info"),
        run.faults.len()
    );
    let _ = writeln!(
        out,
        "{:<27} {:>8} {:>8} {:>10} {:>10}",
        "fault", "start s", "end s", "recover ms", "detail"
    );
    for f in run.faults {
        let recovered = recovery_ms(run.records, f).map_or("never".into(), |ms| ms.to_string());
        let _ = writeln!(
            out,
            "{:<27} {:>8.1} {:>8.1} {:>10} {}",
            f.kind.name(),
            f.start_us as f64 / 1e6,
            f.end_us as f64 / 1e6,
            recovered,
            f.detail
        );
    }
    let _ = writeln!(
        out,
        "{:<27} {:>8} {:>8} {:>10}",
        "phase", "ops ok", "p50 ms", "p99 ms"
    );
    for (phase, v) in latencies(run) {
        let _ = writeln!(
            out,
            "{:<27} {:>8} {:>8.1} {:>10.1}",
            phase,
            v.len(),
            quantile(&v, 0.5) as f64 / 1e3,
            quantile(&v, 0.99) as f64 / 1e3
        );
    }
    let workloads: Vec<String> = by_workload(run)
        .iter()
        .map(|(w, n)| format!("{w} {n}"))
        .collect();
    let _ = writeln!(out, "operations by workload: {}", workloads.join(", "));
    let _ = writeln!(
        out,
        "routing: {} answers ({} errors), {} (key, index) pairs answered by several nodes, {} \
         recomputed from the registry history",
        run.routing.routes.len(),
        run.routing
            .routes
            .iter()
            .filter(|r| r.choice.starts_with('!'))
            .count(),
        run.route_check.same_index_groups,
        run.route_check.recomputed
    );
    let _ = writeln!(
        out,
        "watches: {} clients, {} events delivered, {} reconnects, {} resyncs after 410",
        run.streams.len(),
        crate::watch::delivered(run.streams),
        run.streams.iter().map(|s| s.reconnects).sum::<u64>(),
        run.streams.iter().map(|s| s.resyncs).sum::<u64>()
    );
    let _ = writeln!(
        out,
        "locks: {} grants, fencing tokens and mutual exclusion checked; fenced writes: {} sent, \
         {} applied in token order, {} with a released token refused and none applied",
        run.lock_grants, run.fenced.sent, run.fenced.applied, run.fenced.late_refused
    );
    let _ = writeln!(
        out,
        "leases: {} probes with a {} ms ttl never kept alive, the slowest gone {} ms after its grant",
        run.expiry_probes.0,
        crate::expiry::TTL_MS,
        run.expiry_probes.1
    );
    let _ = writeln!(
        out,
        "digests: the states of at least two nodes compared at {} indexes",
        run.digests_compared
    );
    if let Some((index, ms)) = run.converged {
        let _ = writeln!(
            out,
            "converged: every node at applied index {index}, {ms} ms after the final heal"
        );
    }
    if run.failures.is_empty() {
        let _ = writeln!(out, "PASS");
    } else {
        for f in run.failures {
            let _ = writeln!(out, "FAIL: {f}");
        }
    }
    out
}
