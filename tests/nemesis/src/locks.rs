//! The lock workload: a few clients take a lease, try the one lock `nem-lock` under it, hold
//! it briefly and release it (a client that is queued or gets no answer revokes its lease and
//! tries again later). Checked: fencing tokens grow in real-time order of acquisition, and no
//! two clients ever believe they hold the lock at once. Holders also write fenced by their
//! token, checked in [`crate::fenced`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::{json, Value};

use crate::fenced::{self, FencedWrite};

/// The lease TTL each attempt takes.
const TTL_MS: u64 = 3_000;
/// A holder stops believing it holds the lock this long before its lease could expire.
const MARGIN_MS: u64 = 500;
/// How long a holder keeps the lock.
const HOLD: Duration = Duration::from_millis(50);

/// One acquisition as its client saw it. Times are microseconds since the run's epoch.
#[derive(Clone, Debug)]
pub struct Grant {
    /// The client.
    pub client: u64,
    /// The fencing token it was given.
    pub token: u64,
    /// When the acquire was sent.
    pub call_us: u64,
    /// When the grant was received: the client holds the lock from here...
    pub held_from_us: u64,
    /// ...to here: its release, or its lease's deadline less a margin, whichever is first.
    pub held_to_us: u64,
    /// Its fenced writes: while it held the lock, and perhaps one after its release.
    pub writes: Vec<FencedWrite>,
}

/// Fenced writes each holder makes while it holds the lock.
const WRITES_PER_HOLD: u64 = 2;

/// Every grant, shared by the lock clients.
pub type Grants = Arc<Mutex<Vec<Grant>>>;

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> Option<Value> {
    let resp = agent.post(url).send_string(&body.to_string()).ok()?;
    serde_json::from_str(&resp.into_string().ok()?).ok()
}

/// One lock client's loop until `stop`.
pub fn client(
    id: u64,
    seed: u64,
    urls: Vec<String>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    grants: Grants,
) {
    let agent = ureq::AgentBuilder::new()
        .timeout(crate::workload::CLIENT_TIMEOUT)
        .build();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x6C6F_636B ^ id);
    let micros = |at: Instant| at.duration_since(epoch).as_micros() as u64;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20 + rng.next_u64() % 80));
        let base = &urls[(rng.next_u64() % urls.len() as u64) as usize];
        let leased_at = Instant::now();
        let Some(lease) = post(
            &agent,
            &format!("{base}/v1/leases"),
            &json!({"ttl_ms": TTL_MS}),
        )
        .and_then(|v| v["lease_id"].as_u64()) else {
            continue;
        };
        let call = Instant::now();
        let answer = post(
            &agent,
            &format!("{base}/v1/locks/nem-lock"),
            &json!({"lease_id": lease}),
        );
        let got = Instant::now();
        let token = answer
            .as_ref()
            .filter(|v| v["result"] == "lock_acquired")
            .and_then(|v| v["fencing_token"].as_u64());
        let mut released_ok = false;
        let mut grant = None;
        if let Some(token) = token {
            let mut writes = Vec::new();
            for n in 0..WRITES_PER_HOLD {
                let value = format!("c{id}-t{token}-{n}");
                writes.push(FencedWrite {
                    client: id,
                    token,
                    after_release: false,
                    outcome: fenced::write(&agent, base, "nem-lock", token, &value),
                });
            }
            std::thread::sleep(HOLD);
            let lease_end = leased_at + Duration::from_millis(TTL_MS - MARGIN_MS);
            let released = Instant::now().min(lease_end);
            grant = Some(Grant {
                client: id,
                token,
                call_us: micros(call),
                held_from_us: micros(got),
                held_to_us: micros(released),
                writes,
            });
            released_ok = agent
                .delete(&format!("{base}/v1/locks/nem-lock?lease_id={lease}"))
                .call()
                .is_ok();
        }
        // Queued, unanswered or done: the lease goes, and with it any claim it has.
        let revoked_ok = agent
            .delete(&format!("{base}/v1/leases/{lease}"))
            .call()
            .is_ok();
        if let Some(mut grant) = grant {
            // A holder that lost the lock but did not notice: its token must be refused now.
            if (released_ok || revoked_ok) && rng.next_u64() % 2 == 0 {
                let value = format!("c{id}-t{}-late", grant.token);
                grant.writes.push(FencedWrite {
                    client: id,
                    token: grant.token,
                    after_release: true,
                    outcome: fenced::write(&agent, base, "nem-lock", grant.token, &value),
                });
            }
            grants.lock().expect("grants lock").push(grant);
        }
    }
}

/// What is wrong with the grants, if anything: a token that did not grow after an
/// acquisition that ended before it began, or two clients holding the lock at once.
pub fn check(grants: &[Grant]) -> Vec<String> {
    let mut problems = Vec::new();
    for a in grants {
        for b in grants {
            if a.held_from_us < b.call_us && a.token >= b.token {
                problems.push(format!(
                    "fencing token did not grow: client {} got {} at {} us, then client {} got \
                     {} (asked at {} us)",
                    a.client, a.token, a.held_from_us, b.client, b.token, b.call_us
                ));
            }
            if a.client < b.client && a.held_from_us < b.held_to_us && b.held_from_us < a.held_to_us
            {
                problems.push(format!(
                    "two holders at once: client {} (token {}) [{}, {}] us and client {} \
                     (token {}) [{}, {}] us",
                    a.client,
                    a.token,
                    a.held_from_us,
                    a.held_to_us,
                    b.client,
                    b.token,
                    b.held_from_us,
                    b.held_to_us
                ));
            }
        }
    }
    problems
}
