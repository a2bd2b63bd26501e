//! How a certificate names a node: a DNS subject alternative name `node-N.raftorch` (checked
//! with webpki's own name matching, the code rustls verifies server names with), written by
//! `raftorch certs` beside a `raftorch://node/N` URI and the common name `raftorch node N` for
//! people reading the certificate. The client certificate names no node, so it cannot be used
//! on the peer port.

use raftorch_core::raft::NodeId;
use rustls_pki_types::{CertificateDer, DnsName, ServerName};

/// The DNS name that stands for node `id` in certificates and in peer connections' SNI.
pub fn node_name(id: NodeId) -> String {
    format!("node-{id}.raftorch")
}

/// [`node_name`] as a TLS server name (what an outbound peer connection verifies); `None`
/// never happens for a real id ("node-<digits>.raftorch" is a valid DNS name).
pub fn node_server_name(id: NodeId) -> Option<ServerName<'static>> {
    DnsName::try_from(node_name(id))
        .ok()
        .map(ServerName::DnsName)
}

/// Whether `cert` (an end-entity certificate, already verified against the CA) names node `id`.
pub fn cert_names_node(cert: &CertificateDer<'_>, id: NodeId) -> bool {
    let Ok(parsed) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    node_server_name(id).is_some_and(|name| parsed.verify_is_valid_for_subject_name(&name).is_ok())
}

/// The node ids `cert` names (for log lines: a mismatch says which node the certificate is).
pub fn nodes_named(cert: &CertificateDer<'_>) -> Vec<NodeId> {
    let Ok(parsed) = webpki::EndEntityCert::try_from(cert) else {
        return Vec::new();
    };
    parsed
        .valid_dns_names()
        .filter_map(|n| {
            n.strip_prefix("node-")?
                .strip_suffix(".raftorch")?
                .parse()
                .ok()
        })
        .collect()
}
