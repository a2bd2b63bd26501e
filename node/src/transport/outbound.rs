//! One outbound connection to a peer: connect, handshake, stream frames from the queue (a
//! keep-alive when there has been nothing to send for a while), reconnect with exponential
//! backoff when anything fails. With TLS the connection is wrapped first (the server's
//! certificate must name the node dialled, see `tls_wrap`), then handshakes as usual.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use raftorch_core::raft::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::handshake::{self, Hello, Refusal};
use super::inbound::{HANDSHAKE_TIMEOUT, IDLE_TIMEOUT};
use super::tls_wrap::{PeerStream, PeerTls};
use super::{frame, QueuedFrame};
use crate::cluster_id::ClusterIdentity;

const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Bytes gathered from the queue into one write.
const WRITE_BATCH: usize = 256 << 10;
/// A keep-alive goes out when nothing else did for this long (well inside the peer's
/// [`IDLE_TIMEOUT`]).
const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(IDLE_TIMEOUT.as_secs() / 3);

/// Who is sending: this node and its cluster identity.
#[derive(Clone, Debug)]
pub struct Sender {
    /// This node.
    pub me: NodeId,
    /// Its cluster id, sent in every handshake (and learned from a peer's answer if unknown).
    pub identity: Arc<ClusterIdentity>,
    /// Mutual TLS around every connection, when on.
    pub tls: Option<Arc<PeerTls>>,
}

/// Why a connection attempt failed.
#[derive(Debug)]
enum ConnectError {
    /// The handshake (or the socket before it).
    Handshake(Refusal),
    /// TLS: the peer's certificate is untrusted or names another node, or the peer refused
    /// ours.
    Tls(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Handshake(r) => r.fmt(f),
            Self::Tls(e) => f.write_str(e),
        }
    }
}

impl From<Refusal> for ConnectError {
    fn from(r: Refusal) -> Self {
        ConnectError::Handshake(r)
    }
}

/// Spawns the task that delivers `queue` to peer `id` at `addr`; it ends when the queue closes.
pub fn spawn_peer(sender: Sender, id: NodeId, addr: String, queue: mpsc::Receiver<QueuedFrame>) {
    tokio::spawn(run(sender, id, addr, queue));
}

async fn run(sender: Sender, id: NodeId, addr: String, mut queue: mpsc::Receiver<QueuedFrame>) {
    let mut backoff = MIN_BACKOFF;
    let mut refused_before = false;
    loop {
        let stream = match connect(&sender, id, &addr).await {
            Ok(s) => s,
            Err(e) => {
                // A refusal is worth one warning per run of them; a peer that is down is not.
                let quiet = matches!(e, ConnectError::Handshake(Refusal::Io(_)));
                if !quiet && !refused_before {
                    tracing::warn!(peer = id, %addr, "peer refused: {e}");
                }
                refused_before |= !quiet;
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
        tracing::info!(peer = id, %addr, "connected to peer");
        backoff = MIN_BACKOFF;
        refused_before = false;
        match stream_to(stream, &mut queue).await {
            Ok(()) => return,
            Err(e) => tracing::info!(peer = id, %addr, error = %e, "peer connection lost"),
        }
    }
}

/// Connects and handshakes: the peer must answer with a `Hello` of this cluster and of node
/// `id`.
async fn connect(sender: &Sender, id: NodeId, addr: &str) -> Result<PeerStream, ConnectError> {
    let io = |e: io::Error| Refusal::Io(e.to_string());
    // Resolved on every attempt: a name that moved is dialled at its new address.
    let targets = super::resolve::lookup(addr).await.map_err(io)?;
    let tcp = TcpStream::connect(&targets[..]).await.map_err(io)?;
    let _ = tcp.set_nodelay(true);
    let mut stream: PeerStream = match &sender.tls {
        None => Box::new(tcp),
        Some(tls) => tls.connect(tcp, id).await.map_err(ConnectError::Tls)?,
    };
    let hello = Hello::ours(&sender.identity, sender.me).encode();
    stream.write_all(&hello).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, Hello::read(&mut stream))
        .await
        .map_err(|_| Refusal::Io("no handshake answer in time".into()))?
        .map_err(|e| match e {
            Refusal::Io(_) => Refusal::Closed,
            other => other,
        })?;
    if answer.node != id {
        return Err(Refusal::WrongNode { node: answer.node }.into());
    }
    handshake::admit(&sender.identity, sender.me, &answer)?;
    Ok(stream)
}

/// Writes queued messages until the queue closes (`Ok`) or the socket fails or the peer closes
/// it (`Err`).
async fn stream_to(stream: PeerStream, queue: &mut mpsc::Receiver<QueuedFrame>) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 << 10);
    let (mut read, mut write) = tokio::io::split(stream);
    let mut keep_alive = tokio::time::interval(KEEP_ALIVE_EVERY);
    keep_alive.reset();
    let mut wrote = false;
    let mut probe = [0u8; 1];
    loop {
        // A batch lost with a failed socket is not retried: Raft resends what matters.
        let first = tokio::select! {
            m = queue.recv() => match m {
                Some(m) => m,
                None => return Ok(()),
            },
            _ = keep_alive.tick() => {
                if !std::mem::take(&mut wrote) {
                    write.write_all(&frame::KEEP_ALIVE).await?;
                    write.flush().await?;
                }
                continue;
            }
            // The peer never writes after its handshake: a read ending means it closed.
            r = read.read(&mut probe) => {
                let why = match r {
                    Ok(0) => "closed by the peer".to_owned(),
                    Ok(_) => "unexpected bytes from the peer".to_owned(),
                    Err(e) => e.to_string(),
                };
                return Err(io::Error::new(io::ErrorKind::ConnectionAborted, why));
            }
        };
        buf.clear();
        buf.extend_from_slice(&first.bytes);
        drop(first);
        while buf.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(m) => buf.extend_from_slice(&m.bytes),
                Err(_) => break,
            }
        }
        write.write_all(&buf).await?;
        // TLS buffers what it encrypts: push it out now (a no-op on plain TCP).
        write.flush().await?;
        wrote = true;
    }
}
