//! A cluster of real `raftorch node` processes on loopback ports, for end-to-end tests.
//! Every child is killed when the cluster is dropped; every wait is bounded.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One node's addresses and process.
pub struct NodeProc {
    pub id: u64,
    pub peer_addr: String,
    pub api_addr: String,
    /// Started with `--join` (a node added to the running cluster).
    pub join: bool,
    child: Option<Child>,
}

/// A cluster of node processes sharing a temporary directory.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeProc>,
    extra: Vec<String>,
    /// Sent as `Authorization: Bearer` with every request that does not set its own.
    pub token: Option<String>,
    /// With TLS ([`Cluster::start_secure`]): the certificates' directory, and the client
    /// config requests use (trusting its CA).
    tls: Option<(PathBuf, std::sync::Arc<rustls::ClientConfig>)>,
}

/// An HTTP answer: status, leader header, index header, JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub leader: Option<String>,
    pub index: Option<u64>,
    pub retry_after: Option<String>,
    pub body: Value,
}

/// Ports handed to nodes come from below Linux's ephemeral range (32768 and up). A port the OS
/// picked with `bind(0)` and released could be taken as the local end of some outgoing
/// connection before the node binds it, which made a node fail to start now and then when many
/// clusters ran at once; ports outside that range are only ever taken by an explicit bind.
const PORTS: std::ops::Range<u32> = 20_000..32_000;

/// A loopback port free now, outside the ephemeral range.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Each test process walks its own stretch of the range, checking each port is free now.
    let start = std::process::id().wrapping_mul(7_919) % PORTS.len() as u32;
    loop {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % PORTS.len() as u32;
        let port = (PORTS.start + offset) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn agent(tls: Option<&std::sync::Arc<rustls::ClientConfig>>) -> ureq::Agent {
    let builder = ureq::AgentBuilder::new().timeout(Duration::from_secs(10));
    match tls {
        Some(tls) => builder.tls_config(tls.clone()).build(),
        None => builder.build(),
    }
}

/// The admin token of [`Cluster::start_secure`].
pub const SECURE_ADMIN: &str = "secure-admin-0123456789abcdef";

/// Spare certificates [`Cluster::start`] issues beyond the founders, for nodes a test adds.
const SPARE_IDS: u64 = 3;

impl Cluster {
    /// Starts `n` nodes with extra flags for each, secure as a production cluster is: peer mTLS,
    /// HTTPS and an admin token ([`Cluster::start_secure`], with certificates for
    /// [`SPARE_IDS`] more nodes), so every suite exercises security. `RAFTORCH_TEST_PLAIN=1`
    /// runs them plain instead, to tell a security fault from another.
    pub fn start(n: u64, extra: &[&str]) -> Cluster {
        if std::env::var_os("RAFTORCH_TEST_PLAIN").is_some_and(|v| v == "1") {
            return Self::start_plain(n, extra);
        }
        Self::start_secure(n, SPARE_IDS, extra)
    }

    /// Starts `n` nodes with extra flags for each, without TLS or tokens: for the tests that
    /// speak raw HTTP or TCP to a port, or that test plain mode itself.
    pub fn start_plain(n: u64, extra: &[&str]) -> Cluster {
        Self::start_in(tempfile::tempdir().expect("temp dir"), n, extra, None)
    }

    /// Environment for a `raftorch` subprocess (`ctl`, `bench`, `snapshot save`) that talks to
    /// this cluster: `RAFTORCH_CACERT` with TLS, `RAFTORCH_TOKEN` with a token.
    pub fn client_env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some((certs, _)) = &self.tls {
            let ca = certs.join("ca.pem").to_string_lossy().into_owned();
            env.push(("RAFTORCH_CACERT".to_owned(), ca));
        }
        if let Some(token) = &self.token {
            env.push(("RAFTORCH_TOKEN".to_owned(), token.clone()));
        }
        env
    }

    /// A client agent for this cluster: with TLS it trusts the cluster's CA, with a token it
    /// sends `Authorization: Bearer` on every request that sets none; `timeout` per request.
    // The middleware's `Result<_, ureq::Error>` is ureq's signature, not ours to shrink.
    #[allow(clippy::result_large_err)]
    pub fn agent(&self, timeout: Duration) -> ureq::Agent {
        let mut builder = ureq::AgentBuilder::new().timeout(timeout);
        if let Some((_, tls)) = &self.tls {
            builder = builder.tls_config(tls.clone());
        }
        if let Some(token) = &self.token {
            let bearer = format!("Bearer {token}");
            builder =
                builder.middleware(move |req: ureq::Request, next: ureq::MiddlewareNext<'_>| {
                    let req = match req.header("authorization") {
                        Some(_) => req,
                        None => req.set("authorization", &bearer),
                    };
                    next.handle(req)
                });
        }
        builder.build()
    }

    /// The CA certificate of a TLS cluster, for clients that must trust it.
    pub fn ca_path(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|(d, _)| d.join("ca.pem"))
    }

    /// Starts `n` nodes with the auth file `auth_toml` (written to `auth.toml` in the cluster's
    /// directory, see [`Cluster::auth_path`]); requests send `token`.
    pub fn start_with_auth(n: u64, auth_toml: &str, token: &str, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("auth.toml");
        std::fs::write(&path, auth_toml).expect("write the auth file");
        let path = path.to_str().expect("utf-8 path").to_owned();
        let mut extra: Vec<&str> = extra.to_vec();
        extra.extend_from_slice(&["--auth-file", &path]);
        Self::start_in(dir, n, &extra, Some(token.to_owned()))
    }

    /// Starts `n` nodes with TLS and tokens: certificates from `raftorch certs` (written with
    /// its library function into `certs/` in the cluster's directory) for ids `1..=n + spare`,
    /// an auth file whose admin token is [`SECURE_ADMIN`], which requests send; requests speak
    /// HTTPS trusting the CA.
    pub fn start_secure(n: u64, spare: u64, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let certs = dir.path().join("certs");
        raftorch_node::cli::write_certs(&raftorch_node::cli::CertsArgs {
            dir: certs.clone(),
            nodes: (1..=n + spare).collect(),
            hosts: vec![],
            years: 1,
        })
        .expect("write certificates");
        let auth = dir.path().join("auth.toml");
        std::fs::write(
            &auth,
            format!("[[token]]\nname = \"ops\"\nsecret = \"{SECURE_ADMIN}\"\nrole = \"admin\"\n"),
        )
        .expect("write the auth file");
        let client = raftorch_node::tls::client_trusting(&certs.join("ca.pem")).expect("CA");
        let auth = auth.to_str().expect("utf-8 path").to_owned();
        let mut extra: Vec<&str> = extra.to_vec();
        extra.extend_from_slice(&["--auth-file", &auth]);
        Self::start_inner(
            dir,
            n,
            &extra,
            Some(SECURE_ADMIN.to_owned()),
            Some((certs, client)),
        )
    }

    /// The certificates' directory of a cluster started with [`Cluster::start_secure`].
    pub fn certs_dir(&self) -> Option<&std::path::Path> {
        self.tls.as_ref().map(|(d, _)| d.as_path())
    }

    /// The auth file of a cluster started with [`Cluster::start_with_auth`].
    pub fn auth_path(&self) -> PathBuf {
        self.dir.path().join("auth.toml")
    }

    /// The pid of node `id`'s process, while it runs.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.node(id).child.as_ref().map(Child::id)
    }

    /// [`Cluster::start`], after `prepare` ran on each node's (created, empty) data directory:
    /// e.g. to mount a small filesystem there.
    pub fn start_prepared(
        n: u64,
        extra: &[&str],
        mut prepare: impl FnMut(&std::path::Path),
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        for id in 1..=n {
            let data = dir.path().join(format!("data-{id}"));
            std::fs::create_dir_all(&data).expect("data dir");
            prepare(&data);
        }
        Self::start_in(dir, n, extra, None)
    }

    fn start_in(dir: tempfile::TempDir, n: u64, extra: &[&str], token: Option<String>) -> Cluster {
        Self::start_inner(dir, n, extra, token, None)
    }

    fn start_inner(
        dir: tempfile::TempDir,
        n: u64,
        extra: &[&str],
        token: Option<String>,
        tls: Option<(PathBuf, std::sync::Arc<rustls::ClientConfig>)>,
    ) -> Cluster {
        let nodes = (1..=n)
            .map(|id| NodeProc {
                id,
                peer_addr: format!("127.0.0.1:{}", free_port()),
                api_addr: format!("127.0.0.1:{}", free_port()),
                join: false,
                child: None,
            })
            .collect();
        let mut cluster = Cluster {
            dir,
            nodes,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            token,
            tls,
        };
        for id in 1..=n {
            cluster.spawn(id);
        }
        cluster
    }

    /// Starts one more node, with the next id and `--join`: it founds nothing and waits for the
    /// leader to add it. Its `--peer`s are every other node of the cluster.
    pub fn add_joining(&mut self) -> u64 {
        let id = self.nodes.len() as u64 + 1;
        self.nodes.push(NodeProc {
            id,
            peer_addr: format!("127.0.0.1:{}", free_port()),
            api_addr: format!("127.0.0.1:{}", free_port()),
            join: true,
            child: None,
        });
        self.spawn(id);
        id
    }

    fn node(&self, id: u64) -> &NodeProc {
        &self.nodes[id as usize - 1]
    }

    /// The data directory of node `id`.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("data-{id}"))
    }

    /// The value of the counter or gauge `name` (e.g. `raftorch_term`) in node `id`'s
    /// `/metrics`, `None` if the node did not answer or has no such series.
    pub fn metric(&self, id: u64, name: &str) -> Option<u64> {
        let text = self.request(id, "GET", "/metrics", None)?.body;
        let text = text.as_str()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// The log file of node `id`.
    pub fn log_path(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node-{id}.log"))
    }

    /// (Re)starts node `id` with its data directory.
    pub fn spawn(&mut self, id: u64) {
        self.spawn_with(id, &[]);
    }

    /// (Re)starts node `id` with its data directory and, for this start only, the flags
    /// `extra` after the cluster's own.
    pub fn spawn_with(&mut self, id: u64, extra: &[&str]) {
        let node = self.node(id);
        // `RAFTORCH_BIN` runs a private copy: a target directory shared by several checkouts
        // may get another checkout's build of the binary mid-run.
        let bin = std::env::var_os("RAFTORCH_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_raftorch").into());
        let mut cmd = Command::new(bin);
        cmd.arg("node")
            .arg("--id")
            .arg(id.to_string())
            .arg("--data-dir")
            .arg(self.data_dir(id))
            .arg("--peer-listen")
            .arg(&node.peer_addr)
            .arg("--api-listen")
            .arg(&node.api_addr)
            .args(&self.extra)
            .args(extra);
        if node.join {
            cmd.arg("--join");
        }
        if let Some((certs, _)) = &self.tls {
            cmd.arg("--tls-ca")
                .arg(certs.join("ca.pem"))
                .arg("--tls-cert")
                .arg(certs.join(format!("node-{id}.pem")))
                .arg("--tls-key")
                .arg(certs.join(format!("node-{id}-key.pem")));
        }
        // A founding node is configured with the founders only, as in a real deployment: it
        // learns the addresses of nodes added later from the replicated address book.
        for other in &self.nodes {
            if other.id != id && (node.join || !other.join) {
                cmd.arg("--peer").arg(format!(
                    "{}={}@{}",
                    other.id, other.peer_addr, other.api_addr
                ));
            }
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(id))
            .expect("log file");
        let err = log.try_clone().expect("log file");
        cmd.stdout(Stdio::from(log)).stderr(Stdio::from(err));
        cmd.env("RAFTORCH_LOG", "info");
        let child = cmd.spawn().expect("spawn raftorch node");
        self.nodes[id as usize - 1].child = Some(child);
    }

    /// `kill -9` node `id` and reap it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.nodes[id as usize - 1].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM to node `id` (with the `kill` command: no unsafe here) and waits up to
    /// `timeout` for it to exit; its exit status, or `None` if it did not exit in time (it is
    /// then killed).
    pub fn terminate(&mut self, id: u64, timeout: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.nodes[id as usize - 1].child.take()?;
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to node `id` with the `kill` command.
    pub fn signal(&self, id: u64, signal: &str) {
        if let Some(child) = &self.node(id).child {
            let sent = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status()
                .expect("run kill");
            assert!(sent.success(), "kill -{signal} failed");
        }
    }

    /// Waits up to `timeout` for node `id` to exit by itself; its exit status, or `None` if it
    /// is still running (it is left running).
    pub fn exited(&mut self, id: u64, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let slot = &mut self.nodes[id as usize - 1].child;
        while Instant::now() < deadline {
            if let Some(status) = slot.as_mut()?.try_wait().ok().flatten() {
                *slot = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Whether node `id` is running.
    pub fn is_up(&self, id: u64) -> bool {
        self.node(id).child.is_some()
    }

    /// The API base URL of node `id`.
    pub fn url(&self, id: u64) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.node(id).api_addr)
    }

    /// Sends a request to node `id`; transport errors give `None`.
    pub fn request(
        &self,
        id: u64,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Option<Answer> {
        self.request_with_headers(id, method, path, body, &[])
    }

    /// [`Cluster::request`] with extra request headers.
    pub fn request_with_headers(
        &self,
        id: u64,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Option<Answer> {
        let tls = self.tls.as_ref().map(|(_, c)| c);
        let mut req = agent(tls).request(method, &format!("{}{path}", self.url(id)));
        let own_token = headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
        if let (Some(token), false) = (&self.token, own_token) {
            req = req.set("authorization", &format!("Bearer {token}"));
        }
        for (name, value) in headers {
            req = req.set(name, value);
        }
        let result = match body {
            Some(b) => req.send_bytes(b),
            None => req.call(),
        };
        let resp = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(_) => return None,
        };
        let status = resp.status();
        let leader = resp.header("x-raftorch-leader").map(str::to_owned);
        let index = resp.header("x-raftorch-index").and_then(|v| v.parse().ok());
        let retry_after = resp.header("retry-after").map(str::to_owned);
        let text = resp.into_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Some(Answer {
            status,
            leader,
            index,
            retry_after,
            body,
        })
    }

    /// GET, panicking on transport errors.
    pub fn get(&self, id: u64, path: &str) -> Answer {
        self.request(id, "GET", path, None)
            .unwrap_or_else(|| panic!("node {id} did not answer GET {path}"))
    }

    /// PUT with a body, panicking on transport errors.
    pub fn put(&self, id: u64, path: &str, body: &str) -> Answer {
        self.request(id, "PUT", path, Some(body.as_bytes()))
            .unwrap_or_else(|| panic!("node {id} did not answer PUT {path}"))
    }

    /// `PUT /v1/kv/{path}` with the body `{"value": value}` (`path` may carry a query).
    pub fn put_kv(&self, id: u64, path: &str, value: &str) -> Answer {
        let body = serde_json::json!({ "value": value }).to_string();
        self.put(id, &format!("/v1/kv/{path}"), &body)
    }

    /// Waits until every running node reports the same leader, among the running nodes.
    pub fn wait_leader(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let up: Vec<u64> = self
                .nodes
                .iter()
                .filter(|n| n.child.is_some())
                .map(|n| n.id)
                .collect();
            let leaders: Vec<Option<u64>> = up
                .iter()
                .map(|&id| {
                    self.request(id, "GET", "/v1/status", None)
                        .and_then(|a| a.body["leader_id"].as_u64())
                })
                .collect();
            if let Some(Some(l)) = leaders.first() {
                if leaders.iter().all(|x| *x == Some(*l)) && up.contains(l) {
                    return *l;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no agreed leader within {timeout:?}: {leaders:?}\n{}",
                self.logs_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Retries `f` until it returns `Some`, for at most `timeout`.
    pub fn eventually<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}\n{}",
                self.logs_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of every node's log, for failure messages.
    pub fn logs_tail(&self) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let text = std::fs::read_to_string(self.log_path(n.id)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- node {} ---\n", n.id));
            for l in &lines[lines.len().saturating_sub(15)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.nodes.len() as u64 {
            self.kill(id);
        }
    }
}
