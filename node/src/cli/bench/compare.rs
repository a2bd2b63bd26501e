//! `raftorch bench` without `--endpoints`: starts a local 3-node raftorch cluster (and, with
//! `--target etcd`, a local 3-node etcd cluster), runs the same closed-loop load against each
//! leader at every `--clients` figure, and prints the results side by side.

use std::time::Duration;

use super::load::{self, Summary};
use super::procs::{EtcdProcs, RaftorchProcs};
use super::{BenchArgs, Target, Via};

/// Starts the clusters, measures, prints a table.
pub(super) fn run(args: &BenchArgs) -> Result<(), String> {
    load::check(args)?;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(2))
        .build();
    let with_etcd = args.target == Target::Etcd;
    println!(
        "raftorch bench: local 3-node clusters on loopback (fsync on){}{}, {:?} per run, \
         {}-byte values, read ratio {}{}",
        if with_etcd { ", raftorch and etcd" } else { "" },
        if args.secure {
            ", raftorch with TLS and tokens"
        } else {
            ""
        },
        args.duration,
        args.value_size,
        args.read_ratio,
        if args.repeat > 1 {
            format!(", {} runs each (the table shows the median)", args.repeat)
        } else {
            String::new()
        }
    );
    let raftorch = RaftorchProcs::start(args.secure)?;
    raftorch.wait_leader(&raftorch.access().agent(Duration::from_secs(2)))?;
    let raftorch_urls = raftorch.urls();
    let etcd = if with_etcd {
        Some(EtcdProcs::start(&agent)?)
    } else {
        None
    };
    let mut rows: Vec<(Summary, Option<Summary>)> = Vec::new();
    for &clients in &args.clients {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..args.repeat.max(1) {
            let access = raftorch.access();
            let base = load::endpoint_for(Target::Raftorch, args.via, &raftorch_urls, access)?;
            let s = load::measure(
                args,
                Target::Raftorch,
                access,
                &base,
                &raftorch_urls,
                clients,
            )?;
            print_run("raftorch", &s);
            ours.push(s);
            if let Some(etcd) = &etcd {
                let leader = etcd.leader_url(&agent)?;
                let endpoints = etcd.urls();
                let base = load::endpoint_for(
                    Target::Etcd,
                    args.via,
                    &endpoints,
                    &crate::cli::client::Access::default(),
                )?;
                let retry_at: &[String] = match args.via {
                    Via::Leader => std::slice::from_ref(&leader),
                    Via::Follower => &endpoints,
                };
                let plain = crate::cli::client::Access::default();
                let s = load::measure(args, Target::Etcd, &plain, &base, retry_at, clients)?;
                print_run("etcd", &s);
                theirs.push(s);
            }
        }
        rows.push((median(ours), (!theirs.is_empty()).then(|| median(theirs))));
    }
    print_table(&rows);
    Ok(())
}

/// The run with the median throughput (the upper one of an even count).
fn median(mut runs: Vec<Summary>) -> Summary {
    runs.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}

fn print_run(name: &str, s: &Summary) {
    let [p50, _, p99, _] = s.latency_ms;
    println!(
        "  {name:<8} {:>3} clients: {:>8.0} ops/s  p50 {p50:.2} ms  p99 {p99:.2} ms  ({} errors)",
        s.clients, s.ops_per_sec, s.errors
    );
}

fn print_table(rows: &[(Summary, Option<Summary>)]) {
    println!();
    println!(
        "| clients | raftorch ops/s | p50 ms | p99 ms | etcd ops/s | p50 ms | p99 ms | ratio |"
    );
    println!(
        "|--------:|---------------:|-------:|-------:|-----------:|-------:|-------:|------:|"
    );
    for (ours, theirs) in rows {
        let [p50, _, p99, _] = ours.latency_ms;
        let (etcd_cols, ratio) = match theirs {
            Some(t) => {
                let [e50, _, e99, _] = t.latency_ms;
                (
                    format!("{:.0} | {e50:.2} | {e99:.2}", t.ops_per_sec),
                    format!("{:.2}x", ours.ops_per_sec / t.ops_per_sec.max(1e-9)),
                )
            }
            None => ("- | - | -".to_owned(), "-".to_owned()),
        };
        println!(
            "| {} | {:.0} | {p50:.2} | {p99:.2} | {etcd_cols} | {ratio} |",
            ours.clients, ours.ops_per_sec
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_at(ops_per_sec: f64) -> Summary {
        Summary {
            clients: 1,
            ops_per_sec,
            reads: 0,
            writes: 1,
            errors: 0,
            latency_ms: [ops_per_sec; 4],
        }
    }

    #[test]
    fn the_median_run_is_chosen_by_throughput() {
        let pick = |xs: &[f64]| median(xs.iter().map(|&x| run_at(x)).collect()).ops_per_sec;
        assert_eq!(pick(&[5.0]), 5.0);
        assert_eq!(pick(&[9.0, 1.0, 5.0]), 5.0);
        assert_eq!(pick(&[9.0, 1.0, 5.0, 7.0]), 7.0);
    }
}
