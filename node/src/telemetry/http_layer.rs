//! The API's tracing layer: one server span per request, continuing the client's W3C
//! `traceparent` when it sends a valid one (a new trace otherwise), named by the matched route
//! (`PUT /v1/kv/{*key}`). The handler runs inside the span's context, so the writes it
//! proposes (see [`super::current_span_context`]) and the requests it passes on to the leader
//! descend from it; the response carries the span's own `traceparent`. Scrapes and probes
//! (`/metrics`, `/healthz`, `/readyz`) are not traced.

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::Response;
use axum::Router;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

use super::record::SpanSlot;
use super::traceparent;

/// The W3C header, in requests and responses.
pub const TRACEPARENT: &str = "traceparent";

/// Wraps every request to `app` (routes, fallback, refusals by the auth layers) in a span.
/// Call it on the finished, protected router.
pub fn wrap(app: Router, tracer: SdkTracer) -> Router {
    app.route_layer(from_fn(note_route))
        .layer(from_fn_with_state(tracer, trace_request))
}

/// Passes the matched route out on the response, where the outer layer (which runs before
/// routing) can read it.
async fn note_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// Scrapes and probes, which would otherwise fill the backend with a trace every few seconds.
const UNTRACED: [&str; 3] = ["/metrics", "/healthz", "/readyz"];

async fn trace_request(State(tracer): State<SdkTracer>, request: Request, next: Next) -> Response {
    if UNTRACED.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let parent = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(traceparent::parse);
    let slot = SpanSlot::new(parent);
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let context = Context::new().with_remote_span_context(slot.context.clone());
    let mut response = next.run(request).with_context(context).await;
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", |m| m.as_str())
        .to_owned();
    let code = response.status();
    let status = if code.is_server_error() {
        Status::error(code.to_string())
    } else {
        Status::Unset
    };
    if let Ok(value) = HeaderValue::from_str(&traceparent::format(&slot.context)) {
        response.headers_mut().insert(TRACEPARENT, value);
    }
    let attributes = vec![
        KeyValue::new("http.request.method", method.clone()),
        KeyValue::new("http.route", route.clone()),
        KeyValue::new("url.path", path),
        KeyValue::new("http.response.status_code", i64::from(code.as_u16())),
    ];
    slot.finish(
        &tracer,
        format!("{method} {route}"),
        SpanKind::Server,
        attributes,
        status,
    );
    response
}
