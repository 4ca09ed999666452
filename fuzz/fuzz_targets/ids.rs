#![no_main]
//! `vault_fuzz::ids` under libFuzzer (its corpus: fixtures/fuzz/ids/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::ids(data));
