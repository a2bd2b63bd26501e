//! The registry and routing workload: a registrar keeps a few instances of one service alive
//! with a TTL and heartbeats (now and then letting one lapse until it turns unhealthy or
//! expires, deregistering one, registering it again), while routers ask every node, in turn,
//! where keys go (`GET /v1/route`, stale and linearizable). Checked: every answer given at one
//! applied index is the same on every node; and, where the services watchers saw the registry's
//! whole history up to that index, the answer is the one weighted rendezvous hashing gives over
//! the instances healthy at that index (the route is a pure function of the replicated state).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftorch_core::orchestrator::{rendezvous_score, Cursor};
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{json, Value};

use crate::watch::{self, Stream, Topic};

/// The service the workload registers.
pub const SERVICE: &str = "nem-svc";
/// Its instances (`i1`..).
const INSTANCES: u64 = 5;
/// Their heartbeat TTL.
pub const TTL_MS: u64 = 2_000;
/// Keys the routers ask about.
const ROUTE_KEYS: u64 = 16;

/// The weight instance `i{n}` always registers with (known to the checker).
fn weight(n: u64) -> u16 {
    50 + 25 * n as u16
}

/// One registry request (register, heartbeat, deregister) as its client saw it.
#[derive(Clone, Debug)]
pub struct RegistryOp {
    /// `register`, `heartbeat` or `deregister`.
    pub op: &'static str,
    /// The HTTP status or transport error.
    pub answer: String,
}

/// One route answer.
#[derive(Clone, Debug)]
pub struct RouteAnswer {
    /// The node that answered.
    pub node: u64,
    /// The request key.
    pub key: String,
    /// Asked with `consistency=stale`.
    pub stale: bool,
    /// The applied index of the state that decided (`None` for an error without one).
    pub index: Option<u64>,
    /// The instance chosen, or the error code (`no_healthy_instance`, ...) prefixed with `!`.
    pub choice: String,
    /// Sent and answered, µs since the epoch.
    pub call_us: u64,
    /// Answered.
    pub ret_us: u64,
}

/// What the workload recorded, shared by its threads.
#[derive(Default, Debug, Clone)]
pub struct Recorded {
    /// Registry requests.
    pub registry: Vec<RegistryOp>,
    /// Route answers (transport failures are not kept).
    pub routes: Vec<RouteAnswer>,
}

/// Shared by the workload's threads and the run.
pub type Shared = Arc<Mutex<Recorded>>;

fn status(result: &Result<ureq::Response, ureq::Error>) -> String {
    match result {
        Ok(r) => r.status().to_string(),
        Err(ureq::Error::Status(code, _)) => code.to_string(),
        Err(ureq::Error::Transport(t)) => format!("{:?}", t.kind()),
    }
}

/// The registrar's loop until `stop`: heartbeats every live instance every 400 ms through a
/// random node; every few seconds one instance changes state (lapses, is deregistered, or is
/// registered again).
pub fn registrar(seed: u64, urls: Vec<String>, stop: Arc<AtomicBool>, shared: Shared) {
    let agent = ureq::AgentBuilder::new()
        .timeout(crate::workload::CLIENT_TIMEOUT)
        .build();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7265_6769_7374_7279);
    // Whether the registrar keeps instance n alive (registered and heartbeating).
    let mut alive: Vec<bool> = vec![true; INSTANCES as usize];
    let mut registered: Vec<bool> = vec![false; INSTANCES as usize];
    let mut round = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        if round.is_multiple_of(8) {
            let n = (rng.next_u64() % INSTANCES) as usize;
            // Keep at least two instances alive so routes mostly have somewhere to go.
            if alive[n] && alive.iter().filter(|a| **a).count() > 2 {
                alive[n] = false;
                if rng.next_u64().is_multiple_of(2) {
                    let url = format!(
                        "{}/v1/services/{SERVICE}/instances/i{}",
                        pick(&urls, &mut rng),
                        n + 1
                    );
                    let r = agent.delete(&url).call();
                    record(&shared, "deregister", &r);
                    registered[n] = false;
                }
            } else {
                alive[n] = true;
            }
        }
        for n in 0..INSTANCES as usize {
            if !alive[n] {
                continue;
            }
            let base = pick(&urls, &mut rng);
            let path = format!("{base}/v1/services/{SERVICE}/instances/i{}", n as u64 + 1);
            if registered[n] {
                let r = agent.post(&format!("{path}/heartbeat")).call();
                record(&shared, "heartbeat", &r);
                // 404: it expired (or a deregistration took effect): register it again.
                if matches!(r, Err(ureq::Error::Status(404, _))) {
                    registered[n] = false;
                }
            } else {
                let body = json!({
                    "address": "127.0.0.1",
                    "port": 9_000 + n as u64 + 1,
                    "weight": weight(n as u64 + 1),
                    "ttl_ms": TTL_MS,
                });
                let r = agent.put(&path).send_string(&body.to_string());
                record(&shared, "register", &r);
                registered[n] = r.is_ok();
            }
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}

fn pick<'a>(urls: &'a [String], rng: &mut Xoshiro256PlusPlus) -> &'a str {
    &urls[(rng.next_u64() % urls.len() as u64) as usize]
}

fn record(shared: &Shared, op: &'static str, r: &Result<ureq::Response, ureq::Error>) {
    shared
        .lock()
        .expect("routing lock")
        .registry
        .push(RegistryOp {
            op,
            answer: status(r),
        });
}

/// One router's loop until `stop`: a key, asked of every node in turn (stale, then
/// linearizable every other round).
pub fn router(
    id: u64,
    seed: u64,
    urls: Vec<String>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    shared: Shared,
) {
    let agent = ureq::AgentBuilder::new()
        .timeout(crate::workload::CLIENT_TIMEOUT)
        .build();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x0072_6f75_7465 ^ id);
    let micros = |at: Instant| at.duration_since(epoch).as_micros() as u64;
    let mut round = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let key = format!("user-{}", rng.next_u64() % ROUTE_KEYS);
        let stale = round.is_multiple_of(2);
        for (i, base) in urls.iter().enumerate() {
            let consistency = if stale { "&consistency=stale" } else { "" };
            let url = format!("{base}/v1/route/{SERVICE}?key={key}{consistency}");
            let call = Instant::now();
            let result = agent.get(&url).call();
            let ret = Instant::now();
            let (index, choice) = match result {
                Ok(r) => {
                    let v: Value = r
                        .into_string()
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or(Value::Null);
                    match v["instance"]["id"].as_str() {
                        Some(inst) => (v["index"].as_u64(), inst.to_owned()),
                        None => continue,
                    }
                }
                Err(ureq::Error::Status(_, r)) => {
                    let v: Value = r
                        .into_string()
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or(Value::Null);
                    let code = v["error"]["code"].as_str().unwrap_or("error").to_owned();
                    (v["error"]["index"].as_u64(), format!("!{code}"))
                }
                Err(ureq::Error::Transport(_)) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            };
            shared
                .lock()
                .expect("routing lock")
                .routes
                .push(RouteAnswer {
                    node: i as u64 + 1,
                    key: key.clone(),
                    stale,
                    index,
                    choice,
                    call_us: micros(call),
                    ret_us: micros(ret),
                });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The healthy instances after each registry event, replayed from the services watchers'
/// merged history: `index → healthy set after that index's events`, and the cursor up to which
/// that history is complete.
fn healthy_history(streams: &[Stream]) -> (BTreeMap<u64, BTreeSet<String>>, Cursor) {
    let through = watch::covered_through(streams, Topic::Services);
    let mut healthy: BTreeMap<String, bool> = BTreeMap::new();
    let mut at: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for (cursor, e) in watch::merged(streams, Topic::Services) {
        if cursor > through {
            break;
        }
        let id = e["instance_id"].as_str().unwrap_or_default().to_owned();
        match e["type"].as_str().unwrap_or_default() {
            "registered" | "updated" => {
                healthy.insert(id, true);
            }
            "health" => {
                healthy.insert(id, e["healthy"].as_bool().unwrap_or(false));
            }
            _ => {
                healthy.remove(&id);
            }
        }
        let set = healthy
            .iter()
            .filter(|(_, h)| **h)
            .map(|(i, _)| i.clone())
            .collect();
        at.insert(cursor.index, set);
    }
    (at, through)
}

/// Where weighted rendezvous hashing sends `key` among `healthy` (ties to the smallest id).
fn expected(key: &str, healthy: &BTreeSet<String>) -> String {
    let mut best: Option<(f64, &String)> = None;
    for id in healthy {
        let n: u64 = id.trim_start_matches('i').parse().unwrap_or(0);
        let s = rendezvous_score(key.as_bytes(), id, weight(n));
        if best.is_none_or(|(b, _)| s > b) {
            best = Some((s, id));
        }
    }
    best.map_or("!no_healthy_instance".into(), |(_, id)| id.clone())
}

/// What the checks found: problems, and how many answers each check compared.
#[derive(Debug, Default)]
pub struct Verdict {
    /// What is wrong.
    pub problems: Vec<String>,
    /// Indexes at which at least two nodes answered the same key.
    pub same_index_groups: usize,
    /// Answers compared with the route recomputed from the registry history.
    pub recomputed: usize,
}

/// Checks the route answers against each other and against the registry history.
pub fn check(recorded: &Recorded, streams: &[Stream]) -> Verdict {
    let mut v = Verdict::default();
    let mut groups: BTreeMap<(u64, &str), Vec<&RouteAnswer>> = BTreeMap::new();
    for a in &recorded.routes {
        if let Some(i) = a.index {
            groups.entry((i, &a.key)).or_default().push(a);
        }
    }
    for ((index, key), answers) in &groups {
        let nodes: BTreeSet<u64> = answers.iter().map(|a| a.node).collect();
        if nodes.len() >= 2 {
            v.same_index_groups += 1;
        }
        if let Some(b) = answers.iter().find(|b| b.choice != answers[0].choice) {
            v.problems.push(format!(
                "route of {key} at index {index}: node {} says {}, node {} says {}",
                answers[0].node, answers[0].choice, b.node, b.choice
            ));
        }
    }
    let (history, through) = healthy_history(streams);
    for a in &recorded.routes {
        let Some(index) = a.index else { continue };
        if Cursor::after_entry(index) > through
            || a.choice.starts_with('!') && a.choice != "!no_healthy_instance"
        {
            continue;
        }
        let healthy = history
            .range(..=index)
            .next_back()
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        v.recomputed += 1;
        let want = expected(&a.key, &healthy);
        if a.choice != want {
            v.problems.push(format!(
                "route of {} at index {index} from node {}: {} but the instances healthy there \
                 ({healthy:?}) give {want}",
                a.key, a.node, a.choice
            ));
        }
    }
    v.problems.truncate(20);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_route_follows_health() {
        let all: BTreeSet<String> = ["i1", "i2", "i3"].iter().map(|s| (*s).to_owned()).collect();
        let first = expected("user-1", &all);
        let mut fewer = all.clone();
        fewer.remove(&first);
        let second = expected("user-1", &fewer);
        assert_ne!(first, second);
        assert!(fewer.contains(&second));
        assert_eq!(expected("user-1", &BTreeSet::new()), "!no_healthy_instance");
    }
}
