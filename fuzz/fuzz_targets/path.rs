#![no_main]
//! `vault_fuzz::path` under libFuzzer (its corpus: fixtures/fuzz/path/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::path(data));
