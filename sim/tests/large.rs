//! Large files in the simulation, written out by hand: files above the chunking threshold
//! travel as content-defined chunks and a chunk list (`vault::content`), uploaded through
//! `Hub::put_stream` (over a server: batches with `x-vault-upload`, then the commit,
//! `server/src/uploads.rs`). Each scenario runs with every invariant checked after every step
//! and convergence at the end ([`run`]), on both hub kinds where both apply.

use std::path::Path;

use vault_sim::ops::{Change, HubKind, NetFault, Save, Setup, Step, generate};
use vault_sim::run::{exclusive, run};
use vault_sim::scenario::{sync, sync_with, two_plain_devices};
use vault_sim::world::{Faults, RoundOutcome, World, large_bytes};

const VIDEO: &str = "media/video.bin";

fn large(dev: usize, seed: u64, change: Change) -> Step {
    Step::Large {
        dev,
        path: VIDEO.into(),
        seed,
        change,
        save: Save::Atomic,
    }
}

/// A large file made on device 0 and synced to device 1, then edited in the middle (a few
/// bytes inserted) on device 0 and synced to the hub: device 1's next round downloads it.
fn edited_in_the_middle() -> Vec<Step> {
    vec![
        large(0, 1, Change::New { extra: 200_000 }),
        sync(0),
        sync(1),
        large(
            0,
            2,
            Change::Insert {
                at: 30_000,
                len: 10,
            },
        ),
        sync(0),
    ]
}

/// The edited file's bytes, as the steps above make them.
fn edited_bytes() -> Vec<u8> {
    let first = large_bytes(None, 1, Change::New { extra: 200_000 });
    large_bytes(
        Some(first),
        2,
        Change::Insert {
            at: 30_000,
            len: 10,
        },
    )
}

/// Bytes in the hub's pack files (what the hub stores).
fn hub_bytes(world: &World) -> usize {
    let rel = world
        .hub_dir
        .strip_prefix(&world.hub.root)
        .expect("the hub folder is on the hub machine")
        .join("packs");
    world
        .hub
        .fs
        .files_under(&rel)
        .unwrap_or_default()
        .values()
        .map(Vec::len)
        .sum()
}

fn video(world: &World, dev: usize) -> Option<Vec<u8>> {
    world.files(dev).get(Path::new(VIDEO)).cloned()
}

/// The edit stores a chunk or two, not the file again; device 1's download round writes the
/// edited file; and a crash of device 1 at any point of that round loses nothing, tears
/// nothing and converges.
fn edit_and_crash_in_download(hub: HubKind) {
    let setup = two_plain_devices(hub);
    let steps = edited_in_the_middle();
    let expected = edited_bytes();
    assert!(expected.len() as u64 > vault::content::CHUNKED_FROM);
    let calls = exclusive(1, || {
        let mut world = World::new(&setup);
        let (last, before) = steps.split_last().expect("steps");
        for step in before {
            world.step(step);
        }
        assert_eq!(video(&world, 1).map(|v| v.len()), Some(1_248_576));
        let stored = hub_bytes(&world);
        assert_eq!(world.step(last), Some(RoundOutcome::Synced));
        let added = hub_bytes(&world) - stored;
        assert!(
            added < expected.len() / 2,
            "{hub:?}: the edit stored {added} bytes for a file of {}",
            expected.len()
        );
        let calls = world.devices[1].machine.fs.calls();
        assert_eq!(world.sync(1), RoundOutcome::Synced);
        assert_eq!(video(&world, 1), Some(expected.clone()), "{hub:?}");
        world.devices[1].machine.fs.calls() - calls
    });
    assert!(calls > 20, "{hub:?}: the download round made {calls} calls");
    let every = (calls / 8).max(1);
    for at in (0..calls).step_by(every as usize) {
        // Half the crashes keep nothing not yet durable, the others most of it.
        let keep = if (at / every) % 2 == 0 { 0 } else { 250 };
        let all = [steps.as_slice(), &[sync_with(1, Some((at, keep)), None)]].concat();
        let report = run(1, &setup, &all);
        assert_eq!(
            report.failure, None,
            "{hub:?}: crash at call {at} of {calls}"
        );
        assert_eq!(
            report.counts.device_crashes, 1,
            "{hub:?}: crash at call {at} of {calls} struck"
        );
    }
}

#[test]
fn a_large_file_edited_in_the_middle_syncs_its_changed_chunks_and_survives_a_crash_anywhere_in_its_download_on_a_folder_hub()
 {
    edit_and_crash_in_download(HubKind::Folder);
}

#[test]
fn a_large_file_edited_in_the_middle_syncs_its_changed_chunks_and_survives_a_crash_anywhere_in_its_download_on_a_server()
 {
    edit_and_crash_in_download(HubKind::Server);
}

/// A large file on both devices, then edited on device 0: its next round uploads the edit.
fn synced_then_edited() -> Vec<Step> {
    vec![
        large(0, 3, Change::New { extra: 100_000 }),
        sync(0),
        sync(1),
        large(0, 4, Change::Overwrite { at: 40_000, len: 8 }),
    ]
}

/// How many requests device 0's round sends after `before` (the first request number a
/// restart no longer reaches).
fn requests_of_the_upload(setup: &Setup, before: &[Step]) -> u64 {
    (0..)
        .find(|n| {
            let steps = [
                before,
                &[sync_with(0, None, Some((*n, NetFault::ServerRestart)))],
            ]
            .concat();
            run(1, setup, &steps).counts.server_restarts == 0
        })
        .expect("a round sends finitely many requests")
}

/// A restart before each request of the round that uploads an edited large file: where it
/// falls between a batch of chunks and its commit, the server has dropped the open upload, the
/// commit answers "upload lost" and the round fails; the next round sends the chunks again.
/// A new file's chunks are sent while the scan cuts it; an upload lost there is sent again by
/// the same round (after reconcile), which must then finish.
#[test]
fn a_server_restart_during_a_large_upload_loses_the_open_upload_and_the_next_round_sends_it_again()
{
    let setup = two_plain_devices(HubKind::Server);
    let before = synced_then_edited();
    let n = requests_of_the_upload(&setup, &before);
    assert!(n > 4, "the upload's round sends {n} requests");
    let first = large_bytes(None, 3, Change::New { extra: 100_000 });
    let edited = large_bytes(
        Some(first.clone()),
        4,
        Change::Overwrite { at: 40_000, len: 8 },
    );
    let lost = exclusive(1, || {
        let mut lost = 0;
        for at in 0..n {
            let mut world = World::new(&setup);
            for step in &before {
                world.step(step);
            }
            let faults = Faults {
                net: Some((at, NetFault::ServerRestart)),
                ..Faults::default()
            };
            let outcome = world.sync_with(0, &faults);
            if let RoundOutcome::Failed(e) = &outcome {
                // The restart dropped the open upload: its commit is refused, nothing of it
                // became visible, and the round says so.
                assert!(e.contains("upload lost"), "restart at {at}: {e}");
                lost += 1;
                assert_eq!(video(&world, 1), Some(first.clone()), "restart at {at}");
            }
            // Either way, the next rounds bring the edit to the other device.
            assert_eq!(world.sync(0), RoundOutcome::Synced, "restart at {at}");
            assert_eq!(world.sync(1), RoundOutcome::Synced, "restart at {at}");
            assert_eq!(video(&world, 1), Some(edited.clone()), "restart at {at}");
        }
        lost
    });
    assert!(
        lost >= 1,
        "a restart between a batch and its commit loses the upload"
    );
    // A new file: its round finishes whatever request the restart comes before.
    let new = [large(0, 3, Change::New { extra: 100_000 })];
    for at in 0..requests_of_the_upload(&setup, &new) {
        let steps = [
            new[0].clone(),
            sync_with(0, None, Some((at, NetFault::ServerRestart))),
            sync(1),
        ];
        let report = run(1, &setup, &steps);
        assert_eq!(report.failure, None, "restart at {at}");
        assert_eq!(
            report.counts.rounds_ok, report.counts.rounds,
            "restart at {at}"
        );
    }
}

/// Every network fault at every request of a large file's upload round (a lost commit
/// answer: the upload landed though the device saw a failure; a partition mid-upload) loses
/// nothing and converges.
#[test]
fn every_network_fault_at_every_request_of_a_large_upload_loses_nothing() {
    let setup = two_plain_devices(HubKind::Server);
    let before = synced_then_edited();
    let n = requests_of_the_upload(&setup, &before);
    // (A delayed batch of a large upload arrives after its commit in the generated runs.)
    let faults = [NetFault::AnswerLost, NetFault::Partition];
    for fault in faults {
        for at in 0..n {
            let steps = [
                before.as_slice(),
                &[sync_with(0, None, Some((at, fault))), sync(1), sync(0)],
            ]
            .concat();
            let report = run(1, &setup, &steps);
            assert_eq!(report.failure, None, "{fault:?} at request {at} of {n}");
        }
    }
}

/// The same file saved on both devices as new attachments (a conflict of two large files):
/// both versions are kept, on both hub kinds.
#[test]
fn two_devices_saving_the_same_large_file_keep_both_versions() {
    for hub in [HubKind::Folder, HubKind::Server] {
        let setup = two_plain_devices(hub);
        let steps = [
            large(0, 5, Change::New { extra: 1000 }),
            large(1, 6, Change::New { extra: 2000 }),
            sync(0),
            sync(1),
            sync(0),
        ];
        let report = run(1, &setup, &steps);
        assert_eq!(report.failure, None, "{hub:?}");
        exclusive(1, || {
            let mut world = World::new(&setup);
            for step in &steps {
                world.step(step);
            }
            let contents: Vec<Vec<u8>> = world.files(0).into_values().collect();
            for seed in [5, 6] {
                let extra = if seed == 5 { 1000 } else { 2000 };
                let bytes = large_bytes(None, seed, Change::New { extra });
                assert!(contents.contains(&bytes), "{hub:?}: version {seed} kept");
            }
        });
    }
}

/// A crash point reached on the thread that hands a large file's chunks to the hub during the
/// scan killed the device as a crash anywhere does, but the world took the round for a plain
/// failure and never restarted the machine: every later round found the vault folder gone
/// (`vault-sim --seed 5609`). The round must count as a crash, and the device recover.
#[test]
fn a_crash_on_the_scans_upload_thread_is_a_crash_of_the_device() {
    // The shortest steps of that seed, on its setup: device 0's round dies at a call made on
    // the scan's upload thread; the device must restart and converge.
    let (setup, _) = generate(5609, 60);
    let steps = [
        Step::Large {
            dev: 1,
            path: "a/pic.png".into(),
            seed: 11_719_338_262_215_137_949,
            change: Change::Overwrite {
                at: 26_942,
                len: 55,
            },
            save: Save::InPlace,
        },
        sync(0),
        sync(1),
        sync_with(0, Some((59, 253)), None),
    ];
    let report = run(5609, &setup, &steps);
    assert_eq!(report.failure, None);
    assert_eq!(report.counts.device_crashes, 1);
}
