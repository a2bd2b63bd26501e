//! The accept loop's rules, against real sockets: handshake, frame binding, idle timeout, byte
//! budget.

use std::sync::atomic::Ordering::Relaxed;

use raftorch_core::raft::{Message, MessageBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

fn heartbeat(from: NodeId, to: NodeId) -> Wire {
    Wire::raft(Message {
        from,
        to,
        term: 1,
        body: MessageBody::Heartbeat { commit: 0, seq: 0 },
    })
}

/// Node 1 of cluster "t" accepting on a fresh port.
struct Node {
    addr: SocketAddr,
    inbox: mpsc::Receiver<Received>,
    metrics: Arc<Metrics>,
    identity: Arc<ClusterIdentity>,
    _dir: tempfile::TempDir,
}

async fn node(budget: usize, idle: Duration) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let identity = Arc::new(ClusterIdentity::resolve(dir.path(), Some("t"), &[1, 2]).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, inbox) = mpsc::channel(1000);
    let metrics = Arc::new(Metrics::default());
    let inbound = Inbound::new(1, identity.clone(), tx, metrics.clone()).with_limits(budget, idle);
    tokio::spawn(serve(listener, inbound));
    Node {
        addr,
        inbox,
        metrics,
        identity,
        _dir: dir,
    }
}

/// Connects as node 2 with `hello`; the answer, if the node gave one.
async fn connect(addr: SocketAddr, hello: Hello) -> (TcpStream, Option<Hello>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&hello.encode()).await.unwrap();
    let answer = timeout(Duration::from_secs(5), Hello::read(&mut s))
        .await
        .unwrap()
        .ok();
    (s, answer)
}

/// Whether the node closed `s` within `within` (rather than leaving it open).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(timeout(within, s.read(&mut byte)).await, Ok(Ok(0) | Err(_)))
}

#[test]
fn only_frames_from_the_peer_to_this_node_are_bound() {
    assert!(bound_to(&heartbeat(2, 1), 2, 1));
    assert!(!bound_to(&heartbeat(3, 1), 2, 1), "forged sender");
    assert!(!bound_to(&heartbeat(2, 3), 2, 1), "for another node");
    let mut envelope_lies = heartbeat(3, 1);
    envelope_lies.from = 2;
    assert!(!bound_to(&envelope_lies, 2, 1), "inner sender differs");
}

#[tokio::test]
async fn another_cluster_is_refused_and_forged_frames_are_dropped() {
    let mut n = node(INBOX_BYTES, IDLE_TIMEOUT).await;
    let other_dir = tempfile::tempdir().unwrap();
    let other = ClusterIdentity::resolve(other_dir.path(), Some("u"), &[1, 2]).unwrap();
    let (mut s, answer) = connect(n.addr, Hello::ours(&other, 2)).await;
    assert_eq!(answer, None, "no answer to another cluster");
    assert!(closed_within(&mut s, Duration::from_secs(5)).await);
    assert_eq!(n.metrics.peer_handshakes_refused.load(Relaxed), 1);

    let (mut s, answer) = connect(n.addr, Hello::ours(&n.identity, 2)).await;
    assert_eq!(answer.map(|h| h.node), Some(1));
    let mut bytes = Vec::new();
    frame::encode(&heartbeat(3, 1), &mut bytes); // claims another sender
    frame::encode(&heartbeat(2, 4), &mut bytes); // for another node
    frame::encode(&heartbeat(2, 1), &mut bytes); // fine
    s.write_all(&bytes).await.unwrap();
    let got = timeout(Duration::from_secs(5), n.inbox.recv())
        .await
        .unwrap();
    assert_eq!(got.unwrap().wire, heartbeat(2, 1));
    assert_eq!(n.metrics.peer_frames_refused.load(Relaxed), 2);
    assert!(
        n.inbox.try_recv().is_err(),
        "the forged frames never reached the node"
    );
}

#[tokio::test]
async fn a_silent_connection_is_closed_and_keep_alives_hold_one_open() {
    let n = node(INBOX_BYTES, Duration::from_millis(300)).await;
    let (mut silent, _) = connect(n.addr, Hello::ours(&n.identity, 2)).await;
    let (mut alive, _) = connect(n.addr, Hello::ours(&n.identity, 2)).await;
    for _ in 0..10 {
        alive.write_all(&frame::KEEP_ALIVE).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed_within(&mut silent, Duration::from_millis(100)).await);
    assert!(!closed_within(&mut alive, Duration::from_millis(100)).await);
    assert_eq!(n.metrics.peer_idle_closed.load(Relaxed), 1);
    // A client that never says hello is closed too (after the handshake timeout; not waited
    // for here), and one that says something else at once.
    let mut stranger = TcpStream::connect(n.addr).await.unwrap();
    stranger
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut stranger, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn queued_bytes_are_bounded_and_reading_resumes_as_the_node_steps() {
    let mut n = node(10_000, IDLE_TIMEOUT).await;
    let (mut s, _) = connect(n.addr, Hello::ours(&n.identity, 2)).await;
    let forward = |request| Wire {
        from: 2,
        to: 1,
        message: PeerMessage::Forward {
            request,
            data: vec![7; 4000],
            traceparent: None,
        },
    };
    let mut bytes = Vec::new();
    for request in 0..5 {
        frame::encode(&forward(request), &mut bytes);
    }
    s.write_all(&bytes).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Two frames of ~4 KB fit in 10 KB; the third waits for budget.
    let first = n.inbox.try_recv().unwrap();
    let _second = n.inbox.try_recv().unwrap();
    assert!(n.inbox.try_recv().is_err(), "over the byte budget");
    drop(first);
    let third = timeout(Duration::from_secs(5), n.inbox.recv())
        .await
        .unwrap();
    assert_eq!(third.unwrap().wire, forward(2));
}
