//! The OpenAPI document (`node/openapi.json`, served at `GET /v1/openapi.json`) against the
//! router: every route pattern in `node/src/api/` is documented, every documented path is a
//! route, and on a real node each documented method is served while every other method is 405.

// A std host's tests: the core's no_std lints do not apply.
#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

mod proc;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use proc::Cluster;
use serde_json::Value;

/// The methods the API uses; HEAD comes with GET, OPTIONS and the rest are never routed.
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch"];

/// Routes under `/internal/` are not public and need not be documented (there are none now).
const EXCLUDED_PREFIX: &str = "/internal/";

fn document() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let text = std::fs::read_to_string(&path).expect("node/openapi.json");
    serde_json::from_str(&text).expect("node/openapi.json is JSON")
}

/// Documented path -> methods.
fn documented(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item")
                .keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// Every `.route("PATTERN", ...)` in the API's sources, in OpenAPI's spelling (`{*key}` is
/// `{key}`).
fn router_patterns() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("src/api") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("source");
        let mut rest = text.as_str();
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let literal = rest.trim_start();
            let Some(literal) = literal.strip_prefix('"') else {
                continue;
            };
            let end = literal.find('"').expect("a closed string literal");
            out.insert(literal[..end].replace("{*", "{"));
        }
    }
    out.retain(|p| !p.starts_with(EXCLUDED_PREFIX));
    out
}

/// A concrete path for a pattern: each `{param}` replaced by a value the route accepts.
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("closed") + open;
        out.push_str(match &rest[open + 1..close] {
            "id" => "99",
            "action" => "advance",
            _ => "probe",
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn every_route_is_documented_and_every_documented_path_is_a_route() {
    let doc = document();
    let documented: BTreeSet<String> = documented(&doc).into_keys().collect();
    let routed = router_patterns();
    assert!(routed.len() > 30, "found only {routed:?}");
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.json names routes that do not exist: {extra:?}"
    );
    // Every operation answers errors in the JSON error shape, and names its errors so.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            assert_eq!(
                op["responses"]["default"]["$ref"], "#/components/responses/Error",
                "{method} {path}: no default error response"
            );
        }
    }
}

#[test]
fn a_node_serves_the_documented_methods_and_only_those() {
    let c = Cluster::start(1, &[]);
    let id = c.wait_leader(Duration::from_secs(15));
    let served = c.get(id, "/v1/openapi.json");
    assert_eq!(served.status, 200);
    assert_eq!(served.body, document(), "the node serves node/openapi.json");

    for (pattern, methods) in documented(&served.body) {
        // An unknown query parameter makes most handlers refuse at once (400), with no effect.
        let path = format!("{}?openapi_probe=1", concrete(&pattern));
        for method in METHODS {
            let a = c
                .request(id, &method.to_uppercase(), &path, Some(b""))
                .unwrap_or_else(|| panic!("no answer to {method} {path}"));
            let fallback = a.status == 404 && a.body["error"]["message"] == "no such route";
            if methods.contains(*method) {
                assert!(
                    !fallback && a.status != 405,
                    "{method} {pattern} is documented but not routed: {a:?}"
                );
            } else {
                assert_eq!(
                    (a.status, &a.body["error"]["code"]),
                    (405, &Value::from("method_not_allowed")),
                    "{method} {pattern} is routed but not documented (or not a 405): {a:?}"
                );
            }
            if a.status >= 400 {
                assert!(
                    a.body["error"]["code"].is_string() && a.body["error"]["message"].is_string(),
                    "{method} {pattern}: not the JSON error shape: {a:?}"
                );
            }
        }
    }
}
