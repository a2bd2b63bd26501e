//! libFuzzer target `wal_record`: see `raftorch_fuzz_harness::wal_record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raftorch_fuzz_harness::wal_record::run(data));
