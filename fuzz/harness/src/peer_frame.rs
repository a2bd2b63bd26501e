//! Bytes a peer sends on its connection: a `Hello`, then frames, exactly as the inbound side
//! reads them (`handshake::Hello::read`, `handshake::admit`, `frame::read`, `bound_to`). Every
//! frame that decodes must encode back to the same message, and what it carries is fed to the
//! decoders behind it: a forwarded write's command envelope, a snapshot's state and the
//! commands of appended entries (applied to a scratch state machine).

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use raftorch_core::engine::PeerMessage;
use raftorch_core::orchestrator::{Envelope, Orchestrator};
use raftorch_core::raft::{EntryPayload, MessageBody};
use raftorch_core::state_machine::StateMachine;
use raftorch_node::cluster_id::ClusterIdentity;
use raftorch_node::transport::handshake::{self, Hello};
use raftorch_node::transport::{bound_to, frame, Wire};

/// The node reading the connection.
const ME: u64 = 1;
/// The cluster token of the node under test (and of the seeds' `Hello`s).
pub const CLUSTER_TOKEN: &str = "fuzz";

/// The node's cluster identity, fixed from [`CLUSTER_TOKEN`] (its file is written once, into a
/// directory removed at once: the id stays in memory).
fn identity() -> &'static ClusterIdentity {
    static IDENTITY: OnceLock<ClusterIdentity> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        ClusterIdentity::resolve(dir.path(), Some(CLUSTER_TOKEN), &[1, 2, 3])
            .expect("a cluster identity")
    })
}

/// Polls a future over in-memory bytes to its end: reading a byte slice never waits.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("reading from memory waited"),
    }
}

/// The target: `data` is everything the peer sends.
pub fn run(data: &[u8]) {
    let mut stream = data;
    let hello = match ready(Hello::read(&mut stream)) {
        Ok(hello) => hello,
        Err(refusal) => {
            let _ = refusal.to_string();
            return;
        }
    };
    if handshake::admit(identity(), ME, &hello).is_err() {
        // The real node closes the connection here; read on anyway, so frames are fuzzed even
        // when the mutator breaks the Hello.
    }
    for _ in 0..1024 {
        match ready(frame::read(&mut stream)) {
            Ok(Some(wire)) => check(&wire, hello.node),
            Ok(None) => return,
            Err(e) => {
                let _ = e.to_string();
                return;
            }
        }
    }
}

/// Checks one decoded frame and decodes what it carries.
fn check(wire: &Wire, peer: u64) {
    let mut bytes = Vec::new();
    frame::encode(wire, &mut bytes);
    let again = ready(frame::read(&mut &bytes[..]));
    assert_eq!(
        again.ok().flatten().as_ref(),
        Some(wire),
        "frame round trip"
    );
    let _ = bound_to(wire, peer, ME);
    match &wire.message {
        PeerMessage::Forward { data, .. } => {
            let _ = Envelope::decode(data);
        }
        // Their checks (checksums, offsets, terms) are the engine's: `raft_step` drives it.
        PeerMessage::ForwardReply { .. }
        | PeerMessage::SnapshotChunk(_)
        | PeerMessage::SnapshotAck(_) => {}
        PeerMessage::Raft(m) => match &m.body {
            MessageBody::InstallSnapshot { snapshot } => {
                let mut scratch = Orchestrator::new();
                let _ = scratch.restore(&snapshot.data);
            }
            MessageBody::Append { entries, .. } => {
                let mut scratch = Orchestrator::new();
                for (i, entry) in entries.iter().enumerate() {
                    if let EntryPayload::Normal(data) = &entry.payload {
                        let _ = scratch.apply(i as u64 + 1, &data[..]);
                    }
                }
            }
            _ => {}
        },
    }
}

/// A well-formed connection: this cluster's `Hello` from node 2, then `frames` (each encoded
/// as a real peer would), for seed corpora and tests.
pub fn connection(frames: &[Wire]) -> Vec<u8> {
    let mut out = Hello::ours(identity(), 2).encode().to_vec();
    for wire in frames {
        frame::encode(wire, &mut out);
    }
    out
}
