//! `raftorch sim`: the core's randomized chaos checks (safety after every step,
//! linearizability at the end, liveness once healed) over many seeds, from the terminal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use raftorch_core::sim::{run_chaos, ChaosConfig, ChaosReport, FaultSet};

/// Options of `raftorch sim`.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Cluster size.
    #[arg(long, default_value_t = 5)]
    pub nodes: u64,
    /// How many seeds to run.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// The first seed (seeds run are FIRST..FIRST+SEEDS; one seed replays one run exactly).
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Comma-separated faults: crash, partition, drop, duplicate, reorder, pause, or all.
    #[arg(long, default_value = "all")]
    pub faults: String,
    /// Simulated milliseconds of faults and load per seed.
    #[arg(long, default_value_t = 5_000)]
    pub duration_ms: u64,
    /// Concurrent simulated clients.
    #[arg(long, default_value_t = 3)]
    pub clients: u64,
    /// Worker threads (default: the available cores).
    #[arg(long)]
    pub jobs: Option<usize>,
}

/// Totals over the seeds run.
#[derive(Default)]
struct Totals {
    events: u64,
    completed: u64,
    indeterminate: u64,
    failures: Vec<(u64, String)>,
}

/// Runs the seeds; exit code 0 if all passed, 1 if any failed, 2 on bad arguments.
pub(super) fn run(args: &SimArgs) -> i32 {
    let faults = match FaultSet::parse(&args.faults) {
        Ok(f) => f,
        Err(bad) => {
            eprintln!("raftorch sim: unknown fault {bad:?} (crash, partition, drop, duplicate, reorder, pause, all)");
            return 2;
        }
    };
    if !(1..=9).contains(&args.nodes) || args.seeds == 0 {
        eprintln!("raftorch sim: --nodes must be within 1..=9 and --seeds positive");
        return 2;
    }
    let base = ChaosConfig::new(args.first_seed);
    let config = ChaosConfig {
        nodes: args.nodes,
        duration_ms: args.duration_ms,
        faults,
        clients: args.clients,
        ..base
    };
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .clamp(1, 64);
    println!(
        "raftorch sim: {} nodes, seeds {}..{}, faults {}, {} simulated ms each, {jobs} threads",
        args.nodes,
        args.first_seed,
        args.first_seed + args.seeds,
        args.faults,
        args.duration_ms
    );
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let totals = Mutex::new(Totals::default());
    let every = (args.seeds / 20).max(1);
    let bar = super::progress::counter(args.seeds, "seeds");
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= args.seeds {
                    break;
                }
                let seed = args.first_seed + i;
                let report = run_chaos(ChaosConfig { seed, ..config });
                record(&totals, &report, &bar);
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                bar.inc(1);
                if bar.is_hidden() && (n.is_multiple_of(every) || n == args.seeds) {
                    println!(
                        "  {n}/{} seeds, {:.1}s",
                        args.seeds,
                        started.elapsed().as_secs_f64()
                    );
                }
            });
        }
    });
    bar.finish_and_clear();
    let totals = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    println!(
        "summary: {} seeds in {:.1}s, {} events, {} operations completed, {} indeterminate, {} failed",
        args.seeds,
        started.elapsed().as_secs_f64(),
        totals.events,
        totals.completed,
        totals.indeterminate,
        totals.failures.len()
    );
    if totals.failures.is_empty() {
        return 0;
    }
    let mut seeds: Vec<u64> = totals.failures.iter().map(|(s, _)| *s).collect();
    seeds.sort_unstable();
    let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    println!("FAILED seeds: {}", list.join(","));
    println!(
        "replay one: raftorch sim --nodes {} --faults {} --duration-ms {} --clients {} --seeds 1 --first-seed SEED",
        args.nodes, args.faults, args.duration_ms, args.clients
    );
    1
}

fn record(totals: &Mutex<Totals>, report: &ChaosReport, bar: &indicatif::ProgressBar) {
    let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
    t.events += report.events;
    t.completed += report.completed;
    t.indeterminate += report.indeterminate;
    if let Some(failure) = &report.failure {
        // Printed above the bar (or plainly when there is none).
        bar.suspend(|| println!("seed {} FAILED: {failure}", report.seed));
        t.failures.push((report.seed, failure.clone()));
    }
}
