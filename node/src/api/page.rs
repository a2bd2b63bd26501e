//! `?limit=N&start_after=KEY` on the listing reads, and the `more`/`next` fields of their
//! answers. A page costs the owner task at most `limit` items, whatever the size of the state.

use raftorch_core::orchestrator::{Page, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use serde_json::{Map, Value};

use super::error::ApiError;
use super::input::Params;

/// Which page of a listing a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PageQuery {
    /// The key (service name, instance id) the page starts after.
    pub(super) start_after: Option<String>,
    /// At most this many items.
    pub(super) limit: usize,
}

impl PageQuery {
    /// `limit` (1 to [`MAX_PAGE_LIMIT`], [`DEFAULT_PAGE_LIMIT`] when absent) and `start_after`.
    pub(super) fn parse(params: &Params) -> Result<Self, ApiError> {
        let limit = match params.u64("limit")? {
            None => DEFAULT_PAGE_LIMIT,
            Some(n) if (1..=MAX_PAGE_LIMIT as u64).contains(&n) => n as usize,
            Some(n) => {
                return Err(ApiError::invalid(format!(
                    "limit {n} is out of range: 1 to {MAX_PAGE_LIMIT}"
                )))
            }
        };
        Ok(PageQuery {
            start_after: params.get("start_after").map(str::to_owned),
            limit,
        })
    }
}

/// Adds `more` and `next` (the key to pass as `start_after` for the following page, `null` on
/// the last page) to a listing's JSON object.
pub(super) fn put_more<T>(
    object: &mut Map<String, Value>,
    page: &Page<T>,
    key: impl Fn(&T) -> &str,
) {
    object.insert("more".into(), Value::Bool(page.more));
    let next = match (page.more, page.items.last()) {
        (true, Some(last)) => Value::from(key(last)),
        _ => Value::Null,
    };
    object.insert("next".into(), next);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<PageQuery, ApiError> {
        let raw: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        PageQuery::parse(&Params::new(raw, &["limit", "start_after"])?)
    }

    #[test]
    fn limits_default_and_are_bounded() {
        assert_eq!(parse(&[]).unwrap().limit, DEFAULT_PAGE_LIMIT);
        assert_eq!(
            parse(&[("limit", "7"), ("start_after", "k")]).unwrap(),
            PageQuery {
                start_after: Some("k".into()),
                limit: 7
            }
        );
        for bad in ["0", "10001", "-1", "many"] {
            assert_eq!(
                parse(&[("limit", bad)]).unwrap_err().code,
                "invalid_argument"
            );
        }
    }

    #[test]
    fn next_is_the_last_key_only_when_more_follow() {
        let mut o = Map::new();
        put_more(
            &mut o,
            &Page {
                items: vec!["a", "b"],
                more: true,
            },
            |s| s,
        );
        assert_eq!(
            Value::Object(o.clone()),
            serde_json::json!({"more": true, "next": "b"})
        );
        put_more(
            &mut o,
            &Page {
                items: vec!["a"],
                more: false,
            },
            |s| s,
        );
        assert_eq!(
            Value::Object(o),
            serde_json::json!({"more": false, "next": null})
        );
    }
}
