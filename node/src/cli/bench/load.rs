//! The closed loop: each client thread sends one request, waits for the answer, records its
//! latency in an HDR histogram, and sends the next, until the duration is over.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hdrhistogram::Histogram;

use super::procs::etcd_leader;
use super::{BenchArgs, Target, Via};
use crate::cli::client;
use crate::cli::ctl::find_leader;
use crate::cli::progress;

/// What the clients measured.
struct Outcome {
    histogram: Histogram<u64>,
    reads: u64,
    writes: u64,
    errors: u64,
}

/// One load run's figures.
#[derive(Debug, Clone)]
pub(super) struct Summary {
    /// Concurrent clients.
    pub(super) clients: usize,
    /// Completed operations per second.
    pub(super) ops_per_sec: f64,
    /// Completed reads.
    pub(super) reads: u64,
    /// Completed writes.
    pub(super) writes: u64,
    /// Failed requests.
    pub(super) errors: u64,
    /// Latency percentiles in milliseconds: p50, p90, p99, max.
    pub(super) latency_ms: [f64; 4],
}

impl Summary {
    /// Prints the two lines `raftorch bench` has always printed (tests parse them).
    pub(super) fn print(&self, elapsed: f64) {
        let [p50, p90, p99, max] = self.latency_ms;
        println!(
            "{} ops in {elapsed:.1}s: {:.0} ops/s ({} reads, {} writes, {} errors)",
            self.reads + self.writes,
            self.ops_per_sec,
            self.reads,
            self.writes,
            self.errors
        );
        println!("latency ms: p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}  max {max:.2}");
    }
}

fn new_histogram() -> Result<Histogram<u64>, String> {
    // 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())
}

/// The agent for `target`: raftorch gets the token and the CA, etcd never does.
fn agent(target: Target, access: &client::Access) -> ureq::Agent {
    let none = client::Access::default();
    let access = if target == Target::Raftorch {
        access
    } else {
        &none
    };
    access
        .builder()
        .timeout(Duration::from_secs(5))
        .max_idle_connections_per_host(4)
        .build()
}

/// A tiny xorshift generator: each client's choices are cheap and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs the load once per `--clients` figure and prints throughput and latency percentiles.
pub(super) fn run(args: &BenchArgs) -> Result<(), String> {
    check(args)?;
    let access = access(args)?;
    let endpoints: Vec<String> = args.endpoints.iter().map(|e| access.base(e)).collect();
    for &clients in &args.clients {
        let base = endpoint_for(args.target, args.via, &endpoints, &access)?;
        println!(
            "raftorch bench: {:?} at {base}, {clients} clients, {:?}, {}-byte values, read ratio {}",
            args.target, args.duration, args.value_size, args.read_ratio
        );
        let summary = measure(args, args.target, &access, &base, &endpoints, clients)?;
        summary.print(args.duration.as_secs_f64());
    }
    Ok(())
}

/// The token and CA the load uses.
pub(super) fn access(args: &BenchArgs) -> Result<client::Access, String> {
    client::Access::new(args.token.as_deref(), args.cacert.as_deref())
}

/// Rejects options no load can run with.
pub(super) fn check(args: &BenchArgs) -> Result<(), String> {
    if !(0.0..=1.0).contains(&args.read_ratio) || args.clients.contains(&0) {
        return Err("--read-ratio must be within 0..=1 and --clients positive".into());
    }
    Ok(())
}

/// The endpoint to load: the leader, as each system reports it (so both systems are measured
/// the same way), or with `--via follower` another endpoint than the leader.
pub(super) fn endpoint_for(
    target: Target,
    via: Via,
    endpoints: &[String],
    access: &client::Access,
) -> Result<String, String> {
    let agent = agent(target, access);
    let found = match target {
        Target::Raftorch => find_leader(&agent, endpoints),
        Target::Etcd => etcd_leader(&agent, endpoints).or_else(|| endpoints.first().cloned()),
    };
    let leader = found.ok_or_else(|| format!("no endpoint answered: {}", endpoints.join(",")))?;
    match via {
        Via::Leader => Ok(leader),
        Via::Follower => endpoints
            .iter()
            .find(|e| e.trim_end_matches('/') != leader.trim_end_matches('/'))
            .cloned()
            .ok_or_else(|| "--via follower needs at least two endpoints".to_owned()),
    }
}

/// Runs `clients` closed-loop clients against `base` for `--duration`.
pub(super) fn measure(
    args: &BenchArgs,
    target: Target,
    access: &client::Access,
    base: &str,
    endpoints: &[String],
    clients: usize,
) -> Result<Summary, String> {
    let total = Mutex::new(Outcome {
        histogram: new_histogram()?,
        reads: 0,
        writes: 0,
        errors: 0,
    });
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let bar = progress::timed(args.duration, &format!("{target:?}, {clients} clients"));
    let started = Instant::now();
    let deadline = started + args.duration;
    std::thread::scope(|s| {
        for client in 0..clients {
            let (total, failure) = (&total, &failure);
            s.spawn(move || {
                match client_loop(
                    args,
                    target,
                    access,
                    client as u64,
                    base,
                    endpoints,
                    deadline,
                ) {
                    Ok(o) => {
                        let mut t = total.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = t.histogram.add(&o.histogram);
                        t.reads += o.reads;
                        t.writes += o.writes;
                        t.errors += o.errors;
                    }
                    Err(e) => {
                        let mut f = failure.lock().unwrap_or_else(|e| e.into_inner());
                        f.get_or_insert(e);
                    }
                }
            });
        }
        while Instant::now() < deadline && !bar.is_hidden() {
            bar.set_position(started.elapsed().as_millis() as u64);
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    bar.finish_and_clear();
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let t = total.into_inner().unwrap_or_else(|e| e.into_inner());
    let h = &t.histogram;
    let ms = |v: u64| v as f64 / 1000.0;
    Ok(Summary {
        clients,
        ops_per_sec: (t.reads + t.writes) as f64 / elapsed,
        reads: t.reads,
        writes: t.writes,
        errors: t.errors,
        latency_ms: [
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.9)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
        ],
    })
}

fn client_loop(
    args: &BenchArgs,
    target: Target,
    access: &client::Access,
    client: u64,
    base: &str,
    endpoints: &[String],
    deadline: Instant,
) -> Result<Outcome, String> {
    let agent = agent(target, access);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (client + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let value = "x".repeat(args.value_size);
    let put_body = serde_json::json!({ "value": value }).to_string();
    let mut base = base.to_owned();
    let mut out = Outcome {
        histogram: new_histogram()?,
        reads: 0,
        writes: 0,
        errors: 0,
    };
    while Instant::now() < deadline {
        let key = format!("bench/{}", rng.next() % args.keys.max(1));
        let read = (rng.next() % 10_000) as f64 / 10_000.0 < args.read_ratio;
        let sent = Instant::now();
        let result = match (target, read) {
            (Target::Raftorch, true) => agent.get(&format!("{base}/v1/kv/{key}")).call(),
            (Target::Raftorch, false) => agent
                .put(&format!("{base}/v1/kv/{key}"))
                .send_string(&put_body),
            (Target::Etcd, true) => agent
                .post(&format!("{base}/v3/kv/range"))
                .send_string(&serde_json::json!({"key": STANDARD.encode(&key)}).to_string()),
            (Target::Etcd, false) => agent.post(&format!("{base}/v3/kv/put")).send_string(
                &serde_json::json!({"key": STANDARD.encode(&key), "value": STANDARD.encode(&value)})
                    .to_string(),
            ),
        };
        let answered = match result {
            // Retrying will not change the cluster's mind: stop, and say why.
            Err(ureq::Error::Status(code @ (401 | 403), r)) => {
                let why = r.into_string().unwrap_or_default();
                return Err(format!(
                    "HTTP {code} from {base}: {} (pass a write token with --token or \
                     RAFTORCH_TOKEN)",
                    why.trim()
                ));
            }
            Ok(r) => r.into_string().is_ok(),
            // A read of a key not written yet is a full answer.
            Err(ureq::Error::Status(404, r)) => read && r.into_string().is_ok(),
            Err(_) => false,
        };
        if answered {
            let micros = sent.elapsed().as_micros().max(1) as u64;
            let _ = out.histogram.record(micros);
            if read {
                out.reads += 1;
            } else {
                out.writes += 1;
            }
        } else {
            out.errors += 1;
            std::thread::sleep(Duration::from_millis(50));
            if let Ok(b) = endpoint_for(target, args.via, endpoints, access) {
                base = b;
            }
        }
    }
    Ok(out)
}
