//! Large files through the sync round, end to end with the real binaries (issue 18): files of
//! tens of MiB (pseudo-random, or mostly holes where only size matters) synced through a
//! folder hub and through a real `vault-server`, edited in the middle, at the start, appended,
//! truncated below the chunking size and grown again, the other device's copy compared byte
//! for byte; syncd's peak memory (from `wait4`) far below the file's size; an upload cut off
//! midway resumed without sending again what the hub got.
//!
//! This process never holds a large file either (files are written, edited and compared in
//! pieces): Linux starts a spawned child's peak memory at its parent's, so a large buffer here
//! would show up in the child's measured peak.

#[path = "../common/mod.rs"]
mod common;

mod files;
mod folder_hub;
mod server;
