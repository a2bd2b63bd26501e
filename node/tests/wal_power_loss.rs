//! A power loss after a sync, modelled sector by sector: every 512-byte sector written since
//! the sync either reached the disk or still holds what it held before (the zeros written
//! ahead), and the file's new size may or may not have been recorded. Whatever the mix, the log
//! must open (a torn unsynced write never stops a node) with every synced entry, followed by
//! some prefix of the unsynced ones.

mod common;

use std::fs;

use proptest::prelude::*;
use raftorch_node::storage::{Log, LogEntry, LogOptions};

const SECTOR: usize = 512;

fn options() -> LogOptions {
    LogOptions {
        segment_size: 1 << 20,
        write_buffer: 64,
        preallocate: 8192,
    }
}

fn entry(index: u64, len: usize) -> LogEntry {
    let payload = (0..len)
        .map(|i| (i as u64 * 31 + index) as u8 | 1)
        .collect();
    (index, 1 + index / 10, payload)
}

/// The crash image: sector `k` of the written range comes from `after` if `reached[k]`, else
/// from `before` (zeros past its end); the file has `after`'s length only if `grown`.
fn crash_image(before: &[u8], after: &[u8], reached: &[bool], grown: bool) -> Vec<u8> {
    let len = if grown { after.len() } else { before.len() };
    let mut image: Vec<u8> = (0..len)
        .map(|i| before.get(i).copied().unwrap_or(0))
        .collect();
    for (k, sector) in image.chunks_mut(SECTOR).enumerate() {
        if reached[k % reached.len()] {
            let at = k * SECTOR;
            for (i, byte) in sector.iter_mut().enumerate() {
                *byte = after.get(at + i).copied().unwrap_or(0);
            }
        }
    }
    image
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_torn_unsynced_write_never_stops_the_node_nor_loses_synced_entries(
        synced in 1..40u64,
        unsynced in 1..60u64,
        len in 0..300usize,
        reached in prop::collection::vec(any::<bool>(), 1..48),
        grown: bool,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let entries: Vec<LogEntry> = (1..=synced + unsynced)
            .map(|i| entry(i, (len + i as usize * 7) % 300))
            .collect();
        let (mut log, _) = Log::open(dir.path(), options()).unwrap();
        common::append(&mut log, &entries[..synced as usize]);
        log.sync().unwrap();
        let segment = common::segments(dir.path()).pop().unwrap();
        let before = fs::read(&segment).unwrap();
        // Written to the file (the buffer is small) but never synced.
        common::append(&mut log, &entries[synced as usize..]);
        let after = fs::read(&segment).unwrap();
        drop(log);
        fs::write(&segment, crash_image(&before, &after, &reached, grown)).unwrap();

        let (log, _) = Log::open(dir.path(), options())
            .map_err(|e| TestCaseError::fail(format!("refused to start: {e}")))?;
        let last = log.last_index();
        prop_assert!(last >= synced, "lost synced entries: last {} < {}", last, synced);
        prop_assert_eq!(log.entries(1, last + 1).unwrap(), entries[..last as usize].to_vec());
    }
}
