//! TLS end to end, against real node processes: a 3-node cluster with mutual TLS between peers,
//! an HTTPS API and tokens elects, forwards writes and membership requests from a follower,
//! and refuses on the peer port plain TCP, a certificate of another CA and a node certificate
//! whose node is not the one its handshake claims; the API refuses a client certificate of
//! another CA; `ctl` needs `--cacert`; `dev --secure` starts a cluster `ctl` reaches.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proc::{Cluster, SECURE_ADMIN};
use raftorch_node::tls::{client_with_cert, node_server_name, TlsFiles};
use raftorch_node::transport::handshake::{Hello, HELLO_LEN, PROTOCOL_VERSION};

const ELECT: Duration = Duration::from_secs(15);

/// Node `id`'s peer address.
fn peer_addr(c: &Cluster, id: u64) -> String {
    c.nodes[id as usize - 1].peer_addr.clone()
}

/// The Hello of a peer claiming to be `node` (cluster id 0: "not known yet", which a member
/// admits, so only TLS and the certificate decide).
fn hello(node: u64) -> [u8; HELLO_LEN] {
    Hello {
        version: PROTOCOL_VERSION,
        cluster: 0,
        node,
    }
    .encode()
}

/// Whether the node at `addr` answers a `Hello` sent over `stream` with one of its own.
fn answers<S: Read + Write>(mut stream: S, hello: &[u8]) -> bool {
    if stream
        .write_all(hello)
        .and_then(|()| stream.flush())
        .is_err()
    {
        return false;
    }
    let mut answer = [0u8; HELLO_LEN];
    stream.read_exact(&mut answer).is_ok() && answer.starts_with(b"RAFTORCH")
}

/// A TCP connection with a bounded read wait.
fn tcp(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Speaks TLS to node 1's peer port presenting `cert`/`key` (trusting `ca`), then the
/// handshake as node `claim`; whether node 1 answered.
fn tls_peer(addr: &str, ca: &Path, cert: &Path, key: &Path, claim: u64) -> bool {
    let config = client_with_cert(&TlsFiles {
        ca: ca.to_owned(),
        cert: cert.to_owned(),
        key: key.to_owned(),
    })
    .expect("client config");
    let name = node_server_name(1).expect("a TLS name");
    let conn = rustls::ClientConnection::new(config, name).expect("TLS client");
    answers(rustls::StreamOwned::new(conn, tcp(addr)), &hello(claim))
}

/// A second, unrelated CA with its own node and client certificates.
fn other_ca(dir: &Path) -> PathBuf {
    let other = dir.join("other-ca");
    raftorch_node::cli::write_certs(&raftorch_node::cli::CertsArgs {
        dir: other.clone(),
        nodes: vec![2],
        hosts: vec![],
        years: 1,
    })
    .expect("other certificates");
    other
}

/// `GET /v1/status` of node 1 over HTTPS trusting the cluster's CA and presenting `cert`.
fn status_with_client_cert(c: &Cluster, certs: &Path, cert: &Path, key: &Path) -> Option<u16> {
    let config = client_with_cert(&TlsFiles {
        ca: certs.join("ca.pem"),
        cert: cert.to_owned(),
        key: key.to_owned(),
    })
    .expect("client config");
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .tls_config(Arc::clone(&config))
        .build();
    let call = agent
        .get(&format!("{}/v1/status", c.url(1)))
        .set("authorization", &format!("Bearer {SECURE_ADMIN}"))
        .call();
    match call {
        Ok(r) => Some(r.status()),
        Err(ureq::Error::Status(code, _)) => Some(code),
        Err(_) => None,
    }
}

#[test]
fn a_tls_cluster_elects_forwards_and_reads_back() {
    let c = Cluster::start_secure(3, 0, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    // A write through a follower: forwarded to the leader on the mutual-TLS peer channel.
    let a = c.put_kv(follower, "tls/k", "v1");
    assert_eq!(a.status, 200, "{a:?}\n{}", c.logs_tail());
    let other = (1..=3).find(|&i| i != leader && i != follower).unwrap();
    let read = c.get(other, "/v1/kv/tls/k");
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["value"], "v1", "{read:?}");
    // A membership request through a follower is passed on to the leader's API over HTTPS
    // (the follower trusts the CA and presents its node certificate): the leader's answer
    // comes back, not a 503 "leader unreachable".
    let removed = c
        .request(follower, "DELETE", "/v1/cluster/members/9", None)
        .expect("an answer");
    assert_ne!(removed.status, 503, "{removed:?}\n{}", c.logs_tail());
    assert!(!removed.body.to_string().contains("leader_unreachable"));
    assert!(c.url(1).starts_with("https://"));
    assert_eq!(c.metric(leader, "raftorch_peer_tls_refused_total"), Some(0));
}

#[test]
fn the_peer_port_refuses_plain_tcp_other_cas_and_a_certificate_of_another_node() {
    let c = Cluster::start_secure(3, 0, &[]);
    c.wait_leader(ELECT);
    let certs = c.certs_dir().unwrap().to_owned();
    let addr = peer_addr(&c, 1);
    let refused = || c.metric(1, "raftorch_peer_tls_refused_total").unwrap_or(0);
    let before = refused();

    // Plain TCP with a well-formed Hello: no answer.
    assert!(!answers(tcp(&addr), &hello(2)), "plain TCP was answered");
    // A certificate another CA signed (naming node 2, as ours would): no answer.
    let other = other_ca(c.dir.path());
    let ca = certs.join("ca.pem");
    assert!(
        !tls_peer(
            &addr,
            &ca,
            &other.join("node-2.pem"),
            &other.join("node-2-key.pem"),
            2
        ),
        "another CA's certificate was answered"
    );
    // Node 2's real certificate, used by a peer that claims to be node 3: no answer.
    let (cert2, key2) = (certs.join("node-2.pem"), certs.join("node-2-key.pem"));
    assert!(
        !tls_peer(&addr, &ca, &cert2, &key2, 3),
        "node 2's certificate passed for node 3"
    );
    // The client certificate names no node: no answer either.
    let (client, client_key) = (certs.join("client.pem"), certs.join("client-key.pem"));
    assert!(!tls_peer(&addr, &ca, &client, &client_key, 2));
    // The same certificate with its own node id is answered: the checks above are the refusals.
    assert!(tls_peer(&addr, &ca, &cert2, &key2, 2), "{}", c.logs_tail());

    let after = c.eventually(Duration::from_secs(5), "refusals counted", || {
        (refused() >= before + 4).then(refused)
    });
    assert!(after >= before + 4);
    let log = std::fs::read_to_string(c.log_path(1)).unwrap_or_default();
    assert!(
        log.contains("claims node 3, its certificate names node [2]"),
        "{}",
        c.logs_tail()
    );
    // Node 1 keeps serving, and the cluster keeps replicating through it.
    let leader = c.wait_leader(ELECT);
    let a = c.put_kv(1, "still/serving", "yes");
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(c.get(leader, "/v1/kv/still/serving").body["value"], "yes");
}

#[test]
fn the_api_verifies_client_certificates_when_presented() {
    let c = Cluster::start_secure(1, 0, &[]);
    c.wait_leader(ELECT);
    let certs = c.certs_dir().unwrap().to_owned();
    // None presented (the harness's requests): fine.
    assert_eq!(c.get(1, "/v1/status").status, 200);
    // Ours: fine.
    let ours = status_with_client_cert(
        &c,
        &certs,
        &certs.join("client.pem"),
        &certs.join("client-key.pem"),
    );
    assert_eq!(ours, Some(200));
    // Another CA's: the TLS handshake fails, no HTTP answer at all.
    let other = other_ca(c.dir.path());
    let theirs = status_with_client_cert(
        &c,
        &certs,
        &other.join("client.pem"),
        &other.join("client-key.pem"),
    );
    assert_eq!(
        theirs, None,
        "a client certificate of another CA was accepted"
    );
    // Plain HTTP to the HTTPS port gets no HTTP answer.
    let plain = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build()
        .get(&format!("http://{}/v1/status", c.nodes[0].api_addr))
        .call();
    assert!(
        !matches!(plain, Ok(_) | Err(ureq::Error::Status(..))),
        "{plain:?}"
    );
    assert_eq!(c.get(1, "/v1/status").status, 200);
}

/// Runs `raftorch ctl` with `args` (and no RAFTORCH_* from the test's environment); (exit code,
/// stdout, stderr).
fn ctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_raftorch"))
        .arg("ctl")
        .args(args)
        .env_remove("RAFTORCH_TOKEN")
        .env_remove("RAFTORCH_CACERT")
        .stdin(Stdio::null())
        .output()
        .expect("run ctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ctl_reaches_a_tls_cluster_with_cacert_and_token_and_says_what_is_missing_without() {
    let c = Cluster::start_secure(1, 0, &[]);
    c.wait_leader(ELECT);
    let ca = c.certs_dir().unwrap().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let url = c.url(1);
    let with = ["--endpoints", &url, "--cacert", ca, "--token", SECURE_ADMIN];
    let (code, out, err) = ctl(&[&with[..], &["kv", "put", "a", "1"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ctl(&[&with[..], &["-o", "json", "kv", "get", "a"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"value\": \"1\""), "{out}");
    let (code, out, err) = ctl(&[&with[..], &["members", "list"]].concat());
    assert_eq!(code, 0, "{out}{err}");
    // A bare host:port with --cacert means https.
    let bare = ["--endpoints", &c.nodes[0].api_addr, "--cacert", ca];
    let (code, out, err) = ctl(&[
        &bare[..],
        &["--token", SECURE_ADMIN, "-o", "json", "status"],
    ]
    .concat());
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"leader_id\": 1"), "{out}");

    // Without --cacert: refused, and told why.
    let (code, out, err) = ctl(&[
        "--endpoints",
        &url,
        "--token",
        SECURE_ADMIN,
        "kv",
        "get",
        "a",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("pass --cacert"), "{err}");
    let (code, out, err) = ctl(&["--endpoints", &url, "--token", SECURE_ADMIN, "status"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("unreachable"), "{out}");
    assert!(err.contains("pass --cacert"), "{err}");
    // The env var works as the flag does.
    let out = Command::new(env!("CARGO_BIN_EXE_raftorch"))
        .args(["ctl", "--endpoints", &url, "kv", "get", "a"])
        .env("RAFTORCH_CACERT", ca)
        .env("RAFTORCH_TOKEN", SECURE_ADMIN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_node_refuses_to_start_with_another_nodes_certificate_or_part_of_the_tls_flags() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    raftorch_node::cli::write_certs(&raftorch_node::cli::CertsArgs {
        dir: certs.clone(),
        nodes: vec![2],
        hosts: vec![],
        years: 1,
    })
    .unwrap();
    let node = |tls: &[&Path]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftorch"));
        cmd.args(["node", "--id", "3", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--peer-listen",
                "127.0.0.1:0",
                "--api-listen",
                "127.0.0.1:0",
            ]);
        for (flag, path) in ["--tls-ca", "--tls-cert", "--tls-key"].iter().zip(tls) {
            cmd.arg(flag).arg(path);
        }
        let out = cmd.stdin(Stdio::null()).output().expect("run node");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ca, cert, key) = (
        certs.join("ca.pem"),
        certs.join("node-2.pem"),
        certs.join("node-2-key.pem"),
    );
    let (code, err) = node(&[&ca, &cert, &key]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("not a certificate for node 3"), "{err}");
    let (code, err) = node(&[&ca]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("missing --tls-cert and --tls-key"), "{err}");
}

#[test]
fn dev_secure_starts_a_tls_cluster_and_prints_the_token_and_the_cacert() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_raftorch"))
        .args(["dev", "--secure", "--nodes", "3", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn raftorch dev");
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    let (mut urls, mut admin, mut cacert) = (Vec::new(), None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some((_, u)) = line.trim().split_once(": https://") {
            urls.push(format!("https://{u}"));
        }
        if let Some(t) = line.strip_prefix("admin token: ") {
            admin = Some(t.to_owned());
        }
        if let Some(p) = line.strip_prefix("cacert: ") {
            cacert = Some(p.to_owned());
        }
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    let stop = |dev: &mut std::process::Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &dev.id().to_string()])
            .status();
        let _ = dev.wait();
    };
    let (Some(admin), Some(cacert), 3) = (admin, cacert, urls.len()) else {
        stop(&mut dev);
        panic!("dev did not print three https URLs, an admin token and a cacert");
    };
    let endpoints = urls.join(",");
    let args = [
        "--endpoints",
        &endpoints,
        "--cacert",
        &cacert,
        "--token",
        &admin,
    ];
    let deadline = Instant::now() + ELECT;
    let mut last = (0, String::new(), String::new());
    while Instant::now() < deadline {
        last = ctl(&[&args[..], &["kv", "put", "dev/secure", "on"]].concat());
        if last.0 == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let read = ctl(&[&args[..], &["-o", "json", "kv", "get", "dev/secure"]].concat());
    stop(&mut dev);
    // dev stops its nodes when it stops: none of them answers any more.
    let after = ctl(&[&args[..], &["status"]].concat());
    assert_eq!(after.0, 2, "the nodes outlived raftorch dev: {after:?}");
    drop(lines);
    assert_eq!(last.0, 0, "{last:?}");
    assert!(read.1.contains("\"value\": \"on\""), "{read:?}");
    assert!(dir.path().join("certs/node-3-key.pem").exists());
}

#[test]
fn the_rust_client_speaks_https_with_the_cacert_and_refuses_https_without_one() {
    use raftorch_client::{Client, Config, PutOptions};
    let c = Cluster::start_secure(3, 0, &[]);
    c.wait_leader(ELECT);
    let ca = c.certs_dir().unwrap().join("ca.pem");
    // Bare host:port endpoints: with a CA they are https.
    let endpoints: Vec<String> = c.nodes.iter().map(|n| n.api_addr.clone()).collect();
    let config = Config::new(&endpoints)
        .with_token(SECURE_ADMIN)
        .with_cacert(&ca);
    let client = Client::new(config).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        client
            .put("client/tls", "yes", &PutOptions::default())
            .await
            .unwrap();
        let got = client.get("client/tls").await.unwrap().unwrap();
        assert_eq!(got.value, "yes");
        assert!(client
            .leader_url()
            .is_some_and(|u| u.starts_with("https://")));
    });
    let urls: Vec<String> = (1..=3).map(|id| c.url(id)).collect();
    let refused = Client::new(Config::new(&urls).with_token(SECURE_ADMIN)).unwrap_err();
    assert!(refused.to_string().contains("RAFTORCH_CACERT"), "{refused}");
    // A CA that did not sign the cluster's certificates: every attempt fails, none is trusted.
    let other = other_ca(c.dir.path());
    let mut wrong = Config::new(&urls)
        .with_token(SECURE_ADMIN)
        .with_cacert(other.join("ca.pem"));
    wrong.read_deadline = Duration::from_secs(1);
    let wrong = Client::new(wrong).unwrap();
    let failed = rt.block_on(async { wrong.get("client/tls").await });
    assert!(failed.is_err(), "{failed:?}");
}
