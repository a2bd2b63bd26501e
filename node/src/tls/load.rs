//! Reading PEM certificates and keys, with errors that name the file.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Every certificate in the PEM file at `path` (at least one).
pub(super) fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{shown}: no certificate in it (expected PEM)"));
    }
    Ok(certs)
}

/// The private key in the PEM file at `path`.
pub(super) fn key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| format!("{shown}: no private key: {e}"))
}
