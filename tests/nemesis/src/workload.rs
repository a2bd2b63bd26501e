//! The kv register workload: clients in the root namespace put unique values into a few register
//! keys and read them back (linearizable reads, the default) through random nodes; some puts go
//! to keys of their own, so that every acknowledged write can be looked for at the end. Every
//! request is recorded with its invoke and complete times.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftorch_core::sim::linearizability::{KvOp, KvRet, Operation};
use rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde_json::Value;

/// The register keys the clients contend on.
pub const REGISTER_KEYS: u64 = 8;
/// Every key the workload writes starts with this.
pub const PREFIX: &str = "nem/";
/// How long a client waits for one answer before calling the operation indeterminate.
pub const CLIENT_TIMEOUT: Duration = Duration::from_millis(2_000);

/// What a request asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `GET /v1/kv/{key}` on a register key.
    Get,
    /// `PUT /v1/kv/{key}` on a register key.
    Put,
    /// `PUT` of a key no other operation touches (checked for presence at the end).
    PutUnique,
}

/// What a request came to, as far as its client can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A write was acknowledged.
    Written,
    /// A read was answered: the value, or `None` for 404.
    Read(Option<String>),
    /// Definitely without effect: the connection was refused, or a read got no answer.
    Failed,
    /// A write without a definite answer (timeout, reset, 5xx): it may take effect any time.
    Indeterminate,
}

impl Outcome {
    /// Jepsen's names: `ok`, `fail`, `info`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Written | Outcome::Read(_) => "ok",
            Outcome::Failed => "fail",
            Outcome::Indeterminate => "info",
        }
    }
}

/// One request as its client saw it. Times are microseconds since the run's epoch.
#[derive(Clone, Debug)]
pub struct Record {
    /// The client that sent it.
    pub client: u64,
    /// The node it was sent to.
    pub node: u64,
    /// What it asked.
    pub kind: Kind,
    /// The key.
    pub key: String,
    /// The value written (empty for reads).
    pub value: String,
    /// When it was sent.
    pub call_us: u64,
    /// When the client stopped waiting (answer, error or timeout).
    pub ret_us: u64,
    /// What came of it.
    pub outcome: Outcome,
    /// The HTTP status, or the transport error's kind.
    pub answer: String,
    /// For an acknowledged write, the log index it was applied at (its `revision`).
    pub index: Option<u64>,
    /// For an acknowledged write, the `index` its answer named: the same as `index`, also when
    /// the node retried the write under its exactly-once tag (the retry is answered with where
    /// the write first applied).
    pub answered_index: Option<u64>,
}

/// The recorded history, shared by the clients.
pub type Log = Arc<Mutex<Vec<Record>>>;

/// The HTTP status, or the kind of transport error.
fn answer(result: &Result<ureq::Response, ureq::Error>) -> String {
    match result {
        Ok(r) => r.status().to_string(),
        Err(ureq::Error::Status(code, _)) => code.to_string(),
        Err(ureq::Error::Transport(t)) => format!("{:?}", t.kind()),
    }
}

/// What one HTTP result came to: its outcome and, for an acknowledged write, the put's
/// `revision` (its mod_revision, the entry that applied it) and the answer's `index`.
type Classified = (Outcome, Option<u64>, Option<u64>);

/// Classifies one HTTP result.
fn classify(result: Result<ureq::Response, ureq::Error>, read: bool) -> Classified {
    match result {
        Ok(r) => {
            let body: Value =
                serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or(Value::Null);
            if !read {
                return (
                    Outcome::Written,
                    body["revision"].as_u64(),
                    body["index"].as_u64(),
                );
            }
            match body["value"].as_str() {
                Some(v) => (Outcome::Read(Some(v.to_owned())), None, None),
                None => (Outcome::Failed, None, None),
            }
        }
        Err(e) => (classify_error(e, read), None, None),
    }
}

/// The acknowledged writes whose answer named another index than their revision, as
/// `"client c seq: index i, revision r"`.
pub fn misindexed(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.outcome == Outcome::Written && r.answered_index != r.index)
        .map(|r| {
            format!(
                "{} on node {}: answered index {:?}, revision {:?}",
                r.value, r.node, r.answered_index, r.index
            )
        })
        .collect()
}

/// Classifies an HTTP error or a transport failure.
fn classify_error(error: ureq::Error, read: bool) -> Outcome {
    match error {
        ureq::Error::Status(404, _) if read => Outcome::Read(None),
        ureq::Error::Transport(t) if t.kind() == ureq::ErrorKind::ConnectionFailed => {
            Outcome::Failed
        }
        // A read without an answer has no effect on anything.
        _ if read => Outcome::Failed,
        // Any status may come after the proposal reached a leader.
        _ => Outcome::Indeterminate,
    }
}

/// One client thread's loop until `stop`.
pub fn client(
    id: u64,
    seed: u64,
    urls: Vec<String>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    log: Log,
) {
    let agent = ureq::AgentBuilder::new().timeout(CLIENT_TIMEOUT).build();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let micros = |at: Instant| at.duration_since(epoch).as_micros() as u64;
    let mut seq = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        let node = 1 + rng.next_u64() % urls.len() as u64;
        let dice = rng.next_u64() % 100;
        seq += 1;
        let (kind, key) = match dice {
            0..=44 => (Kind::Get, register_key(rng.next_u64())),
            45..=84 => (Kind::Put, register_key(rng.next_u64())),
            _ => (Kind::PutUnique, format!("{PREFIX}u/c{id}-{seq}")),
        };
        let value = if kind == Kind::Get {
            String::new()
        } else {
            format!("c{id}-{seq}")
        };
        let url = format!("{}/v1/kv/{key}", urls[node as usize - 1]);
        let call = Instant::now();
        let result = if kind == Kind::Get {
            agent.get(&url).call()
        } else {
            let body = serde_json::json!({ "value": value }).to_string();
            agent.put(&url).send_string(&body)
        };
        let answer = answer(&result);
        let (outcome, index, answered_index) = classify(result, kind == Kind::Get);
        let ret = Instant::now();
        let failed = !matches!(outcome, Outcome::Written | Outcome::Read(_));
        log.lock().expect("history lock").push(Record {
            client: id,
            node,
            kind,
            key,
            value,
            call_us: micros(call),
            ret_us: micros(ret),
            outcome,
            answer,
            index,
            answered_index,
        });
        if failed {
            // Do not spin on a node that is down or cut off.
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Record {
    /// One line of `history.jsonl`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "client": self.client,
            "node": self.node,
            "kind": format!("{:?}", self.kind),
            "key": self.key,
            "value": self.value,
            "call_us": self.call_us,
            "ret_us": self.ret_us,
            "outcome": self.outcome.label(),
            "read": match &self.outcome { Outcome::Read(v) => v.clone(), _ => None },
            "answer": self.answer,
            "index": self.index,
            "answered_index": self.answered_index,
        })
    }
}

fn register_key(r: u64) -> String {
    format!("{PREFIX}r/k{}", r % REGISTER_KEYS)
}

/// The history in the checker's terms: answered operations, and writes of unknown outcome as
/// indeterminate; requests known to have had no effect are left out.
pub fn history(records: &[Record]) -> Vec<Operation<KvOp<String>, KvRet<String>>> {
    records
        .iter()
        .filter_map(|r| {
            let op = match r.kind {
                Kind::Get => KvOp::Get(r.key.clone()),
                Kind::Put | Kind::PutUnique => KvOp::Put(r.key.clone(), r.value.clone()),
            };
            match &r.outcome {
                Outcome::Written => Some(Operation::complete(
                    r.client,
                    r.call_us,
                    r.ret_us,
                    op,
                    KvRet::Ok,
                )),
                Outcome::Read(v) => Some(Operation::complete(
                    r.client,
                    r.call_us,
                    r.ret_us,
                    op,
                    KvRet::Value(v.clone()),
                )),
                Outcome::Indeterminate => Some(Operation::indeterminate(r.client, r.call_us, op)),
                Outcome::Failed => None,
            }
        })
        .collect()
}
