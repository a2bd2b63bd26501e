//! `raftorch bench --failover`: starts three node processes of this binary, then repeatedly
//! `kill -9`s the leader and measures the time from the kill to the first acknowledged write
//! through a survivor; the killed node is restarted before the next round.

use std::time::{Duration, Instant};

use super::procs::{RaftorchProcs, NODES, WAIT};
use super::BenchArgs;
use crate::cli::ctl::get_json;

/// Runs the rounds and prints each time, the median and the worst.
pub(super) fn run(args: &BenchArgs) -> Result<(), String> {
    let mut procs = RaftorchProcs::start(args.secure)?;
    let agent = procs.access().agent(Duration::from_secs(1));
    println!(
        "raftorch bench --failover: 3 nodes{}, {} rounds of kill -9 of the leader",
        if args.secure { " (TLS and tokens)" } else { "" },
        args.rounds
    );
    // The kv body: `{"value": "xx.."}`.
    let value = serde_json::json!({ "value": "x".repeat(args.value_size) }).to_string();
    let mut times = Vec::new();
    let mut elections = Vec::new();
    for round in 1..=args.rounds {
        let leader = procs.wait_leader(&agent)?;
        let survivor = (1..=NODES).find(|&id| id != leader).ok_or("no survivor")?;
        let url = format!("{}/v1/kv/bench/failover", procs.url(survivor));
        // The cluster takes writes before the kill.
        put_until_acked(&agent, &url, &value, Instant::now() + WAIT)?;
        let status_url = format!("{}/v1/status", procs.url(survivor));
        procs.kill(leader);
        let killed = Instant::now();
        // Watches the survivor's status for the new leader while the write is retried.
        let watcher = {
            let agent = procs.access().agent(Duration::from_secs(1));
            std::thread::spawn(move || new_leader_seen(&agent, &status_url, leader, killed))
        };
        put_until_acked(&agent, &url, &value, killed + WAIT)?;
        let took = killed.elapsed();
        let elected = watcher.join().ok().flatten();
        let seen = elected.map_or_else(|| "never".to_owned(), |d| format!("{d:?}"));
        println!(
            "  round {round}: killed leader {leader}; survivor {survivor} saw a new leader after \
             {seen}, acknowledged a write after {took:?}"
        );
        times.push(took);
        if let Some(e) = elected {
            elections.push(e);
        }
        procs.spawn(leader)?;
    }
    summarize("kill -9 to a new leader seen by a survivor", &mut elections);
    summarize("kill -9 to first acknowledged write", &mut times);
    Ok(())
}

fn summarize(what: &str, times: &mut [Duration]) {
    times.sort_unstable();
    if let (Some(median), Some(worst)) = (times.get(times.len() / 2), times.last()) {
        println!("{what}: median {median:?}, worst {worst:?}");
    }
}

/// Polls `status_url` until it names a leader other than `old`; the time since `killed`.
fn new_leader_seen(
    agent: &ureq::Agent,
    status_url: &str,
    old: u64,
    killed: Instant,
) -> Option<Duration> {
    while killed.elapsed() < WAIT {
        if let Ok(s) = get_json(agent, status_url) {
            if s["leader_id"].as_u64().is_some_and(|l| l != old) {
                return Some(killed.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn put_until_acked(
    agent: &ureq::Agent,
    url: &str,
    value: &str,
    deadline: Instant,
) -> Result<(), String> {
    while Instant::now() < deadline {
        if let Ok(r) = agent.put(url).send_string(value) {
            if r.status() == 200 {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(format!("no acknowledged write to {url} in time"))
}
