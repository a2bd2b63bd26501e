//! One whole run: network, nodes, clients and nemesis; then healing, the checks, the report.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftorch_core::sim::linearizability::{KvOp, KvRet, Operation};

use crate::check;
use crate::cluster::Cluster;
use crate::digests;
use crate::expiry;
use crate::fenced;
use crate::locks;
use crate::nemesis::{self, Fault, ALL_KINDS};
use crate::net::Network;
use crate::report::{self, Run};
use crate::routing;
use crate::svg;
use crate::watch::{self, Topic};
use crate::workload::{self, Record, REGISTER_KEYS};

/// The cluster size.
pub const NODES: u64 = 5;
/// Threads of the lock workload (besides the kv clients).
pub const LOCK_CLIENTS: u64 = 2;
/// Route-asking threads of the registry workload.
pub const ROUTERS: u64 = 2;
/// Watch clients: what each follows.
pub const WATCHERS: [Topic; 4] = [Topic::Kv, Topic::Kv, Topic::Services, Topic::Services];

/// What a run is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seeds the fault schedule and the clients.
    pub seed: u64,
    /// Length of the faulty part, in seconds.
    pub seconds: u64,
    /// Client threads.
    pub clients: u64,
    /// The run fails with fewer recorded operations than this.
    pub min_ops: usize,
    /// The `raftorch` binary.
    pub binary: PathBuf,
    /// Where node logs and data, `report.json` and `timeline.svg` go.
    pub report_dir: PathBuf,
}

/// Runs the harness; `Err` lists what failed (the report is written either way once the
/// cluster has started).
pub fn run(opts: &Options) -> Result<(), String> {
    println!(
        "nemesis: seed {}, {} s, {} clients, {NODES} nodes, report in {}",
        opts.seed,
        opts.seconds,
        opts.clients,
        opts.report_dir.display()
    );
    // Declared first, dropped last: the processes die before their namespaces go. Creating it
    // kills an earlier crashed run's nodes, so only then are their data directories cleared.
    let mut net = Network::create(opts.seed, NODES)?;
    std::fs::create_dir_all(&opts.report_dir).map_err(|e| format!("report dir: {e}"))?;
    for n in 1..=NODES {
        let _ = std::fs::remove_dir_all(opts.report_dir.join(format!("data-{n}")));
        let _ = std::fs::remove_file(opts.report_dir.join(format!("node-{n}.log")));
    }
    let mut cluster = Cluster::new(&opts.binary, &opts.report_dir, &net, NODES);
    for n in cluster.ids() {
        cluster.spawn(n)?;
    }
    wait_leader(&cluster, Duration::from_secs(30))?;

    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let log: workload::Log = Arc::new(Mutex::new(Vec::new()));
    let urls: Vec<String> = cluster.ids().iter().map(|&n| cluster.url(n)).collect();
    let clients: Vec<_> = (1..=opts.clients)
        .map(|id| {
            let (urls, stop, log, seed) = (urls.clone(), stop.clone(), log.clone(), opts.seed);
            std::thread::spawn(move || workload::client(id, seed, urls, epoch, stop, log))
        })
        .collect();
    let grants: locks::Grants = Arc::new(Mutex::new(Vec::new()));
    let lockers: Vec<_> = (1..=LOCK_CLIENTS)
        .map(|id| {
            let (urls, stop, grants, seed) =
                (urls.clone(), stop.clone(), grants.clone(), opts.seed);
            std::thread::spawn(move || locks::client(id, seed, urls, epoch, stop, grants))
        })
        .collect();
    let probes: expiry::Probes = Arc::new(Mutex::new(Vec::new()));
    let prober = {
        let (urls, stop, probes) = (urls.clone(), stop.clone(), probes.clone());
        std::thread::spawn(move || expiry::client(urls, epoch, stop, probes))
    };
    let routed: routing::Shared = Arc::new(Mutex::new(routing::Recorded::default()));
    let mut registry = Vec::new();
    {
        let (urls, stop, routed, seed) = (urls.clone(), stop.clone(), routed.clone(), opts.seed);
        registry.push(std::thread::spawn(move || {
            routing::registrar(seed, urls, stop, routed)
        }));
    }
    for id in 1..=ROUTERS {
        let (urls, stop, routed, seed) = (urls.clone(), stop.clone(), routed.clone(), opts.seed);
        registry.push(std::thread::spawn(move || {
            routing::router(id, seed, urls, epoch, stop, routed)
        }));
    }
    let streams: watch::Streams = Arc::new(Mutex::new(
        WATCHERS
            .iter()
            .enumerate()
            .map(|(i, &t)| watch::stream(i as u64 + 1, t))
            .collect(),
    ));
    let watchers: Vec<_> = (0..WATCHERS.len())
        .map(|slot| {
            let (urls, stop, streams) = (urls.clone(), stop.clone(), streams.clone());
            std::thread::spawn(move || watch::client(slot, urls, epoch, stop, streams))
        })
        .collect();
    let seen: digests::Shared = Arc::new(Mutex::new(digests::Seen::default()));
    let poller = {
        let (urls, stop, seen) = (urls.clone(), stop.clone(), seen.clone());
        std::thread::spawn(move || digests::poller(urls, stop, seen))
    };

    let total_ms = opts.seconds * 1_000;
    let plan = nemesis::schedule(opts.seed, total_ms);
    let mut faults: Vec<Fault> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for step in &plan {
        sleep_until(epoch, step.at_ms);
        match nemesis::run_step(step, &mut cluster, &mut net, epoch) {
            Ok(f) => faults.push(f),
            Err(e) => {
                failures.push(format!("nemesis {}: {e}", step.kind.name()));
                break;
            }
        }
    }
    sleep_until(epoch, total_ms);
    stop.store(true, Ordering::Relaxed);
    for c in clients
        .into_iter()
        .chain(lockers)
        .chain(registry)
        .chain(watchers)
        .chain([prober, poller])
    {
        let _ = c.join();
    }
    let end_us = epoch.elapsed().as_micros() as u64;

    // Always heal: no partition, nothing paused, everything running.
    if let Err(e) = net.heal() {
        failures.push(format!("final heal: {e}"));
    }
    for n in cluster.ids() {
        if let Err(e) = cluster.resume(n) {
            failures.push(format!("final resume: {e}"));
        }
        if !cluster.is_up(n) {
            if let Err(e) = cluster.spawn(n) {
                failures.push(format!("final restart: {e}"));
            }
        }
    }
    nemesis::log(epoch, "healed; waiting for convergence");

    let records: Vec<Record> = log.lock().expect("history lock").clone();
    let mut converged = None;
    let mut history = workload::history(&records);
    match check::convergence(&cluster, Duration::from_secs(60)) {
        Ok(c) => {
            converged = Some((c.applied_index, c.took_ms));
            let lost = check::lost_writes(&records, &c.state);
            if !lost.is_empty() {
                failures.push(format!(
                    "{} acknowledged writes are missing: {}",
                    lost.len(),
                    lost.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
                ));
            }
            // The converged state, as reads after everything else: it must fit the history.
            let after = epoch.elapsed().as_micros() as u64;
            for k in 0..REGISTER_KEYS {
                let key = format!("{}r/k{k}", workload::PREFIX);
                let value = c.state.get(&key).cloned();
                history.push(Operation::complete(
                    0,
                    after,
                    after + 1,
                    KvOp::Get(key),
                    KvRet::Value(value),
                ));
            }
        }
        Err(e) => failures.push(format!("convergence: {e}")),
    }
    nemesis::log(
        epoch,
        &format!("checking {} operations for linearizability", history.len()),
    );
    if let Some(why) = check::linearizability(&history) {
        failures.push(format!("not linearizable: {why}"));
    }
    let misindexed = workload::misindexed(&records);
    if !misindexed.is_empty() {
        failures.push(format!(
            "{} writes answered with another index than their revision: {}",
            misindexed.len(),
            misindexed
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    // The converged nodes' newest samples, then every index two nodes reported.
    digests::poll_once(&ureq::Agent::new(), &urls, &seen);
    let seen = seen.lock().expect("digests lock").clone();
    let diverged = seen.mismatches();
    if !diverged.is_empty() {
        failures.push(format!(
            "nodes diverged: {} sampled indexes with different state digests, first {}",
            diverged.len(),
            diverged[0]
        ));
    }
    if seen.compared() == 0 && opts.seconds >= 30 {
        failures.push("no state digests were ever compared".into());
    }
    let probes = probes.lock().expect("probes lock").clone();
    let late = expiry::check(&probes, end_us);
    if !late.is_empty() {
        failures.push(format!(
            "{} leases expired late: {}",
            late.len(),
            late.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
        ));
    }
    if probes.iter().all(|p| p.expired_us.is_none()) && opts.seconds >= 60 {
        failures.push("no probe lease was ever seen expiring".into());
    }
    let slowest_expiry_ms = probes
        .iter()
        .filter_map(|p| p.expired_us.map(|at| (at - p.granted_us) / 1_000))
        .max()
        .unwrap_or(0);
    let grants = grants.lock().expect("grants lock").clone();
    let lock_problems = locks::check(&grants);
    if !lock_problems.is_empty() {
        failures.push(format!(
            "{} lock violations: {}",
            lock_problems.len(),
            lock_problems
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    if grants.is_empty() && opts.seconds >= 60 {
        failures.push("no lock was ever granted".into());
    }
    let fenced_writes: Vec<fenced::FencedWrite> = grants
        .iter()
        .flat_map(|g| g.writes.iter().cloned())
        .collect();
    let fenced_problems = fenced::check(&fenced_writes);
    if !fenced_problems.is_empty() {
        failures.push(format!(
            "{} fenced-write violations: {}",
            fenced_problems.len(),
            fenced_problems
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let fenced_counts = fenced::Counts::of(&fenced_writes);
    if fenced_counts.applied == 0 && opts.seconds >= 60 {
        failures.push("no fenced write was ever applied".into());
    }
    if fenced_counts.late_refused == 0 && opts.seconds >= 60 {
        failures.push("no write with a released token was ever refused".into());
    }
    let streams = streams.lock().expect("streams lock").clone();
    let watch_problems = watch::check(&streams, &records);
    if !watch_problems.is_empty() {
        failures.push(format!(
            "{} watch violations: {}",
            watch_problems.len(),
            watch_problems
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let routed = routed.lock().expect("routing lock").clone();
    let routes = routing::check(&routed, &streams);
    if !routes.problems.is_empty() {
        failures.push(format!(
            "{} routing violations: {}",
            routes.problems.len(),
            routes
                .problems
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let delivered = watch::delivered(&streams);
    if opts.seconds >= 60 {
        let heartbeats_ok = routed
            .registry
            .iter()
            .filter(|o| o.op == "heartbeat" && o.answer == "200")
            .count();
        let checks = [
            (routed.routes.len() >= 500, "fewer than 500 route answers"),
            (
                routes.recomputed >= 100,
                "fewer than 100 routes recomputed from the registry history",
            ),
            (heartbeats_ok >= 50, "fewer than 50 acknowledged heartbeats"),
            (delivered >= 500, "fewer than 500 watch events delivered"),
            (
                streams.iter().all(|s| s.reconnects > 0),
                "a watch client never resumed on another node",
            ),
        ];
        for (ok, what) in checks {
            if !ok {
                failures.push(format!("workload too small: {what}"));
            }
        }
    }
    if records.len() < opts.min_ops {
        failures.push(format!(
            "only {} operations (at least {} required)",
            records.len(),
            opts.min_ops
        ));
    }
    let planned: Vec<_> = ALL_KINDS
        .iter()
        .filter(|k| plan.iter().any(|s| s.kind == **k))
        .collect();
    if planned.len() < ALL_KINDS.len() {
        println!(
            "nemesis: only {} of {} fault kinds fit in {} s",
            planned.len(),
            ALL_KINDS.len(),
            opts.seconds
        );
    }
    for kind in planned {
        if !faults.iter().any(|f| f.kind == *kind) {
            failures.push(format!("fault {} never ran", kind.name()));
        }
    }

    let summary = Run {
        seed: opts.seed,
        seconds: opts.seconds,
        clients: opts.clients,
        records: &records,
        faults: &faults,
        failures: &failures,
        converged,
        lock_grants: grants.len(),
        fenced: fenced_counts,
        expiry_probes: (probes.len(), slowest_expiry_ms),
        digests_compared: seen.compared(),
        routing: &routed,
        route_check: &routes,
        streams: &streams,
    };
    let lines: String = records
        .iter()
        .map(|r| r.to_json().to_string() + "\n")
        .collect();
    let _ = std::fs::write(opts.report_dir.join("history.jsonl"), lines);
    let _ = std::fs::write(opts.report_dir.join("watch.jsonl"), watch::jsonl(&streams));
    let json = report::json(&summary);
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    let written = std::fs::write(opts.report_dir.join("report.json"), text).and_then(|()| {
        std::fs::write(
            opts.report_dir.join("timeline.svg"),
            svg::timeline(&records, &faults, end_us, &routed, &streams),
        )
    });
    print!("{}", report::table(&summary));
    if let Err(e) = written {
        return Err(format!("writing the report: {e}"));
    }
    if failures.is_empty() {
        for n in 1..=NODES {
            let _ = std::fs::remove_dir_all(opts.report_dir.join(format!("data-{n}")));
        }
        Ok(())
    } else {
        Err(format!(
            "nemesis seed {} failed (rerun: cargo xtask nemesis --seconds {} --seed {}); node logs in {}",
            opts.seed,
            opts.seconds,
            opts.seed,
            opts.report_dir.display()
        ))
    }
}

fn sleep_until(epoch: Instant, ms: u64) {
    let at = epoch + Duration::from_millis(ms);
    let now = Instant::now();
    if at > now {
        std::thread::sleep(at - now);
    }
}

fn wait_leader(cluster: &Cluster, timeout: Duration) -> Result<u64, String> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Some(l) = cluster.leader() {
            return Ok(l);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "no leader within {timeout:?}\n{}",
        cluster.logs_tail(10)
    ))
}
