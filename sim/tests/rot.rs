//! Bit rot in the hub's packs, written out: what the soak's checks of bit rot rest on.

use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::hub_write;
use vault::object::{EntryKind, Tree};
use vault::store::PackStore;
use vault_sim::check::{self, Knowledge};
use vault_sim::ops::{Change, HubKind, Save, Step, generate};
use vault_sim::run::exclusive;
use vault_sim::world::{RoundOutcome, World};

/// Two devices in sync over a note, on a hub of `kind`.
fn synced_world(kind: HubKind) -> (World, Knowledge) {
    synced_over(
        kind,
        Step::Write {
            dev: 0,
            path: "n.md".into(),
            text: "every word\n".into(),
            save: Save::Atomic,
        },
    )
}

/// Two devices in sync over what device 0's `step` saved, on a hub of `kind`.
fn synced_over(kind: HubKind, step: Step) -> (World, Knowledge) {
    let (mut setup, _) = generate(3, 0);
    setup.devices.truncate(2);
    setup.hub = kind;
    let mut world = World::new(&setup);
    world.step(&step);
    assert_eq!(world.sync(0), RoundOutcome::Synced);
    assert_eq!(world.sync(1), RoundOutcome::Synced);
    let mut known = Knowledge::default();
    check::record_head(&world, &mut known).unwrap();
    (world, known)
}

/// Every bit position of the first pack's objects in turn (a stride through it): the rot of a
/// copy both devices hold is no one's loss, and `--full-verify` on the devices makes the hub
/// whole and the devices converge.
#[test]
fn a_rotted_copy_that_devices_hold_is_repaired_by_full_verify() {
    rotted_and_repaired(synced_world, 4096, 331);
}

/// The same for a large file's chunks and lists (seeds 123, 146 and others of the rot
/// soak): a device repairing the hub sent only the pieces `missing` named, and the hub
/// holds damaged ones, so the hub stayed damaged and the other device could never fetch
/// the file.
#[test]
fn a_rotted_chunk_of_a_large_file_is_repaired_by_full_verify() {
    rotted_and_repaired(|kind| synced_over(kind, large_step()), 1 << 20, 65_537);
}

/// On each hub kind, for bits `0..bits` by `stride` of the first pack's objects: a world
/// made by `synced`, the bit flipped, then two full-verify rounds a device.
fn rotted_and_repaired(synced: impl Fn(HubKind) -> (World, Knowledge), bits: u64, stride: usize) {
    for kind in [HubKind::Folder, HubKind::Server] {
        for bit in (0..bits).step_by(stride) {
            exclusive(bit, || {
                let (mut world, mut known) = synced(kind);
                let before = check::hub_history(&world).unwrap();
                let Some((pack, _)) = world.rot(0, bit) else {
                    panic!("the hub has a pack");
                };
                world.counts.bit_flips += 1;
                let lost = check::rot(&world, &mut known, &before);
                assert_eq!(
                    lost,
                    0,
                    "{}: every version is on both devices",
                    pack.display()
                );
                world.full_verify = true;
                for dev in [0, 1, 0, 1] {
                    let held = world.files(dev);
                    world.sync(dev);
                    check::nothing_lost(&world, &known, &held, "dev").unwrap();
                }
                check::converged_except(&world, &known)
                    .unwrap_or_else(|v| panic!("{kind:?}, bit {bit} of {}: {v}", pack.display()));
            });
        }
    }
}

/// A version whose only copy rotted is counted as the disk's loss, and only it: the note
/// both devices still hold is not exempt.
#[test]
fn only_a_version_on_no_device_is_the_disks_loss() {
    exclusive(7, || {
        let (mut world, mut known) = synced_world(HubKind::Folder);
        // The note's first version leaves both devices: only the hub's history keeps it.
        for dev in [0, 1] {
            world.step(&Step::Write {
                dev,
                path: "n.md".into(),
                text: format!("rewritten on dev{dev}\n"),
                save: Save::InPlace,
            });
        }
        assert_eq!(world.sync(0), RoundOutcome::Synced);
        check::record_head(&world, &mut known).unwrap();
        let before = check::hub_history(&world).unwrap();
        assert!(before.1.contains(b"every word\n".as_slice()));
        // Rot every pack's first object byte until the first version no longer reads.
        let mut lost = 0;
        for file in 0..world.hub_packs().len() as u64 {
            world.rot(file, 0);
            world.counts.bit_flips += 1;
            lost += check::rot(&world, &mut known, &before);
        }
        let exempt: Vec<&Vec<u8>> = known.rotted_away.iter().collect();
        assert!(
            exempt.iter().all(|v| v.as_slice() != b"rewritten on dev0\n"
                && v.as_slice() != b"rewritten on dev1\n"),
            "a version a device holds is never exempt: {exempt:?}"
        );
        assert_eq!(lost as usize, exempt.len());
    });
}

/// Seed 42 of the rot soak: the hub checks the objects of a new head before it moves
/// (those of files new at their path), and a large file's chunk list it held only a damaged
/// copy of stopped it ("holds damaged data") every round, on the device that could repair
/// it too. The publishing device now stores good copies of what the check names damaged,
/// and publishes. Every pack is rotted in turn (the list is in a pack of its own), then the
/// device that holds the large file moves it.
#[test]
fn a_damaged_chunk_list_does_not_stop_the_next_publish() {
    for kind in [HubKind::Folder, HubKind::Server] {
        let packs = exclusive(1, || {
            let (world, _) = synced_over(kind, large_step());
            world.hub_packs().len() as u64
        });
        for file in 0..packs {
            exclusive(file, || {
                let (mut world, mut known) = synced_over(kind, large_step());
                let before = check::hub_history(&world).unwrap();
                world.rot(file, 11).expect("the hub has packs");
                world.counts.bit_flips += 1;
                assert_eq!(check::rot(&world, &mut known, &before), 0);
                world.step(&Step::Rename {
                    dev: 0,
                    from: "pic.png".into(),
                    to: "moved.png".into(),
                });
                let outcome = world.sync(0);
                assert_eq!(outcome, RoundOutcome::Synced, "{kind:?}, pack {file}");
                world.full_verify = true;
                for dev in [1, 0, 1] {
                    world.sync(dev);
                }
                check::converged_except(&world, &known)
                    .unwrap_or_else(|v| panic!("{kind:?}, pack {file}: {v}"));
            });
        }
    }
}

/// Device 0 saves a new large file.
fn large_step() -> Step {
    Step::Large {
        dev: 0,
        path: "pic.png".into(),
        seed: 9,
        change: Change::New { extra: 3000 },
        save: Save::Atomic,
    }
}

/// Seed 5805: a device published a snapshot, then could not keep its trees (its disk was
/// full), and the hub's copy of one rotted: no one had the head's folder listings any more,
/// and every device was stuck behind it for good. A round now keeps what it publishes
/// before the head moves: on a disk that fills up at any point of the round, the hub's head
/// is the one before it, or its snapshot and every tree are in the device's own store.
#[test]
fn a_device_publishes_only_what_it_kept() {
    let setup = vault_sim::scenario::two_plain_devices(HubKind::Folder);
    for room in (0..3072).step_by(48) {
        exclusive(room, || {
            let mut world = World::new(&setup);
            world.step(&vault_sim::scenario::write(0, "a/one.md", "one\n"));
            assert_eq!(world.sync(0), RoundOutcome::Synced);
            world.step(&vault_sim::scenario::write(0, "a/b/two.md", "two\n"));
            let hub = FolderHub::open(&world.hub_dir).unwrap();
            let before = hub.head().unwrap();
            let disk = &world.devices[0].machine.fs;
            disk.set_capacity(disk.used() + room);
            let outcome = world.sync(0);
            let hub = FolderHub::open(&world.hub_dir).unwrap();
            let after = hub.head().unwrap();
            if after == before {
                return;
            }
            let kept = PackStore::open(&world.devices[0].vault.join(".vault/objects")).unwrap();
            let head = after.unwrap();
            let mut objects = vec![head];
            let mut todo = vec![hub_write::snapshot(&hub, head).unwrap().tree];
            while let Some(tree) = todo.pop() {
                objects.push(tree);
                let bytes = hub.get(&[tree]).unwrap().remove(0).bytes;
                for entry in Tree::decode(&bytes).unwrap().entries.into_values() {
                    if let EntryKind::Dir(sub) = entry {
                        todo.push(sub);
                    }
                }
            }
            for id in objects {
                assert!(
                    kept.contains(id),
                    "room {room}: {outcome:?}; the head moved, and {} is only on the hub",
                    id.short()
                );
            }
        });
    }
}
