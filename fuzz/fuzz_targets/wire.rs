#![no_main]
//! `vault_fuzz::wire` under libFuzzer (its corpus: fixtures/fuzz/wire/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::wire(data));
