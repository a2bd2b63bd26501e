//! What the SVG shows, computed from the cluster: node summaries, ring positions, and packets
//! placed along their link by interpolating send and delivery times.

use raftorch_core::engine::PeerMessage;
use raftorch_core::orchestrator::Orchestrator;
use raftorch_core::raft::{LogIndex, MessageBody, MessageKind, NodeId, Term};
use raftorch_core::sim::{Packet, SimNode};

/// The ring's geometry in SVG user units: centre and radius.
pub const RING: (f64, f64, f64) = (300.0, 290.0, 215.0);

/// A node circle's radius in SVG user units (the same at every cluster size: the ring has room
/// for seven, see the tests).
pub const NODE_RADIUS: f64 = 46.0;

/// The keyboard focus ring's radius, the outermost ring drawn around a node: outside the
/// election timer (R + 7) and the partition side marker (R + 14). Its stroke is 3 units wide.
pub const FOCUS_RING_RADIUS: f64 = NODE_RADIUS + 18.0;

/// The longest role label, in characters, that fits inside a node circle at its font size.
pub const ROLE_LABEL_MAX: usize = 9;

/// A role as written inside a node's circle: "pre-candidate" is too wide for it, so it is
/// shortened (the tooltip, legend and aria-label keep the full word).
pub fn role_label(role: &str) -> &str {
    match role {
        "precandidate" => "pre-cand.",
        other => other,
    }
}

/// How many of the newest log entries a node's strip shows.
const STRIP: usize = 24;

/// Node `id`'s centre, of `n` nodes, starting at the top and going clockwise.
pub fn node_position(id: NodeId, n: u64) -> (f64, f64) {
    let (cx, cy, r) = RING;
    let angle =
        core::f64::consts::TAU * (id as f64 - 1.0) / n.max(1) as f64 - core::f64::consts::FRAC_PI_2;
    (cx + r * angle.cos(), cy + r * angle.sin())
}

/// A node as drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    /// Id.
    pub id: NodeId,
    /// `leader`, `follower`, `candidate`, `precandidate` or `down`.
    pub role: &'static str,
    /// Whether paused.
    pub paused: bool,
    /// Current term (the durable one while down).
    pub term: Term,
    /// Commit index.
    pub commit: LogIndex,
    /// Applied index.
    pub applied: LogIndex,
    /// Last log index.
    pub last_index: LogIndex,
    /// Index covered by the snapshot (compacted away).
    pub snapshot_index: LogIndex,
    /// Fraction of the election timeout left, 0..=1 (followers and candidates).
    pub timer_left: Option<f64>,
    /// The leader it knows.
    pub leader: Option<NodeId>,
    /// Whom it voted for this term.
    pub vote: Option<NodeId>,
    /// The newest entries: (index, term).
    pub entries: Vec<(LogIndex, Term)>,
}

impl NodeView {
    /// Summarizes a simulated node.
    pub fn of(node: &SimNode<Orchestrator>) -> NodeView {
        let all = node.storage.all_entries();
        let entries = all
            .iter()
            .rev()
            .take(STRIP)
            .rev()
            .map(|e| (e.index, e.term))
            .collect();
        let hard = node.storage.hard_state();
        let snapshot_index = all.first().map_or(0, |e| e.index.saturating_sub(1));
        match node.raw().map(|raw| raw.status()) {
            Some(status) => {
                let timer_left = (status.role != raftorch_core::raft::Role::Leader).then(|| {
                    let timeout = status.election_timeout.max(1) as f64;
                    (1.0 - status.election_elapsed as f64 / timeout).clamp(0.0, 1.0)
                });
                NodeView {
                    id: node.id,
                    role: status.role.as_str(),
                    paused: node.paused,
                    term: status.term,
                    commit: status.commit,
                    applied: node.applied(),
                    last_index: status.last_index,
                    snapshot_index: status.snapshot_index,
                    timer_left,
                    leader: status.leader,
                    vote: status.vote,
                    entries,
                }
            }
            None => NodeView {
                id: node.id,
                role: "down",
                paused: false,
                term: hard.term,
                commit: hard.commit,
                applied: 0,
                last_index: all.last().map_or(snapshot_index, |e| e.index),
                snapshot_index,
                timer_left: None,
                leader: None,
                vote: hard.vote,
                entries,
            },
        }
    }
}

/// What a packet is, for its shape and color.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// Pre-vote or vote request.
    VoteRequest,
    /// A vote answer: granted or not.
    VoteResponse(bool),
    /// Entries to append.
    Append,
    /// Append answer.
    AppendResponse,
    /// Heartbeat.
    Heartbeat,
    /// Heartbeat answer.
    HeartbeatResponse,
    /// A whole snapshot.
    Snapshot,
    /// "Campaign now" (leadership transfer).
    TimeoutNow,
    /// Read-index round trip.
    ReadIndex,
    /// A client write forwarded from a follower to the leader, or the answer.
    Forward(bool),
}

impl PacketKind {
    /// CSS class and legend key.
    pub fn class(self) -> &'static str {
        match self {
            PacketKind::VoteRequest => "vote",
            PacketKind::VoteResponse(true) => "vote-yes",
            PacketKind::VoteResponse(false) => "vote-no",
            PacketKind::Append => "append",
            PacketKind::AppendResponse => "append-resp",
            PacketKind::Heartbeat => "heartbeat",
            PacketKind::HeartbeatResponse => "heartbeat-resp",
            PacketKind::Snapshot => "snapshot",
            PacketKind::TimeoutNow => "timeout-now",
            PacketKind::ReadIndex => "read-index",
            PacketKind::Forward(false) => "forward",
            PacketKind::Forward(true) => "forward-reply",
        }
    }

    /// Legend text.
    pub fn label(self) -> &'static str {
        match self {
            PacketKind::VoteRequest => "vote request",
            PacketKind::VoteResponse(true) => "vote granted",
            PacketKind::VoteResponse(false) => "vote refused",
            PacketKind::Append => "append entries",
            PacketKind::AppendResponse => "append reply",
            PacketKind::Heartbeat => "heartbeat",
            PacketKind::HeartbeatResponse => "heartbeat reply",
            PacketKind::Snapshot => "snapshot",
            PacketKind::TimeoutNow => "timeout-now",
            PacketKind::ReadIndex => "read index",
            PacketKind::Forward(false) => "forwarded write",
            PacketKind::Forward(true) => "forward reply",
        }
    }

    /// Every kind, in legend order.
    pub const ALL: [PacketKind; 12] = [
        PacketKind::VoteRequest,
        PacketKind::VoteResponse(true),
        PacketKind::VoteResponse(false),
        PacketKind::Heartbeat,
        PacketKind::HeartbeatResponse,
        PacketKind::Append,
        PacketKind::AppendResponse,
        PacketKind::Snapshot,
        PacketKind::TimeoutNow,
        PacketKind::ReadIndex,
        PacketKind::Forward(false),
        PacketKind::Forward(true),
    ];
}

/// A packet as drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct PacketView {
    /// Packet id.
    pub id: u64,
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// How far along, 0..=1.
    pub progress: f64,
    /// What it is.
    pub kind: PacketKind,
    /// Entries carried (appends).
    pub entries: usize,
    /// A tooltip.
    pub title: String,
    /// Every field, for the message's details: (name, value).
    pub fields: Vec<(&'static str, String)>,
}

/// Places a packet at view time `now`.
pub fn packet_view(packet: &Packet<Orchestrator>, now: f64) -> PacketView {
    let span = packet.deliver_at.saturating_sub(packet.sent_at).max(1) as f64;
    let progress = ((now - packet.sent_at as f64) / span).clamp(0.0, 1.0);
    let (kind, entries, title) = match &packet.payload {
        PeerMessage::Raft(message) => {
            let (kind, entries) = match &message.body {
                MessageBody::PreVoteResponse { granted, .. }
                | MessageBody::VoteResponse { granted, .. } => {
                    (PacketKind::VoteResponse(*granted), 0)
                }
                MessageBody::Append { entries, .. } if entries.is_empty() => {
                    (PacketKind::Heartbeat, 0)
                }
                MessageBody::Append { entries, .. } => (PacketKind::Append, entries.len()),
                body => (
                    match body.kind() {
                        MessageKind::PreVote | MessageKind::Vote => PacketKind::VoteRequest,
                        MessageKind::AppendResponse => PacketKind::AppendResponse,
                        MessageKind::Heartbeat => PacketKind::Heartbeat,
                        MessageKind::HeartbeatResponse => PacketKind::HeartbeatResponse,
                        MessageKind::Snapshot => PacketKind::Snapshot,
                        MessageKind::TimeoutNow => PacketKind::TimeoutNow,
                        _ => PacketKind::ReadIndex,
                    },
                    0,
                ),
            };
            let title = format!(
                "{} {}→{} (term {})",
                message.body.kind().as_str(),
                packet.from,
                packet.to,
                message.term
            );
            (kind, entries, title)
        }
        PeerMessage::Forward { .. } => (
            PacketKind::Forward(false),
            1,
            format!("forwarded write {}→{}", packet.from, packet.to),
        ),
        PeerMessage::ForwardReply { .. } => (
            PacketKind::Forward(true),
            0,
            format!("forward reply {}→{}", packet.from, packet.to),
        ),
        // A snapshot travels in chunks: each is drawn as the snapshot square, each
        // acknowledgement as a hollow square like an append's answer.
        PeerMessage::SnapshotChunk(chunk) => (
            PacketKind::Snapshot,
            0,
            format!(
                "snapshot chunk {}→{} (bytes {}–{} of {})",
                packet.from,
                packet.to,
                chunk.offset,
                chunk.offset + chunk.data.len() as u64,
                chunk.total_len
            ),
        ),
        PeerMessage::SnapshotAck(ack) => (
            PacketKind::AppendResponse,
            0,
            format!(
                "snapshot ack {}→{} ({} bytes held)",
                packet.from, packet.to, ack.received
            ),
        ),
    };
    let body = match &packet.payload {
        PeerMessage::Raft(message) => {
            let mut fields = vec![("term", message.term.to_string())];
            fields.extend(body_fields(&message.body));
            fields
        }
        PeerMessage::Forward { .. } => vec![("carries", "a client write for the leader".into())],
        PeerMessage::ForwardReply { .. } => vec![("carries", "the leader's answer".into())],
        PeerMessage::SnapshotChunk(chunk) => vec![
            ("term", chunk.term.to_string()),
            ("kind", "snapshot chunk".into()),
            ("snapshot index", chunk.meta.index.to_string()),
            ("offset", chunk.offset.to_string()),
            ("bytes", chunk.data.len().to_string()),
            ("snapshot size", chunk.total_len.to_string()),
        ],
        PeerMessage::SnapshotAck(ack) => vec![
            ("kind", "snapshot ack".into()),
            ("snapshot index", ack.index.to_string()),
            ("bytes held", ack.received.to_string()),
        ],
    };
    let mut fields = vec![
        ("message", format!("#{}", packet.id)),
        ("from → to", format!("{} → {}", packet.from, packet.to)),
        ("sent at", format!("{} ms", packet.sent_at)),
        ("arrives at", format!("{} ms", packet.deliver_at)),
    ];
    fields.extend(body);
    PacketView {
        id: packet.id,
        from: packet.from,
        to: packet.to,
        progress,
        kind,
        entries,
        title,
        fields,
    }
}

/// A message body's fields as text: its kind, then its own fields (entry payloads summarized as
/// a count and their indexes, a snapshot as where it sits).
fn body_fields(body: &MessageBody) -> Vec<(&'static str, String)> {
    let s = |v: &dyn core::fmt::Display| v.to_string();
    let mut fields = vec![("kind", body.kind().as_str().to_string())];
    match body {
        MessageBody::PreVote {
            last_index,
            last_term,
        } => {
            fields.extend([("last index", s(last_index)), ("last term", s(last_term))]);
        }
        MessageBody::Vote {
            last_index,
            last_term,
            transfer,
        } => fields.extend([
            ("last index", s(last_index)),
            ("last term", s(last_term)),
            ("leadership transfer", s(transfer)),
        ]),
        MessageBody::PreVoteResponse { granted } | MessageBody::VoteResponse { granted } => {
            fields.push(("granted", s(granted)));
        }
        MessageBody::Append {
            prev_index,
            prev_term,
            entries,
            commit,
        } => {
            let span = match (entries.first(), entries.last()) {
                (Some(first), Some(last)) => {
                    format!("{} (#{}–#{})", entries.len(), first.index, last.index)
                }
                _ => "none".into(),
            };
            fields.extend([
                ("previous index", s(prev_index)),
                ("previous term", s(prev_term)),
                ("entries", span),
                ("leader commit", s(commit)),
            ]);
        }
        MessageBody::AppendAccepted { match_index } => fields.push(("match index", s(match_index))),
        MessageBody::AppendRejected {
            rejected_index,
            hint_index,
            hint_term,
        } => fields.extend([
            ("rejected index", s(rejected_index)),
            ("hint index", s(hint_index)),
            ("hint term", s(hint_term)),
        ]),
        MessageBody::Heartbeat { commit, seq } => {
            fields.extend([("leader commit", s(commit)), ("sequence", s(seq))]);
        }
        MessageBody::HeartbeatResponse { seq } => fields.push(("sequence", s(seq))),
        MessageBody::InstallSnapshot { snapshot } => fields.extend([
            ("snapshot index", s(&snapshot.meta.index)),
            ("snapshot term", s(&snapshot.meta.term)),
        ]),
        MessageBody::TimeoutNow => {}
        MessageBody::ReadIndex { ctx } => fields.push(("read id", s(ctx))),
        MessageBody::ReadIndexResponse { ctx, index } => {
            fields.extend([("read id", s(ctx)), ("read index", s(index))]);
        }
    }
    fields
}
