//! The HTTP client the OTLP exporter posts its batches with: the ureq agent (and its rustls)
//! the node already has, so tracing adds no second HTTP or TLS stack. The SDK's batch
//! processor exports from a thread of its own, where a blocking call is what it expects.

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// Posts OTLP requests with a blocking ureq agent.
#[derive(Debug, Clone)]
pub(super) struct UreqClient {
    agent: ureq::Agent,
}

impl UreqClient {
    /// A client whose every request gives up after `timeout`.
    pub(super) fn new(timeout: Duration) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout(timeout)
            .redirects(0)
            .build();
        UreqClient { agent }
    }
}

#[async_trait::async_trait]
impl HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let mut call = self
            .agent
            .request(parts.method.as_str(), &parts.uri.to_string());
        for (name, value) in &parts.headers {
            if let Ok(value) = value.to_str() {
                call = call.set(name.as_str(), value);
            }
        }
        let answer = match call.send_bytes(&body) {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(Box::new(e)),
        };
        let status = answer.status();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut answer.into_reader(), &mut bytes)?;
        Ok(Response::builder()
            .status(status)
            .body(Bytes::from(bytes))?)
    }
}
