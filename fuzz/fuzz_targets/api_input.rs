//! libFuzzer target `api_input`: see `raftorch_fuzz_harness::api_input`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| raftorch_fuzz_harness::api_input::run(data));
