//! The fence a write may carry: `?fence=election:NAME:TERM` / `?fence=lock:NAME:TOKEN`, or the
//! header `X-Raftorch-Fence` with the same text. The state machine checks it when the write
//! applies (see `raftorch_core::orchestrator::WriteFence`); here it is only read.

use axum::http::HeaderMap;
use raftorch_core::orchestrator::{Command, WriteFence};

use super::error::ApiError;
use super::input::Params;

/// The fence header.
pub(super) const FENCE_HEADER: &str = "x-raftorch-fence";

/// The fence given by the `fence` query parameter and/or the header; both given and different
/// is a 400.
pub(super) fn from_request(
    params: &Params,
    headers: &HeaderMap,
) -> Result<Option<WriteFence>, ApiError> {
    let header = headers
        .get(FENCE_HEADER)
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::invalid("X-Raftorch-Fence must be ASCII text"))
        })
        .transpose()?;
    parse_either(params.get("fence"), header)
}

/// One fence from a query value, a header value and a body field; any two given must agree.
pub(super) fn parse_either(
    a: Option<&str>,
    b: Option<&str>,
) -> Result<Option<WriteFence>, ApiError> {
    let parse = |s: &str| s.trim().parse::<WriteFence>().map_err(ApiError::invalid);
    match (a.map(parse).transpose()?, b.map(parse).transpose()?) {
        (Some(x), Some(y)) if x != y => Err(ApiError::invalid(format!(
            "two different fences given: {x} and {y}"
        ))),
        (Some(f), _) | (None, Some(f)) => Ok(Some(f)),
        (None, None) => Ok(None),
    }
}

/// `command`, fenced when a fence was given.
pub(super) fn wrap(command: Command, fence: Option<WriteFence>) -> Command {
    match fence {
        Some(fence) => Command::Fenced {
            fence,
            command: Box::new(command),
        },
        None => command,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_header_must_agree() {
        assert_eq!(parse_either(None, None), Ok(None));
        let f = parse_either(Some("lock:db:3"), Some(" lock:db:3")).unwrap();
        assert_eq!(f.map(|f| f.to_string()).as_deref(), Some("lock:db:3"));
        assert!(parse_either(Some("lock:db:3"), Some("lock:db:4")).is_err());
        assert!(parse_either(None, Some("db:3")).is_err());
    }
}
