//! libFuzzer target `raft_step`: see `raftorch_fuzz_harness::raft_step`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raftorch_fuzz_harness::raft_step::run(data));
