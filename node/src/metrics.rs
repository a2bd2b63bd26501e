//! Counters the node keeps and their Prometheus text exposition (written by hand: a dozen
//! series do not justify a metrics framework).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// A latency histogram in Prometheus' cumulative form, over fixed buckets from 100 µs to 1 s.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    count: AtomicU64,
    micros: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        self.count.fetch_add(1, Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
    }

    /// Appends the series `name` (with its help text) to `out`.
    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let total = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let sum = self.micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {total}");
    }
}

/// Process-wide counters, updated with relaxed atomics from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Client proposals accepted by the local Raft node (as leader).
    pub proposals: AtomicU64,
    /// Proposals refused locally (not leader, dropped).
    pub proposals_refused: AtomicU64,
    /// Proposals whose entry was replaced by another leader's.
    pub proposals_lost: AtomicU64,
    /// Writes forwarded to the leader.
    pub forwarded: AtomicU64,
    /// Heartbeats (or heartbeat responses) sent again while the loop waited on the disk.
    pub keepalives_sent: AtomicU64,
    /// Campaigns started (pre-candidate or candidate).
    pub elections: AtomicU64,
    /// Times this node became leader.
    pub became_leader: AtomicU64,
    /// Reads served, any consistency.
    pub reads: AtomicU64,
    /// Entries made durable.
    pub entries_persisted: AtomicU64,
    /// Raft messages queued to peers.
    pub messages_sent: AtomicU64,
    /// Raft messages dropped because a peer's queue was full.
    pub messages_dropped: AtomicU64,
    /// Of `messages_dropped`: those refused because the peer's queue held its bound in
    /// messages or in bytes ([`crate::transport::PEER_QUEUE_BYTES`]).
    pub peer_queue_full: AtomicU64,
    /// Raft messages received.
    pub messages_received: AtomicU64,
    /// Snapshots taken locally.
    pub snapshots: AtomicU64,
    /// Snapshots that failed without stopping the node: ones from the leader that were refused
    /// because they do not restore (failing to take or write one here stops the node).
    pub snapshot_failures: AtomicU64,
    /// Snapshot chunks sent to followers (resends included).
    pub snapshot_chunks_sent: AtomicU64,
    /// Snapshot bytes sent in chunks.
    pub snapshot_chunk_bytes_sent: AtomicU64,
    /// Snapshot chunks received and taken (in order, checksum valid).
    pub snapshot_chunks_received: AtomicU64,
    /// Snapshot bytes received in chunks.
    pub snapshot_chunk_bytes_received: AtomicU64,
    /// Snapshot transfers resumed from an acknowledged offset above 0.
    pub snapshot_transfers_resumed: AtomicU64,
    /// Snapshot transfers started over from 0 (checksum mismatch, receiver lost its part).
    pub snapshot_transfers_restarted: AtomicU64,
    /// Snapshot chunks, or whole assembled snapshots, whose checksum did not match.
    pub snapshot_chunks_corrupt: AtomicU64,
    /// Peer connections dropped for a protocol error.
    pub bad_frames: AtomicU64,
    /// Peer connections refused at the handshake (another cluster or protocol, no handshake).
    pub peer_handshakes_refused: AtomicU64,
    /// Peer frames dropped because they were not from the connection's peer to this node.
    pub peer_frames_refused: AtomicU64,
    /// Peer connections refused by TLS: plain TCP, no or an untrusted certificate, or one that
    /// does not name the node the handshake claims (or, outbound, the node dialled).
    pub peer_tls_refused: AtomicU64,
    /// Peer connections closed because they sent nothing for the idle timeout.
    pub peer_idle_closed: AtomicU64,
    /// API connections closed at once because the connection cap was reached.
    pub api_connections_refused: AtomicU64,
    /// API requests answered 401: no token, or one the auth file does not hold.
    pub api_unauthenticated: AtomicU64,
    /// API requests answered 403: the token's role or prefixes do not cover them.
    pub api_permission_denied: AtomicU64,
    /// API requests answered 429, by token: its rate limit was reached.
    pub api_rate_limited: crate::auth::rate::RateLimitedCounts,
    /// Long-polls (watches, lock and election waits) waiting now.
    pub long_poll_waiters: AtomicU64,
    /// Long-polls refused with 503 because `--max-watchers` were waiting.
    pub long_poll_refused: AtomicU64,
    /// Watches woken to read again: by an event they pass (or all of them, when the events
    /// could not be told apart: a compacted history, a very large batch).
    pub long_poll_wakeups: AtomicU64,
    /// Time to make one `Ready` durable (log append + fsync).
    pub persist: LatencyHistogram,
    /// Leader-measured heartbeat round trips to peers.
    pub peer_round_trip: LatencyHistogram,
    /// The storage quota, the disk and the space alarms.
    pub space: crate::space::SpaceMetrics,
    /// Owner-loop rounds (wake, step, one `Ready`, applies, answers): how long heartbeats and
    /// votes may wait behind the work in front of them.
    pub owner_round: LatencyHistogram,
    /// The longest owner-loop round since the node started (µs).
    pub owner_stall_max_micros: AtomicU64,
    /// The last snapshot taken here: µs to serialize the state (on the owner loop), µs to
    /// save it and compact the log (on the disk thread), and its size.
    pub snapshot_last: [AtomicU64; 3],
}

/// Gauges read from the node's state when rendering.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    /// Node id.
    pub id: u64,
    /// Current term.
    pub term: u64,
    /// 0 follower, 1 pre-candidate, 2 candidate, 3 leader.
    pub role: u8,
    /// Commit index.
    pub commit: u64,
    /// Applied index.
    pub applied: u64,
    /// Last log index.
    pub last_index: u64,
    /// Snapshot index.
    pub snapshot_index: u64,
    /// Known leader, 0 if none.
    pub leader: u64,
}

impl Metrics {
    /// Records one owner-loop round.
    pub fn observe_owner_round(&self, elapsed: Duration) {
        self.owner_round.observe(elapsed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.owner_stall_max_micros.fetch_max(micros, Relaxed);
    }

    /// Records a snapshot taken here: serialized in `serialize`, saved in `save`, `bytes` long.
    pub fn observe_snapshot(&self, serialize: Duration, save: Duration, bytes: u64) {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.snapshot_last[0].store(micros(serialize), Relaxed);
        self.snapshot_last[1].store(micros(save), Relaxed);
        self.snapshot_last[2].store(bytes, Relaxed);
    }

    /// Records one persist (entries + fsync) of `elapsed` covering `entries` entries.
    pub fn observe_persist(&self, elapsed: Duration, entries: usize) {
        self.persist.observe(elapsed);
        self.entries_persisted.fetch_add(entries as u64, Relaxed);
    }

    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP raftorch_{name} {help}\n# TYPE raftorch_{name} gauge"
            );
            let _ = writeln!(out, "raftorch_{name} {v}");
        };
        gauge("node_id", "This node's id.", g.id);
        gauge("term", "Current Raft term.", g.term);
        gauge(
            "role",
            "0 follower, 1 pre-candidate, 2 candidate, 3 leader.",
            u64::from(g.role),
        );
        gauge("leader_id", "Known leader (0: none).", g.leader);
        gauge("commit_index", "Raft commit index.", g.commit);
        gauge(
            "applied_index",
            "Index applied to the state machine.",
            g.applied,
        );
        gauge("last_index", "Last log index.", g.last_index);
        gauge(
            "snapshot_index",
            "Index of the newest snapshot.",
            g.snapshot_index,
        );
        gauge(
            "long_poll_waiters",
            "Long-polls (watches, lock and election waits) waiting now.",
            self.long_poll_waiters.load(Relaxed),
        );
        let counters: [(&str, &str, &AtomicU64); 32] = [
            (
                "proposals_total",
                "Proposals accepted locally.",
                &self.proposals,
            ),
            (
                "proposals_refused_total",
                "Proposals refused locally.",
                &self.proposals_refused,
            ),
            (
                "proposals_lost_total",
                "Proposals overwritten by another leader.",
                &self.proposals_lost,
            ),
            (
                "forwarded_total",
                "Writes forwarded to the leader.",
                &self.forwarded,
            ),
            (
                "keepalives_sent_total",
                "Heartbeats or heartbeat responses sent again while the loop waited on the disk.",
                &self.keepalives_sent,
            ),
            ("elections_total", "Campaigns started.", &self.elections),
            (
                "became_leader_total",
                "Times this node became leader.",
                &self.became_leader,
            ),
            ("reads_total", "Reads served.", &self.reads),
            (
                "entries_persisted_total",
                "Entries made durable.",
                &self.entries_persisted,
            ),
            (
                "messages_sent_total",
                "Raft messages queued to peers.",
                &self.messages_sent,
            ),
            (
                "messages_dropped_total",
                "Raft messages dropped (queue full).",
                &self.messages_dropped,
            ),
            (
                "peer_queue_full_total",
                "Messages dropped because a peer's queue was full (in messages or bytes).",
                &self.peer_queue_full,
            ),
            (
                "messages_received_total",
                "Raft messages received.",
                &self.messages_received,
            ),
            (
                "snapshots_total",
                "Snapshots taken locally.",
                &self.snapshots,
            ),
            (
                "snapshot_failures_total",
                "Snapshots from the leader refused because they do not restore.",
                &self.snapshot_failures,
            ),
            (
                "snapshot_chunks_sent_total",
                "Snapshot chunks sent to followers (resends included).",
                &self.snapshot_chunks_sent,
            ),
            (
                "snapshot_chunk_bytes_sent_total",
                "Snapshot bytes sent in chunks.",
                &self.snapshot_chunk_bytes_sent,
            ),
            (
                "snapshot_chunks_received_total",
                "Snapshot chunks received in order with a valid checksum.",
                &self.snapshot_chunks_received,
            ),
            (
                "snapshot_chunk_bytes_received_total",
                "Snapshot bytes received in chunks.",
                &self.snapshot_chunk_bytes_received,
            ),
            (
                "snapshot_transfers_resumed_total",
                "Snapshot transfers resumed from an acknowledged offset.",
                &self.snapshot_transfers_resumed,
            ),
            (
                "snapshot_transfers_restarted_total",
                "Snapshot transfers started over from offset 0.",
                &self.snapshot_transfers_restarted,
            ),
            (
                "snapshot_chunks_corrupt_total",
                "Snapshot chunks or assembled snapshots whose checksum did not match.",
                &self.snapshot_chunks_corrupt,
            ),
            (
                "bad_frames_total",
                "Peer connections dropped for bad frames.",
                &self.bad_frames,
            ),
            (
                "peer_handshakes_refused_total",
                "Peer connections refused at the handshake (other cluster or protocol).",
                &self.peer_handshakes_refused,
            ),
            (
                "peer_frames_refused_total",
                "Peer frames dropped: not from the connection's peer to this node.",
                &self.peer_frames_refused,
            ),
            (
                "peer_tls_refused_total",
                "Peer connections refused by TLS: plain, untrusted, or not the node claimed.",
                &self.peer_tls_refused,
            ),
            (
                "peer_idle_closed_total",
                "Peer connections closed after the idle timeout.",
                &self.peer_idle_closed,
            ),
            (
                "api_connections_refused_total",
                "API connections closed at once: the connection cap was reached.",
                &self.api_connections_refused,
            ),
            (
                "long_poll_refused_total",
                "Long-polls refused with 503: --max-watchers were waiting.",
                &self.long_poll_refused,
            ),
            (
                "long_poll_wakeups_total",
                "Watches woken to read again by an event they pass.",
                &self.long_poll_wakeups,
            ),
            (
                "api_unauthenticated_total",
                "API requests refused with 401: no token, or an unknown one.",
                &self.api_unauthenticated,
            ),
            (
                "api_permission_denied_total",
                "API requests refused with 403: the token's role or prefixes fall short.",
                &self.api_permission_denied,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP raftorch_{name} {help}\n# TYPE raftorch_{name} counter"
            );
            let _ = writeln!(out, "raftorch_{name} {}", c.load(Relaxed));
        }
        self.persist.render(
            &mut out,
            "raftorch_persist_duration_seconds",
            "Time to make one Ready durable (log append + fsync).",
        );
        self.peer_round_trip.render(
            &mut out,
            "raftorch_peer_round_trip_seconds",
            "Leader heartbeat to a peer until its answer is stepped.",
        );
        self.owner_round.render(
            &mut out,
            "raftorch_owner_loop_round_seconds",
            "One owner-loop round: stepping inputs, one Ready (its fsync included), applies, answers.",
        );
        let stall = self.owner_stall_max_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "# HELP raftorch_owner_loop_stall_seconds The longest owner-loop round since start: \
             the longest heartbeats and votes waited.\n# TYPE raftorch_owner_loop_stall_seconds \
             gauge\nraftorch_owner_loop_stall_seconds {stall}"
        );
        let [serialize, save, bytes] = &self.snapshot_last;
        let gauges = [
            (
                "snapshot_last_serialize_seconds",
                "Time the owner loop took to serialize the last snapshot taken here.",
                serialize.load(Relaxed) as f64 / 1e6,
            ),
            (
                "snapshot_last_save_seconds",
                "Time to save the last snapshot taken here and compact the log (disk thread).",
                save.load(Relaxed) as f64 / 1e6,
            ),
            (
                "snapshot_last_bytes",
                "Size of the last snapshot taken here.",
                bytes.load(Relaxed) as f64,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP raftorch_{name} {help}\n# TYPE raftorch_{name} gauge\nraftorch_{name} {value}"
            );
        }
        self.api_rate_limited.render(&mut out);
        self.space.render(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_persist(Duration::from_micros(50), 3);
        m.observe_persist(Duration::from_millis(3), 1);
        m.observe_persist(Duration::from_secs(2), 1);
        let text = m.render(&Gauges::default());
        assert!(text.contains("raftorch_persist_duration_seconds_bucket{le=\"0.0001\"} 1"));
        assert!(text.contains("raftorch_persist_duration_seconds_bucket{le=\"0.005\"} 2"));
        assert!(text.contains("raftorch_persist_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("raftorch_entries_persisted_total 5"));
        m.peer_round_trip.observe(Duration::from_micros(300));
        let text = m.render(&Gauges::default());
        assert!(text.contains("raftorch_peer_round_trip_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("raftorch_peer_round_trip_seconds_count 1"));
        m.observe_owner_round(Duration::from_millis(7));
        m.observe_owner_round(Duration::from_millis(2));
        let text = m.render(&Gauges::default());
        assert!(text.contains("raftorch_owner_loop_round_seconds_count 2"));
        assert!(
            text.contains("raftorch_owner_loop_stall_seconds 0.007\n"),
            "{text}"
        );
        m.observe_snapshot(Duration::from_millis(30), Duration::from_millis(5), 4096);
        let text = m.render(&Gauges::default());
        assert!(
            text.contains("raftorch_snapshot_last_serialize_seconds 0.03\n"),
            "{text}"
        );
        assert!(
            text.contains("raftorch_snapshot_last_bytes 4096\n"),
            "{text}"
        );
    }
}
