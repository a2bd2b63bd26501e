//! Divergence while running: every node samples a digest of its whole state at the same
//! indexes (`--digest-every`), and a poller compares what different nodes report for one index.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Nodes sample their state every this many entries.
pub const DIGEST_EVERY: u64 = 64;

/// What each node said its state digest was at each sampled index.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// index → node → digest.
    pub at: BTreeMap<u64, BTreeMap<u64, String>>,
}

impl Seen {
    /// Adds one node's answer to `GET /v1/debug/digests`.
    pub fn add(&mut self, node: u64, answer: &serde_json::Value) {
        let Some(samples) = answer["digests"].as_array() else {
            return;
        };
        for s in samples {
            if let (Some(index), Some(digest)) = (s["index"].as_u64(), s["digest"].as_str()) {
                self.at
                    .entry(index)
                    .or_default()
                    .insert(node, digest.to_owned());
            }
        }
    }

    /// How many indexes at least two nodes reported.
    pub fn compared(&self) -> usize {
        self.at.values().filter(|nodes| nodes.len() >= 2).count()
    }

    /// Every index where two nodes reported different digests.
    pub fn mismatches(&self) -> Vec<String> {
        self.at
            .iter()
            .filter_map(|(index, nodes)| {
                let mut distinct: Vec<&String> = nodes.values().collect();
                distinct.sort_unstable();
                distinct.dedup();
                (distinct.len() > 1).then(|| format!("at index {index}: {nodes:?}"))
            })
            .collect()
    }
}

/// Shared by the poller and the run.
pub type Shared = Arc<Mutex<Seen>>;

/// Polls every node's digests every 250 ms until `stop`.
pub fn poller(urls: Vec<String>, stop: Arc<AtomicBool>, seen: Shared) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(500))
        .build();
    while !stop.load(Ordering::Relaxed) {
        poll_once(&agent, &urls, &seen);
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Asks every node once (nodes that do not answer are skipped).
pub fn poll_once(agent: &ureq::Agent, urls: &[String], seen: &Shared) {
    for (i, url) in urls.iter().enumerate() {
        let answer = agent
            .get(&format!("{url}/v1/debug/digests"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        if let Some(answer) = answer {
            seen.lock()
                .expect("digests lock")
                .add(i as u64 + 1, &answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_nodes_that_disagree_at_one_index() {
        let mut seen = Seen::default();
        seen.add(
            1,
            &json!({"digests": [{"index": 64, "digest": "aa"}, {"index": 128, "digest": "bb"}]}),
        );
        seen.add(2, &json!({"digests": [{"index": 64, "digest": "aa"}]}));
        assert_eq!(seen.compared(), 1);
        assert!(seen.mismatches().is_empty());
        seen.add(3, &json!({"digests": [{"index": 128, "digest": "cc"}]}));
        assert_eq!(seen.compared(), 2);
        assert_eq!(seen.mismatches().len(), 1);
    }
}
