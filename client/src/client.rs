//! [`Client`]: the endpoint list, leader discovery, retries with exactly-once request ids,
//! `Retry-After` and deadlines. Every higher-level type (sessions, elections, locks, watches,
//! the state manager) goes through [`Client::call`].

use core::time::Duration;
use std::sync::Arc;

use hyper::Method;
use serde_json::Value;
use tokio::time::Instant;

use crate::endpoints::{Endpoints, Pick};
use crate::error::{Error, Result};
use crate::features::Features;
use crate::lanes::Lanes;
use crate::transport::{Answer, Transport, REQUEST_ID_HEADER};

/// The environment variable with comma-separated endpoints.
pub const ENDPOINTS_ENV: &str = "RAFTORCH_ENDPOINTS";
/// The server forgets an idle client id after about this long; a write never retries longer.
const DEDUP_WINDOW: Duration = Duration::from_secs(9);

/// How a [`Client`] reaches the cluster.
#[derive(Debug, Clone)]
pub struct Config {
    /// Node API addresses (`http://127.0.0.1:8001` or `127.0.0.1:8001`). More are learned from
    /// the cluster's member list.
    pub endpoints: Vec<String>,
    /// Longest wait for one HTTP answer (long-polls add their wait to it).
    pub attempt_timeout: Duration,
    /// How long a write keeps retrying (other endpoints, `Retry-After`); at most 9 s, inside
    /// the server's exactly-once window.
    pub write_deadline: Duration,
    /// How long a read keeps retrying.
    pub read_deadline: Duration,
    /// The API token (`Authorization: Bearer`), for a cluster started with `--auth-file`.
    pub token: Option<String>,
    /// The CA certificate (PEM) of a TLS cluster (its `ca.pem`): `https://` endpoints are
    /// trusted when they chain to it, and endpoints without a scheme are `https://`.
    pub cacert: Option<std::path::PathBuf>,
    /// A W3C `traceparent` sent with every request (see [`crate::trace`]): the nodes' spans
    /// join that trace. `None`: none is sent (a node that traces starts one per request).
    pub traceparent: Option<String>,
}

impl Config {
    /// Defaults (2 s per attempt, 8 s per call) for these endpoints.
    pub fn new<S: AsRef<str>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        Config {
            endpoints: endpoints
                .into_iter()
                .map(|s| s.as_ref().trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            attempt_timeout: Duration::from_secs(2),
            write_deadline: Duration::from_secs(8),
            read_deadline: Duration::from_secs(8),
            token: None,
            cacert: None,
            traceparent: None,
        }
    }

    /// The same, speaking HTTPS to a cluster whose certificates `cacert` (a PEM file) signed.
    pub fn with_cacert(mut self, cacert: impl Into<std::path::PathBuf>) -> Self {
        self.cacert = Some(cacert.into());
        self
    }

    /// The same, sending the W3C `traceparent` with every request (checked by [`Client::new`];
    /// [`crate::trace::generate`] makes one).
    pub fn with_traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.traceparent = Some(traceparent.into());
        self
    }

    /// The same, sending `token` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Endpoints from `RAFTORCH_ENDPOINTS` (comma-separated), the token from `RAFTORCH_TOKEN`
    /// and the CA from `RAFTORCH_CACERT` when set.
    pub fn from_env() -> Result<Self> {
        let raw = std::env::var(ENDPOINTS_ENV)
            .map_err(|_| Error::Config(format!("{ENDPOINTS_ENV} is not set")))?;
        let mut config = Config::new(raw.split(','));
        config.token = std::env::var("RAFTORCH_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        config.cacert = std::env::var_os("RAFTORCH_CACERT")
            .filter(|p| !p.is_empty())
            .map(Into::into);
        Ok(config)
    }
}

/// One request as the higher layers describe it.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: Method,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
    pub(crate) body: Option<Value>,
    /// A write: carries an exactly-once request id, the same on every retry.
    pub(crate) write: bool,
    /// Extra time per attempt (a long-poll's wait).
    pub(crate) extra_wait: Duration,
    /// Overrides the configured call deadline.
    pub(crate) deadline: Option<Instant>,
    /// Extra headers.
    pub(crate) headers: Vec<(&'static str, String)>,
    /// Overrides the configured per-attempt timeout (keepalives use a short one, so a frozen
    /// node does not eat the lease's TTL).
    pub(crate) attempt_timeout: Option<Duration>,
}

impl Call {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Call {
            method: Method::GET,
            path: path.into(),
            body: None,
            write: false,
            extra_wait: Duration::ZERO,
            deadline: None,
            headers: Vec::new(),
            attempt_timeout: None,
        }
    }

    pub(crate) fn write(method: Method, path: impl Into<String>, body: Option<Value>) -> Self {
        Call {
            method,
            path: path.into(),
            body,
            write: true,
            ..Call::get("")
        }
    }

    pub(crate) fn waiting(mut self, wait: Duration) -> Self {
        self.extra_wait = wait;
        self
    }

    pub(crate) fn attempt(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    pub(crate) fn until(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }
}

struct Shared {
    config: Config,
    endpoints: Endpoints,
    transport: Transport,
    lanes: Lanes,
    features: Features,
}

/// A handle to the cluster; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    /// The `traceparent` this handle sends (see [`Client::with_traceparent`]); else the
    /// configured one.
    traceparent: Option<Arc<str>>,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.shared.endpoints.urls())
            .finish()
    }
}

/// The error an error answer stands for.
pub(crate) fn error_of(answer: &Answer) -> Error {
    let err = &answer.body["error"];
    let code = err["code"].as_str().unwrap_or("unknown").to_owned();
    let message = err["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| answer.body.to_string());
    match (answer.status, code.as_str()) {
        (409, "fenced_out") => Error::FencedOut { message },
        (410, _) => Error::Compacted {
            compacted_index: err["compacted_index"]
                .as_u64()
                .or_else(|| answer.body["compacted_index"].as_u64()),
        },
        _ => Error::Api {
            status: answer.status,
            code,
            message,
        },
    }
}

impl Client {
    /// A client for `config` (no I/O yet). Needs a tokio runtime when used.
    pub fn new(mut config: Config) -> Result<Self> {
        if config.endpoints.is_empty() {
            return Err(Error::Config("no endpoints".into()));
        }
        config.write_deadline = config.write_deadline.min(DEDUP_WINDOW);
        let scheme = if config.cacert.is_some() {
            "https"
        } else {
            "http"
        };
        let endpoints = Endpoints::with_scheme(&config.endpoints, scheme);
        if config.cacert.is_none() && endpoints.urls().iter().any(|u| u.starts_with("https://")) {
            return Err(Error::Config(
                "https:// endpoints need the cluster's CA: Config::with_cacert or RAFTORCH_CACERT"
                    .into(),
            ));
        }
        if let Some(t) = &config.traceparent {
            crate::trace::validate(t)?;
        }
        let transport = Transport::new(config.token.as_deref(), config.cacert.as_deref())?;
        Ok(Client {
            traceparent: None,
            shared: Arc::new(Shared {
                config,
                endpoints,
                transport,
                lanes: Lanes::default(),
                features: Features::default(),
            }),
        })
    }

    /// A handle to the same client (same connections, same exactly-once ids) whose requests
    /// carry `traceparent`, so the calls made through it join that trace:
    /// `client.with_traceparent(&tp)?.put(..)`. Refused when it is not a W3C traceparent.
    pub fn with_traceparent(&self, traceparent: &str) -> Result<Client> {
        crate::trace::validate(traceparent)?;
        Ok(Client {
            shared: self.shared.clone(),
            traceparent: Some(Arc::from(traceparent)),
        })
    }

    /// [`Client::with_traceparent`] with a new trace ([`crate::trace::generate`]); the
    /// `traceparent` it sends is [`Client::traceparent`].
    pub fn traced(&self) -> Client {
        Client {
            shared: self.shared.clone(),
            traceparent: Some(Arc::from(crate::trace::generate())),
        }
    }

    /// The `traceparent` this handle sends with its requests, if any.
    pub fn traceparent(&self) -> Option<&str> {
        self.traceparent
            .as_deref()
            .or(self.shared.config.traceparent.as_deref())
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Every endpoint known (configured and learned).
    pub fn endpoints(&self) -> Vec<String> {
        self.shared.endpoints.urls()
    }

    /// The leader's URL, when known.
    pub fn leader_url(&self) -> Option<String> {
        self.shared.endpoints.leader_url()
    }

    pub(crate) fn features(&self) -> &Features {
        &self.shared.features
    }

    /// `GET /v1/status` at `url`, recording the node's id, the leader and the members.
    async fn discover(&self, url: &str) -> Option<Value> {
        let answer = self
            .shared
            .transport
            .send(
                Method::GET,
                &format!("{url}/v1/status"),
                None,
                &[],
                self.shared.config.attempt_timeout,
            )
            .await
            .ok()?;
        if answer.status != 200 {
            return None;
        }
        let b = &answer.body;
        let members: Vec<(u64, String)> = b["members"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| Some((m["id"].as_u64()?, m["api_addr"].as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        self.shared.endpoints.learn(url, b["id"].as_u64(), &members);
        self.shared.endpoints.saw_leader(b["leader_id"].as_u64());
        Some(answer.body)
    }

    /// `GET /v1/status` from any endpoint that answers.
    pub async fn status(&self) -> Result<Value> {
        for url in self.endpoints() {
            if let Some(v) = self.discover(&url).await {
                return Ok(v);
            }
        }
        Err(Error::Unavailable {
            after: Duration::ZERO,
            last: "no endpoint answered /v1/status".into(),
        })
    }

    /// Sends `call`, retrying transport failures and 503s on other endpoints (the leader
    /// first, once known) until its deadline; a write keeps one request id across its
    /// retries, so it applies at most once. Non-2xx answers other than 503 are errors.
    pub(crate) async fn call(&self, call: Call) -> Result<Answer> {
        let s = &self.shared;
        let started = Instant::now();
        let deadline = call.deadline.unwrap_or_else(|| {
            started
                + if call.write {
                    s.config.write_deadline
                } else {
                    s.config.read_deadline
                }
        });
        let mut lane = call.write.then(|| s.lanes.take());
        let mut headers = call.headers.clone();
        if let Some(t) = self.traceparent() {
            headers.push((crate::trace::TRACEPARENT_HEADER, t.to_owned()));
        }
        if let Some(l) = lane.as_mut() {
            headers.push((REQUEST_ID_HEADER, l.next_id()));
        }
        let result = self.attempts(&call, &headers, started, deadline).await;
        if let Some(l) = lane {
            s.lanes.give_back(l);
        }
        result
    }

    async fn attempts(
        &self,
        call: &Call,
        headers: &[(&'static str, String)],
        started: Instant,
        deadline: Instant,
    ) -> Result<Answer> {
        let s = &self.shared;
        let mut last = String::from("not tried");
        let mut discovered = false;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Unavailable {
                    after: now - started,
                    last,
                });
            }
            let url = match s.endpoints.pick(Instant::now()) {
                Pick::Now(url) => url,
                Pick::WaitUntil(t) => {
                    tokio::time::sleep_until(t.min(deadline)).await;
                    continue;
                }
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let per_attempt = call.attempt_timeout.unwrap_or(s.config.attempt_timeout);
            let timeout = (per_attempt + call.extra_wait).min(remaining);
            let sent = s
                .transport
                .send(
                    call.method.clone(),
                    &format!("{url}{}", call.path),
                    call.body.as_ref(),
                    headers,
                    timeout,
                )
                .await;
            let answer = match sent {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!("raftorch client: {e}");
                    s.endpoints.down(&url, Instant::now());
                    last = e;
                    continue;
                }
            };
            if answer.status == 503 {
                let hint = answer.body["error"]["leader"].as_u64().or(answer.leader);
                let wait = answer.retry_after.unwrap_or(Duration::from_secs(1));
                s.endpoints.back_off(&url, Instant::now() + wait);
                s.endpoints.saw_leader(hint);
                last = format!("{url}: {}", error_of(&answer));
                if !discovered && s.endpoints.leader_unmapped() {
                    // Learn which URL the named leader has, from the node that named it.
                    discovered = true;
                    self.discover(&url).await;
                }
                continue;
            }
            s.endpoints.up(&url);
            s.endpoints.saw_leader(answer.leader);
            if !discovered && s.endpoints.leader_unmapped() {
                self.discover(&url).await;
            }
            if (200..300).contains(&answer.status) {
                return Ok(answer);
            }
            return Err(error_of(&answer));
        }
    }
}
