//! Five `raftorch node` processes, each started with `ip netns exec` in its own namespace and
//! listening on its namespace's address. Every child is killed when the cluster is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::net::Network;

/// The port every node's Raft transport listens on (each node has its own address).
pub const PEER_PORT: u16 = 7000;
/// The port every node's HTTP API listens on.
pub const API_PORT: u16 = 8000;

/// One node process and its state as the nemesis left it.
struct NodeProc {
    child: Option<Child>,
    paused: bool,
}

/// The node processes of one run.
pub struct Cluster {
    binary: PathBuf,
    dir: PathBuf,
    namespaces: Vec<String>,
    addresses: Vec<String>,
    nodes: Vec<NodeProc>,
    /// Each node's clock offset (ms) for its next start.
    clock_offsets_ms: Vec<i64>,
    agent: ureq::Agent,
}

/// What `GET /v1/status` says, the fields the harness uses.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// `leader`, `follower`, `candidate`, ...
    pub role: String,
    /// The node's current term.
    pub term: u64,
    /// Whom it follows.
    pub leader: Option<u64>,
    /// Its commit index.
    pub commit: u64,
    /// Its applied index.
    pub applied: u64,
}

impl Cluster {
    /// Describes (does not start) `nodes` nodes on `net`, with data and logs under `dir`.
    pub fn new(binary: &Path, dir: &Path, net: &Network, nodes: u64) -> Cluster {
        Cluster {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            namespaces: (1..=nodes).map(|n| net.namespace(n)).collect(),
            addresses: (1..=nodes).map(|n| net.address(n)).collect(),
            nodes: (1..=nodes)
                .map(|_| NodeProc {
                    child: None,
                    paused: false,
                })
                .collect(),
            clock_offsets_ms: vec![0; nodes as usize],
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_millis(1_000))
                .build(),
        }
    }

    /// Node ids, 1-based.
    pub fn ids(&self) -> Vec<u64> {
        (1..=self.nodes.len() as u64).collect()
    }

    /// The API base URL of `node`, as clients in the root namespace reach it.
    pub fn url(&self, node: u64) -> String {
        format!("http://{}:{API_PORT}", self.addresses[node as usize - 1])
    }

    /// The Raft peer and API addresses of `node`, as `HOST:PORT`.
    pub fn member_addresses(&self, node: u64) -> (String, String) {
        let addr = &self.addresses[node as usize - 1];
        (format!("{addr}:{PEER_PORT}"), format!("{addr}:{API_PORT}"))
    }

    /// `DELETE path` at `node`; whether it answered 2xx.
    pub fn delete(&self, node: u64, path: &str) -> bool {
        self.agent
            .delete(&format!("{}{path}", self.url(node)))
            .call()
            .is_ok()
    }

    /// The log file of `node`.
    pub fn log_path(&self, node: u64) -> PathBuf {
        self.dir.join(format!("node-{node}.log"))
    }

    /// Sets the clock offset `node` gets from its next start on (`--clock-offset-ms`).
    pub fn set_clock_offset(&mut self, node: u64, offset_ms: i64) {
        self.clock_offsets_ms[node as usize - 1] = offset_ms;
    }

    /// Starts (or restarts, on its data directory) `node` inside its namespace.
    pub fn spawn(&mut self, node: u64) -> Result<(), String> {
        let i = node as usize - 1;
        let addr = &self.addresses[i];
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.namespaces[i]])
            .arg(&self.binary)
            .arg("node")
            .arg("--id")
            .arg(node.to_string())
            .arg("--data-dir")
            .arg(self.dir.join(format!("data-{node}")))
            .arg("--peer-listen")
            .arg(format!("{addr}:{PEER_PORT}"))
            .arg("--api-listen")
            .arg(format!("{addr}:{API_PORT}"))
            .arg("--digest-every")
            .arg(crate::digests::DIGEST_EVERY.to_string())
            .arg(format!("--clock-offset-ms={}", self.clock_offsets_ms[i]))
            // Namespace addresses are not loopback: without this the node refuses to start
            // unauthenticated. The harness attacks the network, not the API.
            .arg("--insecure");
        for (j, other) in self.addresses.iter().enumerate() {
            if j != i {
                cmd.arg("--peer")
                    .arg(format!("{}={other}:{PEER_PORT}@{other}:{API_PORT}", j + 1));
            }
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(node))
            .map_err(|e| format!("log file: {e}"))?;
        let err = log.try_clone().map_err(|e| format!("log file: {e}"))?;
        cmd.stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .env("RAFTORCH_LOG", "info");
        // `ip netns exec` execs the program itself, so the child's pid is the node's.
        let child = cmd.spawn().map_err(|e| format!("spawn node {node}: {e}"))?;
        self.nodes[i] = NodeProc {
            child: Some(child),
            paused: false,
        };
        Ok(())
    }

    /// `kill -9` on `node` (paused or not), and reap it.
    pub fn kill(&mut self, node: u64) {
        let proc = &mut self.nodes[node as usize - 1];
        if let Some(mut child) = proc.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        proc.paused = false;
    }

    fn signal(&mut self, node: u64, signal: &str) -> Result<(), String> {
        let proc = &self.nodes[node as usize - 1];
        let Some(child) = &proc.child else {
            return Err(format!("node {node} is not running"));
        };
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .map_err(|e| format!("kill {signal}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("kill {signal} node {node} failed"))
        }
    }

    /// SIGSTOP: the process freezes with its sockets open, as in a long GC pause.
    pub fn pause(&mut self, node: u64) -> Result<(), String> {
        self.signal(node, "-STOP")?;
        self.nodes[node as usize - 1].paused = true;
        Ok(())
    }

    /// SIGCONT for a paused node.
    pub fn resume(&mut self, node: u64) -> Result<(), String> {
        if !self.nodes[node as usize - 1].paused {
            return Ok(());
        }
        self.signal(node, "-CONT")?;
        self.nodes[node as usize - 1].paused = false;
        Ok(())
    }

    /// Whether `node` runs and is not paused.
    pub fn is_live(&self, node: u64) -> bool {
        let proc = &self.nodes[node as usize - 1];
        proc.child.is_some() && !proc.paused
    }

    /// Whether `node` has a process (paused or not).
    pub fn is_up(&self, node: u64) -> bool {
        self.nodes[node as usize - 1].child.is_some()
    }

    /// `GET path` at `node` with a short timeout; `None` on any failure.
    pub fn get_json(&self, node: u64, path: &str) -> Option<Value> {
        let resp = self
            .agent
            .get(&format!("{}{path}", self.url(node)))
            .call()
            .ok()?;
        serde_json::from_str(&resp.into_string().ok()?).ok()
    }

    /// `POST path` with a JSON body at `node`; the answer's JSON, `None` on any failure.
    pub fn post_json(&self, node: u64, path: &str, body: &Value) -> Option<Value> {
        let resp = self
            .agent
            .post(&format!("{}{path}", self.url(node)))
            .send_string(&body.to_string())
            .ok()?;
        serde_json::from_str(&resp.into_string().ok()?).ok()
    }

    /// `node`'s status, if it answers.
    pub fn status(&self, node: u64) -> Option<Status> {
        if !self.is_live(node) {
            return None;
        }
        let v = self.get_json(node, "/v1/status")?;
        Some(Status {
            role: v["role"].as_str().unwrap_or_default().to_owned(),
            term: v["term"].as_u64().unwrap_or(0),
            leader: v["leader_id"].as_u64(),
            commit: v["commit_index"].as_u64().unwrap_or(0),
            applied: v["applied_index"].as_u64().unwrap_or(0),
        })
    }

    /// The live node that says it leads, in the highest term, if any.
    pub fn leader(&self) -> Option<u64> {
        self.ids()
            .into_iter()
            .filter_map(|n| self.status(n).map(|s| (n, s)))
            .filter(|(_, s)| s.role == "leader")
            .max_by_key(|(_, s)| s.term)
            .map(|(n, _)| n)
    }

    /// The last lines of every node's log, for failure messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for n in self.ids() {
            let text = std::fs::read_to_string(self.log_path(n)).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- node {n} ---\n"));
            for l in &all[all.len().saturating_sub(lines)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.ids() {
            let _ = self.resume(n);
            self.kill(n);
        }
    }
}
