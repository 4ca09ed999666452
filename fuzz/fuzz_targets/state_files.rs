#![no_main]
//! `vault_fuzz::state_files` under libFuzzer (its corpus: fixtures/fuzz/state_files/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::state_files(data));
