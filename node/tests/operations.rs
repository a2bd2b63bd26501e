//! Operating a cluster of real processes: a leader hands leadership over on SIGTERM, advertised
//! addresses are what the members publish, and nodes of neighbouring protocol minors form one
//! cluster while another major is refused (a rolling upgrade, one node at a time).

#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proc::{free_port, Cluster};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

fn leader_of(c: &Cluster, id: u64) -> Option<u64> {
    c.request(id, "GET", "/v1/status", None)?.body["leader_id"].as_u64()
}

/// `PUT /v1/kv/{key}` at node `id`; its status, 0 if the node did not answer (yet).
fn try_put(c: &Cluster, id: u64, key: &str) -> u16 {
    let body = br#"{"value":"yes"}"#;
    c.request(id, "PUT", &format!("/v1/kv/{key}"), Some(body))
        .map_or(0, |a| a.status)
}

fn log(c: &Cluster, id: u64) -> String {
    std::fs::read_to_string(c.log_path(id)).unwrap_or_default()
}

#[test]
fn sigterm_at_the_leader_hands_leadership_over_before_it_exits() {
    let mut c = Cluster::start(3, &[]);
    let leader = c.wait_leader(WAIT);
    assert_eq!(c.put_kv(leader, "before", "1").status, 200);
    let status = c.terminate(leader, Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        c.logs_tail()
    );
    let survivors: Vec<u64> = (1..=3).filter(|&id| id != leader).collect();
    // Without the hand-over the survivors would name the old leader until an election timeout
    // (at least 150 ms) passed; with it, they know the new one by the time the old one exits.
    let exited = Instant::now();
    let named: Vec<Option<u64>> = survivors.iter().map(|&id| leader_of(&c, id)).collect();
    let asked_within = exited.elapsed();
    let new = named[0].expect("a leader");
    assert!(
        survivors.contains(&new) && named.iter().all(|n| *n == Some(new)),
        "survivors {survivors:?} name {named:?} right after the exit (asked within \
         {asked_within:?})\n{}",
        c.logs_tail()
    );
    let old_log = log(&c, leader);
    assert!(
        old_log.contains(&format!("node {new} leads now")),
        "{old_log}"
    );
    assert_eq!(c.put_kv(new, "after", "2").status, 200);
    // A follower's SIGTERM has nothing to hand over and just stops.
    let follower = survivors.into_iter().find(|&id| id != new).unwrap();
    assert!(c
        .terminate(follower, Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    assert!(!log(&c, follower).contains("handing leadership over"));
}

/// Runs `raftorch node ARGS..` to completion (it must refuse to start); exit code and stderr.
fn node_refusing(args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_raftorch"))
        .arg("node")
        .args(["--id", "1", "--insecure"])
        .arg("--data-dir")
        .arg(dir.path())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run raftorch node");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_node_listening_on_every_interface_must_be_told_its_address() {
    let api = format!("127.0.0.1:{}", free_port());
    // Nothing binds: the configuration is refused first.
    let any = format!("0.0.0.0:{}", free_port());
    let (code, err) = node_refusing(&["--peer-listen", &any, "--api-listen", &api]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!("listening on {any} without --advertise-peer")),
        "{err}"
    );
    let (code, err) = node_refusing(&[
        "--peer-listen",
        &any,
        "--api-listen",
        &api,
        "--advertise-peer",
        "0.0.0.0:7000",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("an unspecified address cannot be dialled"),
        "{err}"
    );
}

/// One node of [`advertised_names_are_published_and_dialled`]: its ports.
struct Named {
    peer: u16,
    api: u16,
}

#[test]
fn advertised_names_are_published_and_dialled() {
    // Each node listens on 127.0.0.1 and advertises the name `localhost`; the peers are given by
    // that name too, so every connection is made by resolving it.
    let dir = tempfile::tempdir().unwrap();
    let nodes: Vec<Named> = (0..3)
        .map(|_| Named {
            peer: free_port(),
            api: free_port(),
        })
        .collect();
    let mut children = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let id = i as u64 + 1;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftorch"));
        cmd.arg("node")
            .args(["--id", &id.to_string()])
            .arg("--data-dir")
            .arg(dir.path().join(format!("data-{id}")))
            .args(["--peer-listen", &format!("127.0.0.1:{}", n.peer)])
            .args(["--api-listen", &format!("127.0.0.1:{}", n.api)])
            .args(["--advertise-peer", &format!("localhost:{}", n.peer)])
            .args(["--advertise-api", &format!("localhost:{}", n.api)])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (j, o) in nodes.iter().enumerate() {
            if j != i {
                cmd.arg("--peer").arg(format!(
                    "{}=localhost:{}@localhost:{}",
                    j + 1,
                    o.peer,
                    o.api
                ));
            }
        }
        children.push(KillOnDrop(cmd.spawn().expect("spawn raftorch node")));
    }
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build();
    let status = |n: &Named| -> Option<Value> {
        let url = format!("http://127.0.0.1:{}/v1/status", n.api);
        serde_json::from_str(&agent.get(&url).call().ok()?.into_string().ok()?).ok()
    };
    let deadline = Instant::now() + WAIT;
    let leader_api = loop {
        let all: Vec<Option<Value>> = nodes.iter().map(status).collect();
        let apis: Vec<Option<&str>> = all
            .iter()
            .map(|s| s.as_ref().and_then(|s| s["leader_api"].as_str()))
            .collect();
        if apis[0].is_some() && apis.iter().all(|a| *a == apis[0]) {
            // Every node lists every member at its advertised names, itself included.
            for s in all.iter().flatten() {
                let members = s["members"].as_array().expect("members");
                for (j, n) in nodes.iter().enumerate() {
                    let m = members
                        .iter()
                        .find(|m| m["id"] == j as u64 + 1)
                        .unwrap_or_else(|| panic!("member {} missing: {s}", j + 1));
                    assert_eq!(m["peer_addr"], format!("localhost:{}", n.peer), "{s}");
                    assert_eq!(m["api_addr"], format!("localhost:{}", n.api), "{s}");
                }
            }
            break apis[0].unwrap_or_default().to_owned();
        }
        assert!(Instant::now() < deadline, "no agreed leader: {all:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(leader_api.starts_with("localhost:"), "{leader_api}");
    // A write through the leader's advertised address, and through a follower.
    let put = |url: String| {
        agent
            .put(&url)
            .send_string(r#"{"value":"v"}"#)
            .map(|r| r.status())
            .unwrap_or(0)
    };
    assert_eq!(put(format!("http://{leader_api}/v1/kv/a")), 200);
    let follower = nodes
        .iter()
        .find(|n| format!("localhost:{}", n.api) != leader_api)
        .unwrap();
    assert_eq!(
        put(format!("http://127.0.0.1:{}/v1/kv/b", follower.api)),
        200
    );
    drop(children);
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_node_of_the_next_minor_joins_in_and_another_major_is_refused() {
    let mut c = Cluster::start(3, &[]);
    c.wait_leader(WAIT);
    // Node 3 is "upgraded": restarted announcing protocol 6.1.
    assert!(c
        .terminate(3, Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    c.spawn_with(3, &["--debug-announce-version", "6.1"]);
    c.eventually(WAIT, "a write through node 3", || {
        (try_put(&c, 3, "mixed/1") == 200).then_some(())
    });
    // Leadership moves to the newer node and back: the mixed cluster elects and commits.
    for to in [3, 1] {
        c.eventually(WAIT, "the transfer to be taken", || {
            let leader = c.wait_leader(WAIT);
            if leader == to {
                return Some(());
            }
            let body = format!(r#"{{"to": {to}}}"#);
            c.request(
                leader,
                "POST",
                "/v1/cluster/transfer-leader",
                Some(body.as_bytes()),
            );
            std::thread::sleep(Duration::from_millis(300));
            None
        });
        let key = format!("mixed/led-by-{to}");
        assert_eq!(c.put_kv(2, &key, "yes").status, 200);
        c.eventually(WAIT, "node 3 to apply the write", || {
            let a = c.request(3, "GET", &format!("/v1/kv/{key}?consistency=stale"), None)?;
            (a.body["value"] == "yes").then_some(())
        });
    }
    let log3 = log(&c, 3);
    assert!(
        log3.contains("announcing another protocol version"),
        "{log3}"
    );

    // Node 3 restarted as protocol 7.0: refused by both sides, with both versions named.
    assert!(c
        .terminate(3, Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    c.spawn_with(3, &["--debug-announce-version", "7.0"]);
    c.eventually(WAIT, "node 1 to refuse node 3", || {
        log(&c, 1)
            .contains("the peer speaks protocol 7.x, this node 6.0: incompatible")
            .then_some(())
    });
    c.eventually(WAIT, "node 3 to refuse the others", || {
        log(&c, 3)
            .contains("speaks protocol 6.x, this node 7.0: incompatible")
            .then_some(())
    });
    assert!(c.metric(1, "raftorch_peer_handshakes_refused_total") > Some(0));
    // Nodes 1 and 2 still commit; node 3 hears nothing of it.
    c.eventually(WAIT, "a write without node 3", || {
        (try_put(&c, 1, "without-3") == 200).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let a = c.get(3, "/v1/kv/without-3?consistency=stale");
    assert_eq!(a.status, 404, "{a:?}");
}

#[test]
fn a_data_dir_of_an_unknown_format_is_refused_and_left_as_it_was() {
    let mut c = Cluster::start(1, &[]);
    c.wait_leader(WAIT);
    assert_eq!(try_put(&c, 1, "kept"), 200);
    c.kill(1);
    let marker = c.data_dir(1).join("format");
    let current = std::fs::read_to_string(&marker).expect("a format marker");
    assert_eq!(current, "raftorch-data 1\n");

    // A newer raftorch's directory: this binary stops with a clear error and changes nothing.
    std::fs::write(&marker, "raftorch-data 9\n").unwrap();
    let before = log(&c, 1).len();
    c.spawn(1);
    let status = c.exited(1, WAIT).expect("the node exits");
    assert!(!status.success());
    let said = log(&c, 1)[before..].to_owned();
    assert!(
        said.contains("data directory format 9 is newer than this binary's (1)"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "raftorch-data 9\n"
    );

    // A directory from before the marker (format 0) is migrated on start, its data kept.
    std::fs::remove_file(&marker).unwrap();
    c.spawn(1);
    c.wait_leader(WAIT);
    let kept = c.get(1, "/v1/kv/kept");
    assert_eq!(
        (kept.status, &kept.body["value"]),
        (200, &Value::from("yes"))
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), current);
}
