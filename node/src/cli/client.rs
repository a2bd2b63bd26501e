//! The HTTP client every CLI path talks to a raftorch API with: it sends the token (if any) as
//! `Authorization: Bearer <token>` on every request, and follows no redirects (a redirect
//! could carry the token to another host).

use std::time::Duration;

/// An agent with request `timeout`, that authenticates with `token`.
pub(crate) fn agent(timeout: Duration, token: Option<&str>) -> ureq::Agent {
    builder(token).timeout(timeout).build()
}

/// An agent builder that authenticates with `token`, for callers that set more options.
// The middleware's `Result<_, ureq::Error>` is ureq's signature, not ours to shrink.
#[allow(clippy::result_large_err)]
pub(crate) fn builder(token: Option<&str>) -> ureq::AgentBuilder {
    let builder = ureq::AgentBuilder::new().redirects(0);
    match token {
        None => builder,
        Some(token) => {
            let header = format!("Bearer {}", token.trim());
            builder.middleware(
                move |request: ureq::Request, next: ureq::MiddlewareNext<'_>| {
                    next.handle(request.set("authorization", &header))
                },
            )
        }
    }
}
