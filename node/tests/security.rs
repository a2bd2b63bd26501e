//! Attacks and accidents from the network and the host, against real processes: a node of
//! another cluster, frames that lie about their sender, a member that sends absurd terms,
//! appends with gaps and garbage snapshots, a second node on one data directory, half-open and
//! surplus API connections.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proc::{free_port, Cluster};
use raftorch_core::engine::{Chunk, PeerMessage};
use raftorch_core::raft::{ConfState, Entry, EntryPayload, Message, MessageBody, SnapshotMeta};
use raftorch_node::cluster_id::{from_token, show};
use raftorch_node::transport::frame;
use raftorch_node::transport::handshake::{Hello, HELLO_LEN, PROTOCOL_VERSION};
use raftorch_node::transport::Wire;

const ELECT: Duration = Duration::from_secs(15);

/// Kills the child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn terms(c: &Cluster) -> Vec<u64> {
    (1..=c.nodes.len() as u64)
        .map(|id| c.get(id, "/v1/status").body["term"].as_u64().unwrap_or(0))
        .collect()
}

/// Whether the peer closed `s` (EOF or reset) before its read timeout.
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn a_node_of_another_cluster_with_the_same_ids_is_refused_and_the_cluster_is_untouched() {
    let a = Cluster::start_plain(3, &["--cluster-token", "alpha"]);
    let leader = a.wait_leader(ELECT);
    assert_eq!(a.put_kv(leader, "owner", "cluster-a").status, 200);
    let before = terms(&a);

    // Node 1 of cluster B founds {1, 2, 3} too, but its peers 2 and 3 are A's nodes, and it
    // campaigns as often as it can.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("b1.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftorch"));
    cmd.arg("node")
        .args(["--id", "1", "--cluster-token", "beta"])
        .arg("--data-dir")
        .arg(dir.path().join("b1"))
        .args(["--peer-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--api-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--heartbeat-ms", "10", "--election-ms", "20"]);
    for n in &a.nodes[1..] {
        cmd.arg("--peer")
            .arg(format!("{}={}@{}", n.id, n.peer_addr, n.api_addr));
    }
    cmd.env("RAFTORCH_LOG", "info")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out));
    let b1 = Guard(cmd.spawn().unwrap());

    a.eventually(
        Duration::from_secs(20),
        "A's nodes 2 and 3 refuse B's node 1",
        || {
            let refused = |id| a.metric(id, "raftorch_peer_handshakes_refused_total");
            (refused(2)? > 0 && refused(3)? > 0).then_some(())
        },
    );
    std::thread::sleep(Duration::from_secs(2)); // B's node 1 keeps trying meanwhile
    assert_eq!(terms(&a), before, "A's terms moved\n{}", a.logs_tail());
    assert_eq!(a.wait_leader(ELECT), leader);
    for id in 1..=3 {
        let got = a.get(id, "/v1/kv/owner");
        assert_eq!(got.body["value"], "cluster-a", "node {id}: {got:?}");
    }
    let line = format!(
        "belongs to cluster {}, this node to cluster {}",
        show(from_token("beta")),
        show(from_token("alpha"))
    );
    let a2 = std::fs::read_to_string(a.log_path(2)).unwrap();
    assert!(
        a2.contains(&line),
        "no refusal line {line:?} in node 2's log:\n{a2}"
    );
    drop(b1);
    let b = std::fs::read_to_string(&log).unwrap();
    assert!(
        b.contains("peer refused"),
        "B's node 1 does not say it was refused:\n{b}"
    );
}

#[test]
fn frames_that_lie_about_their_sender_or_recipient_are_dropped_and_counted() {
    let c = Cluster::start_plain(3, &["--cluster-token", "gamma"]);
    let leader = c.wait_leader(ELECT);
    let victim = (1..=3).find(|&id| id != leader).unwrap();
    let other = (1..=3).find(|&id| id != leader && id != victim).unwrap();
    let before = c.get(victim, "/v1/status").body["term"].as_u64().unwrap();

    // A well-formed handshake as `other`, then frames from the leader's id and for another node.
    let mut s = TcpStream::connect(&c.nodes[victim as usize - 1].peer_addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let hello = Hello {
        version: PROTOCOL_VERSION,
        cluster: from_token("gamma"),
        node: other,
    };
    s.write_all(&hello.encode()).unwrap();
    let mut answer = [0u8; HELLO_LEN];
    s.read_exact(&mut answer).unwrap();
    let forged = |from, to| {
        Wire::raft(Message {
            from,
            to,
            term: before + 1_000,
            body: MessageBody::Heartbeat {
                commit: 1_000_000,
                seq: 1,
            },
        })
    };
    let mut bytes = Vec::new();
    frame::encode(&forged(leader, victim), &mut bytes);
    frame::encode(&forged(other, 99), &mut bytes);
    s.write_all(&bytes).unwrap();

    c.eventually(Duration::from_secs(10), "the forged frames counted", || {
        let n = c.metric(victim, "raftorch_peer_frames_refused_total")?;
        (n >= 2).then_some(())
    });
    let after = c.get(victim, "/v1/status").body["term"].as_u64().unwrap();
    assert_eq!(after, before, "a forged heartbeat moved the term");
    assert_eq!(c.wait_leader(ELECT), leader);
    let a = c.put_kv(victim, "still", "serving");
    assert_eq!(a.status, 200, "{a:?}");
}

/// `field` of node `id`'s `/v1/status`.
fn status_of(c: &Cluster, id: u64, field: &str) -> u64 {
    c.get(id, "/v1/status").body[field]
        .as_u64()
        .unwrap_or_else(|| panic!("no {field} in node {id}'s status"))
}

#[test]
fn a_member_sending_an_absurd_term_a_gapped_append_and_a_garbage_snapshot_bricks_nothing() {
    let mut c = Cluster::start_plain(3, &["--cluster-token", "delta"]);
    let leader = c.wait_leader(ELECT);
    let victim = (1..=3).find(|&id| id != leader).unwrap();
    let other = (1..=3).find(|&id| id != leader && id != victim).unwrap();
    assert_eq!(c.put_kv(leader, "kept", "before").status, 200);
    c.eventually(ELECT, "the victim caught up", || {
        (status_of(&c, victim, "applied_index") == status_of(&c, leader, "commit_index"))
            .then_some(())
    });
    let term = status_of(&c, victim, "term");
    let last = status_of(&c, victim, "last_index");

    // A real member's id, so each frame passes the sender and membership checks: what is left
    // to stop them is the engine's own validation.
    let mut s = TcpStream::connect(&c.nodes[victim as usize - 1].peer_addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let hello = Hello {
        version: PROTOCOL_VERSION,
        cluster: from_token("delta"),
        node: other,
    };
    s.write_all(&hello.encode()).unwrap();
    let mut answer = [0u8; HELLO_LEN];
    s.read_exact(&mut answer).unwrap();
    let raft = |term, body| {
        Wire::raft(Message {
            from: other,
            to: victim,
            term,
            body,
        })
    };
    let absurd = raft(
        u64::MAX,
        MessageBody::Heartbeat {
            commit: u64::MAX,
            seq: 1,
        },
    );
    let gapped = raft(
        term,
        MessageBody::Append {
            prev_index: last,
            prev_term: term,
            entries: vec![Entry {
                term,
                index: last + 5,
                payload: EntryPayload::Noop,
            }],
            commit: last + 5,
        },
    );
    let garbage = b"not a snapshot of anything".to_vec();
    let chunk = Wire {
        from: other,
        to: victim,
        message: PeerMessage::SnapshotChunk(Chunk {
            term,
            meta: SnapshotMeta {
                index: last + 100,
                term,
                conf: ConfState {
                    voters: (1..=3).collect(),
                    learners: Default::default(),
                },
            },
            offset: 0,
            total_len: garbage.len() as u64,
            total_checksum: Some(xxhash_rust::xxh3::xxh3_64(&garbage)),
            checksum: xxhash_rust::xxh3::xxh3_64(&garbage),
            data: garbage,
        }),
    };
    let mut bytes = Vec::new();
    for wire in [absurd, gapped, chunk] {
        frame::encode(&wire, &mut bytes);
    }
    s.write_all(&bytes).unwrap();
    c.eventually(ELECT, "the garbage snapshot refused", || {
        let n = c.metric(victim, "raftorch_snapshot_failures_total")?;
        (n >= 1).then_some(())
    });
    drop(s);

    let after = status_of(&c, victim, "term");
    assert!(after < u64::MAX / 2, "the absurd term was adopted: {after}");
    assert!(
        status_of(&c, victim, "snapshot_index") < last + 100,
        "the garbage snapshot was installed"
    );
    assert!(
        status_of(&c, victim, "last_index") < last + 5,
        "the entry after the gap was appended"
    );
    // Still a working member: it takes writes, and a restart finds its data intact.
    c.wait_leader(ELECT);
    assert_eq!(c.put_kv(victim, "after", "attack").status, 200);
    c.kill(victim);
    c.spawn(victim);
    c.eventually(ELECT, "the victim back and serving", || {
        let a = c.request(victim, "GET", "/v1/kv/kept", None)?;
        (a.status == 200).then_some(a)
    });
    let leader = c.wait_leader(ELECT);
    assert_eq!(c.put_kv(leader, "later", "too").status, 200);
    c.eventually(ELECT, "the victim applies new writes", || {
        let a = c.request(victim, "GET", "/v1/kv/later", None)?;
        (a.status == 200).then_some(())
    });
}

#[test]
fn forged_internal_commands_cannot_be_posted_to_the_client_port() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(ELECT);
    let post = |path: &str, body: &[u8]| {
        c.request(leader, "POST", path, Some(body))
            .unwrap_or_else(|| panic!("no answer to POST {path}"))
    };
    let lease = post("/v1/leases", br#"{"ttl_ms": 2000}"#).body["lease_id"]
        .as_u64()
        .expect("a lease");
    let lock = format!(r#"{{"lease_id": {lease}}}"#);
    assert_eq!(
        post("/v1/locks/l", lock.as_bytes()).body["result"],
        "lock_acquired"
    );
    let holder = c.get(leader, "/v1/locks/l").body["holder"].clone();
    assert_eq!(holder["lease_id"].as_u64(), Some(lease), "{holder}");
    let book = c.get(leader, "/v1/members").body["members"].clone();

    // What the attack posted (as JSON, and as the log entry's own encoding), wherever an
    // internal endpoint could hide, with the harness's admin token.
    let leader_changed = raftorch_core::orchestrator::Envelope::new(
        u64::MAX / 2,
        raftorch_core::orchestrator::Command::LeaderChanged,
    )
    .encode();
    let bodies: [&[u8]; 4] = [
        br#""LeaderChanged""#,
        br#"{"Tick": null}"#,
        br#"{"SetMemberAddress": {"id": 2, "peer_addr": "10.9.9.9:1", "api_addr": "10.9.9.9:2"}}"#,
        &leader_changed,
    ];
    for path in [
        "/internal/v1/propose",
        "/internal/v1/forward",
        "/internal/propose",
        "/v1/propose",
        "/v1/raft/propose",
        "/v1/commands",
    ] {
        for body in bodies {
            let a = post(path, body);
            assert!(
                a.status == 404 || a.status == 405,
                "POST {path} was not refused: {a:?}"
            );
        }
    }
    // Nothing was renewed or repointed: the lease expires on time and frees the lock, and
    // the address book is the one before.
    let started = Instant::now();
    c.eventually(
        Duration::from_secs(15),
        "the lock freed by the expiry",
        || {
            let holder = c.get(leader, "/v1/locks/l").body["holder"].clone();
            holder.is_null().then_some(())
        },
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(c.get(leader, "/v1/members").body["members"], book);
}

#[test]
fn a_second_node_on_the_same_data_dir_is_refused() {
    let c = Cluster::start(1, &[]);
    c.wait_leader(ELECT);
    let started = Instant::now();
    let mut second = Command::new(env!("CARGO_BIN_EXE_raftorch"))
        .args(["node", "--id", "1"])
        .arg("--data-dir")
        .arg(c.data_dir(1))
        .args(["--peer-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--api-listen", &format!("127.0.0.1:{}", free_port())])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = second.kill();
            let _ = second.wait();
            panic!("a second node on the same data directory kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success());
    assert!(err.contains("in use by another raftorch process"), "{err}");
    assert_eq!(c.put_kv(1, "first", "still-serving").status, 200);
}

#[test]
fn half_open_api_connections_are_closed_while_a_normal_request_is_answered() {
    let c = Cluster::start_plain(1, &["--api-header-timeout-ms", "2000"]);
    c.wait_leader(ELECT);
    let api = c.nodes[0].api_addr.clone();
    let opened = Instant::now();
    let mut conns: Vec<TcpStream> = (0..600)
        .map(|_| {
            let mut s = TcpStream::connect(&api).unwrap();
            s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nAccept: ")
                .unwrap();
            s
        })
        .collect();
    let a = c.get(1, "/v1/status");
    assert_eq!(a.status, 200, "{a:?}");
    // Every one closed by 2 s after it was opened; allow scheduling slack.
    let deadline = opened + Duration::from_secs(6);
    for (i, s) in conns.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        assert!(
            closed(s),
            "connection {i} still open after {:?}",
            opened.elapsed()
        );
    }
    assert_eq!(c.get(1, "/healthz").status, 200);
}

#[test]
fn api_connections_over_the_cap_are_closed_at_once() {
    let c = Cluster::start_plain(1, &["--max-connections", "8"]);
    c.wait_leader(ELECT);
    let api = c.nodes[0].api_addr.clone();
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(&api).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300)); // accepted, in order
    let mut ninth = TcpStream::connect(&api).unwrap();
    ninth
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = ninth.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(closed(&mut ninth), "the ninth connection was served");
    drop(held);
    let refused = c.eventually(Duration::from_secs(5), "room again", || {
        c.metric(1, "raftorch_api_connections_refused_total")
    });
    assert!(refused >= 1);
}
