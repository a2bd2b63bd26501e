//! `POST /v1/txn` puts honour `--max-value-bytes` as single puts do: a value at the limit is
//! written (also past the 256 KiB limit of other JSON bodies), a byte more is 413
//! `payload_too_large` in the JSON error shape, and nothing of the transaction applies.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::time::Duration;

use proc::{Answer, Cluster};
use serde_json::json;

const LIMIT: usize = 400_000;

fn txn(c: &Cluster, id: u64, value_len: usize) -> Answer {
    let body = json!({
        "compare": [],
        "success": [
            {"op": "put", "key": "small", "value": "s"},
            {"op": "put", "key": "big", "value": "x".repeat(value_len)},
        ],
    })
    .to_string();
    c.request(id, "POST", "/v1/txn", Some(body.as_bytes()))
        .expect("an answer")
}

#[test]
fn txn_puts_are_bounded_by_max_value_bytes() {
    let limit = LIMIT.to_string();
    let c = Cluster::start(1, &["--max-value-bytes", &limit]);
    let id = c.wait_leader(Duration::from_secs(15));

    let over = txn(&c, id, LIMIT + 1);
    assert_eq!(
        (over.status, &over.body["error"]["code"]),
        (413, &json!("payload_too_large")),
        "{over:?}"
    );
    assert!(over.body["error"]["message"].is_string());
    // Nothing of the refused transaction was applied.
    assert_eq!(c.get(id, "/v1/kv/small").status, 404);

    let at = txn(&c, id, LIMIT);
    assert_eq!(
        (at.status, &at.body["succeeded"]),
        (200, &json!(true)),
        "{:?}",
        at.status
    );
    let read = c.get(id, "/v1/kv/big");
    assert_eq!(read.body["value"].as_str().map(str::len), Some(LIMIT));

    // The same limit as a single put.
    assert_eq!(c.put_kv(id, "single", &"x".repeat(LIMIT + 1)).status, 413);
}
