//! `raftorch certs --dir DIR --nodes 1,2,3 [--host NAME ...]`: a CA and the certificates a
//! TLS cluster needs, as Consul's `consul tls ca create` / `cert create` in one step:
//! `ca.pem`/`ca-key.pem`, `node-N.pem`/`node-N-key.pem` for each node (naming node N as
//! `node-N.raftorch` and `raftorch://node/N`, plus every `--host`, by default `localhost` and
//! `127.0.0.1`, for the API), and `client.pem`/`client-key.pem`, a client certificate that
//! names no node. Keys are written owner-only (0600).
//!
//! Run again into a directory that holds `ca.pem` and `ca-key.pem` (from an earlier run), it
//! issues only the new nodes' certificates, signed by that CA: how a node joins a running TLS
//! cluster.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

use crate::tls::node_name;

/// Options of `raftorch certs`.
#[derive(Debug, Clone, Args)]
pub struct CertsArgs {
    /// Where to write the files (created if missing; existing files are not overwritten).
    /// When it already holds `ca.pem` and `ca-key.pem`, only the `--nodes` certificates are
    /// written, signed by that CA.
    #[arg(long)]
    pub dir: PathBuf,
    /// The node ids to issue certificates for, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub nodes: Vec<u64>,
    /// A host name or IP address the nodes' APIs are reached at (repeat). Default: localhost
    /// and 127.0.0.1.
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Years the certificates stay valid.
    #[arg(long, default_value_t = 10)]
    pub years: u16,
}

/// Runs `raftorch certs`; returns the exit code.
pub(super) fn run(args: &CertsArgs) -> i32 {
    match write_all(args) {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("raftorch certs: {e}");
            1
        }
    }
}

/// The calendar year now (UTC), for validity periods; the next 1 January is plenty exact.
fn this_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    1970 + i32::try_from(secs / 31_556_952).unwrap_or(0)
}

fn validity(params: &mut CertificateParams, years: u16) {
    let year = this_year();
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + i32::from(years), 1, 1);
}

fn name(common: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "raftorch");
    dn.push(DnType::CommonName, common);
    dn
}

/// Writes every file into `args.dir`; the paths written.
pub fn write_all(args: &CertsArgs) -> Result<Vec<PathBuf>, String> {
    if args.nodes.is_empty() || args.nodes.contains(&0) {
        return Err("--nodes needs positive node ids, e.g. --nodes 1,2,3".into());
    }
    if args.years == 0 || args.years > 100 {
        return Err("--years must be within 1..=100".into());
    }
    let hosts = if args.hosts.is_empty() {
        vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
    } else {
        args.hosts.clone()
    };
    let dir = &args.dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let ca_path = dir.join("ca.pem");
    let existing_ca = ca_path.exists() || dir.join("ca-key.pem").exists();
    let mut names: Vec<String> = args
        .nodes
        .iter()
        .map(|id| format!("node-{id}.pem"))
        .collect();
    if !existing_ca {
        names.extend(["ca.pem".to_owned(), "client.pem".to_owned()]);
    }
    for n in &names {
        if dir.join(n).exists() {
            return Err(format!(
                "{} exists; refusing to overwrite certificates (use another --dir)",
                dir.join(n).display()
            ));
        }
    }
    let err = |e: rcgen::Error| format!("cannot make a certificate: {e}");

    let mut written = Vec::new();
    let (ca, ca_key) = if existing_ca {
        existing_ca_of(dir, args.years)?
    } else {
        let ca_key = KeyPair::generate().map_err(err)?;
        let ca = ca_params(args.years).self_signed(&ca_key).map_err(err)?;
        write_pair(dir, "ca", &ca, &ca_key, &mut written)?;
        (ca, ca_key)
    };
    for &id in &args.nodes {
        let mut sans = vec![node_name(id)];
        sans.extend(hosts.iter().cloned());
        let mut params = CertificateParams::new(sans).map_err(|e| format!("--host: {e}"))?;
        let uri = format!("raftorch://node/{id}");
        params
            .subject_alt_names
            .push(SanType::URI(uri.as_str().try_into().map_err(err)?));
        params.distinguished_name = name(&format!("raftorch node {id}"));
        // Server on both ports, client of its peers and of their APIs.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        validity(&mut params, args.years);
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &ca, &ca_key).map_err(err)?;
        if existing_ca {
            crate::tls::check_node_cert_issued_by(&ca_path, cert.der(), id).map_err(|e| {
                format!(
                    "{} with ca-key.pem is not a CA made by raftorch certs, so node {id}'s \
                     certificate cannot be issued here ({e}); use the tool that made that CA",
                    ca_path.display()
                )
            })?;
        }
        write_pair(dir, &format!("node-{id}"), &cert, &key, &mut written)?;
    }
    if existing_ca {
        return Ok(written);
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = name("raftorch client");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut params, args.years);
    let key = KeyPair::generate().map_err(err)?;
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(err)?;
    write_pair(dir, "client", &cert, &key, &mut written)?;
    Ok(written)
}

/// The parameters of the CA this tool makes (fixed: its subject and key identify it).
fn ca_params(years: u16) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = name("raftorch CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, years);
    params
}

/// The CA an earlier run left in `dir`, as an issuer. rcgen signs with an issuer certificate:
/// this tool's CA parameters self-signed again with `ca-key.pem` carry the same subject and key
/// identifier as `ca.pem`, so what they sign chains to `ca.pem` (checked for each certificate).
fn existing_ca_of(dir: &Path, years: u16) -> Result<(Certificate, KeyPair), String> {
    let key_path = dir.join("ca-key.pem");
    if !dir.join("ca.pem").exists() {
        return Err(format!(
            "{} exists without ca.pem beside it",
            key_path.display()
        ));
    }
    let pem = std::fs::read_to_string(&key_path).map_err(|e| {
        format!(
            "{}: {e} (issuing certificates for new nodes needs the CA's key)",
            key_path.display()
        )
    })?;
    let key = KeyPair::from_pem(&pem).map_err(|e| format!("{}: {e}", key_path.display()))?;
    let ca = ca_params(years)
        .self_signed(&key)
        .map_err(|e| format!("cannot use the CA key: {e}"))?;
    Ok((ca, key))
}

/// Writes `NAME.pem` (readable) and `NAME-key.pem` (owner-only).
fn write_pair(
    dir: &Path,
    name: &str,
    cert: &Certificate,
    key: &KeyPair,
    written: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    write_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    write_file(&key_path, key.serialize_pem().as_bytes(), 0o600)?;
    written.push(cert_path);
    written.push(key_path);
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{NodeTls, TlsFiles};

    #[test]
    fn certs_load_as_node_tls_and_name_their_node() {
        let dir = tempfile::tempdir().unwrap();
        let args = CertsArgs {
            dir: dir.path().join("certs"),
            nodes: vec![1, 2],
            hosts: vec![],
            years: 1,
        };
        let written = write_all(&args).unwrap();
        assert_eq!(written.len(), 8);
        let d = &args.dir;
        let files = |id: u64| TlsFiles {
            ca: d.join("ca.pem"),
            cert: d.join(format!("node-{id}.pem")),
            key: d.join(format!("node-{id}-key.pem")),
        };
        NodeTls::load(&files(1), 1).unwrap();
        NodeTls::load(&files(2), 2).unwrap();
        let wrong = NodeTls::load(&files(2), 3).unwrap_err();
        assert!(wrong.contains("not a certificate for node 3"), "{wrong}");
        assert!(wrong.contains("[2]"), "{wrong}");
        let client = TlsFiles {
            cert: d.join("client.pem"),
            key: d.join("client-key.pem"),
            ..files(1)
        };
        assert!(NodeTls::load(&client, 1)
            .unwrap_err()
            .contains("names no node"));
        use std::os::unix::fs::PermissionsExt;
        for f in ["ca-key.pem", "node-1-key.pem", "client-key.pem"] {
            let mode = std::fs::metadata(d.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}: {mode:o}");
        }
        // A second run into the same directory refuses to overwrite.
        assert!(write_all(&args)
            .unwrap_err()
            .contains("refusing to overwrite"));
    }

    #[test]
    fn a_second_run_issues_new_nodes_from_the_existing_ca() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("certs");
        let first = |nodes: Vec<u64>| CertsArgs {
            dir: d.clone(),
            nodes,
            hosts: vec![],
            years: 1,
        };
        write_all(&first(vec![1, 2, 3])).unwrap();
        let ca_before = std::fs::read(d.join("ca.pem")).unwrap();
        let written = write_all(&first(vec![4])).unwrap();
        assert_eq!(written, [d.join("node-4.pem"), d.join("node-4-key.pem")]);
        assert_eq!(
            std::fs::read(d.join("ca.pem")).unwrap(),
            ca_before,
            "CA kept"
        );
        // Node 4's certificate chains to the original CA, as its peers check it.
        let files = TlsFiles {
            ca: d.join("ca.pem"),
            cert: d.join("node-4.pem"),
            key: d.join("node-4-key.pem"),
        };
        NodeTls::load(&files, 4).unwrap();
        use rustls_pki_types::pem::PemObject as _;
        let der = rustls_pki_types::CertificateDer::from_pem_file(&files.cert).unwrap();
        crate::tls::check_node_cert_issued_by(&files.ca, &der, 4).unwrap();
        assert!(crate::tls::check_node_cert_issued_by(&files.ca, &der, 5).is_err());
        // A node already issued is refused, and a CA this tool did not make is refused.
        assert!(write_all(&first(vec![4]))
            .unwrap_err()
            .contains("refusing to overwrite"));
        let other = tempfile::tempdir().unwrap();
        let o = other.path().to_path_buf();
        write_all(&CertsArgs {
            dir: o.clone(),
            ..first(vec![1])
        })
        .unwrap();
        std::fs::copy(d.join("ca-key.pem"), o.join("ca-key.pem.theirs")).unwrap();
        std::fs::rename(o.join("ca-key.pem.theirs"), o.join("ca-key.pem")).unwrap();
        let e = write_all(&CertsArgs {
            dir: o,
            ..first(vec![2])
        })
        .unwrap_err();
        assert!(e.contains("not a CA made by raftorch certs"), "{e}");
    }
}
