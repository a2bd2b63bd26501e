//! `raftorch bench --rolling-restart`: starts three node processes of this binary and restarts
//! each in turn (SIGTERM, wait for the exit, start again, wait until it is ready), `--rounds`
//! times over, while one client writes without pause through every endpoint in turn. What it
//! measures is the longest gap between two acknowledged writes during each restart: with the
//! leader's hand-over on SIGTERM (the default) a leader's restart costs a transfer, without it
//! (`--no-handover`) an election timeout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::procs::{RaftorchProcs, NODES, WAIT};
use super::BenchArgs;
use crate::cli::ctl::get_json;

/// How long a node gets to exit after SIGTERM.
const EXIT_WAIT: Duration = Duration::from_secs(10);
/// One write's timeout; the writer then tries the next endpoint.
const WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// One restart: whether the node led when it got SIGTERM, and when it ran.
struct Step {
    was_leader: bool,
    exit: Duration,
    window: (Instant, Instant),
}

/// Runs the rounds and prints each restart's longest write gap, and the longest of all.
pub(super) fn run(args: &BenchArgs) -> Result<(), String> {
    let extra: &[&str] = if args.no_handover {
        &["--shutdown-transfer-ms", "0"]
    } else {
        &[]
    };
    let mut procs = RaftorchProcs::start_with(args.secure, extra)?;
    let agent = procs.access().agent(Duration::from_secs(1));
    procs.wait_leader(&agent)?;
    println!(
        "raftorch bench --rolling-restart: 3 nodes, {} rounds, leader hand-over on SIGTERM: {}",
        args.rounds,
        if args.no_handover { "off" } else { "on" }
    );
    let acks = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acks, stop, urls) = (acks.clone(), stop.clone(), procs.urls());
        let value = serde_json::json!({ "value": "x".repeat(args.value_size) }).to_string();
        let agent = procs.access().agent(WRITE_TIMEOUT);
        std::thread::spawn(move || write_loop(&agent, &urls, &value, &acks, &stop))
    };
    let mut steps = Vec::new();
    let result = (|| {
        // Gaps are measured from a write acknowledged before each restart.
        let deadline = Instant::now() + WAIT;
        while acks.lock().map(|a| a.is_empty()).unwrap_or(true) {
            if Instant::now() > deadline {
                return Err(format!("no write acknowledged within {WAIT:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        for round in 1..=args.rounds {
            for node in 1..=NODES {
                let leader = procs.wait_leader(&agent)?;
                let start = Instant::now();
                let exit = procs.terminate(node, EXIT_WAIT)?;
                procs.spawn(node)?;
                wait_ready(&agent, &procs.url(node))?;
                procs.wait_leader(&agent)?;
                let step = Step {
                    was_leader: leader == node,
                    exit,
                    window: (start, Instant::now()),
                };
                let gap = max_gap(&acks, step.window);
                println!(
                    "  round {round}: node {node}{}: exited {:?} after SIGTERM, longest write \
                     gap {}",
                    if step.was_leader { " (leader)" } else { "" },
                    step.exit,
                    show(gap)
                );
                steps.push(step);
            }
        }
        Ok::<(), String>(())
    })();
    stop.store(true, Ordering::Relaxed);
    let _ = writer.join();
    result?;
    let written = acks.lock().map(|a| a.len()).unwrap_or(0);
    for (what, leader) in [("leader", true), ("follower", false)] {
        let of_kind: Vec<&Step> = steps.iter().filter(|s| s.was_leader == leader).collect();
        if of_kind.is_empty() {
            println!("longest write gap over {what} restarts: no {what} was restarted");
            continue;
        }
        let worst = of_kind
            .iter()
            .filter_map(|s| max_gap(&acks, s.window))
            .max();
        println!("longest write gap over {what} restarts: {}", show(worst));
    }
    println!("{written} writes acknowledged");
    Ok(())
}

fn show(gap: Option<Duration>) -> String {
    gap.map_or_else(
        || "none (no write acknowledged)".into(),
        |g| format!("{g:?}"),
    )
}

/// The longest time without an acknowledged write around `window`: between the last write
/// acknowledged before it, those within it, and the first after it.
fn max_gap(acks: &Mutex<Vec<Instant>>, window: (Instant, Instant)) -> Option<Duration> {
    let acks = acks.lock().ok()?;
    let (from, to) = window;
    // The last ack before the window, those inside, and the first after it.
    let before = acks.iter().rev().find(|&&t| t < from).copied();
    let after = acks.iter().find(|&&t| t > to).copied();
    let inside = acks.iter().copied().filter(|&t| t >= from && t <= to);
    let points: Vec<Instant> = before.into_iter().chain(inside).chain(after).collect();
    points.windows(2).map(|w| w[1].duration_since(w[0])).max()
}

/// Writes one key in a closed loop until `stop`, through each endpoint in turn while it answers
/// (the next one on any failure); records when each write was acknowledged.
fn write_loop(
    agent: &ureq::Agent,
    urls: &[String],
    value: &str,
    acks: &Mutex<Vec<Instant>>,
    stop: &AtomicBool,
) {
    let mut at = 0;
    while !stop.load(Ordering::Relaxed) {
        let url = format!("{}/v1/kv/bench/rolling", urls[at % urls.len()]);
        match agent.put(&url).send_string(value) {
            Ok(r) if r.status() == 200 => {
                if let Ok(mut a) = acks.lock() {
                    a.push(Instant::now());
                }
            }
            _ => {
                at += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Waits until `url`'s `/readyz` answers 200 (a leader known, caught up).
fn wait_ready(agent: &ureq::Agent, url: &str) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if get_json(agent, &format!("{url}/readyz")).is_ok_and(|v| v["ready"] == true) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("{url} not ready within {WAIT:?} of its restart"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_counts_from_the_last_write_before_to_the_first_after() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let acks = Mutex::new(vec![at(0), at(10), at(100), at(130), at(400)]);
        assert_eq!(
            max_gap(&acks, (at(20), at(200))),
            Some(Duration::from_millis(270))
        );
        assert_eq!(
            max_gap(&acks, (at(5), at(50))),
            Some(Duration::from_millis(90))
        );
        assert_eq!(max_gap(&Mutex::new(vec![]), (at(0), at(1))), None);
    }
}
