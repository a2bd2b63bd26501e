//! The checks after healing: the history is linearizable (the core's checker, key by key);
//! every node reaches the same applied index and holds the same kv state; every acknowledged
//! write to a key of its own is there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use raftorch_core::sim::linearizability::PartitionedResult;
use raftorch_core::sim::linearizability::{check_kv, KvKeySpec, KvOp, KvRet, Operation};
use serde_json::Value;

use crate::cluster::Cluster;
use crate::workload::{Kind, Outcome, Record, PREFIX};

/// Steps of the checker's search allowed per key.
const BUDGET_PER_KEY: u64 = 20_000_000;

/// The linearizability verdict, in words: `None` when linearizable, else the failing key and
/// the checker's account of the minimal dead end (the operations that cannot be ordered).
pub fn linearizability(history: &[Operation<KvOp<String>, KvRet<String>>]) -> Option<String> {
    match check_kv(history, BUDGET_PER_KEY) {
        PartitionedResult::Linearizable => None,
        PartitionedResult::NotLinearizable {
            key,
            counterexample,
        } => {
            let mut text = format!("key {key:?}: ");
            text.push_str(&counterexample.explain(&KvKeySpec::new(), history));
            // The operations on this key around the dead end, in call order.
            let mut involved: Vec<usize> = counterexample.candidates.clone();
            involved.extend(counterexample.overdue);
            involved.extend(counterexample.prefix.iter().rev().take(5));
            involved.sort_unstable();
            involved.dedup();
            text.push_str("minimal history (the last ordered ops and the ones that do not fit):\n");
            for i in involved {
                let o = &history[i];
                text.push_str(&format!(
                    "  #{i} client {} call {} us ret {:?} us {:?} -> {:?}\n",
                    o.client, o.call, o.ret_time, o.op, o.ret
                ));
            }
            Some(text)
        }
        PartitionedResult::Unknown { key } => Some(format!(
            "the checker ran out of budget ({BUDGET_PER_KEY} steps) on key {key:?}"
        )),
        PartitionedResult::InvalidOperation { op } => {
            Some(format!("operation #{op} returned before it was invoked"))
        }
    }
}

/// What convergence came to.
#[derive(Clone, Debug, Default)]
pub struct Convergence {
    /// The applied index every node reported in the same poll.
    pub applied_index: u64,
    /// Time from the final heal until every node agreed, in ms.
    pub took_ms: u64,
    /// Keys under the workload's prefix at each node (equal when converged).
    pub keys: usize,
    /// The kv state, key to value, as every node holds it.
    pub state: BTreeMap<String, String>,
}

/// `(key, value, mod_revision)` of every item of a `GET /v1/kv?prefix=` answer.
fn items(body: &Value) -> Option<Vec<(String, String, u64)>> {
    body["items"]
        .as_array()?
        .iter()
        .map(|item| {
            Some((
                item["key"].as_str()?.to_owned(),
                item["value"].as_str()?.to_owned(),
                item["mod_revision"].as_u64()?,
            ))
        })
        .collect()
}

/// Node `n`'s kv state under the workload prefix, read locally (`consistency=stale`) page by
/// page; `None` if a page does not come.
fn local_state(cluster: &Cluster, n: u64) -> Option<Vec<(String, String, u64)>> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/v1/kv?prefix={PREFIX}&consistency=stale&limit=10000");
        if let Some(key) = &after {
            path.push_str(&format!("&start_after={}", query_escape(key)));
        }
        let page = cluster.get_json(n, &path)?;
        all.extend(items(&page)?);
        match (page["more"].as_bool(), page["next"].as_str()) {
            (Some(true), Some(next)) => after = Some(next.to_owned()),
            _ => return Some(all),
        }
    }
}

/// `text` with every byte but ASCII letters, digits and `-._~/` percent-encoded.
fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Waits (at most `timeout`) until every node reports one applied index equal to the leader's
/// commit index in the same poll, then compares every node's kv state read locally
/// (`consistency=stale`).
pub fn convergence(cluster: &Cluster, timeout: Duration) -> Result<Convergence, String> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(100));
        let statuses: Vec<_> = cluster.ids().iter().map(|&n| cluster.status(n)).collect();
        let Some(statuses) = statuses.into_iter().collect::<Option<Vec<_>>>() else {
            last = "a node does not answer /v1/status".into();
            continue;
        };
        let applied: Vec<u64> = statuses.iter().map(|s| s.applied).collect();
        let commit: Vec<u64> = statuses.iter().map(|s| s.commit).collect();
        let leaders = statuses.iter().filter(|s| s.role == "leader").count();
        if leaders != 1 || applied.iter().any(|&a| a != applied[0]) || commit[0] != applied[0] {
            last = format!("applied {applied:?}, commit {commit:?}, {leaders} leaders");
            continue;
        }
        let states: Vec<_> = cluster
            .ids()
            .iter()
            .map(|&n| local_state(cluster, n))
            .collect();
        let Some(states) = states.into_iter().collect::<Option<Vec<_>>>() else {
            last = "a node does not answer the kv range read".into();
            continue;
        };
        if let Some((n, _)) = states.iter().enumerate().find(|(_, s)| **s != states[0]) {
            return Err(format!(
                "kv state differs at the same applied index {}: node 1 has {} keys, node {} has {}",
                applied[0],
                states[0].len(),
                n + 1,
                states[n].len()
            ));
        }
        return Ok(Convergence {
            applied_index: applied[0],
            took_ms: start.elapsed().as_millis() as u64,
            keys: states[0].len(),
            state: states[0]
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect(),
        });
    }
    Err(format!(
        "nodes did not converge within {timeout:?}: {last}\n{}",
        cluster.logs_tail(10)
    ))
}

/// Acknowledged writes to keys of their own that the converged state lacks (or holds another
/// value for).
pub fn lost_writes(records: &[Record], state: &BTreeMap<String, String>) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.kind == Kind::PutUnique && r.outcome == Outcome::Written)
        .filter(|r| state.get(&r.key) != Some(&r.value))
        .map(|r| format!("{} = {} (acknowledged at {} us)", r.key, r.value, r.ret_us))
        .collect()
}
