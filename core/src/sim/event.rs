//! The simulator's event queue: a binary heap ordered by (time, sequence), so events at the
//! same time run in the order they were scheduled and runs are exactly repeatable.

use alloc::collections::BinaryHeap;
use core::cmp::{Ordering, Reverse};

use crate::engine::{Application, PeerMessage};
use crate::raft::NodeId;
use crate::state_machine::StateMachine;

/// Something that happens at a simulated time.
#[derive(Clone, Debug)]
pub(crate) enum Event<A: Application> {
    /// A node's tick timer fires.
    Tick(NodeId),
    /// A message arrives.
    Deliver(Packet<A>),
}

/// What travels between simulated nodes: what the engines send each other (Raft's messages,
/// and client writes forwarded from a follower to the leader, and the answers).
pub type Payload<A> = PeerMessage<<A as StateMachine>::Output>;

/// A message on the wire.
#[derive(Clone, Debug)]
pub struct Packet<A: Application> {
    /// Unique id in the run (trace key).
    pub id: u64,
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// When it was sent.
    pub sent_at: u64,
    /// When it arrives.
    pub deliver_at: u64,
    /// What it carries.
    pub payload: Payload<A>,
}

#[derive(Debug)]
struct Scheduled<A: Application> {
    at: u64,
    seq: u64,
    event: Event<A>,
}

impl<A: Application> PartialEq for Scheduled<A> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<A: Application> Eq for Scheduled<A> {}
impl<A: Application> PartialOrd for Scheduled<A> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<A: Application> Ord for Scheduled<A> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Pending events, earliest first.
#[derive(Debug)]
pub(crate) struct EventQueue<A: Application> {
    heap: BinaryHeap<Reverse<Scheduled<A>>>,
    next_seq: u64,
}

impl<A: Application> Default for EventQueue<A> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<A: Application> EventQueue<A> {
    /// Schedules `event` at time `at`.
    pub(crate) fn push(&mut self, at: u64, event: Event<A>) {
        self.next_seq += 1;
        self.heap.push(Reverse(Scheduled {
            at,
            seq: self.next_seq,
            event,
        }));
    }

    /// The time of the earliest event.
    pub(crate) fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(s)| s.at)
    }

    /// Removes the earliest event.
    pub(crate) fn pop(&mut self) -> Option<(u64, Event<A>)> {
        self.heap.pop().map(|Reverse(s)| (s.at, s.event))
    }

    /// Messages in flight, in no particular order.
    pub(crate) fn packets(&self) -> impl Iterator<Item = &Packet<A>> {
        self.heap.iter().filter_map(|Reverse(s)| match &s.event {
            Event::Deliver(packet) => Some(packet),
            Event::Tick(_) => None,
        })
    }
}

impl<A: Application> Clone for EventQueue<A> {
    fn clone(&self) -> Self {
        let heap = self
            .heap
            .iter()
            .map(|Reverse(s)| {
                Reverse(Scheduled {
                    at: s.at,
                    seq: s.seq,
                    event: s.event.clone(),
                })
            })
            .collect();
        EventQueue {
            heap,
            next_seq: self.next_seq,
        }
    }
}
