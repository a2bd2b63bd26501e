//! Backup and disaster recovery on real processes: `snapshot save` from a running cluster,
//! `snapshot status`, every node and its data destroyed, `snapshot restore` into a new
//! three-node cluster at new addresses, a damaged backup refused; and `recover` turning the one
//! survivor of a three-node cluster into a new single-member cluster.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use proc::{free_port, Cluster};
use serde_json::{json, Value};

const ELECT: Duration = Duration::from_secs(15);
const ADMIN: &str = "admin-secret-0123456789abcdef";
const WRITER: &str = "write-secret-0123456789abcdef";
const KEYS: u64 = 25;
const LEASE_TTL_MS: u64 = 20_000;

fn auth_file() -> String {
    format!(
        "[[token]]\nname = \"ops\"\nsecret = \"{ADMIN}\"\nrole = \"admin\"\n\n\
         [[token]]\nname = \"app\"\nsecret = \"{WRITER}\"\nrole = \"write\"\n"
    )
}

/// Runs `raftorch ARGS..` with `env`; its exit code and stdout + stderr.
fn raftorch(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftorch"));
    cmd.args(args).env_remove("RAFTORCH_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run raftorch");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code(), text)
}

fn ok(c: &Cluster, what: &str, (code, out): (Option<i32>, String)) -> String {
    assert_eq!(code, Some(0), "{what}: {out}\n{}", c.logs_tail());
    out
}

/// `snapshot status FILE -o json`, parsed.
fn status_json(file: &Path) -> Value {
    let (code, out) = raftorch(
        &["snapshot", "status", file.to_str().unwrap(), "-o", "json"],
        &[],
    );
    assert_eq!(code, Some(0), "{out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// Writes keys, two instances, a deployment, a lease and a lock through `via`; the lease id.
fn write_everything(c: &Cluster, via: u64) -> u64 {
    let lease = c.request(
        via,
        "POST",
        "/v1/leases",
        Some(json!({"ttl_ms": LEASE_TTL_MS}).to_string().as_bytes()),
    );
    let lease = lease.expect("lease answered");
    let lease_id = lease.body["lease_id"].as_u64().expect("lease id");
    let lock = c.request(
        via,
        "POST",
        "/v1/locks/db",
        Some(json!({"lease_id": lease_id}).to_string().as_bytes()),
    );
    assert!(lock.is_some_and(|a| a.body["fencing_token"].is_u64()));
    for (instance, version) in [("web-1", "v1"), ("web-2", "v2")] {
        let body = json!({"address": "10.0.0.7", "port": 8080, "version": version, "weight": 100});
        let a = c.put(
            via,
            &format!("/v1/services/web/instances/{instance}"),
            &body.to_string(),
        );
        assert!(a.status == 200 || a.status == 201, "{a:?}");
    }
    let d = c.put(
        via,
        "/v1/deployments/web",
        r#"{"stable_version": "v1", "canary_version": "v2", "steps": [10, 50, 100]}"#,
    );
    assert!(d.status == 200 || d.status == 201, "{d:?}");
    for i in 0..KEYS {
        let a = c.put_kv(via, &format!("app/key-{i}"), &format!("value-{i}"));
        assert_eq!(a.status, 200, "{a:?}");
    }
    lease_id
}

#[test]
fn a_backup_restores_into_a_new_cluster_and_a_damaged_one_is_refused() {
    let mut c = Cluster::start_with_auth(3, &auth_file(), ADMIN, &[]);
    let leader = c.wait_leader(ELECT);
    let follower = (1..=3).find(|&id| id != leader).unwrap();
    let lease_id = write_everything(&c, follower);
    let lease_before = c.get(leader, &format!("/v1/leases/{lease_id}")).body;
    let lock_before = c.get(leader, "/v1/locks/db").body["holder"].clone();
    // Let the replicated clock run, so a refreshed lease is told apart from a kept deadline.
    std::thread::sleep(Duration::from_millis(3_000));
    let last = c.put_kv(follower, "app/last", "written-just-before-the-save");
    assert_eq!(last.status, 200, "{last:?}");

    // Admin only: the snapshot holds every key.
    let writer = c
        .request_with_headers(
            follower,
            "GET",
            "/v1/snapshot",
            None,
            &[("authorization", &format!("Bearer {WRITER}"))],
        )
        .expect("answered");
    assert_eq!(writer.status, 403, "{writer:?}");

    let file = c.dir.path().join("backup.snap");
    let f = file.to_str().unwrap().to_owned();
    let endpoints = format!("http://127.0.0.1:1,{}", c.url(follower));
    let (code, out) = raftorch(
        &["snapshot", "save", &f, "--endpoints", &endpoints],
        &[("RAFTORCH_TOKEN", WRITER)],
    );
    assert_eq!(code, Some(1), "a write token cannot save: {out}");
    assert!(out.contains("admin"), "{out}");
    let saved = ok(
        &c,
        "save",
        raftorch(
            &["snapshot", "save", &f, "--endpoints", &endpoints],
            &[("RAFTORCH_TOKEN", ADMIN)],
        ),
    );
    assert!(saved.contains("(verified)"), "{saved}");

    let status = status_json(&file);
    let meta = &status["meta"];
    assert_eq!(status["checksum"]["verified"], true);
    assert_eq!(status["checksum"]["value"].as_str().map(str::len), Some(64));
    assert!(meta["index"].as_u64() >= last.index, "{status}");
    assert_eq!(meta["taken_from"], follower);
    assert_eq!(meta["voters"], json!([1, 2, 3]));
    let counts = &meta["counts"];
    assert_eq!(counts["keys"], KEYS + 1, "{status}");
    assert_eq!(
        (&counts["services"], &counts["instances"]),
        (&json!(1), &json!(2))
    );
    assert_eq!(
        (&counts["deployments"], &counts["leases"], &counts["locks"]),
        (&json!(1), &json!(1), &json!(1))
    );
    let (_, table) = raftorch(&["snapshot", "status", &f], &[]);
    assert!(
        table.contains("checksum") && table.contains("(verified)"),
        "{table}"
    );
    let old_cluster = meta["cluster_id"].as_str().unwrap().to_owned();

    // A damaged copy: status and restore both refuse it, and restore leaves nothing behind.
    let bad = c.dir.path().join("damaged.snap");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&bad, &bytes).unwrap();
    let b = bad.to_str().unwrap();
    let (code, out) = raftorch(&["snapshot", "status", b], &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("checksum mismatch"), "{out}");
    let scratch = c.dir.path().join("scratch");
    let s = scratch.to_str().unwrap();
    let (code, out) = raftorch(
        &["snapshot", "restore", b, "--data-dir", s, "--id", "1"],
        &[],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("checksum mismatch"), "{out}");
    assert!(std::fs::read_dir(&scratch).map_or(true, |mut d| d.next().is_none()));

    // Lose everything.
    for id in 1..=3 {
        c.kill(id);
        std::fs::remove_dir_all(c.data_dir(id)).unwrap();
    }
    // The new cluster listens elsewhere: its addresses come from the flags, not the backup.
    for node in &mut c.nodes {
        node.peer_addr = format!("127.0.0.1:{}", free_port());
        node.api_addr = format!("127.0.0.1:{}", free_port());
    }
    for id in 1..=3 {
        let dir = c.data_dir(id);
        let mut args = vec![
            "snapshot".to_owned(),
            "restore".into(),
            f.clone(),
            "--data-dir".into(),
            dir.to_str().unwrap().into(),
            "--id".into(),
            id.to_string(),
        ];
        for other in c.nodes.iter().filter(|n| n.id != id) {
            args.push("--peer".into());
            args.push(format!(
                "{}={}@{}",
                other.id, other.peer_addr, other.api_addr
            ));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ok(&c, "restore", raftorch(&args, &[]));
        assert!(out.contains("new cluster"), "{out}");
        if id == 1 {
            let (code, out) = raftorch(&args, &[]);
            assert_eq!(code, Some(1), "{out}");
            assert!(out.contains("not empty"), "{out}");
        }
    }
    for id in 1..=3 {
        c.spawn(id);
    }
    let leader = c.wait_leader(ELECT);

    for id in 1..=3 {
        let k = c.get(id, "/v1/kv/app/last");
        assert_eq!(
            k.body["value"], "written-just-before-the-save",
            "node {id}: {k:?}"
        );
    }
    for i in 0..KEYS {
        let k = c.get(leader, &format!("/v1/kv/app/key-{i}"));
        assert_eq!(k.body["value"], format!("value-{i}"), "{k:?}");
    }
    let web = c.get(leader, "/v1/services/web");
    assert_eq!(
        web.body["instances"].as_array().map(Vec::len),
        Some(2),
        "{web:?}"
    );
    let d = c.get(leader, "/v1/deployments/web");
    assert_eq!(d.status, 200, "{d:?}");
    assert_eq!(d.body["canary_version"], "v2", "{d:?}");
    let lock = c.get(leader, "/v1/locks/db");
    assert_eq!(lock.body["holder"], lock_before, "{lock:?}");
    // The lease got a full TTL when the new cluster's first leader took over.
    let lease = c.get(leader, &format!("/v1/leases/{lease_id}")).body;
    let (before, after) = (
        lease_before["deadline_ms"].as_u64().unwrap(),
        lease["deadline_ms"].as_u64().unwrap(),
    );
    assert!(
        after >= before + 2_500,
        "lease not refreshed: {lease_before} then {lease}"
    );
    // It takes writes, through a follower too.
    let other = (1..=3).find(|&id| id != leader).unwrap();
    let w = c.put_kv(other, "app/after-restore", "yes");
    assert_eq!(w.status, 200, "{w:?}");
    // A new cluster: the old cluster's id is not the new one.
    let new = status_after_save(&c, leader);
    assert_ne!(new, old_cluster);
}

/// The cluster id a fresh backup of the running cluster reports.
fn status_after_save(c: &Cluster, via: u64) -> String {
    let file = c.dir.path().join("second.snap");
    let f = file.to_str().unwrap();
    ok(
        c,
        "second save",
        raftorch(
            &["snapshot", "save", f, "--endpoints", &c.url(via)],
            &[("RAFTORCH_TOKEN", ADMIN)],
        ),
    );
    status_json(&file)["meta"]["cluster_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn recover_turns_the_last_survivor_into_a_single_member_cluster() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let survivor = (1..=3).find(|&id| id != leader).unwrap();
    let mut last = 0;
    for i in 0..20 {
        let a = c.put_kv(leader, &format!("r/{i}"), &format!("v{i}"));
        assert_eq!(a.status, 200, "{a:?}");
        last = a.index.unwrap_or(last);
    }
    // The most up-to-date survivor: it applied every acknowledged write.
    c.eventually(ELECT, "the survivor to apply the writes", || {
        let s = c.get(survivor, "/v1/status").body;
        (s["applied_index"].as_u64()? >= last).then_some(())
    });
    for id in 1..=3 {
        c.kill(id);
        if id != survivor {
            std::fs::remove_dir_all(c.data_dir(id)).unwrap();
        }
    }
    let dir = c.data_dir(survivor);
    let d = dir.to_str().unwrap();
    let id = survivor.to_string();
    let (code, out) = raftorch(&["recover", "--data-dir", d, "--id", "9"], &[]);
    assert_eq!(code, Some(1), "a wrong id is refused: {out}");
    assert!(out.contains("not a member"), "{out}");
    let out = ok(
        &c,
        "recover",
        raftorch(&["recover", "--data-dir", d, "--id", &id], &[]),
    );
    assert!(out.contains("alone"), "{out}");
    c.spawn(survivor);
    let started = Instant::now();
    let leader = c.wait_leader(ELECT);
    assert_eq!(leader, survivor);
    let status = c.get(survivor, "/v1/status").body;
    let voters: Vec<u64> = status["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["voter"] == true)
        .filter_map(|m| m["id"].as_u64())
        .collect();
    assert_eq!(voters, [survivor], "{status}");
    for i in 0..20 {
        let k = c.get(survivor, &format!("/v1/kv/r/{i}"));
        assert_eq!(k.body["value"], format!("v{i}"), "{k:?}");
    }
    let w = c.put_kv(survivor, "r/after", "alone");
    assert_eq!(w.status, 200, "{w:?}");
    assert!(started.elapsed() < ELECT);
}
