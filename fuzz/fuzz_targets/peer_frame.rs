//! libFuzzer target `peer_frame`: see `raftorch_fuzz_harness::peer_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raftorch_fuzz_harness::peer_frame::run(data));
