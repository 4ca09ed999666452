#![no_main]
//! `vault_fuzz::markdown` under libFuzzer (its corpus: fixtures/fuzz/markdown/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::markdown(data));
