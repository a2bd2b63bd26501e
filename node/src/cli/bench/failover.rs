//! `raftorch bench --failover`: starts three node processes of this binary, then repeatedly
//! `kill -9`s the leader and measures the time from the kill to the first acknowledged write
//! through a survivor; the killed node is restarted before the next round.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchArgs;
use crate::cli::ctl::get_json;

const NODES: u64 = 3;
const WAIT: Duration = Duration::from_secs(30);

/// The started cluster; every child is killed on drop, the data directory removed.
struct Procs {
    exe: PathBuf,
    dir: PathBuf,
    addrs: Vec<(String, String)>,
    children: Vec<Option<Child>>,
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

impl Procs {
    fn start() -> Result<Procs, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let dir = std::env::temp_dir().join(format!("raftorch-bench-{}", std::process::id()));
        let mut addrs = Vec::new();
        for _ in 0..NODES {
            addrs.push((
                format!("127.0.0.1:{}", free_port()?),
                format!("127.0.0.1:{}", free_port()?),
            ));
        }
        let mut procs = Procs {
            exe,
            dir,
            addrs,
            children: (0..NODES).map(|_| None).collect(),
        };
        for id in 1..=NODES {
            procs.spawn(id)?;
        }
        Ok(procs)
    }

    fn spawn(&mut self, id: u64) -> Result<(), String> {
        let i = id as usize - 1;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("node")
            .arg("--id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(self.dir.join(format!("node-{id}")))
            .arg("--peer-listen")
            .arg(&self.addrs[i].0)
            .arg("--api-listen")
            .arg(&self.addrs[i].1)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (j, (peer, api)) in self.addrs.iter().enumerate() {
            if j != i {
                cmd.arg("--peer").arg(format!("{}={peer}@{api}", j + 1));
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start node {id}: {e}"))?;
        self.children[i] = Some(child);
        Ok(())
    }

    /// SIGKILL (`Child::kill` on Unix), then reap.
    fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.children[id as usize - 1].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self, id: u64) -> String {
        format!("http://{}", self.addrs[id as usize - 1].1)
    }

    fn up(&self) -> Vec<u64> {
        (1..=NODES)
            .filter(|&id| self.children[id as usize - 1].is_some())
            .collect()
    }

    /// Waits until every running node names the same running leader.
    fn wait_leader(&self, agent: &ureq::Agent) -> Result<u64, String> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let up = self.up();
            let leaders: Vec<Option<u64>> = up
                .iter()
                .map(|&id| {
                    get_json(agent, &format!("{}/v1/status", self.url(id)))
                        .ok()
                        .and_then(|s| s["leader_id"].as_u64())
                })
                .collect();
            if let Some(Some(l)) = leaders.first() {
                if leaders.iter().all(|x| *x == Some(*l)) && up.contains(l) {
                    return Ok(*l);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("no agreed leader within {WAIT:?}"))
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for id in 1..=NODES {
            self.kill(id);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs the rounds and prints each time, the median and the worst.
pub(super) fn run(args: &BenchArgs) -> Result<(), String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(1))
        .build();
    let mut procs = Procs::start()?;
    println!(
        "raftorch bench --failover: 3 nodes, {} rounds of kill -9 of the leader",
        args.rounds
    );
    // The kv body: `{"value": "xx.."}`.
    let value = serde_json::json!({ "value": "x".repeat(args.value_size) }).to_string();
    let mut times = Vec::new();
    let mut elections = Vec::new();
    for round in 1..=args.rounds {
        let leader = procs.wait_leader(&agent)?;
        let survivor = (1..=NODES).find(|&id| id != leader).ok_or("no survivor")?;
        let url = format!("{}/v1/kv/bench/failover", procs.url(survivor));
        // The cluster takes writes before the kill.
        put_until_acked(&agent, &url, &value, Instant::now() + WAIT)?;
        let status_url = format!("{}/v1/status", procs.url(survivor));
        procs.kill(leader);
        let killed = Instant::now();
        // Watches the survivor's status for the new leader while the write is retried.
        let watcher = std::thread::spawn(move || new_leader_seen(&status_url, leader, killed));
        put_until_acked(&agent, &url, &value, killed + WAIT)?;
        let took = killed.elapsed();
        let elected = watcher.join().ok().flatten();
        let seen = elected.map_or_else(|| "never".to_owned(), |d| format!("{d:?}"));
        println!(
            "  round {round}: killed leader {leader}; survivor {survivor} saw a new leader after \
             {seen}, acknowledged a write after {took:?}"
        );
        times.push(took);
        if let Some(e) = elected {
            elections.push(e);
        }
        procs.spawn(leader)?;
    }
    summarize("kill -9 to a new leader seen by a survivor", &mut elections);
    summarize("kill -9 to first acknowledged write", &mut times);
    Ok(())
}

fn summarize(what: &str, times: &mut [Duration]) {
    times.sort_unstable();
    if let (Some(median), Some(worst)) = (times.get(times.len() / 2), times.last()) {
        println!("{what}: median {median:?}, worst {worst:?}");
    }
}

/// Polls `status_url` until it names a leader other than `old`; the time since `killed`.
fn new_leader_seen(status_url: &str, old: u64, killed: Instant) -> Option<Duration> {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(1))
        .build();
    while killed.elapsed() < WAIT {
        if let Ok(s) = get_json(&agent, status_url) {
            if s["leader_id"].as_u64().is_some_and(|l| l != old) {
                return Some(killed.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn put_until_acked(
    agent: &ureq::Agent,
    url: &str,
    value: &str,
    deadline: Instant,
) -> Result<(), String> {
    while Instant::now() < deadline {
        if let Ok(r) = agent.put(url).send_string(value) {
            if r.status() == 200 {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(format!("no acknowledged write to {url} in time"))
}
