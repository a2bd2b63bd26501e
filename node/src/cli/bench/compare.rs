//! `raftorch bench` without `--endpoints`: starts a local 3-node raftorch cluster (and, with
//! `--target etcd`, a local 3-node etcd cluster), runs the same closed-loop load against each
//! leader at every `--clients` figure, and prints the results side by side.

use std::time::Duration;

use super::load::{self, Summary};
use super::procs::{EtcdProcs, RaftorchProcs};
use super::{BenchArgs, Target};

/// Starts the clusters, measures, prints a table.
pub(super) fn run(args: &BenchArgs) -> Result<(), String> {
    load::check(args)?;
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(2))
        .build();
    let with_etcd = args.target == Target::Etcd;
    println!(
        "raftorch bench: local 3-node clusters on loopback (fsync on){}, {:?} per run, \
         {}-byte values, read ratio {}",
        if with_etcd { ", raftorch and etcd" } else { "" },
        args.duration,
        args.value_size,
        args.read_ratio
    );
    let raftorch = RaftorchProcs::start()?;
    raftorch.wait_leader(&agent)?;
    let raftorch_urls = raftorch.urls();
    let etcd = if with_etcd {
        Some(EtcdProcs::start(&agent)?)
    } else {
        None
    };
    let mut rows: Vec<(Summary, Option<Summary>)> = Vec::new();
    for &clients in &args.clients {
        let base = load::leader_of(Target::Raftorch, &raftorch_urls)?;
        let ours = load::measure(args, Target::Raftorch, &base, &raftorch_urls, clients)?;
        print_run("raftorch", &ours);
        let theirs = match &etcd {
            Some(etcd) => {
                let base = etcd.leader_url(&agent)?;
                let s = load::measure(
                    args,
                    Target::Etcd,
                    &base,
                    std::slice::from_ref(&base),
                    clients,
                )?;
                print_run("etcd", &s);
                Some(s)
            }
            None => None,
        };
        rows.push((ours, theirs));
    }
    print_table(&rows);
    Ok(())
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
