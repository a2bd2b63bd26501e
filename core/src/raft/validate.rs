//! What a node refuses to step, before any of it can move state: messages from senders that have
//! no business sending them, and messages whose terms, indexes or entries cannot come from an
//! honest peer. A refused message is counted and otherwise ignored; it never panics, is never
//! answered and never reaches the log, so a hostile or buggy peer cannot make a node persist a
//! log that does not hold together.

use super::entry::{Entry, Snapshot};
use super::message::{Message, MessageBody};
use super::node::Raft;
use super::types::{LogIndex, Term};

/// Terms and indexes at or above this bound are absurd and refused. No honest cluster comes near
/// it (2^62 elections or entries), and below it every `+ 1`, and every sum of an index with an
/// entry count, stays far from overflowing.
pub(crate) const MAX_SANE: u64 = 1 << 62;

impl Raft {
    /// Whether `m` may be stepped: a plausible sender and a well-formed body.
    pub(crate) fn admits(&self, m: &Message) -> bool {
        m.from != 0
            && m.from != self.id
            && m.term < MAX_SANE
            && self.sender_may_send(m)
            && self.well_formed(m)
    }

    /// Answers and requests are only taken from members; leadership traffic only from a member
    /// (or, while this node knows no voters at all, from whoever leads: a joining node learns the
    /// membership from its leader); a transfer only from the leader we follow in this term.
    ///
    /// The membership is the applied one, so this trades a little liveness: a follower that has
    /// not yet applied the addition of a voter ignores that voter's vote requests, and, should
    /// it win leadership first, its appends, until a leader this follower knows takes over (the
    /// other voters can still elect and commit). etcd avoids this by refusing only ids it saw
    /// removed; the applied `ConfState` records no removed ids.
    fn sender_may_send(&self, m: &Message) -> bool {
        let from = m.from;
        let member = self.tracker.conf.contains(from);
        match m.body {
            MessageBody::PreVote { .. } | MessageBody::Vote { .. } => self.tracker.is_voter(from),
            MessageBody::PreVoteResponse { .. }
            | MessageBody::VoteResponse { .. }
            | MessageBody::AppendAccepted { .. }
            | MessageBody::AppendRejected { .. }
            | MessageBody::HeartbeatResponse { .. }
            | MessageBody::ReadIndex { .. } => member,
            MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. } => member || self.tracker.conf.voters.is_empty(),
            MessageBody::TimeoutNow => member && m.term == self.term && self.leader == Some(from),
            MessageBody::ReadIndexResponse { .. } => {
                m.term == self.term && self.leader == Some(from)
            }
        }
    }

    /// Whether the body could come from an honest peer in term `m.term`.
    fn well_formed(&self, m: &Message) -> bool {
        let term = m.term;
        match &m.body {
            MessageBody::PreVote {
                last_index,
                last_term,
            }
            | MessageBody::Vote {
                last_index,
                last_term,
                ..
            } => *last_index < MAX_SANE && *last_term <= term,
            MessageBody::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                *commit < MAX_SANE
                    && *prev_index < MAX_SANE
                    && *prev_term <= term
                    && entries_follow(*prev_index, *prev_term, term, entries)
            }
            // We never sent an append beyond our own log: an acknowledgement of more is absurd.
            MessageBody::AppendAccepted { match_index } => *match_index <= self.log.last_index(),
            MessageBody::AppendRejected {
                rejected_index,
                hint_index,
                hint_term,
            } => {
                *rejected_index <= self.log.last_index()
                    && hint_index <= rejected_index
                    && *hint_term <= term
            }
            MessageBody::Heartbeat { commit, .. } => *commit < MAX_SANE,
            // Only rounds we started can be acknowledged (`seq` 0 is a stale leader's nudge).
            MessageBody::HeartbeatResponse { seq } => *seq <= self.read_only.seq,
            MessageBody::InstallSnapshot { snapshot } => snapshot_is_plausible(snapshot, term),
            MessageBody::ReadIndexResponse { index, .. } => *index < MAX_SANE,
            MessageBody::PreVoteResponse { .. }
            | MessageBody::VoteResponse { .. }
            | MessageBody::TimeoutNow
            | MessageBody::ReadIndex { .. } => true,
        }
    }
}

/// Raft's shape of an append: entries at `prev_index + 1, prev_index + 2, ...`, with terms that
/// never go down, start at or above `prev_term`, are positive and are at most the leader's term.
pub(crate) fn entries_follow(
    prev_index: LogIndex,
    prev_term: Term,
    leader_term: Term,
    entries: &[Entry],
) -> bool {
    let mut expected_index = prev_index;
    let mut floor = prev_term.max(1);
    for entry in entries {
        expected_index += 1;
        if entry.index != expected_index || entry.term < floor || entry.term > leader_term {
            return false;
        }
        floor = entry.term;
    }
    expected_index < MAX_SANE
}

/// A snapshot's metadata must place it somewhere real: after index 0, at a positive term no newer
/// than the sender's, with a membership that has voters and no reserved or doubled ids. (Whether
/// its data restores is for the host's state machine to check.)
fn snapshot_is_plausible(snapshot: &Snapshot, leader_term: Term) -> bool {
    let meta = &snapshot.meta;
    let conf = &meta.conf;
    meta.index > 0
        && meta.index < MAX_SANE
        && meta.term > 0
        && meta.term <= leader_term
        && !conf.voters.is_empty()
        && !conf.voters.contains(&0)
        && !conf.learners.contains(&0)
        && conf.voters.is_disjoint(&conf.learners)
}
