//! The closed loop: each client thread sends one request, waits for the answer, records its
//! latency in an HDR histogram, and sends the next, until the duration is over.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hdrhistogram::Histogram;

use super::{BenchArgs, Target};
use crate::cli::ctl::find_leader;

/// What the clients measured.
struct Outcome {
    histogram: Histogram<u64>,
    reads: u64,
    writes: u64,
    errors: u64,
}

fn new_histogram() -> Result<Histogram<u64>, String> {
    // 1 µs .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
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

/// Runs the load and prints throughput and latency percentiles.
pub(super) fn run(args: &BenchArgs) -> Result<(), String> {
    if args.endpoints.is_empty() {
        return Err("--endpoints is required (or --failover)".into());
    }
    if !(0.0..=1.0).contains(&args.read_ratio) || args.clients == 0 {
        return Err("--read-ratio must be within 0..=1 and --clients positive".into());
    }
    let endpoints: Vec<String> = args
        .endpoints
        .iter()
        .map(|e| e.trim_end_matches('/').to_owned())
        .collect();
    let base = match args.target {
        Target::Raftorch => find_leader(&agent(), &endpoints)
            .ok_or_else(|| format!("no endpoint answered: {}", endpoints.join(",")))?,
        Target::Etcd => endpoints[0].clone(),
    };
    println!(
        "raftorch bench: {:?} at {base}, {} clients, {:?}, {}-byte values, read ratio {}",
        args.target, args.clients, args.duration, args.value_size, args.read_ratio
    );
    let total = Mutex::new(Outcome {
        histogram: new_histogram()?,
        reads: 0,
        writes: 0,
        errors: 0,
    });
    let started = Instant::now();
    let deadline = started + args.duration;
    std::thread::scope(|s| {
        for client in 0..args.clients {
            let (base, endpoints, total) = (&base, &endpoints, &total);
            s.spawn(move || {
                let outcome = client_loop(args, client as u64, base, endpoints, deadline);
                if let Ok(o) = outcome {
                    let mut t = total.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = t.histogram.add(&o.histogram);
                    t.reads += o.reads;
                    t.writes += o.writes;
                    t.errors += o.errors;
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let t = total.into_inner().unwrap_or_else(|e| e.into_inner());
    let ok = t.reads + t.writes;
    let h = &t.histogram;
    let ms = |v: u64| v as f64 / 1000.0;
    println!(
        "{ok} ops in {elapsed:.1}s: {:.0} ops/s ({} reads, {} writes, {} errors)",
        ok as f64 / elapsed,
        t.reads,
        t.writes,
        t.errors
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    );
    Ok(())
}

fn client_loop(
    args: &BenchArgs,
    client: u64,
    base: &str,
    endpoints: &[String],
    deadline: Instant,
) -> Result<Outcome, String> {
    let agent = agent();
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
        let result = match (args.target, read) {
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
            if args.target == Target::Raftorch {
                if let Some(b) = find_leader(&agent, endpoints) {
                    base = b;
                }
            }
        }
    }
    Ok(out)
}
