//! The HTTP client every CLI path talks to a raftorch API with: it sends the token (if any) as
//! `Authorization: Bearer <token>` on every request, trusts the cluster's CA (`--cacert`) for
//! `https://` endpoints, and follows no redirects (a redirect could carry the token to another
//! host).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How the CLI reaches a cluster's API: its token and the CA it trusts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Access {
    /// Sent as `Authorization: Bearer`.
    pub(crate) token: Option<String>,
    /// Trusts the cluster's CA only; `None`: plain HTTP (and ureq's public roots for https).
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Access {
    /// With `token`, trusting the CA certificate in `cacert`.
    pub(crate) fn new(token: Option<&str>, cacert: Option<&Path>) -> Result<Self, String> {
        let tls = cacert
            .map(|p| crate::tls::client_trusting(p).map_err(|e| format!("--cacert: {e}")))
            .transpose()?;
        Ok(Access {
            token: token.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()),
            tls,
        })
    }

    /// Whether a CA was given (endpoints without a scheme are then `https://`).
    pub(crate) fn has_cacert(&self) -> bool {
        self.tls.is_some()
    }

    /// An agent with request `timeout`.
    pub(crate) fn agent(&self, timeout: Duration) -> ureq::Agent {
        self.builder().timeout(timeout).build()
    }

    /// An agent builder, for callers that set more options.
    // The middleware's `Result<_, ureq::Error>` is ureq's signature, not ours to shrink.
    #[allow(clippy::result_large_err)]
    pub(crate) fn builder(&self) -> ureq::AgentBuilder {
        let mut builder = ureq::AgentBuilder::new().redirects(0);
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(tls.clone());
        }
        match &self.token {
            None => builder,
            Some(token) => {
                let header = format!("Bearer {token}");
                builder.middleware(
                    move |request: ureq::Request, next: ureq::MiddlewareNext<'_>| {
                        next.handle(request.set("authorization", &header))
                    },
                )
            }
        }
    }

    /// `endpoint` as a base URL: without a trailing slash, `https://` or `http://` (as
    /// `--cacert` says) when it names no scheme.
    pub(crate) fn base(&self, endpoint: &str) -> String {
        let e = endpoint.trim().trim_end_matches('/');
        if e.contains("://") {
            e.to_owned()
        } else if self.has_cacert() {
            format!("https://{e}")
        } else {
            format!("http://{e}")
        }
    }

    /// A transport error, with what to do about it when TLS is the likely cause.
    pub(crate) fn explain(&self, error: &ureq::Error) -> String {
        let text = error.to_string();
        let hint = if text.contains("UnknownIssuer") || text.contains("certificate") {
            if self.has_cacert() {
                " (the server's certificate is not signed by the --cacert CA)"
            } else {
                " (the server's certificate is not trusted: pass --cacert CA.pem or set \
                 RAFTORCH_CACERT)"
            }
        } else if text.starts_with("http://")
            && !text.contains("refused")
            && !text.contains("timed out")
        {
            " (if the cluster runs TLS, use https:// endpoints and --cacert)"
        } else {
            ""
        };
        format!("{text}{hint}")
    }
}

/// The scheme of `url` (`https` or `http`), for URLs made from addresses an API reports.
pub(crate) fn scheme_of(url: &str) -> &'static str {
    if url.starts_with("https://") {
        "https"
    } else {
        "http"
    }
}
