//! Which role each route needs, and which of its parts name a scoped resource.
//!
//! One line per route pattern, as the router spells it. A route that is not listed needs
//! `admin` (deny by default): a new route is closed to ordinary tokens until it gets a line.
//! When a route names its resources in the body (a transaction's keys), give it
//! [`Scope::Body`] and have the handler call [`super::permit`] for each name.

use axum::http::Method;

use super::table::Role;

/// Where a request names the resource a token's prefixes must cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// It names none (status, members, leases, metrics): any token of the role may call it.
    None,
    /// The path parameter of this name (`key`, `name`, `service`) is the resource.
    Path(&'static str),
    /// The query parameter of this name is a key prefix (absent: the empty prefix, everything):
    /// all of it must lie inside one of the token's prefixes.
    QueryPrefix(&'static str),
    /// Two query parameters that each name keys (a prefix and an exact key): every one given
    /// must lie inside the token's prefixes, and giving neither means everything.
    QueryEither(&'static str, &'static str),
    /// The query parameter of this name is a watch prefix over event keys, which name their
    /// family first (`kv/<key>`, `services/<svc>/<inst>`, `locks/<name>`, ...): the part after
    /// the family must lie inside one of the token's prefixes (see [`watch_permits`]).
    WatchPrefix(&'static str),
    /// The handler checks the names it finds in the body, or filters what it lists, with
    /// [`super::permit`].
    Body,
}

/// The watch-event families whose names a token's prefixes scope (the first segment of an
/// event key); `leases/<id>` events name no scoped resource.
const SCOPED_FAMILIES: &[&str] = &["kv", "services", "deployments", "locks", "elections"];

/// Whether `caller` may watch the events under `prefix`: every event key under it must name
/// something the caller may name. A prefix that stops inside the family (`k`, `kv`) would also
/// match other families or every key, so it is refused to a scoped caller.
pub fn watch_permits(caller: &super::Caller, prefix: &str) -> bool {
    if caller.prefixes.is_empty() {
        return true;
    }
    match prefix.split_once('/') {
        Some(("leases", _)) => true,
        Some((family, rest)) if SCOPED_FAMILIES.contains(&family) => caller.permits(rest),
        _ => false,
    }
}

/// What a route needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The least role that may call it.
    pub role: Role,
    /// What names the resource.
    pub scope: Scope,
}

/// How a listed route's methods map to roles.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// `GET`/`HEAD` read, every other method writes.
    Data,
    /// Every method needs `admin`.
    Admin,
}

use Kind::{Admin, Data};
use Scope::{Body, None as Unnamed, Path, QueryEither, QueryPrefix, WatchPrefix};

/// The table. `/metrics` is a read (a scraper should not need an admin token; it shows counts,
/// no keys or values); `/v1/debug/*` is admin (it shows the internals).
const TABLE: &[(&str, Kind, Scope)] = &[
    ("/metrics", Data, Unnamed),
    ("/v1/status", Data, Unnamed),
    // The API's description names no keys or values.
    ("/v1/openapi.json", Data, Unnamed),
    ("/v1/members", Data, Unnamed),
    ("/v1/cluster/members", Admin, Unnamed),
    ("/v1/cluster/members/{id}", Admin, Unnamed),
    ("/v1/cluster/transfer-leader", Admin, Unnamed),
    // Alarms name no keys; disarming one is an operator's act.
    ("/v1/alarms", Data, Unnamed),
    ("/v1/alarms/disarm", Admin, Unnamed),
    ("/v1/services", Data, Body),
    ("/v1/services/{service}", Data, Path("service")),
    (
        "/v1/services/{service}/instances/{instance}",
        Data,
        Path("service"),
    ),
    (
        "/v1/services/{service}/instances/{instance}/heartbeat",
        Data,
        Path("service"),
    ),
    ("/v1/route/{service}", Data, Path("service")),
    ("/v1/kv", Data, QueryPrefix("prefix")),
    ("/v1/kv/{*key}", Data, Path("key")),
    // Leases have ids, not names: they are not scoped.
    ("/v1/leases", Data, Unnamed),
    ("/v1/leases/{id}", Data, Unnamed),
    ("/v1/leases/{id}/keepalive", Data, Unnamed),
    ("/v1/locks/{name}", Data, Path("name")),
    ("/v1/elections/{name}", Data, Path("name")),
    ("/v1/elections/{name}/campaign", Data, Path("name")),
    ("/v1/elections/{name}/resign", Data, Path("name")),
    ("/v1/elections/{name}/transfer", Data, Path("name")),
    // The transaction handler checks every key it names (`auth::permit`).
    ("/v1/txn", Data, Body),
    ("/v1/deployments/{service}", Data, Path("service")),
    ("/v1/deployments/{service}/{action}", Data, Path("service")),
    ("/v1/watch", Data, WatchPrefix("prefix")),
    // Namespaced watches name the resource in a query parameter; absent means everything,
    // which a scoped token may not watch.
    ("/v1/watch/kv", Data, QueryEither("prefix", "key")),
    ("/v1/watch/services", Data, QueryPrefix("service")),
    ("/v1/watch/locks", Data, QueryPrefix("name")),
    ("/v1/watch/elections", Data, QueryPrefix("name")),
];

/// The paths anyone may call, token or not: load balancers and orchestrators probe them.
pub const OPEN_PATHS: &[&str] = &["/healthz", "/readyz"];

/// The rule for `method` on the route `pattern` (the router's `MatchedPath`).
pub fn rule(method: &Method, pattern: &str) -> Rule {
    let admin = Rule {
        role: Role::Admin,
        scope: Unnamed,
    };
    let Some(&(_, kind, scope)) = TABLE.iter().find(|(p, _, _)| *p == pattern) else {
        return admin;
    };
    match kind {
        Admin => admin,
        Data if method == Method::GET || method == Method::HEAD => Rule {
            role: Role::Read,
            scope,
        },
        Data => Rule {
            role: Role::Write,
            scope,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_admin_routes() {
        let r = |m: Method, p: &str| rule(&m, p);
        assert_eq!(r(Method::GET, "/v1/kv/{*key}").role, Role::Read);
        assert_eq!(r(Method::PUT, "/v1/kv/{*key}").role, Role::Write);
        assert_eq!(r(Method::DELETE, "/v1/kv/{*key}").scope, Path("key"));
        assert_eq!(r(Method::GET, "/v1/cluster/members/{id}").role, Role::Admin);
        assert_eq!(
            r(Method::POST, "/v1/cluster/transfer-leader").role,
            Role::Admin
        );
        assert_eq!(r(Method::GET, "/metrics").role, Role::Read);
        assert_eq!(r(Method::GET, "/v1/debug/state").role, Role::Admin);
        // A backup holds every key and value: unlisted, so admin only.
        assert_eq!(r(Method::GET, "/v1/snapshot").role, Role::Admin);
        assert_eq!(r(Method::POST, "/v1/not-yet-listed").role, Role::Admin);
        assert_eq!(r(Method::GET, "/v1/watch").scope, WatchPrefix("prefix"));
        assert_eq!(r(Method::GET, "/v1/kv").scope, QueryPrefix("prefix"));
    }

    #[test]
    fn watch_prefixes_are_checked_after_the_family() {
        let bot = super::super::Caller {
            name: "bot".into(),
            role: Role::Read,
            prefixes: vec!["bot/".into(), "bot-".into()],
        };
        for ok in [
            "kv/bot/",
            "kv/bot/x",
            "services/bot-web",
            "locks/bot-l",
            "leases/",
        ] {
            assert!(watch_permits(&bot, ok), "{ok}");
        }
        for no in [
            "",
            "k",
            "kv",
            "kv/",
            "kv/bot",
            "kv/other/",
            "bot/",
            "services/web",
            "x/bot/",
        ] {
            assert!(!watch_permits(&bot, no), "{no}");
        }
        let open = super::super::Caller {
            prefixes: Vec::new(),
            ..bot
        };
        assert!(watch_permits(&open, ""));
    }
}
