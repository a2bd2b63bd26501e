//! `RawNode`: the thin API a host drives (`tick`, `step`, `propose`, `ready`, `advance`, ...).

use alloc::vec;
use alloc::vec::Vec;
use core::mem;

use super::config::Config;
use super::entry::{ConfChange, Entry, EntryPayload, Snapshot, SnapshotMeta};
use super::error::Error;
use super::log::RaftLog;
use super::message::Message;
use super::node::Raft;
use super::read_only::ReadMode;
use super::ready::Ready;
use super::status::Status;
use super::storage::Storage;
use super::types::{ConfState, HardState, LogIndex, NodeId, Role, SoftState, Term};

/// Where a proposal landed; it took effect if the entry applied at `index` has term `term`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proposed {
    /// The entry's index.
    pub index: LogIndex,
    /// The entry's term.
    pub term: Term,
}

/// A Raft node as a host sees it. Deterministic: the same inputs give the same outputs.
#[derive(Clone, Debug)]
pub struct RawNode {
    raft: Raft,
    prev_soft: SoftState,
    prev_hard: HardState,
}

impl RawNode {
    /// Starts a node from its durable state (empty for a brand-new node).
    pub fn new(config: Config, storage: &impl Storage) -> Result<Self, Error> {
        config.validate()?;
        let (hard_state, conf) = storage.initial_state()?;
        let snapshot = storage.snapshot();
        let offset = storage.first_index() - 1;
        let offset_term = match &snapshot {
            Some(s) if s.meta.index == offset => s.meta.term,
            _ => storage.term(offset).unwrap_or(0),
        };
        let entries = storage.entries(offset + 1, storage.last_index() + 1)?;
        let mut log = RaftLog::restore(offset, offset_term, entries, hard_state.commit, snapshot)?;
        let applied = config.applied.clamp(offset, log.committed);
        // Membership changes the host says it already applied are in force now.
        let applied_changes: Vec<ConfChange> = (offset + 1..=applied)
            .filter_map(|index| match log.entry(index) {
                Some(Entry {
                    payload: EntryPayload::ConfChange(cc),
                    ..
                }) => Some(*cc),
                _ => None,
            })
            .collect();
        log.applied = applied;
        let mut raft = Raft::new(config, hard_state, conf, log);
        for cc in applied_changes {
            raft.apply_conf_change(cc);
        }
        let prev_soft = raft.soft_state();
        Ok(RawNode {
            raft,
            prev_soft,
            prev_hard: hard_state,
        })
    }

    /// Advances logical time by one tick. Call it at a fixed interval (the host's heartbeat unit).
    pub fn tick(&mut self) {
        self.raft.tick();
    }

    /// Feeds a message received from a peer.
    pub fn step(&mut self, message: Message) {
        self.raft.step(message);
    }

    /// Starts an election now (as if the election timeout fired).
    pub fn campaign(&mut self) -> Result<(), Error> {
        if !self.raft.is_promotable() {
            return Err(Error::UnknownNode(self.raft.id));
        }
        if self.raft.role != Role::Leader {
            self.raft.campaign(false);
        }
        Ok(())
    }

    /// Proposes application data. Only the leader accepts it.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<Proposed, Error> {
        let index = self.raft.propose(vec![EntryPayload::Normal(data.into())])?;
        Ok(Proposed {
            index,
            term: self.raft.term,
        })
    }

    /// Proposes several payloads as consecutive entries; returns where the last one landed.
    pub fn propose_batch(&mut self, data: Vec<Vec<u8>>) -> Result<Proposed, Error> {
        let payloads = data
            .into_iter()
            .map(|d| EntryPayload::Normal(d.into()))
            .collect();
        let index = self.raft.propose(payloads)?;
        Ok(Proposed {
            index,
            term: self.raft.term,
        })
    }

    /// Proposes a membership change (one at a time).
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Result<Proposed, Error> {
        let index = self.raft.propose_conf_change(change)?;
        Ok(Proposed {
            index,
            term: self.raft.term,
        })
    }

    /// Requests a read index for request `ctx`. The answer arrives as a `ReadState` in a later
    /// `Ready`; serve the read once the state machine has applied up to its index. A follower
    /// forwards the request to its leader.
    pub fn read_index(&mut self, ctx: u64, mode: ReadMode) -> Result<(), Error> {
        self.raft.read_index(ctx, mode)
    }

    /// Hands leadership to `to`, which campaigns once its log is caught up.
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<(), Error> {
        self.raft.transfer_leader(to)
    }

    /// Whether `ready()` has anything for the host.
    pub fn has_ready(&self) -> bool {
        let raft = &self.raft;
        raft.needs_broadcast
            || raft.soft_state() != self.prev_soft
            || raft.hard_state() != self.prev_hard
            || raft.log.has_unstable()
            || !raft.msgs.is_empty()
            || !raft.msgs_after_persist.is_empty()
            || raft.log.has_committed()
            || !raft.read_states.is_empty()
    }

    /// Collects what the host must do now. See [`Ready`] for the order of the steps.
    pub fn ready(&mut self) -> Ready {
        let raft = &mut self.raft;
        if raft.needs_broadcast && raft.role == Role::Leader {
            raft.broadcast_append();
        }
        let soft = raft.soft_state();
        let hard = raft.hard_state();
        // The outbox is taken below: no read may join a round sent from here on.
        raft.read_only.rounds_sent();
        let ready = Ready {
            soft_state: (soft != self.prev_soft).then_some(soft),
            hard_state: (hard != self.prev_hard).then_some(hard),
            snapshot: raft.log.pending_snapshot.take(),
            entries: raft.log.take_unstable(),
            messages: mem::take(&mut raft.msgs),
            persisted_messages: mem::take(&mut raft.msgs_after_persist),
            committed_entries: raft
                .log
                .take_committed(raft.config.max_committed_size_per_ready),
            read_states: mem::take(&mut raft.read_states),
        };
        self.prev_soft = soft;
        self.prev_hard = hard;
        ready
    }

    /// Tells the node the host has done everything `ready` asked: its entries are durable and
    /// its committed entries applied.
    pub fn advance(&mut self, ready: Ready) {
        let last = ready.entries.last().map(|e| (e.index, e.term));
        self.raft.on_persisted(last);
        self.raft.on_applied(&ready.committed_entries);
    }

    /// Takes a snapshot at the applied index with the state machine's serialized state `data`,
    /// and drops log entries up to `applied - keep_entries` (keeping a tail lets slightly lagging
    /// followers catch up without a snapshot). Returns the snapshot for the host to persist.
    pub fn compact(&mut self, data: Vec<u8>, keep_entries: u64) -> Snapshot {
        let snapshot = Snapshot {
            meta: self.snapshot_meta_at_applied(),
            data: data.into(),
        };
        let compact_to = snapshot.meta.index.saturating_sub(keep_entries);
        self.compact_with(snapshot.clone(), compact_to);
        snapshot
    }

    /// What a snapshot of the state machine as applied now covers: the applied index, its
    /// term and the membership.
    pub fn snapshot_meta_at_applied(&self) -> SnapshotMeta {
        let log = &self.raft.log;
        SnapshotMeta {
            index: log.applied,
            term: log.term(log.applied).unwrap_or(0),
            conf: self.raft.tracker.conf.clone(),
        }
    }

    /// Keeps `snapshot` (made from the state machine at its index, which is applied) as the
    /// one sent to followers too far behind, and drops log entries up to `compact_to` (at most
    /// the snapshot's index). Ignored when the node holds a snapshot as new already.
    pub fn compact_with(&mut self, snapshot: Snapshot, compact_to: LogIndex) {
        let index = snapshot.meta.index;
        if index <= self.held_snapshot_index() || index > self.raft.log.applied {
            return;
        }
        let log = &mut self.raft.log;
        log.snapshot = Some(snapshot);
        log.compact_to(compact_to.min(index));
    }

    /// The index of the snapshot this node holds (taken here or received), 0 without one.
    pub fn held_snapshot_index(&self) -> LogIndex {
        self.raft.log.snapshot.as_ref().map_or(0, |s| s.meta.index)
    }

    /// How many messages `step` refused: misaddressed, from a node with no business sending
    /// them (not a member, not the leader), or malformed (absurd terms or indexes, entries that
    /// do not follow on, an implausible snapshot). Refused messages change nothing else.
    pub fn dropped_messages(&self) -> u64 {
        self.raft.dropped
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.raft.id
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.raft.role
    }

    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.raft.role == Role::Leader
    }

    /// The current term.
    pub fn term(&self) -> Term {
        self.raft.term
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.leader
    }

    /// The commit index.
    pub fn commit_index(&self) -> LogIndex {
        self.raft.log.committed
    }

    /// The index of the last entry handed to the host for applying.
    pub fn applied_index(&self) -> LogIndex {
        self.raft.log.applied
    }

    /// The index of the last log entry.
    pub fn last_index(&self) -> LogIndex {
        self.raft.log.last_index()
    }

    /// The snapshot point: entries up to here are compacted.
    pub fn snapshot_index(&self) -> LogIndex {
        self.raft.log.offset()
    }

    /// The current membership (as of the applied index).
    pub fn conf_state(&self) -> &ConfState {
        &self.raft.tracker.conf
    }

    /// The entry at `index`, if held in memory.
    pub fn entry(&self, index: LogIndex) -> Option<&Entry> {
        self.raft.log.entry(index)
    }

    /// A summary of this node's state for display and checks.
    pub fn status(&self) -> Status {
        Status::of(&self.raft)
    }
}
