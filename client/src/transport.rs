//! One HTTP attempt against one endpoint: the answer's status, raftorch headers and JSON body.

use core::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;

use crate::error::Error;

/// The header naming the leader node (`X-Raftorch-Leader: 3` or `none`).
pub const LEADER_HEADER: &str = "x-raftorch-leader";
/// The header with the log index an answer reflects.
pub const INDEX_HEADER: &str = "x-raftorch-index";
/// The exactly-once request id header (`CLIENT:SEQ`).
pub const REQUEST_ID_HEADER: &str = "x-raftorch-request-id";

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The leader the answering node knows (`X-Raftorch-Leader`).
    pub leader: Option<u64>,
    /// The index the answer reflects (`X-Raftorch-Index`).
    pub index: Option<u64>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<Duration>,
    /// The JSON body (`Null` when empty, a string when not JSON).
    pub body: Value,
}

/// A shared HTTP/1 connection pool (HTTPS too, for a client given the cluster's CA).
#[derive(Clone)]
pub(crate) struct Transport {
    client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// `Authorization: Bearer <token>` on every request, when the API needs a token.
    authorization: Option<String>,
}

impl Transport {
    /// Sends `token` on every request; trusts the CA certificate in `cacert` (only it) for
    /// `https://` URLs.
    pub(crate) fn new(token: Option<&str>, cacert: Option<&Path>) -> Result<Self, Error> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        connector.enforce_http(false);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(cacert)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(Transport {
            client,
            authorization: token.map(|t| format!("Bearer {t}")),
        })
    }

    /// Sends one request; `Err` is a transport failure (refused, reset, timed out).
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        headers: &[(&'static str, String)],
        timeout: Duration,
    ) -> Result<Answer, String> {
        let mut builder = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        if let Some(auth) = &self.authorization {
            builder = builder.header(AUTHORIZATION, auth);
        }
        let payload = match body {
            Some(b) => {
                builder =
                    builder.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(payload))
            .map_err(|e| format!("bad request {url}: {e}"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| format!("{url}: reading the body: {e}"))?
                .to_bytes();
            Ok::<_, String>((parts, bytes))
        };
        let (parts, bytes) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| format!("{url}: no answer within {timeout:?}"))??;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok(Answer {
            status: parts.status.as_u16(),
            leader: header(LEADER_HEADER).and_then(|v| v.trim().parse().ok()),
            index: header(INDEX_HEADER).and_then(|v| v.trim().parse().ok()),
            retry_after: header(RETRY_AFTER.as_str())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Duration::from_secs_f64(s.min(60.0))),
            body,
        })
    }
}

/// The TLS client config: trusts the certificates in `cacert`, or nothing at all without one
/// (`Client::new` refuses `https://` endpoints then, so plain HTTP is all that is spoken).
fn tls_config(cacert: Option<&Path>) -> Result<rustls::ClientConfig, Error> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = cacert {
        let shown = path.display();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::Config(format!("cannot read the CA {shown}: {e}")))?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<core::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("{shown}: not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Config(format!("{shown}: no certificate in it")));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| Error::Config(format!("{shown}: not a usable CA: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Percent-encodes `s` for a path segment or query value (RFC 3986 unreserved stay; `/` too
/// when `keep_slash`, for kv keys).
pub(crate) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encodes_reserved_bytes() {
        assert_eq!(encode("a/b c:1", true), "a/b%20c%3A1");
        assert_eq!(encode("a/b", false), "a%2Fb");
    }
}
