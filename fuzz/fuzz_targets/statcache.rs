#![no_main]
//! `vault_fuzz::statcache` under libFuzzer (its corpus: fixtures/fuzz/statcache/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::statcache(data));
