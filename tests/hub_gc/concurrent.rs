//! Compaction in one process while devices sync through the same hub folder in others.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::{World, assert_converged};
use crate::{hub_gc, rounds};

#[test]
fn compaction_while_another_device_syncs_loses_nothing_and_breaks_no_reader() {
    let world = World::new();
    let a = world.device("a");
    let b = world.device("b");
    a.init();
    rounds(&a, 3, "start");
    b.init();
    b.sync();
    let done = AtomicBool::new(false);
    let mut retired = 0u64;
    std::thread::scope(|s| {
        // a publishes a round at a time, b follows in a loop, each a separate syncd process.
        let writer = s.spawn(|| {
            rounds(&a, 30, "a");
            done.store(true, Ordering::SeqCst);
        });
        let reader = s.spawn(|| {
            let mut n = 0;
            while !done.load(Ordering::SeqCst) {
                let run = b.run("sync", &["--json"]);
                assert_eq!(run.code, Some(0), "b's sync {n} failed: {run:?}");
                n += 1;
            }
            n
        });
        while !done.load(Ordering::SeqCst) {
            let gc = hub_gc(&world, &b, &["--json"]).ok().json();
            retired += gc["packs_retired"].as_u64().unwrap();
            assert_eq!(gc["objects_dropped"], 0, "{gc}");
        }
        writer.join().unwrap();
        let syncs = reader.join().unwrap();
        assert!(syncs > 0);
    });
    assert!(retired > 0, "the gc loop compacted something");
    b.sync();
    assert_converged(&[&a, &b]);
    a.assert_verified();
    b.assert_verified();
}
