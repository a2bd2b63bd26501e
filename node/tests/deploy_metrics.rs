//! The Grafana dashboard and the Prometheus alert rules in `deploy/monitoring` name only series
//! a node's `/metrics` really serves: a renamed metric fails here, not silently on a dashboard.

#![allow(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

use std::collections::BTreeSet;
use std::path::Path;

use raftorch_node::metrics::{Gauges, Metrics};

/// Every series name in the exposition `text` (a histogram's `_bucket`, `_sum`, `_count` too).
fn served(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Every `raftorch_...` word in `text`.
fn named(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("raftorch_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn the_dashboard_and_the_alerts_use_only_served_metrics() {
    let gauges = Gauges {
        id: 1,
        term: 1,
        role: 3,
        commit: 1,
        applied: 1,
        last_index: 1,
        snapshot_index: 0,
        leader: 1,
    };
    let metrics = Metrics::default();
    metrics.observe_persist(std::time::Duration::from_millis(1), 1);
    let served = served(&metrics.render(&gauges));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/monitoring");
    let mut checked = 0;
    for file in ["alerts.yaml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("read a monitoring file");
        let names = named(&text);
        assert!(names.len() >= 5, "{file} names only {names:?}");
        for name in names {
            assert!(
                served.contains(&name),
                "{file} uses {name}, which /metrics does not serve (it serves {served:?})"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} names checked");
    // The alerts cover what the issue asks for, with the series that exist.
    let alerts = std::fs::read_to_string(dir.join("alerts.yaml")).unwrap();
    for alert in [
        "RaftorchNoLeader",
        "RaftorchFsyncSlow",
        "RaftorchApplyLag",
        "RaftorchSnapshotFailures",
    ] {
        assert!(alerts.contains(&format!("alert: {alert}")), "{alert}");
    }
}
