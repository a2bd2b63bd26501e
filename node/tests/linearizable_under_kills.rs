//! A Jepsen-style check against real processes: clients put and get a few keys through every
//! node (followers forward) while a nemesis `kill -9`s a random node, the leader included, and
//! restarts it; the recorded history must be linearizable, by the core's own checker.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftorch_core::sim::linearizability::{check_kv, KvOp, KvRet, Operation};
use serde_json::Value;

use proc::Cluster;

type Op = Operation<KvOp<String>, KvRet<String>>;

const KEYS: u64 = 3;
const CLIENTS: u64 = 4;
const RUN: Duration = Duration::from_secs(10);

/// What one request came to, as far as its client can tell.
enum Seen {
    /// Answered: the operation took effect between call and answer.
    Answered(KvRet<String>),
    /// The request provably never reached a node (connection refused): no effect.
    NotSent,
    /// Sent, with no definite answer (timeout, reset, 5xx): it may take effect at any time.
    Unknown,
}

fn classify(result: Result<ureq::Response, ureq::Error>, read: bool) -> Seen {
    match result {
        Ok(r) => {
            let text = r.into_string().unwrap_or_default();
            if !read {
                return Seen::Answered(KvRet::Ok);
            }
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            match body["value"].as_str() {
                Some(v) => Seen::Answered(KvRet::Value(Some(v.to_owned()))),
                None => Seen::Unknown,
            }
        }
        Err(ureq::Error::Status(404, _)) if read => Seen::Answered(KvRet::Value(None)),
        // A write refused before it was proposed (bad request) never happens here; any other
        // status may come after the proposal reached a leader.
        Err(ureq::Error::Status(_, _)) => Seen::Unknown,
        Err(ureq::Error::Transport(t)) if t.kind() == ureq::ErrorKind::ConnectionFailed => {
            Seen::NotSent
        }
        Err(ureq::Error::Transport(_)) => Seen::Unknown,
    }
}

/// One client: random puts (unique values) and linearizable gets through random nodes.
fn client(
    id: u64,
    agent: ureq::Agent,
    urls: Vec<String>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    history: Arc<Mutex<Vec<Op>>>,
) {
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64 ^ id.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let micros = |at: Instant| at.duration_since(epoch).as_micros() as u64;
    let mut seq = 0;
    while !stop.load(Ordering::Relaxed) {
        let node = &urls[(next() % urls.len() as u64) as usize];
        let key = format!("lin/k{}", next() % KEYS);
        let read = next() % 2 == 0;
        seq += 1;
        let value = format!("c{id}-{seq}");
        let url = format!("{node}/v1/kv/{key}");
        let call = Instant::now();
        let result = if read {
            agent.get(&url).call()
        } else {
            let body = serde_json::json!({ "value": value }).to_string();
            agent.put(&url).send_string(&body)
        };
        let seen = classify(result, read);
        let ret_time = micros(Instant::now());
        let op = if read {
            KvOp::Get(key)
        } else {
            KvOp::Put(key, value)
        };
        let record = match seen {
            Seen::Answered(ret) => Some(Operation::complete(id, micros(call), ret_time, op, ret)),
            // A read without an answer has no effect on anything: leave it out.
            Seen::Unknown if !read => Some(Operation::indeterminate(id, micros(call), op)),
            Seen::Unknown | Seen::NotSent => None,
        };
        if let Some(op) = record {
            history.lock().unwrap().push(op);
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn histories_stay_linearizable_while_nodes_are_killed_and_restarted() {
    let mut c = Cluster::start(3, &[]);
    c.wait_leader(Duration::from_secs(15));
    let urls: Vec<String> = (1..=3).map(|id| c.url(id)).collect();
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let history = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|id| {
            let (urls, stop, history) = (urls.clone(), stop.clone(), history.clone());
            let agent = c.agent(Duration::from_secs(3));
            std::thread::spawn(move || client(id, agent, urls, epoch, stop, history))
        })
        .collect();
    // The nemesis: one node down at a time, often the leader.
    let mut kills = 0;
    let mut victim_pick = 7_u64;
    while epoch.elapsed() < RUN {
        std::thread::sleep(Duration::from_millis(800));
        victim_pick = victim_pick
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let leader = (1..=3).find(|&id| {
            c.request(id, "GET", "/v1/status", None)
                .is_some_and(|a| a.body["role"] == "leader")
        });
        let victim = match leader {
            Some(l) if (victim_pick >> 33).is_multiple_of(2) => l,
            _ => 1 + (victim_pick >> 35) % 3,
        };
        c.kill(victim);
        kills += 1;
        std::thread::sleep(Duration::from_millis(700));
        c.spawn(victim);
    }
    stop.store(true, Ordering::Relaxed);
    for t in clients {
        t.join().expect("client thread");
    }
    let history = history.lock().unwrap().clone();
    let completed = history.iter().filter(|o| !o.is_indeterminate()).count();
    let writes = history
        .iter()
        .filter(|o| matches!(o.op, KvOp::Put(..)) && !o.is_indeterminate())
        .count();
    let indeterminate = history.len() - completed;
    eprintln!(
        "{} operations ({completed} answered, {writes} acknowledged writes, {indeterminate} \
         indeterminate), {kills} kills",
        history.len()
    );
    assert!(kills >= 5, "the nemesis ran");
    assert!(
        completed >= 100 && writes >= 30,
        "enough operations to check: {completed} answered, {writes} writes"
    );
    let verdict = check_kv(&history, 5_000_000);
    assert!(
        verdict.is_linearizable(),
        "not linearizable: {verdict:?}\n{}",
        c.logs_tail()
    );
}
