//! OpenTelemetry tracing (`--otlp-endpoint`): spans for API requests, forwarding,
//! propose → commit → apply and snapshots, exported by OTLP/HTTP (protobuf) with the SDK's
//! batch processor. Off by default, and then nothing here runs: no tracer exists, the API has
//! no tracing layer and the owner task makes no spans. The core only carries `traceparent`
//! strings; every span is made here, in the node.

mod export;
pub mod http_layer;
pub mod raft_spans;
mod record;
pub mod traceparent;

pub use record::SpanSlot;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::{SpanContext, TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use raftorch_core::raft::NodeId;

/// How long one export may take before the batch is dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether this process traces; read by [`current_span_context`] so that, with tracing off,
/// a request pays one relaxed load and nothing else.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// The node's tracer, or nothing when tracing is off. Cheap to clone.
#[derive(Clone, Default)]
pub struct Telemetry {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

impl Telemetry {
    /// Tracing off.
    pub fn off() -> Self {
        Telemetry::default()
    }

    /// Exports spans to the OTLP/HTTP collector at `endpoint` (a base URL such as
    /// `http://localhost:4318`, spans go to `/v1/traces` under it; a URL already ending in
    /// `/v1/traces` is used as it is). The resource names the service `raftorch` and this
    /// node (`service.instance.id`). The batch processor honours the usual `OTEL_BSP_*`
    /// environment variables (e.g. `OTEL_BSP_SCHEDULE_DELAY`, 5000 ms by default).
    pub fn start(endpoint: &str, node: NodeId) -> Result<Self, String> {
        let url = traces_url(endpoint)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(url.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .with_http_client(export::UreqClient::new(EXPORT_TIMEOUT))
            .build()
            .map_err(|e| format!("--otlp-endpoint {endpoint}: {e}"))?;
        let resource = Resource::builder_empty()
            .with_service_name("raftorch")
            .with_attributes([
                KeyValue::new("service.instance.id", format!("node-{node}")),
                KeyValue::new("raftorch.node.id", node as i64),
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            ])
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("raftorch");
        ENABLED.store(true, Ordering::Relaxed);
        tracing::info!(%url, "exporting traces by OTLP/HTTP");
        Ok(Telemetry {
            inner: Some(Arc::new(Inner { provider, tracer })),
        })
    }

    /// The tracer, when tracing is on.
    pub fn tracer(&self) -> Option<&SdkTracer> {
        self.inner.as_ref().map(|i| &i.tracer)
    }

    /// Exports what is still queued and stops the exporter (at shutdown).
    pub fn shutdown(&self) {
        if let Some(inner) = &self.inner {
            if let Err(e) = inner.provider.shutdown() {
                tracing::warn!("flushing traces at shutdown: {e}");
            }
        }
    }
}

/// The span of the API request being served on this task, if tracing is on and there is one
/// (set by [`http_layer`]); what a write's own spans descend from.
pub fn current_span_context() -> Option<SpanContext> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let context = Context::current();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.clone())
}

/// The `traceparent` of [`current_span_context`], to pass on to another node's API.
pub fn current_traceparent() -> Option<String> {
    current_span_context().map(|c| traceparent::format(&c))
}

/// Where OTLP/HTTP spans go for the collector at `endpoint`.
fn traces_url(endpoint: &str) -> Result<String, String> {
    let endpoint = endpoint.trim();
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"))
        .ok_or_else(|| format!("--otlp-endpoint {endpoint:?}: not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("--otlp-endpoint {endpoint:?}: no host"));
    }
    if endpoint.ends_with("/v1/traces") {
        return Ok(endpoint.to_owned());
    }
    Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn traces_go_to_v1_traces_under_the_endpoint() {
        let url = |e| traces_url(e).unwrap();
        assert_eq!(url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(url("https://c/otlp"), "https://c/otlp/v1/traces");
        assert_eq!(url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
        for bad in ["c:4318", "", "http://", "ftp://c", "http:///v1/traces"] {
            assert!(traces_url(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
