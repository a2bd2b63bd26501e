//! One outbound connection to a peer: connect, stream frames from the queue, reconnect with
//! exponential backoff when anything fails.

use std::time::Duration;

use raftorch_core::raft::NodeId;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{frame, Wire};

const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Bytes gathered from the queue into one write.
const WRITE_BATCH: usize = 256 << 10;

/// Spawns the task that delivers `queue` to peer `id` at `addr`; it ends when the queue closes.
pub fn spawn_peer(id: NodeId, addr: String, queue: mpsc::Receiver<Wire>) {
    tokio::spawn(run(id, addr, queue));
}

async fn run(id: NodeId, addr: String, mut queue: mpsc::Receiver<Wire>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let stream = match TcpStream::connect(&addr).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(peer = id, %addr, error = %e, ?backoff, "connect failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                // What queued while the peer was away is stale; Raft resends what matters.
                while queue.try_recv().is_ok() {}
                if queue.is_closed() {
                    return;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tracing::info!(peer = id, %addr, "connected to peer");
        backoff = MIN_BACKOFF;
        match stream_to(stream, &mut queue).await {
            Ok(()) => return,
            Err(e) => tracing::info!(peer = id, %addr, error = %e, "peer connection lost"),
        }
    }
}

/// Writes queued messages until the queue closes (`Ok`) or the socket fails (`Err`).
async fn stream_to(mut stream: TcpStream, queue: &mut mpsc::Receiver<Wire>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(64 << 10);
    loop {
        // A batch lost with a failed socket is not retried: Raft resends what matters.
        let Some(first) = queue.recv().await else {
            return Ok(());
        };
        buf.clear();
        frame::encode(&first, &mut buf);
        while buf.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(m) => frame::encode(&m, &mut buf),
                Err(_) => break,
            }
        }
        stream.write_all(&buf).await?;
    }
}
