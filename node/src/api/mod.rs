//! The HTTP API (JSON). Every response carries `X-Raftorch-Leader` (the leader's id, or `none`)
//! and `X-Raftorch-Index` (the log index the answer reflects); every error is
//! `{"error": {"code", "message"}}`, framework rejections included.

mod alarms;
mod cluster;
mod consensus;
mod coord;
mod debug;
mod deployments;
mod elections;
mod error;
mod fence;
mod input;
mod kv;
mod lock_wait;
mod members;
mod openapi;
mod page;
mod proxy;
mod registry;
mod reply;
mod snapshot;
mod txn;
mod waiters;
mod watch;
mod watch_event;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use raftorch_core::raft::NodeId;

pub use consensus::{NO_LEADER_WAIT, READ_TIMEOUT, WRITE_TIMEOUT};
pub use error::ApiError;
pub use openapi::OPENAPI_JSON;
pub use snapshot::SNAPSHOT_HEADER;

use crate::cluster_id::ClusterIdentity;
use crate::runtime::NodeHandle;

/// The leader header.
pub const LEADER_HEADER: &str = "x-raftorch-leader";
/// The index header.
pub const INDEX_HEADER: &str = "x-raftorch-index";
/// Largest request body but a kv write's (whose limit follows `--max-value-bytes`, see
/// `kv::put_body_limit`); JSON bodies are small.
pub const MAX_BODY_BYTES: usize = 256 << 10;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The running node.
    pub node: NodeHandle,
    /// This node's id.
    pub id: NodeId,
    /// Passes membership requests on to the leader's API (see `proxy`).
    forwarder: ureq::Agent,
    /// `https` when the cluster's APIs speak TLS, else `http`.
    scheme: &'static str,
    rng: Arc<AtomicU64>,
    /// Largest kv value a client may write (`--max-value-bytes`).
    pub max_value_bytes: usize,
    /// The cluster's identity, for what describes the cluster (a backup's metadata).
    cluster: Option<Arc<ClusterIdentity>>,
    /// The long-polls waiting, under their cap (`--max-watchers`).
    waiters: Arc<waiters::Waiters>,
}

impl ApiState {
    /// State for node `id`. Addresses (for forwarding and `members`) come from the node's
    /// address table, which follows the replicated address book.
    pub fn new(node: NodeHandle, id: NodeId) -> Self {
        let seed =
            crate::runtime::Clock::new().now_ms() ^ (u64::from(std::process::id()) << 32) ^ id;
        ApiState {
            waiters: waiters::Waiters::new(node.clone(), crate::config::DEFAULT_MAX_WATCHERS),
            node,
            id,
            forwarder: proxy::leader_agent(None),
            scheme: "http",
            rng: Arc::new(AtomicU64::new(seed)),
            max_value_bytes: raftorch_core::orchestrator::validate::MAX_VALUE_LEN,
            cluster: None,
        }
    }

    /// The same, with at most `max` long-polls (watches, lock and election waits) at once.
    pub fn with_max_watchers(mut self, max: usize) -> Self {
        self.waiters = waiters::Waiters::new(self.node.clone(), max);
        self
    }

    /// The same, describing the cluster as `identity`.
    pub fn with_cluster_identity(mut self, identity: Arc<ClusterIdentity>) -> Self {
        self.cluster = Some(identity);
        self
    }

    /// The cluster id, if known.
    pub fn cluster_id(&self) -> Option<u64> {
        self.cluster.as_ref().and_then(|c| c.get())
    }

    /// The same, refusing kv values over `bytes` (at most the state machine's own limit).
    pub fn with_max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes.min(raftorch_core::orchestrator::validate::MAX_VALUE_LEN);
        self
    }

    /// The same, calling other nodes' APIs over HTTPS with `tls` (which trusts the cluster's
    /// CA and presents this node's certificate); `None` leaves plain HTTP.
    pub fn with_tls(mut self, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        if let Some(tls) = tls {
            self.forwarder = proxy::leader_agent(Some(tls));
            self.scheme = "https";
        }
        self
    }

    /// Node `id`'s HTTP API address, if this node knows it.
    pub fn api_addr(&self, id: NodeId) -> Option<String> {
        self.node.addresses().get(&id).map(|p| p.api_addr.clone())
    }

    /// A pseudo-random number (splitmix64), for request ids; unique per process and call.
    pub fn random_u64(&self) -> u64 {
        let mut z = self
            .rng
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The whole API.
pub fn router(state: ApiState) -> Router {
    let kv_body_limit = DefaultBodyLimit::max(kv::put_body_limit(state.max_value_bytes));
    Router::new()
        .route("/healthz", get(cluster::healthz))
        .route("/readyz", get(cluster::readyz))
        .route("/metrics", get(cluster::metrics))
        .route("/v1/status", get(cluster::status))
        .route("/v1/members", get(cluster::members))
        .route("/v1/cluster/members", post(members::add))
        .route("/v1/cluster/members/{id}", delete(members::remove))
        .route(
            "/v1/cluster/transfer-leader",
            post(cluster::transfer_leader),
        )
        .route("/v1/services", get(registry::list_services))
        .route("/v1/services/{service}", get(registry::get_service))
        .route(
            "/v1/services/{service}/instances/{instance}",
            put(registry::register).delete(registry::deregister),
        )
        .route(
            "/v1/services/{service}/instances/{instance}/heartbeat",
            post(registry::heartbeat),
        )
        .route("/v1/route/{service}", get(registry::route))
        .route("/v1/kv", get(kv::range))
        .route(
            "/v1/kv/{*key}",
            get(kv::get)
                .put(kv::put)
                .delete(kv::delete)
                .layer(kv_body_limit),
        )
        .merge(alarms::routes())
        .merge(coord::routes())
        .merge(elections::routes())
        .merge(txn::routes(state.max_value_bytes))
        .merge(debug::routes())
        .merge(snapshot::routes())
        .merge(deployments::routes())
        .merge(watch::routes())
        .merge(openapi::routes())
        .fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "no such route",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), decorate))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Adds the leader and index headers, and rewrites any non-JSON error (a framework rejection)
/// into the JSON error shape.
async fn decorate(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = state.node.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let mut response =
        if (response.status().is_client_error() || response.status().is_server_error()) && !is_json
        {
            let code = response.status();
            let (_, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, 16 << 10)
                .await
                .unwrap_or_default();
            let message = String::from_utf8_lossy(&bytes).trim().to_owned();
            let message = if message.is_empty() {
                code.canonical_reason().unwrap_or("error").to_owned()
            } else {
                message
            };
            ApiError::new(code, ApiError::code_for_status(code), message).into_response()
        } else {
            response
        };
    let headers = response.headers_mut();
    if !headers.contains_key(LEADER_HEADER) {
        let leader = status
            .leader
            .map_or_else(|| "none".to_owned(), |l| l.to_string());
        if let Ok(v) = HeaderValue::from_str(&leader) {
            headers.insert(LEADER_HEADER, v);
        }
    }
    if !headers.contains_key(INDEX_HEADER) {
        headers.insert(INDEX_HEADER, HeaderValue::from(status.applied));
    }
    error::retry_guidance(response, status.leader).await
}
