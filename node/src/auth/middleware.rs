//! The two layers that guard the API: `authenticate` (around every route and the fallback:
//! who is this? 401 if no one we know) and `authorize` (around each matched route: may they?
//! 403 if not), with the route's rule from [`super::policy`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Query, RawPathParams, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::RequestExt as _;

use super::guard::Guard;
use super::policy::{self, Scope, OPEN_PATHS};
use super::rate::RateLimit;
use super::table::Caller;
use crate::api::ApiError;
use crate::metrics::Metrics;

/// 401 with `WWW-Authenticate: Bearer` (RFC 6750).
fn unauthenticated(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message).into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// 429 with code `rate_limited` and `Retry-After` (whole seconds, at least 1: the header has
/// no finer unit).
fn rate_limited(token: &str, limit: RateLimit, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "token {token:?} may send {} requests a second (burst {}); retry in {} ms",
            limit.rate,
            limit.burst,
            wait.as_millis().max(1)
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// 403 with code `permission_denied`.
pub(super) fn denied(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "permission_denied", message)
}

/// The secret of an `Authorization: Bearer <secret>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.trim().split_once(' ')?;
    let secret = secret.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !secret.is_empty()).then_some(secret)
}

/// Finds the caller's token and records it in the request's extensions; 401 without one.
pub(super) async fn authenticate(
    State((guard, metrics)): State<(Arc<Guard>, Arc<Metrics>)>,
    mut request: Request,
    next: Next,
) -> Response {
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let Some(secret) = bearer(request.headers()) else {
        Metrics::inc(&metrics.api_unauthenticated);
        return unauthenticated(
            "this node requires a token: send the header Authorization: Bearer <secret>",
        );
    };
    let table = guard.table();
    let Some(caller) = table.lookup(secret) else {
        Metrics::inc(&metrics.api_unauthenticated);
        return unauthenticated("unknown token");
    };
    if let Some(limit) = guard.limit_of(&table, &caller.name) {
        if let Err(wait) = guard.limiter().admit(&caller.name, limit, Instant::now()) {
            metrics.api_rate_limited.inc(&caller.name);
            tracing::debug!(token = %caller.name, "refused: rate limit");
            return rate_limited(&caller.name, limit, wait);
        }
    }
    request.extensions_mut().insert(Caller::clone(&caller));
    next.run(request).await
}

/// Checks the caller's role and prefixes against the matched route's rule; 403 if they fall
/// short.
pub(super) async fn authorize(
    State(metrics): State<Arc<Metrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    if OPEN_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let Some(caller) = request.extensions().get::<Caller>().cloned() else {
        // `authenticate` runs first and lets nothing else through without a caller.
        return unauthenticated("no token");
    };
    let pattern = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let rule = policy::rule(request.method(), &pattern);
    if caller.role < rule.role {
        Metrics::inc(&metrics.api_permission_denied);
        tracing::debug!(token = %caller.name, route = %pattern, "denied: role");
        return denied(format!(
            "token {:?} has role {}; {} {pattern} needs {}",
            caller.name,
            caller.role,
            request.method(),
            rule.role
        ))
        .into_response();
    }
    if !caller.prefixes.is_empty() {
        // `Err(what)`: the request names `what`, outside the caller's prefixes (`?`: it names
        // something this check cannot read, which a scoped caller may not do either).
        let verdict: Result<(), String> = match rule.scope {
            Scope::None | Scope::Body => Ok(()),
            Scope::Path(param) => {
                let value = request
                    .extract_parts::<RawPathParams>()
                    .await
                    .ok()
                    .and_then(|p| {
                        p.iter()
                            .find(|(name, _)| *name == param)
                            .map(|(_, value)| value.to_owned())
                    });
                match value {
                    Some(v) if caller.permits(&v) => Ok(()),
                    other => Err(other.unwrap_or_else(|| "?".into())),
                }
            }
            Scope::QueryPrefix(param) => match query_param(&request, param) {
                Some(p) if caller.permits(&p) => Ok(()),
                other => Err(other.unwrap_or_else(|| "?".into())),
            },
            Scope::QueryEither(a, b) => {
                let given: Vec<String> = [a, b]
                    .iter()
                    .filter_map(|p| query_param(&request, p))
                    .filter(|v| !v.is_empty())
                    .collect();
                match given.iter().find(|v| !caller.permits(v)) {
                    None if !given.is_empty() => Ok(()),
                    None => Err(String::new()),
                    Some(v) => Err(v.clone()),
                }
            }
            Scope::WatchPrefix(param) => match query_param(&request, param) {
                Some(p) if policy::watch_permits(&caller, &p) => Ok(()),
                other => Err(format!(
                    "watch prefix {:?}",
                    other.unwrap_or_else(|| "?".into())
                )),
            },
        };
        if let Err(resource) = verdict {
            Metrics::inc(&metrics.api_permission_denied);
            tracing::debug!(token = %caller.name, route = %pattern, "denied: scope");
            return outside_scope(&caller, &resource).into_response();
        }
    }
    next.run(request).await
}

/// The query parameter `param` of `request` (absent: empty), decoded as the handlers decode
/// it; `None` when the query does not parse.
fn query_param(request: &Request, param: &str) -> Option<String> {
    let Query(query) = Query::<HashMap<String, String>>::try_from_uri(request.uri()).ok()?;
    Some(query.get(param).cloned().unwrap_or_default())
}

/// 403: `resource` lies outside `caller`'s prefixes.
pub(super) fn outside_scope(caller: &Caller, resource: &str) -> ApiError {
    denied(format!(
        "token {:?} is scoped to {:?}; {resource:?} is outside them",
        caller.name, caller.prefixes
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_secrets_are_read_from_the_header() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(bearer(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer ")), None);
        assert_eq!(bearer(&with("abc")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn a_rate_limited_answer_says_when_to_retry_in_whole_seconds() {
        let limit = RateLimit { rate: 5, burst: 5 };
        let r = rate_limited("bot", limit, Duration::from_millis(200));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = rate_limited("bot", limit, Duration::from_millis(2_100));
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
    }
}
