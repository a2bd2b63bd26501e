//! `cargo xtask demo --terminal`: a simulated cluster in the terminal — election, writes, the
//! leader crashing, a new election, a partition with a minority that cannot elect, healing — with
//! the event trace printed as it happens. (Plain `cargo xtask demo` serves the browser visualizer.)

use raftorch_core::raft::NodeId;
use raftorch_core::sim::{Cluster, KvApp, KvCommand, Outcome, Request, SimConfig, TraceEvent};

struct Options {
    seed: u64,
    nodes: u64,
    verbose: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seed: 1,
        nodes: 5,
        verbose: false,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            iter.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--seed" => options.seed = value("--seed")?,
            "--nodes" => options.nodes = value("--nodes")?.clamp(1, 9),
            "--verbose" => options.verbose = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

/// Runs the scripted scenario and prints what happens.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let mut cluster: Cluster<KvApp> = Cluster::new(SimConfig::new(options.nodes, options.seed));
    let mut printed = 0;
    println!(
        "raftorch demo: {} simulated nodes, seed {}",
        options.nodes, options.seed
    );

    say("Starting the cluster; waiting for the first election.");
    let leader = cluster.run_until_leader(5_000).ok_or("no leader elected")?;
    printed = flush(&cluster, printed, options.verbose);

    say(&format!(
        "Node {leader} leads. Writing three keys through it."
    ));
    for (i, key) in ["alpha", "beta", "gamma"].iter().enumerate() {
        write(&mut cluster, leader, key, &format!("v{i}"));
    }
    cluster.run_for(200);
    printed = flush(&cluster, printed, options.verbose);
    report_completions(&mut cluster);

    say(&format!("Crashing the leader, node {leader}."));
    cluster.crash(leader);
    let new_leader = cluster
        .run_until_leader(5_000)
        .ok_or("no new leader after the crash")?;
    printed = flush(&cluster, printed, options.verbose);
    say(&format!(
        "Node {new_leader} took over. Writing through it; the old data is still there."
    ));
    write(&mut cluster, new_leader, "delta", "v3");
    cluster.run_for(200);
    printed = flush(&cluster, printed, options.verbose);
    report_completions(&mut cluster);

    say(&format!(
        "Restarting node {leader} from its durable log; it catches up as a follower."
    ));
    cluster.restart(leader);
    cluster.run_for(500);
    printed = flush(&cluster, printed, options.verbose);

    let minority: Vec<NodeId> = (1..=options.nodes).filter(|&id| id == new_leader).collect();
    let groups = (1..=options.nodes)
        .map(|id| u8::from(minority.contains(&id)))
        .collect();
    say(&format!(
        "Partitioning the leader {new_leader} away from the majority."
    ));
    cluster.partition(groups);
    cluster.run_for(1_500);
    printed = flush(&cluster, printed, options.verbose);
    say("The majority side elected a leader; the old one stepped down (check-quorum): no split brain.");

    say("Healing the network.");
    cluster.heal();
    let final_leader = cluster
        .run_until_leader(5_000)
        .ok_or("no leader after healing")?;
    write(&mut cluster, final_leader, "epsilon", "v4");
    cluster.run_for(300);
    flush(&cluster, printed, options.verbose);
    report_completions(&mut cluster);

    println!();
    println!(
        "{:>4} {:>13} {:>5} {:>7} {:>8}",
        "node", "role", "term", "commit", "applied"
    );
    for node in cluster.nodes() {
        match node.raw() {
            Some(raw) => println!(
                "{:>4} {:>13} {:>5} {:>7} {:>8}",
                node.id,
                raw.role().as_str(),
                raw.term(),
                raw.commit_index(),
                node.applied()
            ),
            None => println!("{:>4} {:>13}", node.id, "down"),
        }
    }
    match cluster.violation() {
        None => println!("\nSafety checks (election safety, log matching, leader completeness, state machine safety): all held over {} events.", cluster.events_processed()),
        Some(v) => return Err(format!("safety violation: {} — {}", v.property, v.detail)),
    }
    Ok(())
}

fn say(text: &str) {
    println!("\n== {text}");
}

fn write(cluster: &mut Cluster<KvApp>, node: NodeId, key: &str, value: &str) {
    let command = KvCommand::Put {
        key: key.into(),
        value: value.into(),
    };
    cluster.submit(node, Request::Write(command.encode()));
}

fn report_completions(cluster: &mut Cluster<KvApp>) {
    for done in cluster.take_completions() {
        match done.outcome {
            Outcome::Written { index, .. } => {
                println!(
                    "{:>8}  client  write #{} committed at index {index} (via node {})",
                    ms(done.time),
                    done.request,
                    done.node
                )
            }
            other => println!(
                "{:>8}  client  request #{} ended {other:?}",
                ms(done.time),
                done.request
            ),
        }
    }
}

fn ms(time: u64) -> String {
    format!("{}.{:03}s", time / 1000, time % 1000)
}

/// Prints trace records from `from` on; message traffic only with `verbose`.
fn flush(cluster: &Cluster<KvApp>, from: usize, verbose: bool) -> usize {
    let records = cluster.trace().records();
    for record in &records[from..] {
        let line = match &record.event {
            TraceEvent::RoleChanged {
                node,
                role,
                term,
                leader,
            } => Some(match leader {
                Some(l) if *l != *node => format!(
                    "node {node} is {} in term {term} (leader: {l})",
                    role.as_str()
                ),
                _ => format!("node {node} is {} in term {term}", role.as_str()),
            }),
            TraceEvent::Crashed { node } => Some(format!("node {node} CRASHED")),
            TraceEvent::Restarted { node } => Some(format!("node {node} restarted from disk")),
            TraceEvent::Partitioned { groups } => Some(format!("network partitioned: {groups:?}")),
            TraceEvent::Healed => Some("network healed".to_string()),
            TraceEvent::SnapshotInstalled { node, index } => {
                Some(format!("node {node} installed snapshot at {index}"))
            }
            TraceEvent::Sent {
                from,
                to,
                kind,
                entries,
                ..
            } if verbose => Some(format!(
                "{from} -> {to} {} ({entries} entries)",
                kind.as_str()
            )),
            TraceEvent::Committed { node, index } if verbose => {
                Some(format!("node {node} commit index {index}"))
            }
            _ => None,
        };
        if let Some(line) = line {
            println!("{:>8}  {line}", ms(record.time));
        }
    }
    records.len()
}
