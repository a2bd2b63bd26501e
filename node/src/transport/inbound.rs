//! The accept loop: a handshake on each connection, then frames handed to the node.
//!
//! What a connection must do to stay open:
//! - send a [`Hello`] of this cluster and protocol version within [`HANDSHAKE_TIMEOUT`];
//! - then send a frame (a keep-alive at least) every [`IDLE_TIMEOUT`];
//! - send only frames from the node its `Hello` named to this node; others are dropped and
//!   counted (`raftorch_peer_frames_refused_total`), the connection stays;
//! - speak the frame format: a protocol error (oversized frame, bad version, undecodable bytes)
//!   drops that connection only.
//!
//! With TLS ([`Inbound::with_tls`]) a connection must first complete a TLS handshake with a
//! client certificate the CA signed, and that certificate must name the node its `Hello`
//! claims; otherwise it is dropped, logged and counted (`raftorch_peer_tls_refused_total`).
//!
//! Queued messages hold a share of a byte budget ([`INBOX_BYTES`]) until the owner task steps
//! them; while the budget is spent, connections are not read, so TCP flow control pushes back on
//! the senders (whose queues then drop: Raft retransmits).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use raftorch_core::engine::PeerMessage;
use raftorch_core::raft::NodeId;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::time::timeout;

use super::frame::{self, FrameError};
use super::handshake::{self, Hello};
use super::tls_wrap::{PeerCert, PeerStream, PeerTls};
use super::{Received, Wire};
use crate::cluster_id::ClusterIdentity;
use crate::metrics::Metrics;

/// How long a new connection has to send its `Hello`.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that sends no frame for this long is closed (senders keep-alive every third of
/// it; a leader heartbeats far more often).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of received frames queued for the owner task, over all connections.
pub const INBOX_BYTES: usize = 128 << 20;

/// What every connection of the accept loop shares.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// This node.
    pub me: NodeId,
    /// Its cluster id (learned here by a joining node).
    pub identity: Arc<ClusterIdentity>,
    /// The owner task's inbox.
    pub inbox: mpsc::Sender<Received>,
    /// The inbox's byte budget: one permit per byte.
    budget: Arc<Semaphore>,
    /// Its size.
    budget_bytes: usize,
    /// How long a connection may stay silent.
    idle: Duration,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Mutual TLS on every connection, when on.
    tls: Option<Arc<PeerTls>>,
}

impl Inbound {
    /// The shared state of an accept loop: an [`INBOX_BYTES`] budget, an [`IDLE_TIMEOUT`].
    pub fn new(
        me: NodeId,
        identity: Arc<ClusterIdentity>,
        inbox: mpsc::Sender<Received>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Inbound {
            me,
            identity,
            inbox,
            budget: Arc::new(Semaphore::new(INBOX_BYTES)),
            budget_bytes: INBOX_BYTES,
            idle: IDLE_TIMEOUT,
            metrics,
            tls: None,
        }
    }

    /// The same, requiring mutual TLS (`None`: plain TCP).
    pub fn with_tls(mut self, tls: Option<Arc<PeerTls>>) -> Self {
        self.tls = tls;
        self
    }

    /// The same with other limits (tests).
    pub fn with_limits(mut self, budget_bytes: usize, idle: Duration) -> Self {
        self.budget = Arc::new(Semaphore::new(budget_bytes));
        self.budget_bytes = budget_bytes;
        self.idle = idle;
        self
    }
}

/// Accepts peer connections on `listener` forever.
pub async fn serve(listener: TcpListener, inbound: Inbound) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let inbound = inbound.clone();
                tokio::spawn(async move { inbound.connection(stream, remote).await });
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Why a connection ended early.
enum End {
    Frame(FrameError),
    Idle,
}

impl Inbound {
    async fn connection(&self, stream: TcpStream, remote: SocketAddr) {
        let _ = stream.set_nodelay(true);
        match &self.tls {
            None => self.session(Box::new(stream), None, remote).await,
            Some(tls) => match tls.accept(stream).await {
                Ok((stream, cert)) => self.session(stream, Some(cert), remote).await,
                Err(e) => self.refuse_tls(remote, &e),
            },
        }
    }

    /// Logs and counts a connection TLS refused (plain TCP, no or an untrusted certificate, or
    /// one that does not name the node the handshake claims).
    fn refuse_tls(&self, remote: SocketAddr, why: &str) {
        Metrics::inc(&self.metrics.peer_tls_refused);
        tracing::warn!(%remote, "refusing peer connection: {why}");
    }

    /// The handshake and then the frames, over a plain or TLS stream (`cert`: the client
    /// certificate TLS verified).
    async fn session(&self, stream: PeerStream, cert: Option<PeerCert>, remote: SocketAddr) {
        let mut reader = BufReader::with_capacity(64 << 10, stream);
        let hello = match timeout(HANDSHAKE_TIMEOUT, Hello::read(&mut reader)).await {
            Ok(Ok(hello)) => hello,
            Ok(Err(refusal)) => return self.refuse(remote, &refusal),
            Err(_) => return self.refuse(remote, &handshake::Refusal::Io("timed out".into())),
        };
        let proven = match (&self.tls, &cert) {
            (None, _) => Ok(()),
            (Some(_), Some(cert)) => cert.check(hello.node),
            (Some(_), None) => Err("no client certificate".to_owned()),
        };
        if let Err(why) = proven {
            return self.refuse_tls(remote, &why);
        }
        if let Err(refusal) = handshake::admit(&self.identity, self.me, &hello) {
            return self.refuse(remote, &refusal);
        }
        let answer = Hello::ours(&self.identity, self.me).encode();
        let writer = reader.get_mut();
        if let Err(e) = async {
            writer.write_all(&answer).await?;
            writer.flush().await
        }
        .await
        {
            tracing::debug!(%remote, error = %e, "peer left during the handshake");
            return;
        }
        tracing::debug!(%remote, peer = hello.node, "peer connection accepted");
        match self.read_frames(&mut reader, hello.node).await {
            Ok(()) => {}
            Err(End::Idle) => {
                Metrics::inc(&self.metrics.peer_idle_closed);
                tracing::info!(%remote, peer = hello.node, "closing a silent peer connection");
            }
            Err(End::Frame(e)) => {
                if !matches!(e, FrameError::Io(_)) {
                    Metrics::inc(&self.metrics.bad_frames);
                }
                tracing::warn!(%remote, peer = hello.node, error = %e, "dropping peer connection");
            }
        }
    }

    /// Logs and counts a refused handshake (a dropped socket or a stray probe is not worth a
    /// warning: only a peer that spoke and was refused is).
    fn refuse(&self, remote: SocketAddr, refusal: &handshake::Refusal) {
        Metrics::inc(&self.metrics.peer_handshakes_refused);
        match refusal {
            handshake::Refusal::Io(e) => {
                tracing::debug!(%remote, error = %e, "peer connection without a handshake")
            }
            _ => tracing::warn!(%remote, "refusing peer connection: {refusal}"),
        }
    }

    /// Hands frames from `peer` to the owner task until the connection ends.
    async fn read_frames(
        &self,
        reader: &mut BufReader<PeerStream>,
        peer: NodeId,
    ) -> Result<(), End> {
        let mut refused = 0u64;
        loop {
            let len = match timeout(self.idle, frame::read_len(reader)).await {
                Err(_) => return Err(End::Idle),
                Ok(Err(e)) => return Err(End::Frame(e)),
                Ok(Ok(None)) => return Ok(()),
                Ok(Ok(Some(0))) => continue, // keep-alive
                Ok(Ok(Some(len))) => len,
            };
            // Reserve the frame's bytes before reading it: memory for frames in flight is
            // bounded too, not only the queue.
            let cost = u32::try_from((len as usize).min(self.budget_bytes)).unwrap_or(u32::MAX);
            let Ok(permit) = self.budget.clone().acquire_many_owned(cost).await else {
                return Ok(()); // closed: never
            };
            let wire = match timeout(self.idle, frame::read_body(reader, len)).await {
                Err(_) => return Err(End::Idle),
                Ok(Err(e)) => return Err(End::Frame(e)),
                Ok(Ok(wire)) => wire,
            };
            if !bound_to(&wire, peer, self.me) {
                Metrics::inc(&self.metrics.peer_frames_refused);
                refused += 1;
                if refused == 1 {
                    tracing::warn!(
                        peer,
                        from = wire.from,
                        to = wire.to,
                        "dropping a frame not from this connection's peer to this node \
                         (later ones are only counted)"
                    );
                }
                continue;
            }
            Metrics::inc(&self.metrics.messages_received);
            let received = Received {
                wire,
                _budget: Some(permit),
            };
            if self.inbox.send(received).await.is_err() {
                return Ok(()); // the node is shutting down
            }
        }
    }
}

/// Whether `wire` is from the connection's `peer` to `me`, on the envelope and inside.
pub fn bound_to(wire: &Wire, peer: NodeId, me: NodeId) -> bool {
    let inner = match &wire.message {
        PeerMessage::Raft(m) => m.from == peer && m.to == me,
        PeerMessage::Forward { .. }
        | PeerMessage::ForwardReply { .. }
        | PeerMessage::SnapshotChunk(_)
        | PeerMessage::SnapshotAck(_) => true,
    };
    wire.from == peer && wire.to == me && inner
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;
