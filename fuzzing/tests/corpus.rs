//! Every fuzz target over its committed corpus (`fixtures/fuzz/<target>/`: seeds and the
//! inputs of bugs the fuzzer found), then over arbitrary bytes and over mutations of corpus
//! entries (proptest), so the decoders are exercised where cargo-fuzz cannot run.
//!
//! The seeds are real encodings, written by the ignored test at the end:
//! `cargo test -p vault-fuzz --test corpus -- --ignored write_seed_corpus`.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vault_fuzz::TARGETS;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/fuzz")
        .join(target)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("corpus of {target}: {e}"))
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_target_passes_its_whole_corpus() {
    for (name, target) in TARGETS {
        let inputs = corpus(name);
        assert!(inputs.len() >= 3, "the corpus of {name} is nearly empty");
        for (path, bytes) in inputs {
            let run = std::panic::catch_unwind(|| target(&bytes));
            assert!(run.is_ok(), "{name} fails on {}", path.display());
        }
    }
}

/// Each target's corpus, flattened, for the mutation strategy.
fn all_inputs() -> Vec<(usize, Vec<u8>)> {
    TARGETS
        .iter()
        .enumerate()
        .flat_map(|(i, (name, _))| corpus(name).into_iter().map(move |(_, b)| (i, b)))
        .collect()
}

/// A corpus entry with a few bytes overwritten, inserted or cut: most of a real encoding
/// survives, so the decoders get past their first checks.
fn mutated() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let inputs = all_inputs();
    (
        0..inputs.len(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    )
        .prop_map(move |(pick, edits)| {
            let (target, mut bytes) = inputs[pick].clone();
            for (at, byte, how) in edits {
                let at = if bytes.is_empty() {
                    0
                } else {
                    at.index(bytes.len())
                };
                match how {
                    0 if !bytes.is_empty() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if !bytes.is_empty() => {
                        bytes.truncate(at.max(1));
                    }
                    _ => bytes.push(byte),
                }
            }
            (target, bytes)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn targets_survive_mutated_corpus_entries((target, bytes) in mutated()) {
        (TARGETS[target].1)(&bytes);
    }

    #[test]
    fn targets_survive_arbitrary_bytes(
        target in 0..TARGETS.len(),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        (TARGETS[target].1)(&bytes);
    }
}

#[test]
#[ignore = "writes the seed corpora under fixtures/fuzz/; run by hand after a format change"]
fn write_seed_corpus() {
    for (target, inputs) in seeds::all() {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for bytes in inputs {
            let name = format!("seed-{}", &blake3::hash(&bytes).to_hex()[..16]);
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[path = "corpus/seeds.rs"]
mod seeds;
