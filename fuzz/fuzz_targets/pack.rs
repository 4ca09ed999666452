#![no_main]
//! `vault_fuzz::pack` under libFuzzer (its corpus: fixtures/fuzz/pack/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::pack(data));
