//! One HTTP request of any shape — method, route, path parameters, query, headers, body — sent
//! through the node's whole API (`auth::protect(api::router(..))`, as `server` builds it), with
//! a token file of every role and a prefix scope. The node behind it is detached
//! (`runtime::detached_handle`): whatever gets past parsing, validation and authorization fails
//! with "the node is shutting down", so the target exercises exactly the API's input handling.
//! Time is virtual and paused, so a handler that waits finishes at once; one that never
//! answers is a finding, and so is a panic or a 500.

use std::cell::RefCell;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use raftorch_node::api::{router, ApiState};
use raftorch_node::auth::{self, Guard};
use raftorch_node::runtime::detached_handle;
use tokio::runtime::Runtime;
use tower::ServiceExt;

use crate::bytes::Bytes;

/// Route templates; `{}` is filled from the input.
pub const ROUTES: [&str; 34] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/status",
    "/v1/members",
    "/v1/cluster/members",
    "/v1/cluster/members/{}",
    "/v1/cluster/transfer-leader",
    "/v1/debug/digests",
    "/v1/deployments/{}",
    "/v1/deployments/{}/{}",
    "/v1/elections/{}",
    "/v1/elections/{}/campaign",
    "/v1/elections/{}/resign",
    "/v1/elections/{}/transfer",
    "/v1/kv",
    "/v1/kv/{}",
    "/v1/leases",
    "/v1/leases/{}",
    "/v1/leases/{}/keepalive",
    "/v1/locks/{}",
    "/v1/openapi.json",
    "/v1/route/{}",
    "/v1/services",
    "/v1/services/{}",
    "/v1/services/{}/instances/{}",
    "/v1/services/{}/instances/{}/heartbeat",
    "/v1/snapshot",
    "/v1/txn",
    "/v1/watch",
    "/v1/watch/elections",
    "/v1/watch/kv",
    "/v1/watch/locks",
    "/v1/watch/services",
];

const METHODS: [Method; 5] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::PATCH,
];

/// Bearer tokens the input picks from: none, each role, a scoped writer, an unknown one.
const TOKENS: [Option<&str>; 6] = [
    None,
    Some("read-secret-0123456789"),
    Some("write-secret-0123456789"),
    Some("admin-secret-0123456789"),
    Some("bot-secret-0123456789"),
    Some("nobody"),
];

const AUTH_FILE: &str = r#"
[[token]]
name = "reader"
secret = "read-secret-0123456789"
role = "read"

[[token]]
name = "writer"
secret = "write-secret-0123456789"
role = "write"

[[token]]
name = "admin"
secret = "admin-secret-0123456789"
role = "admin"

[[token]]
name = "bot"
secret = "bot-secret-0123456789"
role = "write"
prefixes = ["bot/"]
"#;

/// Node 1's API over a detached node, with the tokens above.
fn app() -> Router {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, AUTH_FILE).expect("write the auth file");
    let guard = Guard::load(&path, None).expect("the auth file loads");
    let handle = detached_handle(1);
    let metrics = handle.metrics.clone();
    auth::protect(router(ApiState::new(handle, 1)), Some(guard), metrics)
}

thread_local! {
    static APP: RefCell<Option<(Runtime, Router)>> = const { RefCell::new(None) };
}

/// A request built from fuzz bytes, `None` when its parts are not a valid HTTP request (hyper
/// refuses those before the API sees them).
pub fn request(data: &[u8]) -> Option<Request<Body>> {
    let mut bytes = Bytes::new(data);
    let method = METHODS[usize::from(bytes.below(METHODS.len() as u8))].clone();
    let route = ROUTES[usize::from(bytes.below(ROUTES.len() as u8))];
    let mut path = String::new();
    for (i, part) in route.split("{}").enumerate() {
        if i > 0 {
            path.push_str(&escape(bytes.take(24)));
        }
        path.push_str(part);
    }
    let query = escape(bytes.take(48));
    let uri = if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    };
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = TOKENS[usize::from(bytes.below(TOKENS.len() as u8))] {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let flags = bytes.u8();
    if flags & 1 != 0 {
        builder = builder.header("x-raftorch-request-id", bytes.take(24));
    }
    if flags & 2 != 0 {
        builder = builder.header("x-raftorch-fence", bytes.take(24));
    }
    if flags & 4 != 0 {
        builder = builder.header("content-type", "application/json");
    }
    builder.body(Body::from(bytes.rest().to_vec())).ok()
}

/// Percent-escapes what a URI cannot hold (a real client does the same), keeping `/`, `=` and
/// `&` so inputs can shape paths and queries.
fn escape(raw: &[u8]) -> String {
    let mut out = String::new();
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~/=&%".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The target.
pub fn run(data: &[u8]) {
    if let Some(status) = status(data) {
        assert_ne!(
            status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "a request made the API fail"
        );
    }
}

/// The status the API answers the request in `data` with (`None`: not a valid request).
pub fn status(data: &[u8]) -> Option<StatusCode> {
    let request = request(data)?;
    APP.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (runtime, app) = cell.get_or_insert_with(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .expect("a runtime");
            let app = runtime.block_on(async { app() });
            (runtime, app)
        });
        let app = app.clone();
        let answered = runtime.block_on(async move {
            tokio::time::timeout(Duration::from_secs(3600), app.oneshot(request)).await
        });
        let response = answered.expect("the API never answered");
        let response = response.unwrap_or_else(|never| match never {});
        Some(response.status())
    })
}
