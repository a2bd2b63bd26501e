//! Bad input, end to end: JSON errors with fitting statuses; garbage on the peer port costs only
//! that connection.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use proc::Cluster;
use raftorch_node::cluster_id::from_founders;
use raftorch_node::transport::handshake::{Hello, HELLO_LEN, PROTOCOL_VERSION};

fn code(a: &proc::Answer) -> &str {
    a.body["error"]["code"]
        .as_str()
        .unwrap_or("<no error code>")
}

#[test]
fn bad_requests_get_json_errors() {
    let c = Cluster::start(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(15));
    let path = "/v1/services/web/instances/web-1";

    let a = c.put(leader, path, r#"{"address": "#);
    assert_eq!((a.status, code(&a)), (400, "malformed_json"), "{a:?}");

    let a = c.put(
        leader,
        path,
        r#"{"address": "a", "port": 1, "colour": "red"}"#,
    );
    assert_eq!((a.status, code(&a)), (400, "unknown_field"), "{a:?}");

    let a = c.put(leader, path, r#"{"address": "a", "port": "eighty"}"#);
    assert_eq!(a.status, 400, "{a:?}");

    let a = c.put(
        leader,
        "/v1/services/.hidden/instances/x",
        r#"{"address": "a", "port": 1}"#,
    );
    assert_eq!((a.status, code(&a)), (400, "invalid_argument"), "{a:?}");

    let a = c.put(leader, path, r#"{"address": "a", "port": 0}"#);
    assert_eq!((a.status, code(&a)), (400, "invalid_argument"), "{a:?}");

    // Over the kv body limit (twice the largest value, plus room).
    // The node answers as soon as it knows the body is too long and closes the connection with
    // the rest unread, so a client still writing the body may see a reset instead of the answer
    // (as with any HTTP server that does not drain refused bodies). Every answer is the 413.
    let big = vec![b'x'; 3 << 20];
    let answers: Vec<proc::Answer> = (0..10)
        .filter_map(|_| c.request(leader, "PUT", "/v1/kv/big", Some(&big)))
        .collect();
    assert!(!answers.is_empty(), "ten resets and no answer");
    for a in &answers {
        assert_eq!((a.status, code(a)), (413, "payload_too_large"), "{a:?}");
    }

    // A kv value is a JSON body `{"value": "..."}`, nothing else.
    for (body, want) in [
        ("blue", "malformed_json"),
        ("", "malformed_json"),
        (r#"{"value": "v", "ttl": 5}"#, "unknown_field"),
        (r#"{"value": 5}"#, "invalid_argument"),
        ("{}", "invalid_argument"),
    ] {
        let a = c.put(leader, "/v1/kv/json-only", body);
        assert_eq!((a.status, code(&a)), (400, want), "{body:?}: {a:?}");
    }
    let a = c.put_kv(leader, "too-long", &"x".repeat((1 << 20) + 1));
    assert_eq!((a.status, code(&a)), (413, "payload_too_large"), "{a:?}");

    let a = c.get(leader, "/v1/kv/k?consistency=sometimes");
    assert_eq!((a.status, code(&a)), (400, "invalid_argument"), "{a:?}");

    let a = c.get(leader, "/v1/no/such/route");
    assert_eq!((a.status, code(&a)), (404, "not_found"), "{a:?}");
    assert!(a.leader.is_some(), "every answer names the leader: {a:?}");

    let a = c.put_kv(leader, "cas-key?cas=5", "v");
    assert_eq!((a.status, code(&a)), (409, "cas_failed"), "{a:?}");

    let a = c.get(leader, "/v1/services/nothing-here");
    assert_eq!((a.status, code(&a)), (404, "service_not_found"), "{a:?}");
}

#[test]
fn garbage_on_the_peer_port_drops_that_connection_and_the_node_keeps_serving() {
    let c = Cluster::start_plain(3, &[]);
    let leader = c.wait_leader(Duration::from_secs(15));
    let victim = (1..=3).find(|&id| id != leader).expect("a follower");
    let peer_addr = c.nodes[victim as usize - 1].peer_addr.clone();
    for garbage in [
        &[0xff, 0xff, 0xff, 0xff, 0x01][..],    // length over the limit
        &[0, 0, 0, 3, 9, 0, 0][..],             // unknown version
        &[0, 0, 0, 4, 1, 0xff, 0xff, 0xff][..], // undecodable message
    ] {
        let mut s = TcpStream::connect(&peer_addr).expect("connect to the peer port");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        // A well-formed handshake of this cluster (founded without a token), then garbage.
        let hello = Hello {
            version: PROTOCOL_VERSION,
            cluster: from_founders(&[1, 2, 3]),
            node: 9,
        };
        s.write_all(&hello.encode()).expect("write hello");
        let mut answer = [0u8; HELLO_LEN];
        s.read_exact(&mut answer)
            .expect("the node answers the handshake");
        s.write_all(garbage).expect("write garbage");
        let mut buf = [0u8; 16];
        // The node closes the connection: EOF (0 bytes) or a reset.
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {}
            Ok(n) => panic!("node answered garbage with {n} bytes"),
        }
    }
    assert_eq!(c.get(victim, "/healthz").status, 200);
    let a = c.put_kv(victim, "after-garbage", "still-here");
    assert_eq!(a.status, 200, "{a:?}");
    let a = c.get(victim, "/v1/kv/after-garbage");
    assert_eq!(a.body["value"], "still-here", "{a:?}");
    let metrics = c.get(victim, "/metrics");
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(text.contains("raftorch_bad_frames_total 3"), "{text}");
}
