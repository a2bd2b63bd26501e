//! Tokens with roles (`--auth-file`), against real node processes: who gets 401, who gets 403,
//! prefix scopes, a reload on SIGHUP, `ctl --token`, and the refusal to listen beyond loopback
//! unprotected.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proc::{free_port, Answer, Cluster};
use serde_json::json;

const ELECT: Duration = Duration::from_secs(15);

const ADMIN: &str = "admin-secret-0123456789abcdef";
const WRITER: &str = "write-secret-0123456789abcdef";
const READER: &str = "read-secret-0123456789abcdef";
const BOT: &str = "bot-secret-0123456789abcdef";
const LATE: &str = "late-secret-0123456789abcdef";

/// The test's auth file: an admin, a writer, a reader, and a writer scoped to `bot/` keys and
/// locks and `bot-` services (whose secret is given as its SHA-256).
fn auth_file() -> String {
    let bot_sha = raftorch_node::auth::secret::SecretDigest::of(BOT).to_hex();
    format!(
        "[[token]]\nname = \"ops\"\nsecret = \"{ADMIN}\"\nrole = \"admin\"\n\n\
         [[token]]\nname = \"app\"\nsecret = \"{WRITER}\"\nrole = \"write\"\n\n\
         [[token]]\nname = \"dash\"\nsecret = \"{READER}\"\nrole = \"read\"\n\n\
         [[token]]\nname = \"bot\"\nsecret_sha256 = \"{bot_sha}\"\nrole = \"write\"\n\
         prefixes = [\"bot/\", \"bot-\"]\n"
    )
}

/// `method path` with `body`, as `token` (`None`: no Authorization header at all).
fn call(c: &Cluster, id: u64, token: Option<&str>, method: &str, path: &str, body: &str) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    // An explicit empty-scheme header overrides the harness's default token.
    let header = auth.as_deref().unwrap_or("None");
    let body = (!body.is_empty()).then_some(body.as_bytes());
    c.request_with_headers(id, method, path, body, &[("authorization", header)])
        .unwrap_or_else(|| panic!("node {id} did not answer {method} {path}"))
}

fn code(a: &Answer) -> &str {
    a.body["error"]["code"].as_str().unwrap_or("")
}

/// One request of each route family, with a body it would accept.
fn families() -> Vec<(&'static str, &'static str, String)> {
    let put = json!({"value": "v"}).to_string();
    let instance = json!({"address": "10.0.0.1", "port": 80}).to_string();
    vec![
        ("GET", "/v1/status", String::new()),
        ("GET", "/v1/members", String::new()),
        ("GET", "/metrics", String::new()),
        ("GET", "/v1/kv/a", String::new()),
        ("PUT", "/v1/kv/a", put),
        ("GET", "/v1/kv?prefix=", String::new()),
        ("GET", "/v1/services", String::new()),
        ("PUT", "/v1/services/s/instances/i", instance),
        ("GET", "/v1/route/s", String::new()),
        ("POST", "/v1/leases", json!({"ttl_ms": 5000}).to_string()),
        ("GET", "/v1/locks/l", String::new()),
        ("GET", "/v1/elections/e", String::new()),
        ("GET", "/v1/deployments/s", String::new()),
        ("GET", "/v1/watch?prefix=&wait_ms=0", String::new()),
        (
            "POST",
            "/v1/cluster/transfer-leader",
            json!({"to": 2}).to_string(),
        ),
        ("DELETE", "/v1/cluster/members/9", String::new()),
        ("GET", "/no/such/route", String::new()),
    ]
}

#[test]
fn roles_and_prefixes_decide_every_request() {
    let c = Cluster::start_with_auth(1, &auth_file(), ADMIN, &[]);
    c.wait_leader(ELECT);

    for path in ["/healthz", "/readyz"] {
        let a = call(&c, 1, None, "GET", path, "");
        assert_eq!(a.status, 200, "{path} must stay open: {a:?}");
    }
    for (method, path, body) in families() {
        for token in [None, Some("not-a-token-of-this-cluster")] {
            let a = call(&c, 1, token, method, path, &body);
            assert_eq!(a.status, 401, "{method} {path} with {token:?}: {a:?}");
            assert_eq!(code(&a), "unauthenticated", "{a:?}");
            assert!(a.body["error"]["message"].is_string(), "{a:?}");
        }
    }

    // A reader reads, and nothing more.
    assert_eq!(
        call(&c, 1, Some(READER), "GET", "/v1/status", "").status,
        200
    );
    assert_eq!(call(&c, 1, Some(READER), "GET", "/metrics", "").status, 200);
    assert_eq!(call(&c, 1, Some(READER), "GET", "/v1/kv/a", "").status, 404);
    let put = json!({"value": "v"}).to_string();
    for (method, path, body) in [
        ("PUT", "/v1/kv/a", put.as_str()),
        ("DELETE", "/v1/kv/a", ""),
        ("POST", "/v1/leases", r#"{"ttl_ms": 5000}"#),
        ("POST", "/v1/locks/l", r#"{"lease_id": 1}"#),
    ] {
        let a = call(&c, 1, Some(READER), method, path, body);
        assert_eq!(a.status, 403, "reader {method} {path}: {a:?}");
        assert_eq!(code(&a), "permission_denied", "{a:?}");
    }

    // A writer writes, but cannot touch the membership or the leadership.
    assert_eq!(
        call(&c, 1, Some(WRITER), "PUT", "/v1/kv/a", &put).status,
        200
    );
    let join = json!({"id": 9, "peer_addr": "127.0.0.1:1", "api_addr": "127.0.0.1:2"});
    for (method, path, body) in [
        ("POST", "/v1/cluster/members", join.to_string()),
        ("DELETE", "/v1/cluster/members/9", String::new()),
        (
            "POST",
            "/v1/cluster/transfer-leader",
            json!({"to": 2}).to_string(),
        ),
    ] {
        let a = call(&c, 1, Some(WRITER), method, path, &body);
        assert_eq!(a.status, 403, "writer {method} {path}: {a:?}");
        assert_eq!(code(&a), "permission_denied", "{a:?}");
    }

    // The scoped token: inside its prefixes as a writer, outside them nothing.
    assert_eq!(
        call(&c, 1, Some(BOT), "PUT", "/v1/kv/bot/x", &put).status,
        200
    );
    assert_eq!(
        call(&c, 1, Some(BOT), "GET", "/v1/kv/bot/x", "").status,
        200
    );
    let in_range = call(&c, 1, Some(BOT), "GET", "/v1/kv?prefix=bot/", "");
    assert_eq!(in_range.status, 200, "{in_range:?}");
    for (method, path, body) in [
        ("PUT", "/v1/kv/other/x", put.as_str()),
        ("PUT", "/v1/kv/other%2Fx", put.as_str()),
        ("GET", "/v1/kv/a", ""),
        ("DELETE", "/v1/kv/a", ""),
        ("GET", "/v1/kv?prefix=", ""),
        ("GET", "/v1/kv?prefix=bo", ""),
        ("GET", "/v1/watch?prefix=kv/other/&wait_ms=0", ""),
        ("GET", "/v1/watch?wait_ms=0", ""),
        ("GET", "/v1/locks/other", ""),
        ("POST", "/v1/locks/other", r#"{"lease_id": 1}"#),
        ("GET", "/v1/elections/other", ""),
        ("GET", "/v1/services/other-svc", ""),
        (
            "PUT",
            "/v1/services/other-svc/instances/i",
            r#"{"address": "a", "port": 1}"#,
        ),
        ("GET", "/v1/route/other-svc", ""),
        ("GET", "/v1/deployments/other-svc", ""),
        ("POST", "/v1/cluster/transfer-leader", r#"{"to": 2}"#),
    ] {
        let a = call(&c, 1, Some(BOT), method, path, body);
        assert_eq!(a.status, 403, "bot {method} {path}: {a:?}");
        assert_eq!(code(&a), "permission_denied", "{a:?}");
    }
    // Watch prefixes name the event family first (`kv/<key>`, `locks/<name>`, ...).
    let watch = call(
        &c,
        1,
        Some(BOT),
        "GET",
        "/v1/watch?prefix=kv/bot/&wait_ms=0",
        "",
    );
    assert_eq!(watch.status, 200, "{watch:?}");
    // Events name their key within their namespace.
    assert_eq!(watch.body["events"][0]["namespace"], "kv", "{watch:?}");
    assert_eq!(watch.body["events"][0]["key"], "bot/x", "{watch:?}");
    for prefix in ["kv/", "kv/a", "bot/", "locks/other", "services/"] {
        let path = format!("/v1/watch?prefix={prefix}&wait_ms=0");
        let a = call(&c, 1, Some(BOT), "GET", &path, "");
        assert_eq!(a.status, 403, "bot watching {prefix}: {a:?}");
    }
    let lease = call(
        &c,
        1,
        Some(BOT),
        "POST",
        "/v1/leases",
        r#"{"ttl_ms": 10000}"#,
    );
    assert!(lease.status / 100 == 2, "leases are not scoped: {lease:?}");
    let lease_id = lease.body["lease_id"].as_u64().expect("lease id");
    let lock = json!({ "lease_id": lease_id }).to_string();
    let a = call(&c, 1, Some(BOT), "POST", "/v1/locks/bot-lock", &lock);
    assert!(a.status / 100 == 2, "{a:?}");

    // A scoped token's listing shows only what it may name.
    let instance = r#"{"address": "10.0.0.1", "port": 80}"#;
    for (token, service) in [(ADMIN, "other-svc"), (BOT, "bot-svc")] {
        let path = format!("/v1/services/{service}/instances/i");
        let a = call(&c, 1, Some(token), "PUT", &path, instance);
        assert!(a.status / 100 == 2, "{a:?}");
    }
    let all = call(&c, 1, Some(READER), "GET", "/v1/services", "");
    assert_eq!(
        all.body["services"],
        json!(["bot-svc", "other-svc"]),
        "{all:?}"
    );
    // Every refusal was counted.
    let denied = c.metric(1, "raftorch_api_permission_denied_total").unwrap();
    let unauthenticated = c.metric(1, "raftorch_api_unauthenticated_total").unwrap();
    assert!(
        denied >= 20 && unauthenticated >= 30,
        "{denied} {unauthenticated}"
    );
    let mine = call(&c, 1, Some(BOT), "GET", "/v1/services", "");
    assert_eq!(mine.body["services"], json!(["bot-svc"]), "{mine:?}");
}

#[test]
fn admin_changes_membership_through_a_follower_and_a_writer_cannot() {
    let mut c = Cluster::start_with_auth(3, &auth_file(), ADMIN, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let new = c.add_joining();
    let node = &c.nodes[new as usize - 1];
    let body = json!({"id": new, "peer_addr": node.peer_addr, "api_addr": node.api_addr});
    let body = body.to_string();
    let book = c.get(leader, "/v1/members").body["members"].clone();

    let refused = call(
        &c,
        follower,
        Some(WRITER),
        "POST",
        "/v1/cluster/members",
        &body,
    );
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(code(&refused), "permission_denied");
    let path = format!("/v1/cluster/members/{follower}");
    let refused = call(&c, leader, Some(WRITER), "DELETE", &path, "");
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(
        c.get(leader, "/v1/members").body["members"],
        book,
        "a refused change left the address book as it was"
    );
    // The follower passes the request on to the leader with the caller's token, which the
    // leader checks again: without that, this would be the leader's 401.
    let added = c.eventually(ELECT, "the admin's add", || {
        let a = call(
            &c,
            follower,
            Some(ADMIN),
            "POST",
            "/v1/cluster/members",
            &body,
        );
        (a.status != 503).then_some(a)
    });
    assert_eq!(added.status, 200, "{added:?}\n{}", c.logs_tail());
    let members = c.get(leader, "/v1/members");
    let learners: Vec<u64> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["voter"] == false)
        .filter_map(|m| m["id"].as_u64())
        .collect();
    assert_eq!(learners, [new], "{members:?}");
}

/// `kill -HUP`.
fn hangup(pid: u32) {
    let sent = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -HUP failed");
}

#[test]
fn sighup_reloads_the_auth_file_and_a_bad_file_keeps_the_old_tokens() {
    let c = Cluster::start_with_auth(1, &auth_file(), ADMIN, &[]);
    c.wait_leader(ELECT);
    let pid = c.pid(1).expect("running");
    assert_eq!(call(&c, 1, Some(LATE), "GET", "/v1/status", "").status, 401);

    let late = format!("\n[[token]]\nname = \"late\"\nsecret = \"{LATE}\"\nrole = \"read\"\n");
    std::fs::write(c.auth_path(), auth_file() + &late).unwrap();
    hangup(pid);
    c.eventually(Duration::from_secs(10), "the new token", || {
        (call(&c, 1, Some(LATE), "GET", "/v1/status", "").status == 200).then_some(())
    });
    let a = call(&c, 1, Some(LATE), "PUT", "/v1/kv/a", r#"{"value": "v"}"#);
    assert_eq!(a.status, 403, "the new token has its role: {a:?}");

    std::fs::write(c.auth_path(), "[[token]]\nname = \"broken\"\n").unwrap();
    hangup(pid);
    c.eventually(
        Duration::from_secs(10),
        "the refused reload in the log",
        || {
            let log = std::fs::read_to_string(c.log_path(1)).unwrap_or_default();
            log.contains("keeping the tokens loaded before")
                .then_some(())
        },
    );
    assert_eq!(call(&c, 1, Some(LATE), "GET", "/v1/status", "").status, 200);
    assert_eq!(
        call(&c, 1, Some(ADMIN), "GET", "/v1/status", "").status,
        200
    );
}

/// Runs `raftorch ctl -o json` against node 1 of `c` with `args`, and `env`; (exit code,
/// stdout).
fn ctl(c: &Cluster, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_raftorch"))
        .args(["ctl", "-o", "json"])
        .args(["--endpoints", &c.url(1)])
        .args(args)
        .env_remove("RAFTORCH_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run ctl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

#[test]
fn ctl_sends_its_token_on_every_path() {
    let c = Cluster::start_with_auth(1, &auth_file(), ADMIN, &[]);
    c.wait_leader(ELECT);
    let (code, out) = ctl(&c, &["kv", "put", "a", "1"], &[]);
    assert_ne!(code, 0, "no token, no write: {out}");
    assert!(out.contains("unauthenticated"), "{out}");

    let (code, out) = ctl(&c, &["--token", WRITER, "kv", "put", "a", "1"], &[]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = ctl(&c, &["kv", "get", "a"], &[("RAFTORCH_TOKEN", READER)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"value\": \"1\""), "{out}");
    let (code, out) = ctl(&c, &["--token", READER, "status"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"leader_id\": 1"), "{out}");
    let (code, out) = ctl(&c, &["--token", READER, "members", "list"], &[]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = ctl(&c, &["--token", READER, "kv", "put", "a", "2"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("permission_denied"), "{out}");
    // Membership through ctl: the writer is refused at once, not retried until the deadline.
    let (code, out) = ctl(&c, &["--token", WRITER, "members", "remove", "7"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("permission_denied"), "{out}");
}

#[test]
fn a_node_beyond_loopback_without_an_auth_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let api = format!("0.0.0.0:{}", free_port());
    let node = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_raftorch"))
            .arg("node")
            .args(["--id", "1"])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .args(["--peer-listen", &format!("127.0.0.1:{}", free_port())])
            .args(["--api-listen", &api])
            .args(extra)
            .env_remove("RAFTORCH_AUTH_FILE")
            .env_remove("RAFTORCH_INSECURE")
            .env_remove("RAFTORCH_TLS_CA")
            .env_remove("RAFTORCH_TLS_CERT")
            .env_remove("RAFTORCH_TLS_KEY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn raftorch node")
    };
    let out = node(&[]).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "listening on {api} without --auth-file and TLS (--tls-ca, --tls-cert, --tls-key); \
             pass --insecure to run unauthenticated and unencrypted"
        )),
        "{stderr}"
    );
    assert!(!dir.path().join("data").exists(), "it touched nothing");

    // --insecure: it starts (and answers, unauthenticated); on 0.0.0.0 it must be told the
    // address it is reached at.
    let advertised = api.replace("0.0.0.0", "127.0.0.1");
    let mut child = node(&["--insecure", "--advertise-api", &advertised]);
    let url = format!("http://{}/v1/status", api.replace("0.0.0.0", "127.0.0.1"));
    let deadline = Instant::now() + ELECT;
    let answered = loop {
        if let Ok(r) = ureq::get(&url).call() {
            break r.status();
        }
        assert!(
            Instant::now() < deadline,
            "no answer from the --insecure node"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answered, 200);
}

#[test]
fn secrets_are_compared_in_constant_time() {
    // The only comparison of digests is `SecretDigest::matches`, which is `subtle`'s `ct_eq`;
    // the type has no `==` that could be used instead, and the lookup uses `matches`.
    let src =
        |f: &str| std::fs::read_to_string(format!("{}/src/auth/{f}", env!("CARGO_MANIFEST_DIR")));
    let secret = src("secret.rs").unwrap();
    assert!(
        secret.contains("self.0.ct_eq(&other.0).into()"),
        "matches is not ct_eq"
    );
    assert!(
        secret.contains("#[derive(Clone, Copy)]\npub struct SecretDigest"),
        "SecretDigest must not derive PartialEq"
    );
    assert!(!secret.contains("impl PartialEq for SecretDigest"));
    let table = src("table.rs").unwrap();
    assert!(
        table.contains("digest.matches(&presented)"),
        "the lookup must use matches"
    );
    // And it works: the digest of the right secret matches, one differing anywhere does not.
    use raftorch_node::auth::secret::SecretDigest;
    let d = SecretDigest::of(ADMIN);
    assert!(d.matches(&SecretDigest::of(ADMIN)));
    let mut last_differs = ADMIN.to_owned();
    last_differs.pop();
    last_differs.push('!');
    assert!(!d.matches(&SecretDigest::of(&last_differs)));
}

/// Runs the `raftorch` binary with `args` (and no token in the environment).
fn raftorch(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_raftorch"))
        .args(args)
        .env_remove("RAFTORCH_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run raftorch")
}

#[test]
fn bench_sends_its_token_and_stops_when_refused() {
    let c = Cluster::start_with_auth(1, &auth_file(), ADMIN, &[]);
    c.wait_leader(ELECT);
    let url = c.url(1);
    let load = [
        "bench",
        "--endpoints",
        &url,
        "--clients",
        "2",
        "--duration",
        "1s",
    ];
    let refused = raftorch(&load);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("HTTP 401"), "{stderr}");

    let mut with_token = load.to_vec();
    with_token.extend_from_slice(&["--token", WRITER]);
    let o = raftorch(&with_token);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let a = c.get(1, "/v1/kv?prefix=bench/");
    assert!(
        a.body["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{a:?}"
    );
}

#[test]
fn dev_auth_starts_a_cluster_with_tokens_and_prints_the_admin_one() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut dev = Command::new(env!("CARGO_BIN_EXE_raftorch"))
        .args(["dev", "--auth", "--nodes", "1", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn raftorch dev");
    let mut lines = BufReader::new(dev.stdout.take().unwrap()).lines();
    let (mut url, mut admin) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(u) = line.trim().strip_prefix("node 1: ") {
            url = Some(u.to_owned());
        }
        if let Some(t) = line.strip_prefix("admin token: ") {
            admin = Some(t.to_owned());
            break;
        }
    }
    let stop = |dev: &mut std::process::Child| {
        let _ = Command::new("kill")
            .args(["-TERM", &dev.id().to_string()])
            .status();
        let _ = dev.wait();
    };
    let (Some(url), Some(admin)) = (url, admin) else {
        stop(&mut dev);
        panic!("dev printed no URL or admin token");
    };
    let auth = std::fs::read_to_string(dir.path().join("auth.toml")).unwrap_or_default();
    let status = |token: Option<&str>| {
        let mut req = ureq::get(&format!("{url}/v1/status"));
        if let Some(t) = token {
            req = req.set("authorization", &format!("Bearer {t}"));
        }
        match req.call() {
            Ok(r) => Some(r.status()),
            Err(ureq::Error::Status(code, _)) => Some(code),
            Err(_) => None,
        }
    };
    let deadline = Instant::now() + ELECT;
    let mut seen = (None, None);
    while Instant::now() < deadline {
        seen = (status(None), status(Some(&admin)));
        if seen.0.is_some() && seen.1.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(&mut dev);
    assert_eq!(seen, (Some(401), Some(200)));
    for role in ["admin", "write", "read"] {
        assert!(auth.contains(&format!("role = \"{role}\"")), "{auth}");
    }
}

#[test]
fn a_token_over_its_rate_gets_429_with_retry_after_while_other_tokens_are_served() {
    let file = format!(
        "{}\n[[token]]\nname = \"slow\"\nsecret = \"{LATE}\"\nrole = \"read\"\nrate = 1\nburst = 3\n",
        auth_file()
    );
    let c = Cluster::start_with_auth(1, &file, ADMIN, &[]);
    c.wait_leader(ELECT);
    // The burst is served; the requests after it, sent at once, are refused.
    let answers: Vec<Answer> = (0..6)
        .map(|_| call(&c, 1, Some(LATE), "GET", "/v1/status", ""))
        .collect();
    let served = answers.iter().filter(|a| a.status == 200).count();
    assert!(
        (3..=4).contains(&served),
        "a burst of 3 (plus at most one refill): {answers:?}"
    );
    let refused = answers.iter().find(|a| a.status == 429).expect("a refusal");
    assert_eq!(code(refused), "rate_limited", "{refused:?}");
    let retry: u64 = refused
        .retry_after
        .as_deref()
        .and_then(|s| s.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!((1..=2).contains(&retry), "{refused:?}");
    // Another token is not held back by it, and the refusals are counted per token.
    for _ in 0..10 {
        assert_eq!(
            call(&c, 1, Some(READER), "GET", "/v1/status", "").status,
            200
        );
    }
    let metrics = c
        .request_with_headers(
            1,
            "GET",
            "/metrics",
            None,
            &[("authorization", &format!("Bearer {ADMIN}"))],
        )
        .expect("metrics");
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains("raftorch_api_rate_limited_total{token=\"slow\"}"),
        "{text}"
    );
    // After Retry-After, the token is served again.
    std::thread::sleep(Duration::from_secs(retry));
    assert_eq!(call(&c, 1, Some(LATE), "GET", "/v1/status", "").status, 200);
}
