//! The fuzz targets' bodies: one `pub fn NAME(data: &[u8])` per family of decoders of bytes
//! that come from outside (a hub, a server, another device, a file in `.vault/` that a crash or
//! a person may have damaged). Each panics when a property fails, not only when the decoder
//! itself panics: cargo-fuzz (`fuzz/`) calls them with libFuzzer's inputs, and the ordinary
//! tests (`tests/corpus.rs`) with every committed input under `fixtures/fuzz/<target>/` and
//! with proptest's, so the decoders are exercised wherever `cargo test` runs.

mod files;
mod markdown;
mod objects;
mod text;

pub use files::{pack, statcache, state_files, task_index};
pub use markdown::markdown;
pub use objects::{object, wire};
pub use text::{ids, ignore, path};

/// A target's body: panics when a property fails.
pub type Target = fn(&[u8]);

/// Every target, by the name of its folder under `fixtures/fuzz/` and of its file under
/// `fuzz/fuzz_targets/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("object", object),
    ("wire", wire),
    ("pack", pack),
    ("path", path),
    ("ids", ids),
    ("ignore", ignore),
    ("markdown", markdown),
    ("statcache", statcache),
    ("task_index", task_index),
    ("state_files", state_files),
];

/// The largest input worth decoding: every format's interesting structure fits well below,
/// and a bound keeps a run's memory flat.
pub const MAX_INPUT: usize = 64 * 1024;
