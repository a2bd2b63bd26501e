//! The endpoint table: which URLs exist, which node each one is, who leads, and which are
//! backing off (a 503's `Retry-After`, or a transport failure).

use std::sync::Mutex;
use tokio::time::Instant;

use core::time::Duration;

/// How long an endpoint that failed at the transport level is skipped.
const DOWN_FOR: Duration = Duration::from_millis(300);

#[derive(Debug, Clone)]
struct Endpoint {
    url: String,
    /// The node id behind it, once `/v1/status` or a member list told us.
    node: Option<u64>,
    /// Not tried again before this.
    backoff_until: Option<Instant>,
}

#[derive(Debug)]
struct Table {
    endpoints: Vec<Endpoint>,
    /// The leader last reported by any answer.
    leader: Option<u64>,
    /// Round-robin position for when no leader is known.
    next: usize,
}

/// Thread-safe endpoint table.
#[derive(Debug)]
pub(crate) struct Endpoints {
    table: Mutex<Table>,
}

/// What [`Endpoints::pick`] chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pick {
    /// Send to this URL now.
    Now(String),
    /// Every endpoint is backing off; the first is free at this instant.
    WaitUntil(Instant),
}

/// `host:port` or a URL, as a base URL without a trailing slash, with `scheme` for an endpoint
/// that names none.
pub(crate) fn normalize_with(endpoint: &str, scheme: &str) -> String {
    let e = endpoint.trim().trim_end_matches('/');
    if e.contains("://") {
        e.to_owned()
    } else {
        format!("{scheme}://{e}")
    }
}

impl Endpoints {
    #[cfg(test)]
    pub(crate) fn new(urls: &[String]) -> Self {
        Self::with_scheme(urls, "http")
    }

    /// The table of `urls`, those without a scheme taking `scheme`.
    pub(crate) fn with_scheme(urls: &[String], scheme: &str) -> Self {
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for u in urls {
            let url = normalize_with(u, scheme);
            if !endpoints.iter().any(|e| e.url == url) {
                endpoints.push(Endpoint {
                    url,
                    node: None,
                    backoff_until: None,
                });
            }
        }
        Endpoints {
            table: Mutex::new(Table {
                endpoints,
                leader: None,
                next: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every URL, in the configured order.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.lock()
            .endpoints
            .iter()
            .map(|e| e.url.clone())
            .collect()
    }

    /// The leader's URL when the leader is known and its URL too.
    pub(crate) fn leader_url(&self) -> Option<String> {
        let t = self.lock();
        let leader = t.leader?;
        t.endpoints
            .iter()
            .find(|e| e.node == Some(leader))
            .map(|e| e.url.clone())
    }

    /// Whether the leader is known but not which URL it has.
    pub(crate) fn leader_unmapped(&self) -> bool {
        let t = self.lock();
        t.leader
            .is_some_and(|l| !t.endpoints.iter().any(|e| e.node == Some(l)))
    }

    /// The endpoint to try next: the leader if known and not backing off, else the next one
    /// round-robin that is not backing off.
    pub(crate) fn pick(&self, now: Instant) -> Pick {
        let mut t = self.lock();
        let free = |e: &Endpoint| e.backoff_until.is_none_or(|b| b <= now);
        if let Some(l) = t.leader {
            if let Some(e) = t.endpoints.iter().find(|e| e.node == Some(l) && free(e)) {
                return Pick::Now(e.url.clone());
            }
        }
        let n = t.endpoints.len();
        for i in 0..n {
            let at = (t.next + i) % n;
            if free(&t.endpoints[at]) {
                t.next = (at + 1) % n;
                return Pick::Now(t.endpoints[at].url.clone());
            }
        }
        let soonest = t
            .endpoints
            .iter()
            .filter_map(|e| e.backoff_until)
            .min()
            .unwrap_or(now);
        Pick::WaitUntil(soonest)
    }

    /// An answer from `url` named `leader` (`None`: it knows no leader).
    pub(crate) fn saw_leader(&self, leader: Option<u64>) {
        if leader.is_some() {
            self.lock().leader = leader;
        }
    }

    /// `url` should not be tried before `until`; if it was the leader's, forget the leader.
    pub(crate) fn back_off(&self, url: &str, until: Instant) {
        let mut t = self.lock();
        let mut was_leader = false;
        let leader = t.leader;
        if let Some(e) = t.endpoints.iter_mut().find(|e| e.url == url) {
            e.backoff_until = Some(until);
            was_leader = e.node.is_some() && e.node == leader;
        }
        if was_leader {
            t.leader = None;
        }
    }

    /// `url` failed at the transport level.
    pub(crate) fn down(&self, url: &str, now: Instant) {
        self.back_off(url, now + DOWN_FOR);
    }

    /// `url` answered: clear its back-off.
    pub(crate) fn up(&self, url: &str) {
        if let Some(e) = self.lock().endpoints.iter_mut().find(|e| e.url == url) {
            e.backoff_until = None;
        }
    }

    /// Records what `/v1/status` said: node `id` answers at `url`; the members' API addresses
    /// (new members are added to the table).
    pub(crate) fn learn(&self, url: &str, id: Option<u64>, members: &[(u64, String)]) {
        let mut t = self.lock();
        if let Some(id) = id {
            for e in t.endpoints.iter_mut() {
                if e.node == Some(id) && e.url != url {
                    e.node = None;
                }
            }
            if let Some(e) = t.endpoints.iter_mut().find(|e| e.url == url) {
                e.node = Some(id);
            }
        }
        for (mid, addr) in members {
            if addr.is_empty() || addr.starts_with("0.0.0.0") || addr.starts_with("[::]") {
                continue;
            }
            // Members speak what the node that listed them speaks.
            let scheme = if url.starts_with("https://") {
                "https"
            } else {
                "http"
            };
            let murl = normalize_with(addr, scheme);
            match t.endpoints.iter_mut().find(|e| e.url == murl) {
                Some(e) => e.node = Some(*mid),
                None => {
                    if !t.endpoints.iter().any(|e| e.node == Some(*mid)) {
                        t.endpoints.push(Endpoint {
                            url: murl,
                            node: Some(*mid),
                            backoff_until: None,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefers_the_known_leader_and_skips_backing_off_endpoints() {
        let e = Endpoints::new(&["127.0.0.1:1".into(), "http://127.0.0.1:2/".into()]);
        let now = Instant::now();
        e.learn(
            "http://127.0.0.1:1",
            Some(1),
            &[
                (1, "127.0.0.1:1".into()),
                (2, "127.0.0.1:2".into()),
                (3, "127.0.0.1:3".into()),
            ],
        );
        assert_eq!(e.urls().len(), 3, "member 3 is learned");
        e.saw_leader(Some(2));
        assert_eq!(e.pick(now), Pick::Now("http://127.0.0.1:2".into()));
        e.back_off("http://127.0.0.1:2", now + Duration::from_secs(1));
        assert!(
            e.leader_url().is_none(),
            "a leader that backs off is forgotten"
        );
        let Pick::Now(other) = e.pick(now) else {
            panic!()
        };
        assert_ne!(other, "http://127.0.0.1:2");
        e.down("http://127.0.0.1:1", now);
        e.down("http://127.0.0.1:3", now);
        assert!(matches!(e.pick(now), Pick::WaitUntil(_)));
        assert!(matches!(e.pick(now + Duration::from_secs(2)), Pick::Now(_)));
    }
}
