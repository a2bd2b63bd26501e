//! A tiny in-process HTTP server standing in for raftorch nodes: every request is recorded and
//! answered by a closure, so a test scripts exactly what the client sees.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

/// One request the mock saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub request_id: Option<String>,
    /// The W3C `traceparent` header, if sent.
    pub traceparent: Option<String>,
    pub body: Value,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    pub fn query(&self, name: &str) -> Option<String> {
        let q = self.uri.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.replace("%3A", ":").replace("%2F", "/"))
        })
    }
}

/// An answer.
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
    /// Never answer (a frozen node).
    pub hang: bool,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            body,
            headers: vec![],
            hang: false,
        }
    }

    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply {
            status,
            body: serde_json::json!({"error": {"code": code, "message": message}}),
            headers: vec![],
            hang: false,
        }
    }

    pub fn hang() -> Reply {
        Reply {
            hang: true,
            ..Reply::ok(Value::Null)
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

type Responder = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

#[derive(Clone)]
struct Mock {
    seen: Arc<Mutex<Vec<Seen>>>,
    respond: Arc<Responder>,
}

/// A running mock node.
pub struct MockNode {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl MockNode {
    /// Starts a mock whose closure gets each request and how many came before it.
    pub async fn start(
        respond: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> MockNode {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mock = Mock {
            seen: seen.clone(),
            respond: Arc::new(respond),
        };
        let app = Router::new().fallback(handle).with_state(mock);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        MockNode { url, seen }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests to `path` (no query).
    pub fn seen_at(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path() == path)
            .collect()
    }
}

async fn handle(State(mock): State<Mock>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        request_id: parts
            .headers
            .get("x-raftorch-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        traceparent: parts
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    };
    let n = {
        let mut all = mock.seen.lock().unwrap();
        all.push(seen.clone());
        all.len() - 1
    };
    let reply = (mock.respond)(&seen, n);
    if reply.hang {
        std::future::pending::<()>().await;
    }
    let mut response = (
        StatusCode::from_u16(reply.status).unwrap(),
        axum::Json(reply.body),
    )
        .into_response();
    for (name, value) in reply.headers {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).unwrap());
    }
    let _ = Body::empty();
    response
}
