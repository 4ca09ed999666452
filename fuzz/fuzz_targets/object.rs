#![no_main]
//! `vault_fuzz::object` under libFuzzer (its corpus: fixtures/fuzz/object/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::object(data));
