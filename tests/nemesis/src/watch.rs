//! The watch workload: clients long-poll `/v1/watch/kv` (the kv workload's keys, with values)
//! and `/v1/watch/services` (the registry workload's service) on different nodes, and resume
//! with `after` on another node whenever theirs fails, is killed or is paused. Checked: each
//! client's stream is in strictly increasing cursor order (nothing doubled, nothing out of
//! order); clients agree on the event at every cursor; no client misses an event another one
//! saw inside its window; every acknowledged kv write inside a kv watcher's window is in its
//! stream. A gap is allowed only where the server answered 410 `compacted`: the client then
//! resynchronizes (a fresh cursor from a state read) and the resync is counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use raftorch_core::orchestrator::Cursor;
use serde_json::Value;

use crate::workload::{Kind, Outcome, Record, PREFIX};

/// How long one long poll waits on the server.
const WAIT_MS: u64 = 1_000;
/// A client moves to another node after this many answers even when nothing failed.
const POLLS_PER_NODE: u64 = 25;

/// What a watch client follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// kv puts and deletes under the kv workload's prefix, with values.
    Kv,
    /// Instances of the registry workload's service.
    Services,
}

impl Topic {
    /// The watch path and query (without `after`).
    fn path(self) -> String {
        match self {
            Topic::Kv => format!("/v1/watch/kv?prefix={PREFIX}&values=true"),
            Topic::Services => format!("/v1/watch/services?service={}", crate::routing::SERVICE),
        }
    }

    /// The state read a resync starts from (its `index` is the new cursor).
    fn resync_path(self) -> String {
        match self {
            Topic::Kv => format!("/v1/kv?prefix={PREFIX}&limit=1"),
            Topic::Services => "/v1/services?limit=1".into(),
        }
    }

    /// A short name.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Kv => "kv",
            Topic::Services => "services",
        }
    }
}

/// One received event: its cursor and its JSON.
#[derive(Clone, Debug)]
pub struct Event {
    /// Where it sits in the history.
    pub cursor: Cursor,
    /// The event as the server rendered it.
    pub body: Value,
    /// The node that sent it.
    pub node: u64,
    /// When it arrived (µs since the epoch).
    pub at_us: u64,
}

/// A stretch of one client's stream with no resync inside: it claims every event of its
/// topic in `(from, to]`.
#[derive(Clone, Debug)]
pub struct Segment {
    /// The cursor it started after.
    pub from: Cursor,
    /// The last `next` received: everything up to it was delivered.
    pub to: Cursor,
    /// The events, as received.
    pub events: Vec<Event>,
}

/// Everything one watch client saw.
#[derive(Clone, Debug)]
pub struct Stream {
    /// The client.
    pub client: u64,
    /// What it followed.
    pub topic: Topic,
    /// Its segments; a new one starts after each resync.
    pub segments: Vec<Segment>,
    /// Answered polls.
    pub polls: u64,
    /// Times it moved to another node (after a failure or by rotation).
    pub reconnects: u64,
    /// 410 `compacted` answers, each followed by a resync.
    pub resyncs: u64,
}

/// Every stream, shared with the run.
pub type Streams = Arc<Mutex<Vec<Stream>>>;

fn get(agent: &ureq::Agent, url: &str) -> Result<Value, Option<u16>> {
    match agent.get(url).call() {
        Ok(r) => r
            .into_string()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or(None),
        Err(ureq::Error::Status(code, _)) => Err(Some(code)),
        Err(ureq::Error::Transport(_)) => Err(None),
    }
}

/// One watch client's loop until `stop`; its stream is `streams[slot]`.
pub fn client(
    slot: usize,
    urls: Vec<String>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    streams: Streams,
) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_millis(WAIT_MS + 2_000))
        .build();
    let (topic, id) = {
        let all = streams.lock().expect("streams lock");
        (all[slot].topic, all[slot].client)
    };
    let mut node = (id as usize) % urls.len();
    let mut after = Cursor::default();
    let mut on_node = 0;
    let with = |f: &mut dyn FnMut(&mut Stream)| f(&mut streams.lock().expect("streams lock")[slot]);
    while !stop.load(Ordering::Relaxed) {
        let url = format!(
            "{}{}&after={after}&wait_ms={WAIT_MS}",
            urls[node],
            topic.path()
        );
        match get(&agent, &url) {
            Ok(page) => {
                let Some(next) = page["next"].as_str().and_then(|t| t.parse::<Cursor>().ok())
                else {
                    continue;
                };
                let at_us = epoch.elapsed().as_micros() as u64;
                let events: Vec<Event> = page["events"]
                    .as_array()
                    .map(|evs| {
                        evs.iter()
                            .map(|e| Event {
                                cursor: Cursor::new(
                                    e["index"].as_u64().unwrap_or(0),
                                    e["pos"].as_u64().unwrap_or(0) as u32,
                                ),
                                body: e.clone(),
                                node: node as u64 + 1,
                                at_us,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                with(&mut |s| {
                    s.polls += 1;
                    let seg = s.segments.last_mut().expect("a segment");
                    seg.events.extend(events.iter().cloned());
                    seg.to = seg.to.max(next);
                });
                after = after.max(next);
                on_node += 1;
                if on_node >= POLLS_PER_NODE {
                    on_node = 0;
                    node = (node + 1) % urls.len();
                    with(&mut |s| s.reconnects += 1);
                }
            }
            Err(Some(410)) => {
                // Only here may a stream skip events: a state read gives a fresh cursor.
                let resync = get(&agent, &format!("{}{}", urls[node], topic.resync_path()));
                if let Some(index) = resync.ok().and_then(|v| v["index"].as_u64()) {
                    after = Cursor::after_entry(index);
                    with(&mut |s| {
                        s.resyncs += 1;
                        s.segments.push(Segment {
                            from: after,
                            to: after,
                            events: Vec::new(),
                        });
                    });
                } else {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            Err(_) => {
                // Down, paused, cut off or without a leader: resume on the next node.
                node = (node + 1) % urls.len();
                on_node = 0;
                with(&mut |s| s.reconnects += 1);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// A fresh stream for client `client` following `topic`.
pub fn stream(client: u64, topic: Topic) -> Stream {
    Stream {
        client,
        topic,
        segments: vec![Segment {
            from: Cursor::default(),
            to: Cursor::default(),
            events: Vec::new(),
        }],
        polls: 0,
        reconnects: 0,
        resyncs: 0,
    }
}

/// The committed history of `topic` as the clients saw it: cursor → event (the first seen).
pub fn merged(streams: &[Stream], topic: Topic) -> BTreeMap<Cursor, Value> {
    let mut all = BTreeMap::new();
    for s in streams.iter().filter(|s| s.topic == topic) {
        for seg in &s.segments {
            for e in &seg.events {
                all.entry(e.cursor).or_insert_with(|| e.body.clone());
            }
        }
    }
    all
}

/// Whether the merged history of `topic` covers `(0, to]` without a gap: every stretch is
/// claimed by some segment. Returns how far it does.
pub fn covered_through(streams: &[Stream], topic: Topic) -> Cursor {
    let mut segs: Vec<(Cursor, Cursor)> = streams
        .iter()
        .filter(|s| s.topic == topic)
        .flat_map(|s| s.segments.iter().map(|g| (g.from, g.to)))
        .collect();
    segs.sort();
    // No event has index 0: the history starts complete.
    let mut through = Cursor::after_entry(0);
    for (from, to) in segs {
        if from <= through {
            through = through.max(to);
        }
    }
    through
}

/// What is wrong with the streams, if anything.
pub fn check(streams: &[Stream], records: &[Record]) -> Vec<String> {
    let mut problems = Vec::new();
    for topic in [Topic::Kv, Topic::Services] {
        let mut seen: BTreeMap<Cursor, (u64, Value)> = BTreeMap::new();
        for s in streams.iter().filter(|s| s.topic == topic) {
            for seg in &s.segments {
                for e in &seg.events {
                    match seen.get(&e.cursor) {
                        Some((other, body)) if *body != e.body => problems.push(format!(
                            "{} watchers {} and {} disagree at {}: {} vs {}",
                            topic.name(),
                            other,
                            s.client,
                            e.cursor,
                            body,
                            e.body
                        )),
                        Some(_) => {}
                        None => {
                            seen.insert(e.cursor, (s.client, e.body.clone()));
                        }
                    }
                }
            }
        }
        for s in streams.iter().filter(|s| s.topic == topic) {
            for seg in &s.segments {
                problems.extend(order_problems(s, seg));
                let mine: std::collections::BTreeSet<Cursor> =
                    seg.events.iter().map(|e| e.cursor).collect();
                let in_window = |c: &Cursor| seg.from < *c && *c <= seg.to;
                if let Some((c, (other, _))) =
                    seen.iter().find(|(c, _)| in_window(c) && !mine.contains(c))
                {
                    problems.push(format!(
                        "{} watcher {} lost the event at {c} (watcher {other} saw it) inside its \
                         window ({}, {}] without a resync",
                        topic.name(),
                        s.client,
                        seg.from,
                        seg.to
                    ));
                }
                if topic == Topic::Kv {
                    problems.extend(missing_writes(s, seg, records));
                }
            }
        }
    }
    problems
}

/// Events out of order, doubled, or outside the segment's window.
fn order_problems(s: &Stream, seg: &Segment) -> Vec<String> {
    let mut out = Vec::new();
    let mut last = seg.from;
    for e in &seg.events {
        if e.cursor <= last {
            out.push(format!(
                "{} watcher {} got {} after {} (doubled or out of order; from node {})",
                s.topic.name(),
                s.client,
                e.cursor,
                last,
                e.node
            ));
        }
        last = last.max(e.cursor);
    }
    if last > seg.to {
        out.push(format!(
            "{} watcher {} got {} past its cursor {}",
            s.topic.name(),
            s.client,
            last,
            seg.to
        ));
    }
    out
}

/// Acknowledged kv writes of entries inside the window that the stream lacks (a put may
/// share its entry with other events, e.g. leases that expired at that entry's time, so any
/// position of the entry counts).
fn missing_writes(s: &Stream, seg: &Segment, records: &[Record]) -> Vec<String> {
    let mut got: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for e in &seg.events {
        got.entry(e.cursor.index).or_default().push(&e.body);
    }
    records
        .iter()
        .filter(|r| r.kind != Kind::Get && r.outcome == Outcome::Written)
        .filter_map(|r| r.index.map(|i| (r, i)))
        .filter(|(_, i)| seg.from < Cursor::new(*i, 0) && Cursor::after_entry(*i) <= seg.to)
        .filter(|(r, i)| {
            !got.get(i).is_some_and(|evs| {
                evs.iter().any(|e| {
                    e["key"].as_str() == Some(&r.key) && e["value"].as_str() == Some(&r.value)
                })
            })
        })
        .take(3)
        .map(|(r, i)| {
            let there = got
                .get(&i)
                .map_or("nothing".to_owned(), |evs| format!("{evs:?}"));
            format!(
                "kv watcher {} lacks the acknowledged write {} = {} at index {i} inside its \
                 window ({}, {}]: it has {there} there",
                s.client, r.key, r.value, seg.from, seg.to
            )
        })
        .collect()
}

/// Every stream as JSON lines (one per received event), for `watch.jsonl`.
pub fn jsonl(streams: &[Stream]) -> String {
    let mut out = String::new();
    for s in streams {
        for (i, seg) in s.segments.iter().enumerate() {
            for e in &seg.events {
                let line = serde_json::json!({
                    "client": s.client, "topic": s.topic.name(), "segment": i,
                    "node": e.node, "at_us": e.at_us, "event": e.body,
                });
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
    }
    out
}

/// Events delivered, over every stream.
pub fn delivered(streams: &[Stream]) -> usize {
    streams
        .iter()
        .flat_map(|s| &s.segments)
        .map(|g| g.events.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(index: u64) -> Event {
        Event {
            cursor: Cursor::new(index, 0),
            body: json!({"index": index, "key": format!("k{index}")}),
            node: 1,
            at_us: 0,
        }
    }

    fn kv_stream(client: u64, from: u64, to: u64, events: &[u64]) -> Stream {
        let mut s = stream(client, Topic::Kv);
        s.segments[0] = Segment {
            from: Cursor::after_entry(from),
            to: Cursor::after_entry(to),
            events: events.iter().map(|&i| ev(i)).collect(),
        };
        s
    }

    #[test]
    fn finds_lost_doubled_and_disagreeing_events() {
        let good = [
            kv_stream(1, 0, 10, &[2, 5, 9]),
            kv_stream(2, 3, 10, &[5, 9]),
        ];
        assert!(check(&good, &[]).is_empty(), "{:?}", check(&good, &[]));
        let lost = [
            kv_stream(1, 0, 10, &[2, 5, 9]),
            kv_stream(2, 0, 10, &[2, 9]),
        ];
        assert_eq!(check(&lost, &[]).len(), 1);
        let doubled = [kv_stream(1, 0, 10, &[2, 5, 5, 9])];
        assert_eq!(check(&doubled, &[]).len(), 1);
        let mut other = kv_stream(2, 0, 10, &[2, 5, 9]);
        other.segments[0].events[1].body = json!({"index": 5, "key": "x"});
        assert!(!check(&[kv_stream(1, 0, 10, &[2, 5, 9]), other], &[]).is_empty());
        assert_eq!(covered_through(&good, Topic::Kv), Cursor::after_entry(10));
    }
}
