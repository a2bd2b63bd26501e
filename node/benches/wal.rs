//! Append + sync throughput of the write-ahead log for batches of 1, 64 and 1024 entries of 256
//! bytes: one fsync per batch, i.e. group commit of `batch` entries.
//!
//! Runs on the disk under the system temp dir (set `TMPDIR` to measure another one). Besides
//! criterion's numbers it prints the log's own `SyncStats`: mean fsync latency and entries per
//! fsync.

#![allow(missing_docs)]

use core::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use raftorch_node::storage::{Log, LogOptions};

const PAYLOAD_LEN: usize = 256;

fn append_sync(c: &mut Criterion) {
    let payload = vec![0xAB_u8; PAYLOAD_LEN];
    let mut group = c.benchmark_group("wal_append_sync");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for batch in [1u64, 64, 1024] {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut log, _) = Log::open(dir.path(), LogOptions::default()).expect("open log");
        let mut next = 1u64;
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            b.iter(|| {
                let entries: Vec<(u64, u64, &[u8])> = (next..next + batch)
                    .map(|i| (i, 1, payload.as_slice()))
                    .collect();
                log.append(&entries).expect("append");
                log.sync().expect("sync");
                next += batch;
            });
        });
        let s = log.sync_stats();
        eprintln!(
            "batch {batch}: {} syncs, {:.0} entries/fsync, mean fsync+write {:.0} µs, {} segment rolls",
            s.syncs,
            s.entries_synced as f64 / s.syncs.max(1) as f64,
            s.total_sync_micros as f64 / s.syncs.max(1) as f64,
            s.segment_rolls,
        );
    }
    group.finish();
}

criterion_group!(benches, append_sync);
criterion_main!(benches);
