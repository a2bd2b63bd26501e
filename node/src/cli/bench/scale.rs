//! `raftorch bench --scale --fill 1GiB`: how the cost of a 3-node cluster of this binary grows
//! with its state. One follower is down from the start, so it misses the whole fill. At each
//! step (0, 64 MiB, 256 MiB, 1 GiB of live state, those below `--fill`, and `--fill`) the bench
//! fills up to the step with unique keys, then measures a write load for `--duration`:
//! writes/s, p99, RSS per node, the last snapshot's serialize time and size, the longest
//! owner-loop round and the term. Then, with a writer running: a paged read of every key, the
//! follower back and its catch-up time, and a `kill -9` and restart to `/readyz`. Last, the
//! figures against the goals of a 1 GiB state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::load::{self, Summary};
use super::procs::{RaftorchProcs, NODES};
use super::{BenchArgs, Target, Via};
use crate::cli::client::Access;
use crate::cli::ctl::{find_leader, get_json};
use crate::cli::progress;

const MIB: u64 = 1 << 20;
/// The steps measured below `--fill` (which is always the last).
const STEPS: [u64; 3] = [0, 64 * MIB, 256 * MIB];
/// The fill's keys (the load of each step writes under `bench/`).
const PREFIX: &str = "scale/";
/// How long a follower may take to catch up, or a node to be ready, before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(300);

/// The live-state sizes measured for a fill of `fill` bytes, smallest first.
pub(super) fn steps(fill: u64) -> Vec<u64> {
    let mut steps: Vec<u64> = STEPS.iter().copied().filter(|&s| s < fill).collect();
    steps.push(fill);
    steps
}

/// Parses `1GiB`, `256MiB`, `64KiB` or a plain number of bytes.
pub(super) fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let bad = || format!("bad size {s:?} (e.g. 1GiB, 256MiB, 1048576)");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(bad()),
    };
    n.checked_mul(unit).ok_or_else(bad)
}

/// One step's figures.
struct Step {
    live_bytes: u64,
    keys: u64,
    load: Summary,
    rss_mib: Vec<(u64, u64)>,
    snapshot_serialize_ms: f64,
    snapshot_mib: f64,
    snapshots_in_window: u64,
    stall_ms: f64,
    terms: (u64, u64),
}

/// Runs the scale benchmark.
pub(super) fn run(args: &BenchArgs) -> Result<(), String> {
    load::check(args)?;
    let fill = args.fill;
    let quota = (2 << 30).max(fill.saturating_mul(2));
    let quota_flag = quota.to_string();
    let mut procs = RaftorchProcs::start_with(args.secure, &["--quota-bytes", &quota_flag])?;
    let agent = procs.access().agent(Duration::from_secs(10));
    let leader = procs.wait_leader(&agent)?;
    let down = (1..=NODES)
        .rev()
        .find(|&id| id != leader)
        .ok_or("no follower")?;
    procs.kill(down);
    let clients = args.clients.first().copied().unwrap_or(16);
    println!(
        "raftorch bench --scale: 3 nodes, node {down} down during the fill, {clients} clients, \
         {}-byte values, {:?} of writes per step",
        args.value_size, args.duration
    );
    let access = procs.access().clone();
    let mut rows = Vec::new();
    let mut next_key = 0;
    for step in steps(fill) {
        next_key = fill_to(&procs, &access, clients, args.value_size, step, next_key)?;
        rows.push(measure_step(args, &procs, &access, clients, next_key)?);
        print_row(rows.last().ok_or("no row")?);
    }
    let after = after_fill(args, &mut procs, &access, down)?;
    print_goals(&rows, &after, fill);
    Ok(())
}

/// Writes unique keys under [`PREFIX`] from `clients` threads until the leader's live state
/// reaches `target` bytes; the next unused key number.
fn fill_to(
    procs: &RaftorchProcs,
    access: &Access,
    clients: usize,
    value_size: usize,
    target: u64,
    first_key: u64,
) -> Result<u64, String> {
    let agent = access.agent(Duration::from_secs(10));
    let live = |agent: &ureq::Agent| -> Result<u64, String> {
        let leader = procs.wait_leader(agent)?;
        let alarms = get_json(agent, &format!("{}/v1/alarms", procs.url(leader)))?;
        Ok(alarms["live_bytes"].as_u64().unwrap_or(0))
    };
    let start = live(&agent)?;
    if start >= target {
        return Ok(first_key);
    }
    let bar = progress::counter(target / MIB, "MiB filled");
    let next = AtomicU64::new(first_key);
    let full = AtomicBool::new(false);
    let body = serde_json::json!({ "value": "x".repeat(value_size) }).to_string();
    let started = Instant::now();
    let mut last_print = Instant::now();
    let urls = procs.urls();
    std::thread::scope(|s| -> Result<(), String> {
        for _ in 0..clients {
            let (next, full, body, urls) = (&next, &full, &body, &urls);
            s.spawn(move || write_until(urls, access, (PREFIX, u64::MAX), next, full, body));
        }
        let result = loop {
            std::thread::sleep(Duration::from_millis(250));
            let bytes = match live(&agent) {
                Ok(b) => b,
                Err(e) => break Err(e),
            };
            bar.set_position(bytes / MIB);
            if bar.is_hidden() && last_print.elapsed() > Duration::from_secs(10) {
                println!("  filling: {} of {} MiB", bytes / MIB, target / MIB);
                last_print = Instant::now();
            }
            if bytes >= target {
                break Ok(());
            }
            if started.elapsed() > Duration::from_secs(3_600) {
                break Err(format!(
                    "the fill to {} MiB took over an hour",
                    target / MIB
                ));
            }
        };
        full.store(true, Relaxed);
        result
    })?;
    bar.finish_and_clear();
    Ok(next.load(Relaxed))
}

/// One writer: puts `{prefix}{n % modulo}` for the next `n` until `stop`, following the
/// leader among `urls`; the writes acknowledged.
fn write_until(
    urls: &[String],
    access: &Access,
    (prefix, modulo): (&str, u64),
    next: &AtomicU64,
    stop: &AtomicBool,
    body: &str,
) -> u64 {
    let agent = access.agent(Duration::from_secs(10));
    let mut base = find_leader(&agent, urls);
    let mut written = 0;
    while !stop.load(Relaxed) {
        let Some(url) = &base else {
            std::thread::sleep(Duration::from_millis(100));
            base = find_leader(&agent, urls);
            continue;
        };
        let n = next.fetch_add(1, Relaxed) % modulo;
        match agent
            .put(&format!("{url}/v1/kv/{prefix}{n:010}"))
            .send_string(body)
        {
            Ok(_) => written += 1,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                base = find_leader(&agent, urls);
            }
        }
    }
    written
}

/// The write load of one step and the figures around it.
fn measure_step(
    args: &BenchArgs,
    procs: &RaftorchProcs,
    access: &Access,
    clients: usize,
    keys: u64,
) -> Result<Step, String> {
    let agent = access.agent(Duration::from_secs(10));
    let leader = procs.wait_leader(&agent)?;
    let leader_url = procs.url(leader);
    let term = |agent: &ureq::Agent| -> Result<u64, String> {
        let l = procs.wait_leader(agent)?;
        let s = get_json(agent, &format!("{}/v1/status", procs.url(l)))?;
        s["term"]
            .as_u64()
            .ok_or_else(|| "a status without a term".into())
    };
    let before = term(&agent)?;
    let snapshots_before = metric(&agent, &leader_url, "raftorch_snapshots_total").unwrap_or(0.0);
    let live_bytes = get_json(&agent, &format!("{leader_url}/v1/alarms"))?["live_bytes"]
        .as_u64()
        .unwrap_or(0);
    let writes = BenchArgs {
        read_ratio: 0.0,
        keys: 10_000,
        target: Target::Raftorch,
        via: Via::Leader,
        ..args.clone()
    };
    let urls = procs.urls();
    let load = load::measure(
        &writes,
        Target::Raftorch,
        access,
        &leader_url,
        &urls,
        clients,
    )?;
    let after = term(&agent)?;
    let leader_url = procs.url(procs.wait_leader(&agent)?);
    let m = |name: &str| metric(&agent, &leader_url, name).unwrap_or(0.0);
    Ok(Step {
        live_bytes,
        keys,
        load,
        rss_mib: (1..=NODES)
            .filter_map(|id| Some((id, rss_bytes(procs.pid(id)?)? / MIB)))
            .collect(),
        snapshot_serialize_ms: m("raftorch_snapshot_last_serialize_seconds") * 1e3,
        snapshot_mib: m("raftorch_snapshot_last_bytes") / MIB as f64,
        snapshots_in_window: (m("raftorch_snapshots_total") - snapshots_before).max(0.0) as u64,
        stall_ms: m("raftorch_owner_loop_stall_seconds") * 1e3,
        terms: (before, after),
    })
}

fn print_row(r: &Step) {
    let rss: Vec<String> = r
        .rss_mib
        .iter()
        .map(|(id, mib)| format!("n{id} {mib}"))
        .collect();
    println!(
        "  live {:>5} MiB ({:>8} keys): {:>7.0} writes/s, p99 {:>6.2} ms, RSS MiB [{}], last \
         snapshot {:.1} MiB in {:.0} ms ({} in the window), longest owner round so far {:.0} ms, \
         term {} -> {}",
        r.live_bytes / MIB,
        r.keys,
        r.load.ops_per_sec,
        r.load.latency_ms[2],
        rss.join(", "),
        r.snapshot_mib,
        r.snapshot_serialize_ms,
        r.snapshots_in_window,
        r.stall_ms,
        r.terms.0,
        r.terms.1,
    );
}

/// What happened after the fill.
struct AfterFill {
    range: Duration,
    range_keys: u64,
    catch_up: Option<Duration>,
    ready: Option<Duration>,
    terms: (u64, u64),
    background_writes: u64,
}

/// With a writer running: a paged read of every key, the follower that was down back and its
/// catch-up, and a `kill -9` and restart of it to `/readyz`.
fn after_fill(
    args: &BenchArgs,
    procs: &mut RaftorchProcs,
    access: &Access,
    down: u64,
) -> Result<AfterFill, String> {
    let agent = access.agent(Duration::from_secs(10));
    let term = |procs: &RaftorchProcs| -> Result<u64, String> {
        let l = procs.wait_leader(&agent)?;
        Ok(
            get_json(&agent, &format!("{}/v1/status", procs.url(l)))?["term"]
                .as_u64()
                .unwrap_or(0),
        )
    };
    let first_term = term(procs)?;
    let stop = AtomicBool::new(false);
    let next = AtomicU64::new(0);
    let body = serde_json::json!({ "value": "x".repeat(args.value_size) }).to_string();
    let leader = procs.wait_leader(&agent)?;
    let leader_url = procs.url(leader);
    let urls = procs.urls();
    // The writer cycles over 1,000 keys of its own, so the state stays the same size.
    let own_keys = ("scale-bg/", 1_000);
    let background = std::thread::scope(|s| -> Result<(Duration, u64, u64), String> {
        let writer = {
            let (stop, next, body, urls) = (&stop, &next, &body, &urls);
            s.spawn(move || write_until(urls, access, own_keys, next, stop, body))
        };
        let started = Instant::now();
        let mut keys = 0;
        let mut after: Option<String> = None;
        let result = loop {
            let mut url = format!("{leader_url}/v1/kv?prefix={PREFIX}&limit=1000");
            if let Some(k) = &after {
                url.push_str(&format!("&start_after={k}"));
            }
            let page = match get_json(&agent, &url) {
                Ok(p) => p,
                Err(e) => break Err(e),
            };
            keys += page["items"].as_array().map_or(0, Vec::len) as u64;
            match (page["more"].as_bool(), page["next"].as_str()) {
                (Some(true), Some(next)) => after = Some(next.to_owned()),
                _ => break Ok(()),
            }
        };
        let range = started.elapsed();
        stop.store(true, Relaxed);
        let written = writer.join().unwrap_or(0);
        result.map(|()| (range, keys, written))
    })?;
    let (range, range_keys, mut background_writes) = background;
    println!("  paged read of every key (limit 1000): {range_keys} keys in {range:.1?}");

    // The follower that missed the fill comes back while a writer runs.
    let stop = AtomicBool::new(false);
    let (catch_up, ready) = std::thread::scope(|s| -> Result<_, String> {
        let writer = {
            let (stop, next, body, urls) = (&stop, &next, &body, &urls);
            s.spawn(move || write_until(urls, access, own_keys, next, stop, body))
        };
        let result = (|| {
            let commit = status_of(&agent, &leader_url)?["commit_index"]
                .as_u64()
                .unwrap_or(0);
            procs.spawn(down)?;
            let spawned = Instant::now();
            let caught_up = wait_until(PATIENCE, || {
                status_of(&agent, &procs.url(down))
                    .ok()
                    .and_then(|s| s["applied_index"].as_u64())
                    .is_some_and(|a| a >= commit)
            })
            .then(|| spawned.elapsed());
            println!(
                "  node {down} back after missing the fill: caught up in {}",
                caught_up.map_or("never (gave up)".into(), |d| format!("{d:.1?}"))
            );
            procs.kill(down);
            procs.spawn(down)?;
            let restarted = Instant::now();
            let ready_url = format!("{}/readyz", procs.url(down));
            let ready = wait_until(PATIENCE, || {
                agent
                    .get(&ready_url)
                    .call()
                    .is_ok_and(|r| r.status() == 200)
            })
            .then(|| restarted.elapsed());
            println!(
                "  kill -9 and restart of node {down}: ready in {}",
                ready.map_or("never (gave up)".into(), |d| format!("{d:.1?}"))
            );
            Ok((caught_up, ready))
        })();
        stop.store(true, Relaxed);
        background_writes += writer.join().unwrap_or(0);
        result
    })?;
    Ok(AfterFill {
        range,
        range_keys,
        catch_up,
        ready,
        terms: (first_term, term(procs)?),
        background_writes,
    })
}

fn print_goals(rows: &[Step], after: &AfterFill, fill: u64) {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return;
    };
    let terms = (first.terms.0, after.terms.1);
    let ratio = last.load.ops_per_sec / first.load.ops_per_sec.max(1.0);
    let worst_rss = last
        .rss_mib
        .iter()
        .map(|&(_, mib)| mib as f64 * MIB as f64 / last.live_bytes.max(1) as f64)
        .fold(0.0, f64::max);
    let mark = |ok: bool| if ok { "met" } else { "NOT met" };
    let secs = |d: Option<Duration>| d.map_or(f64::INFINITY, |d| d.as_secs_f64());
    println!("goals at {} MiB of live state:", fill / MIB);
    println!(
        "  no leadership change (term {} -> {}): {}",
        terms.0,
        terms.1,
        mark(terms.0 == terms.1)
    );
    println!(
        "  the follower that missed the fill catches up in <= 60 s ({:.1} s): {}",
        secs(after.catch_up),
        mark(secs(after.catch_up) <= 60.0)
    );
    println!(
        "  writes/s at the fill >= 80% of an empty state's ({:.0}%): {}",
        ratio * 100.0,
        mark(ratio >= 0.8)
    );
    println!(
        "  restart to ready <= 15 s ({:.1} s): {}",
        secs(after.ready),
        mark(secs(after.ready) <= 15.0)
    );
    println!(
        "  RSS per node <= 2.5x the live state ({worst_rss:.2}x): {}",
        mark(worst_rss <= 2.5)
    );
    println!(
        "  ({} writes acknowledged during the read, catch-up and restart; {} keys paged in {:.1?})",
        after.background_writes, after.range_keys, after.range
    );
}

/// `GET {base}/v1/status`.
fn status_of(agent: &ureq::Agent, base: &str) -> Result<serde_json::Value, String> {
    get_json(agent, &format!("{base}/v1/status"))
}

/// Polls `done` every 50 ms for at most `patience`; whether it held.
fn wait_until(patience: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < patience {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// One unlabelled series of a node's `/metrics`.
fn metric(agent: &ureq::Agent, base: &str, name: &str) -> Option<f64> {
    let text = agent
        .get(&format!("{base}/metrics"))
        .call()
        .ok()?
        .into_string()
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A process's resident set size, from `/proc/PID/status` (Linux).
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_steps_end_at_the_fill() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("200MiB"), Ok(200 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1GB").is_err() && parse_size("x").is_err());
        assert_eq!(steps(1 << 30), [0, 64 * MIB, 256 * MIB, 1 << 30]);
        assert_eq!(steps(100 * MIB), [0, 64 * MIB, 100 * MIB]);
        assert_eq!(steps(64 * MIB), [0, 64 * MIB]);
    }

    #[test]
    fn rss_of_this_process_is_read() {
        assert!(rss_bytes(std::process::id()).is_some_and(|b| b > 0));
    }
}
