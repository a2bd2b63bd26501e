//! Peer round-trip times, measured by the leader on its heartbeats: the time from queueing
//! `Heartbeat { seq }` to a peer until that peer's `HeartbeatResponse { seq }` is stepped. It
//! includes the peer's queueing (e.g. behind an fsync), which is what a read waits for.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use raftorch_core::raft::{Message, MessageBody, NodeId};

/// Heartbeats sent and not yet answered are forgotten past this many (lost ones never are).
const MAX_OUTSTANDING: usize = 4096;
/// An unanswered heartbeat older than this is forgotten when the table is trimmed.
const FORGET_AFTER: Duration = Duration::from_secs(5);

/// The send times of heartbeats still waiting for an answer.
#[derive(Debug, Default)]
pub(super) struct RoundTrips {
    sent: HashMap<(NodeId, u64), Instant>,
}

impl RoundTrips {
    /// Notes an outgoing message (only heartbeats count).
    pub(super) fn on_send(&mut self, m: &Message) {
        if let MessageBody::Heartbeat { seq, .. } = m.body {
            if self.sent.len() >= MAX_OUTSTANDING {
                let now = Instant::now();
                self.sent
                    .retain(|_, at| now.duration_since(*at) < FORGET_AFTER);
                if self.sent.len() >= MAX_OUTSTANDING {
                    self.sent.clear();
                }
            }
            self.sent.insert((m.to, seq), Instant::now());
        }
    }

    /// The round trip an incoming heartbeat answer completes, if its heartbeat was noted.
    pub(super) fn on_receive(&mut self, m: &Message) -> Option<Duration> {
        match m.body {
            MessageBody::HeartbeatResponse { seq } => {
                self.sent.remove(&(m.from, seq)).map(|at| at.elapsed())
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: NodeId, to: NodeId, body: MessageBody) -> Message {
        Message {
            from,
            to,
            term: 1,
            body,
        }
    }

    #[test]
    fn an_answer_completes_the_round_trip_of_its_own_heartbeat_once() {
        let mut rt = RoundTrips::default();
        rt.on_send(&message(1, 2, MessageBody::Heartbeat { commit: 0, seq: 7 }));
        let other = message(3, 1, MessageBody::HeartbeatResponse { seq: 7 });
        assert_eq!(rt.on_receive(&other), None, "node 3 was not sent seq 7");
        let answer = message(2, 1, MessageBody::HeartbeatResponse { seq: 7 });
        assert!(rt.on_receive(&answer).is_some());
        assert_eq!(
            rt.on_receive(&answer),
            None,
            "a duplicate answer counts once"
        );
    }

    #[test]
    fn the_table_stays_bounded_when_answers_never_come() {
        let mut rt = RoundTrips::default();
        for seq in 0..(3 * MAX_OUTSTANDING as u64) {
            rt.on_send(&message(1, 2, MessageBody::Heartbeat { commit: 0, seq }));
        }
        assert!(rt.sent.len() <= MAX_OUTSTANDING);
    }
}
