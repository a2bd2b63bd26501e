//! The simulator's event queue: a binary heap ordered by (time, sequence), so events at the
//! same time run in the order they were scheduled and runs are exactly repeatable.

use alloc::collections::BinaryHeap;
use core::cmp::{Ordering, Reverse};

use crate::raft::{Message, NodeId};

/// Something that happens at a simulated time.
#[derive(Clone, Debug)]
pub(crate) enum Event {
    /// A node's tick timer fires.
    Tick(NodeId),
    /// A message arrives.
    Deliver(Packet),
}

/// A message on the wire.
#[derive(Clone, Debug)]
pub struct Packet {
    /// Unique id in the run (trace key).
    pub id: u64,
    /// When it was sent.
    pub sent_at: u64,
    /// When it arrives.
    pub deliver_at: u64,
    /// The message.
    pub message: Message,
}

#[derive(Debug)]
struct Scheduled {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Pending events, earliest first.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    heap: BinaryHeap<Reverse<Scheduled>>,
    next_seq: u64,
}

impl EventQueue {
    /// Schedules `event` at time `at`.
    pub(crate) fn push(&mut self, at: u64, event: Event) {
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
    pub(crate) fn pop(&mut self) -> Option<(u64, Event)> {
        self.heap.pop().map(|Reverse(s)| (s.at, s.event))
    }

    /// Messages in flight, in no particular order.
    pub(crate) fn packets(&self) -> impl Iterator<Item = &Packet> {
        self.heap.iter().filter_map(|Reverse(s)| match &s.event {
            Event::Deliver(packet) => Some(packet),
            Event::Tick(_) => None,
        })
    }
}

impl Clone for EventQueue {
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
