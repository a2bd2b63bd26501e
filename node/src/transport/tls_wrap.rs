//! Wrapping peer connections in mutual TLS, around the handshake rather than inside it: the
//! accepting side requires a client certificate that chains to the CA, the connecting side
//! verifies that the server's certificate names the node it meant to reach, and both then run
//! the plain [`handshake`](super::handshake) over the encrypted stream. What TLS adds to it is
//! one more check on the accepting side ([`PeerCert::check`]): the certificate must name the
//! node id the `Hello` claims, so a node's id is proven, not claimed.

use std::fmt;
use std::sync::Arc;

use raftorch_core::raft::NodeId;
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::inbound::HANDSHAKE_TIMEOUT;
use crate::metrics::Metrics;
use crate::tls::{cert_names_node, node_server_name, nodes_named};

/// A peer connection's byte stream: plain TCP or TLS over it.
pub trait PeerIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> PeerIo for T {}

/// A peer connection, plain or encrypted.
pub type PeerStream = Box<dyn PeerIo>;

/// The TLS side of a node's peer transport (cheap to clone).
#[derive(Clone)]
pub struct PeerTls {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    /// Where outbound refusals are counted (`peer_tls_refused`).
    metrics: Arc<Metrics>,
}

impl fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PeerTls")
    }
}

impl PeerTls {
    /// From the node's loaded TLS configuration.
    pub fn new(tls: &crate::tls::NodeTls, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(PeerTls {
            acceptor: tls.peer_acceptor.clone(),
            connector: tls.peer_connector(),
            metrics,
        })
    }

    /// The server side of the TLS handshake on an accepted connection; the stream and the
    /// client's (verified) certificate.
    pub(super) async fn accept(&self, tcp: TcpStream) -> Result<(PeerStream, PeerCert), String> {
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(tcp))
            .await
            .map_err(|_| "no TLS handshake in time".to_owned())?
            .map_err(|e| format!("TLS handshake failed: {e}"))?;
        let cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.clone().into_owned())
            .ok_or_else(|| "no client certificate".to_owned())?;
        Ok((Box::new(tls), PeerCert(cert)))
    }

    /// The client side, verifying that the server's certificate names node `id` (a failure is
    /// counted in `peer_tls_refused`).
    pub(super) async fn connect(&self, tcp: TcpStream, id: NodeId) -> Result<PeerStream, String> {
        let name = node_server_name(id).ok_or_else(|| format!("node id {id} has no TLS name"))?;
        let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.connector.connect(name, tcp))
            .await
            .map_err(|_| "no TLS handshake in time".to_owned())
            .and_then(|r| r.map_err(|e| format!("TLS handshake with node {id} failed: {e}")));
        match result {
            Ok(tls) => Ok(Box::new(tls)),
            Err(e) => {
                Metrics::inc(&self.metrics.peer_tls_refused);
                Err(e)
            }
        }
    }
}

/// The verified certificate an accepted TLS peer presented.
#[derive(Clone, Debug)]
pub(super) struct PeerCert(CertificateDer<'static>);

impl PeerCert {
    /// Whether the certificate names `claimed`, the node id of the peer's `Hello`; the refusal
    /// to log otherwise.
    pub(super) fn check(&self, claimed: NodeId) -> Result<(), String> {
        if cert_names_node(&self.0, claimed) {
            return Ok(());
        }
        let named = nodes_named(&self.0);
        Err(format!(
            "the peer's handshake claims node {claimed}, its certificate names {}",
            if named.is_empty() {
                "no node".to_owned()
            } else {
                format!("node {named:?}")
            }
        ))
    }
}
