//! TLS for both ports, from one CA: mutual TLS between peers (each side verifies the other's
//! chain against the CA, and the certificate must name the node id its handshake claims), and
//! HTTPS on the client API (client certificates optional, verified against the CA when
//! presented). The node's own HTTP calls to other nodes trust the same CA and present the
//! node's certificate.
//!
//! rustls with the `ring` provider, set explicitly on every config, so nothing depends on a
//! process-wide default.

pub mod identity;
mod load;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::{TlsAcceptor, TlsConnector};

pub use identity::{cert_names_node, node_name, node_server_name, nodes_named};

/// The three files `--tls-ca`, `--tls-cert` and `--tls-key` name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA certificate(s) every peer and client certificate must chain to (PEM).
    pub ca: PathBuf,
    /// This node's certificate chain (PEM), as `raftorch certs` writes it (`node-N.pem`).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

impl TlsFiles {
    /// All three or none: `Ok(None)` for none, an error naming what is missing otherwise.
    pub fn from_parts(
        ca: Option<PathBuf>,
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    ) -> Result<Option<TlsFiles>, String> {
        match (ca, cert, key) {
            (None, None, None) => Ok(None),
            (Some(ca), Some(cert), Some(key)) => Ok(Some(TlsFiles { ca, cert, key })),
            (ca, cert, key) => {
                let missing: Vec<&str> = [
                    (ca.is_none(), "--tls-ca"),
                    (cert.is_none(), "--tls-cert"),
                    (key.is_none(), "--tls-key"),
                ]
                .into_iter()
                .filter_map(|(m, name)| m.then_some(name))
                .collect();
                Err(format!(
                    "TLS needs --tls-ca, --tls-cert and --tls-key together; missing {}",
                    missing.join(" and ")
                ))
            }
        }
    }
}

/// Everything a node needs to speak TLS, loaded and checked once at start.
#[derive(Clone)]
pub struct NodeTls {
    /// Accepts peers: a client certificate chaining to the CA is required.
    pub peer_acceptor: TlsAcceptor,
    /// Connects to peers (and the HTTP client): trusts the CA, presents this node's certificate.
    pub client: Arc<ClientConfig>,
    /// Serves the API: client certificates optional, verified when presented.
    pub api_acceptor: TlsAcceptor,
}

impl fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeTls")
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A store holding the certificates of `ca` (at least one).
fn roots(ca: &[CertificateDer<'static>], what: &str) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for cert in ca {
        roots
            .add(cert.clone())
            .map_err(|e| format!("{what}: not a usable CA certificate: {e}"))?;
    }
    Ok(Arc::new(roots))
}

impl NodeTls {
    /// Loads the files; every failure says which file and why.
    pub fn load(files: &TlsFiles, me: raftorch_core::raft::NodeId) -> Result<NodeTls, String> {
        let ca = load::certs(&files.ca)?;
        let chain = load::certs(&files.cert)?;
        let key = load::key(&files.key)?;
        if !cert_names_node(&chain[0], me) {
            let named = nodes_named(&chain[0]);
            return Err(format!(
                "{} is not a certificate for node {me} (it names {}); use node-{me}.pem from \
                 `raftorch certs`",
                files.cert.display(),
                if named.is_empty() {
                    "no node".to_owned()
                } else {
                    format!("node {named:?}")
                }
            ));
        }
        let roots = roots(&ca, &files.ca.display().to_string())?;
        let peer_acceptor =
            TlsAcceptor::from(Arc::new(server_config(&roots, &chain, &key, false, files)?));
        let api_acceptor =
            TlsAcceptor::from(Arc::new(server_config(&roots, &chain, &key, true, files)?));
        let client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key.clone_key())
            .map_err(|e| {
                format!(
                    "{} does not match {}: {e}",
                    files.key.display(),
                    files.cert.display()
                )
            })?;
        Ok(NodeTls {
            peer_acceptor,
            client: Arc::new(client),
            api_acceptor,
        })
    }

    /// The connector for peer connections.
    pub fn peer_connector(&self) -> TlsConnector {
        TlsConnector::from(self.client.clone())
    }
}

/// A server config presenting `chain`; client certificates required, or optional when
/// `optional_clients` (verified against `roots` either way).
fn server_config(
    roots: &Arc<RootCertStore>,
    chain: &[CertificateDer<'static>],
    key: &PrivateKeyDer<'static>,
    optional_clients: bool,
    files: &TlsFiles,
) -> Result<ServerConfig, String> {
    let mut verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider());
    if optional_clients {
        verifier = verifier.allow_unauthenticated();
    }
    let verifier = verifier
        .build()
        .map_err(|e| format!("{}: {e}", files.ca.display()))?;
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain.to_vec(), key.clone_key())
        .map_err(|e| {
            format!(
                "{} does not match {}: {e}",
                files.key.display(),
                files.cert.display()
            )
        })
}

/// Checks that `cert`, a node certificate, chains to the CA in `cacert` and names node `id`,
/// as a peer dialling that node would check it.
pub fn check_node_cert_issued_by(
    cacert: &std::path::Path,
    cert: &CertificateDer<'_>,
    id: raftorch_core::raft::NodeId,
) -> Result<(), String> {
    let ca = load::certs(cacert)?;
    let roots = roots(&ca, &cacert.display().to_string())?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| e.to_string())?;
    let name = node_server_name(id).ok_or_else(|| format!("no server name for node {id}"))?;
    rustls::client::danger::ServerCertVerifier::verify_server_cert(
        verifier.as_ref(),
        cert,
        &[],
        &name,
        &[],
        rustls_pki_types::UnixTime::now(),
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// A client config for tools (`ctl`, `bench`, the client library): trusts the CA in `cacert`,
/// presents no certificate.
pub fn client_trusting(cacert: &std::path::Path) -> Result<Arc<ClientConfig>, String> {
    let ca = load::certs(cacert)?;
    let roots = roots(&ca, &cacert.display().to_string())?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client config that trusts `cacert` and presents `cert`/`key` (tests, and tools given a
/// client certificate).
pub fn client_with_cert(files: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    let ca = load::certs(&files.ca)?;
    let chain = load::certs(&files.cert)?;
    let key = load::key(&files.key)?;
    let roots = roots(&ca, &files.ca.display().to_string())?;
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("{}: {e}", files.key.display()))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_three_files_or_none() {
        assert_eq!(TlsFiles::from_parts(None, None, None), Ok(None));
        let p = |s: &str| Some(PathBuf::from(s));
        assert!(TlsFiles::from_parts(p("a"), p("b"), p("c"))
            .unwrap()
            .is_some());
        assert_eq!(
            TlsFiles::from_parts(p("a"), None, None).unwrap_err(),
            "TLS needs --tls-ca, --tls-cert and --tls-key together; missing --tls-cert and \
             --tls-key"
        );
    }
}
