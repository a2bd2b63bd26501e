//! Tokens with roles for the HTTP API (`--auth-file`).
//!
//! With an auth file, every request but `/healthz` and `/readyz` must carry
//! `Authorization: Bearer <secret>` of one of its tokens: none or an unknown one is 401
//! (`unauthenticated`), a token whose role or prefixes do not cover the request is 403
//! (`permission_denied`). Roles: `read` < `write` < `admin`; membership, leader transfer and
//! the debug routes are `admin` only. A token's `prefixes` bound the kv keys, locks, elections
//! and services it may name.
//!
//! The decision is made where the client's request arrives: a write a follower forwards goes
//! to the leader as a state-machine command over the peer channel, already authorized; a
//! membership request a follower passes on to the leader's API carries the caller's token,
//! which the leader checks again against its own auth file.
//!
//! - [`table`]: the file format and the token table; [`secret`]: digests compared in constant
//!   time; [`guard`]: the loaded table, reloaded on SIGHUP;
//! - [`rate`]: per-token rate limits (429 with `Retry-After`);
//! - [`policy`]: the per-route rules; `middleware`: the layers that apply them ([`protect`]);
//!   [`permit`]: the check a handler makes for resources named in a body.

pub mod guard;
mod middleware;
pub mod policy;
pub mod rate;
pub mod secret;
pub mod table;

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::Router;

pub use guard::{reload_on_sighup, Guard};
pub use rate::RateLimit;
pub use table::{Caller, Role, TokenTable};

use crate::api::ApiError;
use crate::metrics::Metrics;

/// Puts `app` behind the tokens of `guard`, counting refusals in `metrics`; with no guard (no
/// `--auth-file`), returns it as it is. Call it on the finished router: the per-route check
/// wraps every route it has.
pub fn protect(app: Router, guard: Option<Arc<Guard>>, metrics: Arc<Metrics>) -> Router {
    match guard {
        None => app,
        Some(guard) => app
            .route_layer(from_fn_with_state(metrics.clone(), middleware::authorize))
            .layer(from_fn_with_state(
                (guard, metrics),
                middleware::authenticate,
            )),
    }
}

/// For a handler whose resources are named in the body (or that lists them): Ok when
/// `caller` (the request's `Extension<Caller>`, absent without an auth file) may name
/// `resource`, else 403. Give the route [`policy::Scope::Body`] in the policy table, then:
///
/// ```ignore
/// async fn txn(caller: Option<Extension<Caller>>, Body(body): Body) -> Result<Response, ApiError> {
///     let txn: Txn = json(&body)?;
///     for key in txn.keys() {
///         auth::permit(caller.as_deref(), key)?;
///     }
///     // ...
/// }
/// ```
pub fn permit(caller: Option<&Caller>, resource: &str) -> Result<(), ApiError> {
    match caller {
        Some(c) if !c.permits(resource) => Err(middleware::outside_scope(c, resource)),
        _ => Ok(()),
    }
}

/// Whether `caller` may see `resource` in a listing (see [`permit`]).
pub fn visible(caller: Option<&Caller>, resource: &str) -> bool {
    caller.is_none_or(|c| c.permits(resource))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permit_and_visible_follow_the_prefixes() {
        let bot = Caller {
            name: "bot".into(),
            role: Role::Write,
            prefixes: vec!["bot/".into()],
        };
        assert!(permit(Some(&bot), "bot/x").is_ok());
        let e = permit(Some(&bot), "other/x").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (403, "permission_denied"));
        assert!(permit(None, "other/x").is_ok(), "no auth file: no scope");
        assert!(visible(Some(&bot), "bot/y") && !visible(Some(&bot), "x"));
        assert!(visible(None, "x"));
    }
}
