//! Raft's safety properties, checked after every simulated step (Raft paper, Figure 3):
//! election safety, log matching, leader completeness, state machine safety, and monotonic
//! terms and commit indexes. The first violation is kept with the time it was seen.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use xxhash_rust::xxh64::xxh64;

use super::node::SimNode;
use crate::engine::Application;
use crate::raft::{Entry, LogIndex, NodeId, Ready, Role, Term};

/// A broken safety property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which property.
    pub property: &'static str,
    /// What was seen.
    pub detail: String,
}

/// One log position as the checker sees it: the entry's term and a hash chained over the whole
/// prefix, so two logs agree up to `i` exactly when their chains agree at `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    term: Term,
    chain: u64,
}

/// The checker's state: a shadow of every node's durable log and of what was applied.
#[derive(Clone, Debug)]
pub(crate) struct Invariants {
    /// `logs[n][i]`: node n+1's persisted entry at index i+1.
    logs: Vec<Vec<Link>>,
    /// `applied[i]`: the entry applied at index i+1 (by whichever node applied it first).
    applied: Vec<Link>,
    /// `commit_terms[i]`: the term of the first leader seen to commit index i+1. Non-decreasing.
    commit_terms: Vec<Term>,
    leaders: BTreeMap<Term, NodeId>,
    last_term: Vec<Term>,
    last_commit: Vec<LogIndex>,
    violation: Option<Violation>,
    steps: u64,
    /// The first digest of the application state seen at each sampled index, and whose.
    digests: BTreeMap<LogIndex, (NodeId, u64)>,
}

fn entry_hash(entry: &Entry) -> u64 {
    let bytes = postcard::to_allocvec(entry).unwrap_or_default();
    xxh64(&bytes, 0)
}

fn chain(prev: u64, term: Term, hash: u64) -> u64 {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&prev.to_le_bytes());
    bytes[8..16].copy_from_slice(&term.to_le_bytes());
    bytes[16..].copy_from_slice(&hash.to_le_bytes());
    xxh64(&bytes, 1)
}

impl Invariants {
    /// A checker for `nodes` nodes with empty logs.
    pub(crate) fn new(nodes: u64) -> Self {
        Invariants {
            logs: vec![Vec::new(); nodes as usize],
            applied: Vec::new(),
            commit_terms: Vec::new(),
            leaders: BTreeMap::new(),
            last_term: vec![0; nodes as usize],
            last_commit: vec![0; nodes as usize],
            violation: None,
            steps: 0,
            digests: BTreeMap::new(),
        }
    }

    /// The first violation seen.
    pub(crate) fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    fn fail(&mut self, property: &'static str, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation { property, detail });
        }
    }

    /// Mirrors a node's initial durable log (the bootstrap entries).
    pub(crate) fn seed(&mut self, node: NodeId, entries: &[Entry]) {
        let ready = Ready {
            entries: entries.to_vec(),
            ..Ready::default()
        };
        self.on_persist(node, &ready);
    }

    /// A node persisted a `Ready`: mirror its log.
    pub(crate) fn on_persist(&mut self, node: NodeId, ready: &Ready) {
        let n = node as usize - 1;
        if let Some(snapshot) = &ready.snapshot {
            let index = snapshot.meta.index as usize;
            if index > self.applied.len() {
                let detail =
                    format!("node {node} installed a snapshot at {index} that nobody applied");
                self.fail("state machine safety", detail);
                return;
            }
            if self.applied.get(index.wrapping_sub(1)).map(|l| l.term) != Some(snapshot.meta.term)
                && index > 0
            {
                let detail = format!("node {node} installed a snapshot at {index} with a term that differs from the applied entry");
                self.fail("state machine safety", detail);
            }
            self.logs[n] = self.applied[..index].to_vec();
        }
        let log = &mut self.logs[n];
        if let Some(first) = ready.entries.first() {
            log.truncate(first.index as usize - 1);
        }
        for entry in &ready.entries {
            let prev = log.last().map_or(0, |l| l.chain);
            if entry.index as usize != log.len() + 1 {
                let detail = format!(
                    "node {node} persisted index {} after {}",
                    entry.index,
                    log.len()
                );
                self.fail("log matching", detail);
                return;
            }
            log.push(Link {
                term: entry.term,
                chain: chain(prev, entry.term, entry_hash(entry)),
            });
        }
    }

    /// A node applied an entry: every node must apply the same entry at each index.
    pub(crate) fn on_apply(&mut self, node: NodeId, entry: &Entry) {
        let i = entry.index as usize;
        let hash = entry_hash(entry);
        if i <= self.applied.len() {
            let prev = if i >= 2 { self.applied[i - 2].chain } else { 0 };
            let expected = self.applied[i - 1];
            if expected
                != (Link {
                    term: entry.term,
                    chain: chain(prev, entry.term, hash),
                })
            {
                let detail = format!(
                    "node {node} applied a different entry at index {i} (term {} vs {})",
                    entry.term, expected.term
                );
                self.fail("state machine safety", detail);
            }
        } else if i == self.applied.len() + 1 {
            let prev = self.applied.last().map_or(0, |l| l.chain);
            self.applied.push(Link {
                term: entry.term,
                chain: chain(prev, entry.term, hash),
            });
        } else {
            let detail = format!(
                "node {node} applied index {i} but only {} were applied anywhere",
                self.applied.len()
            );
            self.fail("state machine safety", detail);
        }
    }

    /// A node became leader: at most one per term, and its log holds every entry committed in an
    /// earlier term (Leader Completeness; entries committed in later terms need not be there, as
    /// when a paused candidate wakes up to the votes of an old election).
    pub(crate) fn on_leader_elected(&mut self, node: NodeId, term: Term) {
        if let Some(&other) = self.leaders.get(&term) {
            if other != node {
                self.fail(
                    "election safety",
                    format!("nodes {other} and {node} both led term {term}"),
                );
            }
        }
        self.leaders.insert(term, node);
        let log = &self.logs[node as usize - 1];
        let earlier = self.commit_terms.iter().take_while(|&&t| t < term).count();
        let committed = earlier.min(self.applied.len());
        if log.len() < committed || log[..committed] != self.applied[..committed] {
            let detail = format!(
                "leader {node} of term {term} lacks entries committed before its term (log {} < {committed} or differs)",
                log.len()
            );
            self.fail("leader completeness", detail);
        }
    }

    /// A node crashed: its commit index is volatile (Raft relearns it from the leader, and the
    /// hosts make it durable only along with entries or a new term or vote), so after a restart
    /// it may start below what it knew.
    pub(crate) fn on_crash(&mut self, node: NodeId) {
        self.last_commit[node as usize - 1] = 0;
    }

    /// Checks the properties that relate nodes to each other and to their past.
    pub(crate) fn check_step<A: Application>(&mut self, nodes: &[SimNode<A>]) {
        self.steps += 1;
        for (n, node) in nodes.iter().enumerate() {
            let Some(raw) = node.raw() else {
                continue;
            };
            let (term, commit) = (raw.term(), raw.commit_index());
            if term < self.last_term[n] {
                self.fail(
                    "monotonic term",
                    format!(
                        "node {} went from term {} to {term}",
                        node.id, self.last_term[n]
                    ),
                );
            }
            if commit < self.last_commit[n] {
                self.fail(
                    "monotonic commit",
                    format!(
                        "node {} went from commit {} to {commit}",
                        node.id, self.last_commit[n]
                    ),
                );
            }
            self.last_term[n] = term;
            self.last_commit[n] = commit;
            if let Some((index, digest)) =
                node.engine.as_ref().and_then(|e| e.state_digests().last())
            {
                match self.digests.get(&index) {
                    Some(&(other, d)) if d != digest => self.fail(
                        "state agreement",
                        format!(
                            "nodes {other} and {} hold different states at index {index}",
                            node.id
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        self.digests.insert(index, (node.id, digest));
                    }
                }
            }
            if raw.role() == Role::Leader {
                while (self.commit_terms.len() as u64) < commit {
                    self.commit_terms.push(term);
                }
                if let Some(&other) = self.leaders.get(&term) {
                    if other != node.id {
                        self.fail(
                            "election safety",
                            format!("nodes {other} and {} both lead term {term}", node.id),
                        );
                    }
                }
            }
        }
        self.check_log_matching();
    }

    /// If two logs have an entry with the same index and term, they are identical up to it.
    /// Checking the highest index where the terms agree is enough, thanks to the hash chain.
    fn check_log_matching(&mut self) {
        for a in 0..self.logs.len() {
            for b in a + 1..self.logs.len() {
                let (la, lb) = (&self.logs[a], &self.logs[b]);
                let mut i = la.len().min(lb.len());
                while i > 0 && la[i - 1].term != lb[i - 1].term {
                    i -= 1;
                }
                if i > 0 && la[i - 1].chain != lb[i - 1].chain {
                    let detail = format!("nodes {} and {} agree on the term at index {i} but not on the log before it", a + 1, b + 1);
                    self.fail("log matching", detail);
                }
            }
        }
    }
}
