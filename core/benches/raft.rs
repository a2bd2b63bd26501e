//! Consensus throughput on one machine: a 3-node cluster in one process with an instant network
//! and memory storage, so the numbers measure the core itself.
//!
//! - `commit/outstanding/N`: entries committed (and applied on the leader) per second with N
//!   proposals outstanding at a time (1 = one synchronous client; 1,024 = many clients).
//! - `step/append`: follower messages stepped per second (one append of one entry, with the
//!   full ready/persist/advance cycle).
#![allow(missing_docs)]

use std::collections::VecDeque;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use raftorch_core::raft::{Config, MemStorage, Message, RawNode};

/// Three nodes wired by an instant, lossless in-memory network.
struct Bench {
    nodes: Vec<RawNode>,
    storage: Vec<MemStorage>,
    wire: VecDeque<Message>,
    applied_on_leader: u64,
    messages: u64,
}

impl Bench {
    fn new() -> Self {
        let ids = [1, 2, 3];
        let storage: Vec<MemStorage> = ids
            .iter()
            .map(|_| MemStorage::new_with_voters(&ids))
            .collect();
        let nodes = ids
            .iter()
            .map(|&id| RawNode::new(Config::new(id), &storage[id as usize - 1]).unwrap())
            .collect();
        let mut bench = Bench {
            nodes,
            storage,
            wire: VecDeque::new(),
            applied_on_leader: 0,
            messages: 0,
        };
        bench.pump(); // apply the bootstrap membership
        bench.nodes[0].campaign().unwrap();
        bench.pump();
        assert!(bench.nodes[0].is_leader());
        bench
    }

    /// Runs every node's host loop and delivers messages until nothing moves.
    fn pump(&mut self) {
        loop {
            for i in 0..self.nodes.len() {
                while self.nodes[i].has_ready() {
                    let mut ready = self.nodes[i].ready();
                    self.storage[i].persist(&ready);
                    self.wire.extend(ready.messages.drain(..));
                    self.wire.extend(ready.persisted_messages.drain(..));
                    if i == 0 {
                        self.applied_on_leader += ready.committed_entries.len() as u64;
                    }
                    self.nodes[i].advance(ready);
                }
            }
            if self.wire.is_empty() {
                break;
            }
            while let Some(message) = self.wire.pop_front() {
                self.messages += 1;
                let to = message.to as usize - 1;
                self.nodes[to].step(message);
            }
        }
    }

    /// Proposes `n` entries and runs until the leader applied them all.
    fn commit(&mut self, n: u64, payload: &[u8]) {
        let target = self.applied_on_leader + n;
        for _ in 0..n {
            self.nodes[0].propose(payload.to_vec()).unwrap();
        }
        while self.applied_on_leader < target {
            self.pump();
        }
        // Keep memory bounded on long runs, as a real deployment would.
        if self.nodes[0].applied_index() > self.nodes[0].snapshot_index() + 50_000 {
            for i in 0..self.nodes.len() {
                let snapshot = self.nodes[i].compact(Vec::new(), 1_000);
                self.storage[i].compact(snapshot);
            }
        }
    }
}

fn commit_throughput(c: &mut Criterion) {
    let payload = [7u8; 64];
    let mut group = c.benchmark_group("commit/outstanding");
    for outstanding in [1u64, 64, 1024, 4096] {
        group.throughput(Throughput::Elements(outstanding));
        group.bench_with_input(
            BenchmarkId::from_parameter(outstanding),
            &outstanding,
            |b, &n| {
                let mut bench = Bench::new();
                b.iter(|| bench.commit(n, &payload));
            },
        );
    }
    group.finish();
}

fn step_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    group.throughput(Throughput::Elements(1));
    group.bench_function("append", |b| {
        let mut bench = Bench::new();
        let payload = [7u8; 64];
        b.iter(|| {
            let before = bench.messages;
            bench.commit(1, &payload);
            bench.messages - before
        });
    });
    group.finish();
}

criterion_group!(benches, commit_throughput, step_throughput);
criterion_main!(benches);
