//! A gc killed at each step of a compaction (the test hook aborts the process there, as
//! `kill -9` would): the hub still verifies, and a later gc finishes.

use vault::hub_gc::{CRASH_ENV, CRASH_STEPS};

use crate::common::World;
use crate::{hub_files, hub_gc, rounds};

#[test]
fn a_gc_killed_at_every_step_leaves_a_hub_that_verifies() {
    for step in CRASH_STEPS {
        let world = World::new();
        let a = world.device("a");
        a.init();
        rounds(&a, 20, "a");
        // Retired packs to delete, and new packs to merge, so the run reaches every step.
        hub_gc(&world, &a, &["--grace", "0s"]).ok();
        rounds(&a, 4, "b");
        let vault = a.root.display().to_string();
        let out = world
            .command(&["hub", "gc", "--vault", &vault, "--grace", "0s"])
            .env(CRASH_ENV, step)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), None, "{step}: not killed: {stderr}");
        assert!(stderr.contains(step), "{step}: {stderr}");
        a.assert_verified();
        let before = hub_files(&world);
        let gc = hub_gc(&world, &a, &["--grace", "0s", "--json"]).ok().json();
        assert!(gc["packs_after"].as_u64().unwrap() <= 3, "{step}: {gc}");
        assert_ne!(
            hub_files(&world),
            before,
            "{step}: the later gc did its work"
        );
        a.assert_verified();
        // The hub takes new rounds and a new device.
        rounds(&a, 1, "c");
        let b = world.device("b");
        b.init();
        b.sync();
        crate::common::assert_converged(&[&a, &b]);
    }
}
