#![no_main]
//! `vault_fuzz::ignore` under libFuzzer (its corpus: fixtures/fuzz/ignore/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::ignore(data));
