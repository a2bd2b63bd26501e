//! Seed inputs for each target: well-formed examples the fuzzer starts from (written to
//! `fuzz/corpus/NAME/` by the ignored test `write_seed_corpus`, and replayed by the tests).

use raftorch_core::engine::PeerMessage;
use raftorch_core::orchestrator::{Command, Envelope, Orchestrator};
use raftorch_core::raft::{Entry, EntryPayload, Message, MessageBody, Snapshot, SnapshotMeta};
use raftorch_core::state_machine::StateMachine;
use raftorch_node::storage::record::{self, SegmentHeader};
use raftorch_node::transport::Wire;

use crate::api_input::ROUTES;
use crate::peer_frame::connection;

/// The seeds of the target called `name` (none for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "peer_frame" => peer_frame(),
        "wal_record" => wal_record(),
        "api_input" => api_input(),
        "raft_step" => raft_step(),
        _ => Vec::new(),
    }
}

fn put(key: &str) -> Vec<u8> {
    Envelope::new(
        1_000,
        Command::Put {
            key: key.into(),
            value: b"v".to_vec(),
            lease: None,
            expected_revision: None,
        },
    )
    .encode()
}

fn raft(term: u64, body: MessageBody) -> Wire {
    Wire::raft(Message {
        from: 2,
        to: 1,
        term,
        body,
    })
}

fn peer_frame() -> Vec<Vec<u8>> {
    let mut state = Orchestrator::new();
    let _ = state.apply(1, &put("a"));
    let append = MessageBody::Append {
        prev_index: 1,
        prev_term: 1,
        entries: vec![
            Entry {
                term: 2,
                index: 2,
                payload: EntryPayload::Normal(put("k").into()),
            },
            Entry {
                term: 2,
                index: 3,
                payload: EntryPayload::Noop,
            },
        ],
        commit: 2,
    };
    let snapshot = MessageBody::InstallSnapshot {
        snapshot: Snapshot {
            meta: SnapshotMeta {
                index: 5,
                term: 2,
                conf: Default::default(),
            },
            data: state.snapshot().into(),
        },
    };
    let forward = Wire {
        from: 2,
        to: 1,
        message: PeerMessage::Forward {
            request: 7,
            data: put("f"),
            traceparent: None,
        },
    };
    let mut with_keep_alive = connection(&[raft(1, MessageBody::TimeoutNow)]);
    with_keep_alive.extend_from_slice(&[0; 4]);
    vec![
        connection(&[]),
        connection(&[raft(2, MessageBody::Heartbeat { commit: 1, seq: 3 })]),
        connection(&[raft(2, append)]),
        connection(&[raft(3, snapshot)]),
        connection(&[forward]),
        with_keep_alive,
    ]
}

fn records(first: u64, count: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for index in first..first + count {
        record::encode(index, 1 + index / 2, b"payload", &mut out);
    }
    out
}

fn wal_record() -> Vec<Vec<u8>> {
    let mut decoder = vec![1];
    decoder.extend_from_slice(&SegmentHeader { first_index: 1 }.encode());
    decoder.extend_from_slice(&records(1, 3));
    // Segments: one segment (count 1), first index 1, with a header, three records.
    let mut one = vec![0, 0, 0, 1];
    one.extend_from_slice(&records(1, 3));
    // The same with a torn last record.
    let mut torn = one.clone();
    torn.truncate(torn.len() - 3);
    // Two segments: the first holds 1..=2 (its body length first), the second 3..=4.
    let first = records(1, 2);
    let mut two = vec![0, 1, 0, 1, first.len() as u8];
    two.extend_from_slice(&first);
    two.extend_from_slice(&[1, 1]); // the next first index is 1 + 2; it has a header
    two.extend_from_slice(&records(3, 2));
    vec![decoder, one, torn, two]
}

/// An `api_input` request: method index, route, its path parameters, query, token index and a
/// JSON body.
fn request(
    method: u8,
    route: &str,
    params: &[&str],
    query: &str,
    token: u8,
    body: &str,
) -> Vec<u8> {
    let route_index = ROUTES.iter().position(|r| *r == route).unwrap_or(0) as u8;
    let mut out = vec![method, route_index];
    for p in params {
        out.push(p.len() as u8);
        out.extend_from_slice(p.as_bytes());
    }
    out.push(query.len() as u8);
    out.extend_from_slice(query.as_bytes());
    out.push(token);
    out.push(4); // content-type: application/json
    out.extend_from_slice(body.as_bytes());
    out
}

fn api_input() -> Vec<Vec<u8>> {
    const GET: u8 = 0;
    const PUT: u8 = 1;
    const POST: u8 = 2;
    const DELETE: u8 = 3;
    vec![
        request(GET, "/v1/status", &[], "", 0, ""),
        request(
            PUT,
            "/v1/kv/{}",
            &["bot/a"],
            "lease=3",
            4,
            r#"{"value":"x"}"#,
        ),
        request(
            PUT,
            "/v1/kv/{}",
            &["k"],
            "cas=0",
            2,
            r#"{"value_b64":"eHl6"}"#,
        ),
        request(GET, "/v1/kv", &[], "prefix=a&consistency=stale", 1, ""),
        request(DELETE, "/v1/kv/{}", &["k"], "", 2, ""),
        request(
            POST,
            "/v1/txn",
            &[],
            "",
            2,
            r#"{"compare":[{"key":"a","target":"value","op":"==","value":"x"}],"success":[{"op":"put","key":"a","value":"y"}],"failure":[{"op":"get","key":"a"}]}"#,
        ),
        request(POST, "/v1/leases", &[], "", 2, r#"{"ttl_ms":5000}"#),
        request(
            POST,
            "/v1/locks/{}",
            &["l"],
            "wait_ms=100",
            2,
            r#"{"lease_id":1,"mode":"queue"}"#,
        ),
        request(
            POST,
            "/v1/elections/{}/campaign",
            &["e"],
            "",
            2,
            r#"{"candidate":"c","lease_id":1,"value":"v"}"#,
        ),
        request(
            PUT,
            "/v1/services/{}/instances/{}",
            &["web", "i1"],
            "",
            2,
            r#"{"address":"10.0.0.1","port":80,"version":"v1","weight":5,"tags":["a"],"metadata":{"k":"v"}}"#,
        ),
        request(
            PUT,
            "/v1/deployments/{}",
            &["web"],
            "",
            2,
            r#"{"stable_version":"v1","canary_version":"v2","steps":[10,50,100]}"#,
        ),
        request(
            POST,
            "/v1/cluster/members",
            &[],
            "",
            3,
            r#"{"id":4,"peer_addr":"127.0.0.1:7004","api_addr":"127.0.0.1:8004"}"#,
        ),
        request(
            POST,
            "/v1/cluster/transfer-leader",
            &[],
            "",
            3,
            r#"{"to":2}"#,
        ),
        request(
            GET,
            "/v1/watch/kv",
            &[],
            "prefix=a&after=0&wait_ms=10",
            1,
            "",
        ),
        request(GET, "/v1/elections/{}", &["e"], "wait_ms=50&after=1", 1, ""),
    ]
}

/// A fixed pseudo-random byte string (xorshift), so the seeds stay the same between runs.
fn noise(mut state: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn raft_step() -> Vec<Vec<u8>> {
    (0u8..4)
        .map(|role| {
            let mut seed = vec![role];
            seed.extend(noise(0x9e37_79b9 + u64::from(role), 160));
            seed
        })
        .collect()
}
