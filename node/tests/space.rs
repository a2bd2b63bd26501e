//! Space limits on real processes: the storage quota raises a replicated alarm, writes that grow
//! the state get 507 `no_space` at every node while reads, deletes and revokes still work, and
//! the cluster recovers by deleting (the alarm clears itself) or by a larger quota and
//! `ctl alarm disarm`. As root, a real full disk: each node's data dir on its own 24 MiB tmpfs.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use proc::Cluster;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

/// Writes `prefix{i}` keys of `value_len` bytes at `node` until one is refused; returns how many
/// were written and the refusal.
fn fill(c: &Cluster, node: u64, prefix: &str, value_len: usize, max: usize) -> (usize, Value) {
    let value = "x".repeat(value_len);
    for i in 0..max {
        let a = c.put_kv(node, &format!("{prefix}{i}"), &value);
        match a.status {
            200 | 201 => continue,
            507 => return (i, a.body),
            other => panic!("write {i}: {other} {}\n{}", a.body, c.logs_tail()),
        }
    }
    panic!(
        "{max} writes of {value_len} bytes never filled the space\n{}",
        c.logs_tail()
    );
}

/// The alarms node `id` has applied (a stale read: this node's own state).
fn alarms(c: &Cluster, id: u64) -> Vec<Value> {
    let a = c.get(id, "/v1/alarms?consistency=stale");
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["alarms"].as_array().cloned().unwrap_or_default()
}

fn alarm_kinds(c: &Cluster, id: u64) -> Vec<String> {
    alarms(c, id)
        .iter()
        .filter_map(|a| a["kind"].as_str().map(str::to_owned))
        .collect()
}

/// Every node has applied an alarm of `kind`, and every node refuses a new key with 507
/// `no_space` while still answering reads of `read_key`.
fn every_node_is_read_only(c: &Cluster, kind: &str, read_key: &str) {
    for id in 1..=c.nodes.len() as u64 {
        c.eventually(WAIT, &format!("node {id} applies the {kind} alarm"), || {
            alarm_kinds(c, id).iter().any(|k| k == kind).then_some(())
        });
        let refused = c.put_kv(id, &format!("refused-at-{id}"), "v");
        assert_eq!(refused.status, 507, "node {id}: {}", refused.body);
        assert_eq!(refused.body["error"]["code"], "no_space");
        let message = refused.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("no space"), "a clear message: {message}");
        for consistency in ["linearizable", "stale"] {
            let read = c.get(id, &format!("/v1/kv/{read_key}?consistency={consistency}"));
            assert_eq!(
                read.status, 200,
                "node {id} reads ({consistency}): {}",
                read.body
            );
        }
        assert!(alive(c, id), "node {id} stays up");
        let gauge = format!("raftorch_alarm_active{{kind=\"{kind}\"}}");
        assert!(
            c.metric(id, &gauge).is_some_and(|v| v >= 1),
            "{gauge} at node {id}"
        );
    }
}

/// Whether node `id`'s process runs (not exited, not a zombie).
fn alive(c: &Cluster, id: u64) -> bool {
    c.pid(id).is_some_and(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, rest)| rest.trim_start().to_owned())
            })
            .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
    })
}

fn raftorch_ctl(c: &Cluster, args: &[&str]) -> (i32, String) {
    let bin =
        std::env::var_os("RAFTORCH_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_raftorch").into());
    let endpoints: Vec<String> = (1..=c.nodes.len() as u64).map(|id| c.url(id)).collect();
    let out = Command::new(bin)
        .envs(c.client_env())
        .arg("ctl")
        .arg("--endpoints")
        .arg(endpoints.join(","))
        .args(["-o", "json"])
        .args(args)
        .output()
        .expect("run raftorch ctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_quota_fills_writes_get_no_space_reads_go_on_and_deleting_recovers() {
    let started = Instant::now();
    // The quota comes from a config file, rewritten below for the restarts with a larger one.
    let conf_dir = tempfile::tempdir().expect("temp dir");
    let conf = conf_dir.path().join("space.toml");
    std::fs::write(&conf, "quota_bytes = 262144\n").unwrap();
    let conf_arg = conf.to_str().unwrap().to_owned();
    let mut c = Cluster::start(3, &["--config", &conf_arg, "--snapshot-every", "100"]);
    let leader = c.wait_leader(WAIT);
    let lease = c
        .request(leader, "POST", "/v1/leases", Some(br#"{"ttl_ms": 60000}"#))
        .unwrap();
    assert_eq!(lease.status, 201, "{}", lease.body);
    let lease_id = lease.body["lease_id"].as_u64().unwrap();

    // 1 KiB values: about 230 fit under 256 KiB.
    let (written, refusal) = fill(&c, leader, "fill/", 1024, 1_000);
    assert!((150..260).contains(&written), "{written} writes fit");
    assert_eq!(refusal["error"]["code"], "no_space", "{refusal}");
    every_node_is_read_only(&c, "quota", "fill/0");

    // What does not grow the state still works: a keep-alive, a revoke, a delete.
    let kept = c.request(
        leader,
        "POST",
        &format!("/v1/leases/{lease_id}/keepalive"),
        Some(b""),
    );
    assert_eq!(kept.unwrap().status, 200);
    let lease2 = c
        .request(leader, "POST", "/v1/leases", Some(br#"{"ttl_ms": 60000}"#))
        .unwrap();
    assert_eq!(
        lease2.status, 507,
        "a new lease grows the state: {}",
        lease2.body
    );
    let revoked = c
        .request(leader, "DELETE", &format!("/v1/leases/{lease_id}"), None)
        .unwrap();
    assert_eq!(revoked.status, 200, "{}", revoked.body);

    // Deleting a fifth of the keys takes the state under 90% of the quota: the alarm clears
    // itself at apply, on every node, and writes work again.
    for i in 0..written / 5 {
        let a = c
            .request(leader, "DELETE", &format!("/v1/kv/fill/{i}"), None)
            .unwrap();
        assert_eq!(a.status, 200, "delete {i}: {}", a.body);
    }
    for id in 1..=3 {
        c.eventually(WAIT, &format!("node {id} clears the quota alarm"), || {
            alarms(&c, id).is_empty().then_some(())
        });
        let a = c.put_kv(id, &format!("again-{id}"), "v");
        assert_eq!(a.status, 200, "node {id} writes again: {}", a.body);
    }

    // Fill again, then recover the other way: restart every node with a larger quota; the
    // alarm is replicated state (it survives the restarts and the snapshots) until an admin
    // disarms it.
    let (_, refusal) = fill(&c, leader, "more/", 1024, 1_000);
    assert_eq!(refusal["error"]["code"], "no_space");
    // A refusal raises the alarm (at most one proposal per 250 ms, so a refusal right after
    // the last one may not): keep writing until it is raised.
    c.eventually(WAIT, "the quota alarm is raised again", || {
        assert_eq!(c.put_kv(leader, "more/x", &"x".repeat(1024)).status, 507);
        (!alarms(&c, leader).is_empty()).then_some(())
    });
    let (code, listed) = raftorch_ctl(&c, &["alarm", "list"]);
    assert_eq!(code, 0, "{listed}");
    let listed: Value = serde_json::from_str(&listed).expect("ctl alarm list -o json");
    assert_eq!(listed["alarms"][0]["kind"], "quota", "{listed}");
    assert!(listed["live_bytes"].as_u64().unwrap() > 200 << 10);
    std::fs::write(&conf, "quota_bytes = 1048576\n").unwrap();
    for id in 1..=3 {
        c.kill(id);
        c.spawn(id);
    }
    c.wait_leader(WAIT);
    every_node_is_read_only(&c, "quota", "more/0");
    let (code, out) = raftorch_ctl(&c, &["alarm", "disarm"]);
    assert_eq!(code, 0, "{out}");
    let out: Value = serde_json::from_str(&out).expect("ctl alarm disarm -o json");
    assert_eq!(out["count"], 1, "{out}");
    for id in 1..=3 {
        c.eventually(WAIT, &format!("node {id} applies the disarm"), || {
            alarms(&c, id).is_empty().then_some(())
        });
        let a = c.put_kv(id, &format!("after-disarm-{id}"), "v");
        assert_eq!(a.status, 200, "node {id}: {}", a.body);
    }
    eprintln!("quota test took {:?}", started.elapsed());
}

/// Whether this process runs as root (from `/proc/self/status`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Small tmpfs mounts, unmounted on drop (after the cluster, declared after it, is dropped).
struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for m in &self.0 {
            let _ = Command::new("umount").arg("-l").arg(m).status();
            let _ = std::fs::remove_dir(m);
            if let Some(parent) = m.parent() {
                let _ = std::fs::remove_dir_all(parent);
            }
        }
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Result<(), String> {
    let out = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Skips (returns false) where tmpfs cannot be mounted, but fails under `CI=true`.
fn can_mount() -> bool {
    let why = if !is_root() {
        Some("not root".to_owned())
    } else {
        let probe = tempfile::tempdir().expect("temp dir");
        let result = mount_tmpfs(probe.path(), "1m");
        let _ = Command::new("umount").arg(probe.path()).status();
        result.err()
    };
    match why {
        None => true,
        Some(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the full-disk test must run in CI, but cannot mount a tmpfs: {why}")
        }
        Some(why) => {
            eprintln!("skipped: a real full disk needs root and tmpfs mounts ({why})");
            false
        }
    }
}

#[test]
fn a_real_full_disk_raises_the_alarm_and_every_node_keeps_serving_reads() {
    if !can_mount() {
        return;
    }
    let started = Instant::now();
    // Declared before the cluster: dropped after it, so the mounts outlive the nodes.
    let mut mounts = Mounts(Vec::new());
    let mut failed = None;
    let c = Cluster::start_prepared(
        3,
        &["--disk-reserve-bytes", "8MiB"],
        |dir| match mount_tmpfs(dir, "24m") {
            Ok(()) => mounts.0.push(dir.to_owned()),
            Err(e) => failed = Some(e),
        },
    );
    assert!(failed.is_none(), "mount: {failed:?}");
    let leader = c.wait_leader(WAIT);
    // 16 KiB values fill 24 MiB within a few thousand writes; the reserve trips at 16 MiB used.
    let (written, refusal) = fill(&c, leader, "disk/", 16 << 10, 3_000);
    assert_eq!(refusal["error"]["code"], "no_space", "{refusal}");
    assert!(written > 100, "only {written} writes before the alarm");
    every_node_is_read_only(&c, "disk_reserve", "disk/0");
    for id in 1..=3 {
        let free = c.metric(id, "raftorch_disk_free_bytes").unwrap();
        assert!(
            free > 0,
            "node {id}: the reserve kept the disk from filling"
        );
    }
    // Give every node more room: each clears its own alarm above twice the reserve.
    for m in &mounts.0 {
        let ok = Command::new("mount")
            .args(["-o", "remount,size=64m"])
            .arg(m)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {}", m.display());
    }
    for id in 1..=3 {
        c.eventually(WAIT, &format!("node {id} clears its disk alarm"), || {
            alarms(&c, id).is_empty().then_some(())
        });
    }
    let a = c.put_kv(leader, "disk/after", "v");
    assert_eq!(a.status, 200, "{}", a.body);
    for id in 1..=3 {
        assert!(alive(&c, id), "node {id} never exited");
    }
    drop(c);
    drop(mounts);
    eprintln!("full-disk test took {:?}", started.elapsed());
}

/// Fills the filesystem that holds `dir` with `dir/filler`, up to the last byte it takes.
fn fill_filesystem(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("create filler");
    let chunk = vec![0xa5u8; 64 << 10];
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filler: {e}"),
        }
    }
    // Single bytes fill the last partial page.
    while file.write(&[0]).is_ok_and(|n| n == 1) {}
    path
}

#[test]
fn a_log_write_that_hits_enospc_makes_the_node_read_only_until_space_is_freed() {
    if !can_mount() {
        return;
    }
    let started = Instant::now();
    let mut mounts = Mounts(Vec::new());
    let mut failed = None;
    // No reserve: the replicated disk_reserve alarm does not fire first, the disk really fills.
    let c = Cluster::start_prepared(1, &["--disk-reserve-bytes", "0"], |dir| {
        match mount_tmpfs(dir, "16m") {
            Ok(()) => mounts.0.push(dir.to_owned()),
            Err(e) => failed = Some(e),
        }
    });
    assert!(failed.is_none(), "mount: {failed:?}");
    c.wait_leader(WAIT);
    let mut acknowledged = Vec::new();
    for i in 0..5 {
        let key = format!("keep/{i}");
        assert_eq!(c.put_kv(1, &key, "v").status, 200);
        acknowledged.push(key);
    }
    let filler = fill_filesystem(&c.data_dir(1));
    // The log's preallocated tail takes a few writes; then a write needs a new page.
    let value = "x".repeat(16 << 10);
    let mut refusal = None;
    for i in 0..2_000 {
        let key = format!("disk/{i}");
        let a = c.put_kv(1, &key, &value);
        match a.status {
            200 => acknowledged.push(key),
            // The write whose persist hit ENOSPC: its outcome is unknown (it is durable, and
            // may apply, only once space is back), so it is not acknowledged.
            503 => assert_eq!(a.body["error"]["code"], "timeout", "{}", a.body),
            507 => {
                refusal = Some(a.body);
                break;
            }
            other => panic!("write {i}: {other} {}\n{}", a.body, c.logs_tail()),
        }
    }
    let refusal = refusal.unwrap_or_else(|| panic!("the disk never filled\n{}", c.logs_tail()));
    assert_eq!(refusal["error"]["code"], "no_space", "{refusal}");
    let message = refusal["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("disk is full"),
        "a clear message: {message}"
    );
    assert!(alive(&c, 1), "the node stays up\n{}", c.logs_tail());
    let read = c.get(1, "/v1/kv/keep/0?consistency=stale");
    assert_eq!(read.status, 200, "stale reads go on: {}", read.body);
    let kinds = alarm_kinds(&c, 1);
    assert_eq!(kinds, ["disk_full"], "{kinds:?}");
    assert_eq!(c.metric(1, "raftorch_disk_full"), Some(1));
    let again = c.put_kv(1, "refused", "v");
    assert_eq!(again.status, 507, "{}", again.body);

    // Space is back: the pending write is retried and writes work again.
    std::fs::remove_file(&filler).expect("remove filler");
    c.eventually(WAIT, "the node accepts writes again", || {
        (c.put_kv(1, "after", "v").status == 200).then_some(())
    });
    assert_eq!(c.metric(1, "raftorch_disk_full"), Some(0));
    assert!(alarm_kinds(&c, 1).is_empty());
    for key in &acknowledged {
        let read = c.get(1, &format!("/v1/kv/{key}"));
        assert_eq!(read.status, 200, "acknowledged {key} kept: {}", read.body);
    }
    assert!(alive(&c, 1), "the node never exited");
    assert!(c.metric(1, "raftorch_disk_full_events_total") >= Some(1));
    drop(c);
    drop(mounts);
    eprintln!("ENOSPC test took {:?}", started.elapsed());
}
