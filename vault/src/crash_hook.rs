//! Test hook for the crash tests (tests/crash, tests/hub_gc/crash.rs): when the environment
//! variable [`ENV`] names a step, the process aborts right there, as a `kill -9` would stop
//! it. Timing alone cannot hit a narrow step (the moment between a conflict's local version
//! moving into `.revisions/` and the hub's version taking its place; the head's lock taken
//! and the head not yet moved) reliably; this can.
//!
//! Costs nothing when unset: the variable is read once per process and the check is then a
//! load and a compare.

use std::sync::OnceLock;

/// The variable naming the step to abort at.
pub const ENV: &str = "VAULT_SYNC_TEST_CRASH_AT";

/// The steps of a sync round and a hub's head move [`ENV`] can name (the hub gc's steps are
/// [`crate::hub_gc::CRASH_STEPS`]).
pub const ROUND_STEPS: &[&str] = &[
    "revision-kept", // a conflict's local version moved into `.revisions/`, the hub's not written
    "head-moving",   // a hub (folder, or the server's) holds the head's lock, head not moved
];

/// Abort here if [`ENV`] names `step`.
pub fn point(step: &str) {
    static STEP: OnceLock<Option<String>> = OnceLock::new();
    let chosen = STEP.get_or_init(|| std::env::var(ENV).ok());
    if chosen.as_deref() == Some(step) {
        eprintln!("{ENV}={step}: aborting here");
        std::process::abort();
    }
}
