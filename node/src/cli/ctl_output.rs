//! How `raftorch ctl` prints an answer: as the API's JSON (`-o json`, for scripts) or as tables
//! and short lines for people (`-o table`, the default).

use clap::ValueEnum;
use serde_json::Value;

use super::table::Table;

/// The output format of `raftorch ctl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Tables and short lines for people.
    Table,
    /// The API's JSON answers, pretty-printed, for scripts.
    Json,
}

/// What kind of answer is being printed, which decides its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    /// `ctl status`: an array of `/v1/status` answers (or `{"endpoint","error"}`).
    Status,
    /// `GET /v1/members`.
    Members,
    /// `GET /v1/services`.
    Services,
    /// `GET /v1/services/{s}`.
    Instances,
    /// `GET /v1/route/{s}`.
    Route,
    /// `GET /v1/kv/{key}`.
    KvGet,
    /// `GET /v1/kv?prefix=`.
    KvList,
    /// Any other answer: one `FIELD | VALUE` row per top-level field.
    Fields,
}

/// Pretty-printed JSON of `v`.
pub(super) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// `text` pretty-printed if it is JSON, else as it is.
pub(super) fn pretty_text(text: &str) -> String {
    serde_json::from_str::<Value>(text).map_or_else(|_| text.to_owned(), |v| pretty(&v))
}

/// Prints a successful answer's body in the chosen format, on stdout.
pub(super) fn print_ok(output: Output, shape: Shape, body: &str) {
    match output {
        Output::Json => println!("{}", pretty_text(body)),
        Output::Table => match serde_json::from_str::<Value>(body) {
            Ok(v) => print!("{}", human(shape, &v)),
            Err(_) => println!("{body}"),
        },
    }
}

/// Prints an error answer (HTTP `code`): the JSON body on stdout with `-o json` (scripts read
/// it there), else one line on stderr.
pub(super) fn print_error(output: Output, code: u16, body: &str) {
    eprintln!("HTTP {code}");
    match output {
        Output::Json => println!("{}", pretty_text(body)),
        Output::Table => eprintln!("Error: {}", error_line(body)),
    }
}

/// `code: message` of an API error body, or the body itself.
fn error_line(body: &str) -> String {
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => return body.trim().to_owned(),
    };
    let e = &v["error"];
    match (e["code"].as_str(), e["message"].as_str()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_owned(),
        _ => v.to_string(),
    }
}

/// The human rendering of a successful answer `v` of this shape; a page of a longer listing
/// ends with how to ask for the next one.
pub(super) fn human(shape: Shape, v: &Value) -> String {
    let table = body(shape, v);
    match v["next"].as_str() {
        Some(next) if v["more"] == Value::Bool(true) => {
            format!("{table}\n(more: continue with --start-after {next:?})")
        }
        _ => table,
    }
}

/// The table (or list) of an answer of this shape.
fn body(shape: Shape, v: &Value) -> String {
    match shape {
        Shape::Status => status_table(v),
        Shape::Members => members_table(v),
        Shape::Services => services(v),
        Shape::Instances => instances_table(v),
        Shape::Route => route_table(v),
        Shape::KvGet => kv_table(&Value::Array(vec![v.clone()])),
        Shape::KvList => kv_table(&v["items"]),
        Shape::Fields => fields_table(v),
    }
}

/// A JSON value as a cell: strings bare, null as `-`, the rest as compact JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One row per endpoint: id, role, term, leader, commit, applied, lag (entries the leader
/// committed that this node has not applied yet) and the endpoint's address.
fn status_table(v: &Value) -> String {
    let all = v.as_array().cloned().unwrap_or_default();
    // The freshest commit index anyone reported: the leader's, when it answered.
    let leader_commit = all
        .iter()
        .filter(|s| s["role"] == "leader")
        .filter_map(|s| s["commit_index"].as_u64())
        .max()
        .or_else(|| all.iter().filter_map(|s| s["commit_index"].as_u64()).max());
    let mut t = Table::new(&[
        "endpoint", "id", "role", "term", "leader", "commit", "applied", "lag",
    ]);
    for s in &all {
        if let Some(err) = s.get("error") {
            let mut row = vec![cell(&s["endpoint"]), "-".into(), "unreachable".into()];
            row.extend(std::iter::repeat_n("-".to_owned(), 5));
            t.row(row);
            eprintln!("{}: {}", cell(&s["endpoint"]), cell(err));
            continue;
        }
        let lag = match (leader_commit, s["applied_index"].as_u64()) {
            (Some(c), Some(a)) => c.saturating_sub(a).to_string(),
            _ => "-".into(),
        };
        t.row(vec![
            cell(&s["endpoint"]),
            cell(&s["id"]),
            cell(&s["role"]),
            cell(&s["term"]),
            cell(&s["leader_id"]),
            cell(&s["commit_index"]),
            cell(&s["applied_index"]),
            lag,
        ]);
    }
    t.render()
}

fn members_table(v: &Value) -> String {
    let mut t = Table::new(&["id", "role", "peer address", "api address"]);
    for m in v["members"].as_array().into_iter().flatten() {
        let role = if m["voter"] == true {
            "voter"
        } else {
            "learner"
        };
        t.row(vec![
            cell(&m["id"]),
            role.into(),
            cell(&m["peer_addr"]),
            cell(&m["api_addr"]),
        ]);
    }
    t.render()
}

fn services(v: &Value) -> String {
    let names = v["services"].as_array().cloned().unwrap_or_default();
    if names.is_empty() {
        return "(no services)\n".into();
    }
    names.iter().map(|n| format!("{}\n", cell(n))).collect()
}

fn instances_table(v: &Value) -> String {
    let mut t = Table::new(&["id", "address", "port", "version", "weight", "healthy"]);
    for i in v["instances"].as_array().into_iter().flatten() {
        t.row(vec![
            cell(&i["id"]),
            cell(&i["address"]),
            cell(&i["port"]),
            cell(&i["version"]),
            cell(&i["weight"]),
            cell(&i["healthy"]),
        ]);
    }
    t.render()
}

fn route_table(v: &Value) -> String {
    let i = &v["instance"];
    let mut t = Table::new(&["instance", "address", "version", "canary", "bucket"]);
    let address = match (i["address"].as_str(), i["port"].as_u64()) {
        (Some(a), Some(p)) => format!("{a}:{p}"),
        _ => "-".into(),
    };
    t.row(vec![
        cell(&i["id"]),
        address,
        cell(&v["version"]),
        cell(&v["canary"]),
        cell(&v["bucket"]),
    ]);
    t.render()
}

fn kv_table(items: &Value) -> String {
    let mut t = Table::new(&["key", "value", "mod revision", "version"]);
    for kv in items.as_array().into_iter().flatten() {
        let value = match (&kv["value"], &kv["value_b64"]) {
            (Value::String(s), _) => s.clone(),
            (_, Value::String(b)) => format!("(base64) {b}"),
            _ => "-".into(),
        };
        t.row(vec![
            cell(&kv["key"]),
            value,
            cell(&kv["mod_revision"]),
            cell(&kv["version"]),
        ]);
    }
    t.render()
}

fn fields_table(v: &Value) -> String {
    let Some(fields) = v.as_object() else {
        return format!("{}\n", cell(v));
    };
    let mut t = Table::new(&["field", "value"]);
    for (k, val) in fields {
        t.row(vec![k.clone(), cell(val)]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_status_table_shows_each_node_and_its_lag_behind_the_leader() {
        let v = json!([
            {"endpoint": "http://a:1", "id": 1, "role": "leader", "term": 3, "leader_id": 1,
             "commit_index": 40, "applied_index": 40},
            {"endpoint": "http://b:2", "id": 2, "role": "follower", "term": 3, "leader_id": 1,
             "commit_index": 38, "applied_index": 35},
            {"endpoint": "http://c:3", "error": "connection refused"},
        ]);
        let text = human(Shape::Status, &v);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7, "{text}");
        assert!(lines[1].starts_with("| ENDPOINT"), "{text}");
        let cells = |l: &str| -> Vec<String> {
            l.split('|')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect()
        };
        assert_eq!(
            cells(lines[3]),
            ["http://a:1", "1", "leader", "3", "1", "40", "40", "0"]
        );
        assert_eq!(cells(lines[4])[7], "5", "{text}");
        assert_eq!(cells(lines[5])[2], "unreachable", "{text}");
    }

    #[test]
    fn other_answers_become_field_rows() {
        let text = human(
            Shape::Fields,
            &json!({"result": "kv_put", "index": 24, "revision": 24}),
        );
        assert!(text.contains("| result   | kv_put |"), "{text}");
        assert!(text.contains("| index    | 24     |"), "{text}");
    }

    #[test]
    fn errors_read_as_code_and_message() {
        let body = r#"{"error":{"code":"cas_failed","message":"revision is 3"}}"#;
        assert_eq!(error_line(body), "cas_failed: revision is 3");
        assert_eq!(error_line("plain"), "plain");
    }
}
