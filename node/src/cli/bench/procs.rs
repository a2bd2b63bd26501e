//! Local clusters the benchmarks start and tear down themselves: three processes of this
//! binary (`raftorch node`), or three `etcd` processes, on free loopback ports with their data
//! in a temporary directory. Every child is killed (SIGKILL) and the directory removed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::client::Access;
use crate::cli::ctl::get_json;

/// Members of every cluster started here.
pub(super) const NODES: u64 = 3;
/// How long a cluster may take to elect a leader.
pub(super) const WAIT: Duration = Duration::from_secs(30);

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// `(peer address, client address)` for each of [`NODES`] members.
fn free_addresses() -> Result<Vec<(String, String)>, String> {
    (0..NODES)
        .map(|_| {
            Ok((
                format!("127.0.0.1:{}", free_port()?),
                format!("127.0.0.1:{}", free_port()?),
            ))
        })
        .collect()
}

fn scratch_dir(kind: &str) -> PathBuf {
    std::env::temp_dir().join(format!("raftorch-bench-{kind}-{}", std::process::id()))
}

/// A running cluster of `raftorch node` processes.
pub(super) struct RaftorchProcs {
    exe: PathBuf,
    dir: PathBuf,
    addrs: Vec<(String, String)>,
    children: Vec<Option<Child>>,
    /// Flags every node gets.
    extra: Vec<String>,
    /// How clients reach the nodes: plain, or (secure) the run's CA and admin token.
    access: Access,
    /// Secure: the certificates' directory (`ca.pem`, `node-N.pem`, `node-N-key.pem`).
    certs: Option<PathBuf>,
}

impl RaftorchProcs {
    /// Starts [`NODES`] nodes of this binary; `secure`: with TLS and tokens.
    pub(super) fn start(secure: bool) -> Result<Self, String> {
        Self::start_with(secure, &[])
    }

    /// Starts [`NODES`] nodes of this binary, each with the flags `extra`; `secure`: with peer
    /// mTLS, HTTPS and an auth file, from certificates and an admin token made for this run.
    pub(super) fn start_with(secure: bool, extra: &[&str]) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
        let dir = scratch_dir("raftorch");
        let mut extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        let (access, certs) = if secure {
            let certs = dir.join("certs");
            crate::cli::write_certs(&crate::cli::CertsArgs {
                dir: certs.clone(),
                nodes: (1..=NODES).collect(),
                hosts: vec![],
                years: 1,
            })?;
            let tokens = crate::cli::dev_auth::write(&dir)?;
            extra.push("--auth-file".into());
            extra.push(tokens.path.to_string_lossy().into_owned());
            let access = Access::new(Some(&tokens.admin), Some(&certs.join("ca.pem")))?;
            (access, Some(certs))
        } else {
            (Access::default(), None)
        };
        let mut procs = RaftorchProcs {
            exe,
            dir,
            addrs: free_addresses()?,
            children: (0..NODES).map(|_| None).collect(),
            extra,
            access,
            certs,
        };
        for id in 1..=NODES {
            procs.spawn(id)?;
        }
        Ok(procs)
    }

    /// (Re)starts node `id` on its addresses and data directory.
    pub(super) fn spawn(&mut self, id: u64) -> Result<(), String> {
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
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(node_log(id)?);
        if let Some(certs) = &self.certs {
            cmd.arg("--tls-ca")
                .arg(certs.join("ca.pem"))
                .arg("--tls-cert")
                .arg(certs.join(format!("node-{id}.pem")))
                .arg("--tls-key")
                .arg(certs.join(format!("node-{id}-key.pem")));
        }
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
    pub(super) fn kill(&mut self, id: u64) {
        if let Some(mut c) = self.children[id as usize - 1].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (with the `kill` command), then waits up to `timeout` for the exit; how long it
    /// took, or an error (the node is then killed).
    pub(super) fn terminate(&mut self, id: u64, timeout: Duration) -> Result<Duration, String> {
        let mut child = self.children[id as usize - 1]
            .take()
            .ok_or_else(|| format!("node {id} is not running"))?;
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !status.success() {
            return Err(format!("kill -TERM of node {id} failed"));
        }
        while sent.elapsed() < timeout {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(sent.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!(
            "node {id} did not exit within {timeout:?} of SIGTERM"
        ))
    }

    /// Node `id`'s process id, while it runs.
    pub(super) fn pid(&self, id: u64) -> Option<u32> {
        self.children[id as usize - 1].as_ref().map(Child::id)
    }

    /// Node `id`'s API base URL.
    pub(super) fn url(&self, id: u64) -> String {
        self.access.base(&self.addrs[id as usize - 1].1)
    }

    /// How clients reach this cluster (its CA and token when secure).
    pub(super) fn access(&self) -> &Access {
        &self.access
    }

    /// Every member's API base URL.
    pub(super) fn urls(&self) -> Vec<String> {
        (1..=NODES).map(|id| self.url(id)).collect()
    }

    fn up(&self) -> Vec<u64> {
        (1..=NODES)
            .filter(|&id| self.children[id as usize - 1].is_some())
            .collect()
    }

    /// Waits until every running node names the same running leader.
    pub(super) fn wait_leader(&self, agent: &ureq::Agent) -> Result<u64, String> {
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

impl Drop for RaftorchProcs {
    fn drop(&mut self) {
        for id in 1..=NODES {
            self.kill(id);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running cluster of `etcd` processes (etcd from `PATH`, e.g. Debian's `etcd-server`),
/// configured as etcd's own docs do for a static cluster; fsync on, as shipped.
pub(super) struct EtcdProcs {
    dir: PathBuf,
    client_urls: Vec<String>,
    children: Vec<Child>,
}

impl EtcdProcs {
    /// Starts [`NODES`] etcd members and waits until they have a leader.
    pub(super) fn start(agent: &ureq::Agent) -> Result<Self, String> {
        let addrs = free_addresses()?;
        let dir = scratch_dir("etcd");
        let initial_cluster: Vec<String> = addrs
            .iter()
            .enumerate()
            .map(|(i, (peer, _))| format!("e{}=http://{peer}", i + 1))
            .collect();
        let mut procs = EtcdProcs {
            dir,
            client_urls: addrs.iter().map(|(_, c)| format!("http://{c}")).collect(),
            children: Vec::new(),
        };
        for (i, (peer, client)) in addrs.iter().enumerate() {
            let name = format!("e{}", i + 1);
            let child = Command::new("etcd")
                .args(["--name", &name])
                .arg("--data-dir")
                .arg(procs.dir.join(&name))
                .args(["--listen-peer-urls", &format!("http://{peer}")])
                .args(["--initial-advertise-peer-urls", &format!("http://{peer}")])
                .args(["--listen-client-urls", &format!("http://{client}")])
                .args(["--advertise-client-urls", &format!("http://{client}")])
                .args(["--initial-cluster", &initial_cluster.join(",")])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "raftorch-bench"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    format!(
                        "cannot start etcd ({e}): install it (Debian: apt-get install \
                         etcd-server) or put it on PATH"
                    )
                })?;
            procs.children.push(child);
        }
        procs.leader_url(agent)?;
        Ok(procs)
    }

    /// The client URL of the member that is leader, once one is.
    /// Every member's client URL.
    pub(super) fn urls(&self) -> Vec<String> {
        self.client_urls.clone()
    }

    pub(super) fn leader_url(&self, agent: &ureq::Agent) -> Result<String, String> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(url) = etcd_leader(agent, &self.client_urls) {
                return Ok(url);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("etcd elected no leader within {WAIT:?}"))
    }
}

impl Drop for EtcdProcs {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Which of `endpoints` (etcd client URLs) is the leader, by `POST /v3/maintenance/status`.
pub(super) fn etcd_leader(agent: &ureq::Agent, endpoints: &[String]) -> Option<String> {
    endpoints.iter().find_map(|e| {
        let text = agent
            .post(&format!("{e}/v3/maintenance/status"))
            .send_string("{}")
            .ok()?
            .into_string()
            .ok()?;
        let status: serde_json::Value = serde_json::from_str(&text).ok()?;
        let leader = status["leader"].as_str()?;
        (leader != "0" && status["header"]["member_id"].as_str() == Some(leader)).then(|| e.clone())
    })
}

/// Where node `id`'s log goes: appended to `node-{id}.log` in the directory named by
/// `RAFTORCH_BENCH_LOGS` when it is set (to see, e.g., the slow owner-loop rounds of a scale run),
/// else nowhere.
fn node_log(id: u64) -> Result<Stdio, String> {
    let Some(dir) = std::env::var_os("RAFTORCH_BENCH_LOGS") else {
        return Ok(Stdio::null());
    };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(format!("node-{id}.log"));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map(Stdio::from)
        .map_err(|e| format!("{}: {e}", path.display()))
}
