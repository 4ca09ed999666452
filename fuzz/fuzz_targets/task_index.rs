#![no_main]
//! `vault_fuzz::task_index` under libFuzzer (its corpus: fixtures/fuzz/task_index/).

libfuzzer_sys::fuzz_target!(|data: &[u8]| vault_fuzz::task_index(data));
