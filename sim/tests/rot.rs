//! Bit rot in the hub's packs, written out: what the `--rot` soak's checks rest on.

use vault_sim::check::{self, Knowledge};
use vault_sim::ops::{HubKind, Save, Step, generate};
use vault_sim::run::exclusive;
use vault_sim::world::{RoundOutcome, World};

/// Two devices in sync over a note, on a hub of `kind`.
fn synced_world(kind: HubKind) -> (World, Knowledge) {
    let (mut setup, _) = generate(3, 0);
    setup.devices.truncate(2);
    setup.hub = kind;
    let mut world = World::new(&setup);
    world.step(&Step::Write {
        dev: 0,
        path: "n.md".into(),
        text: "every word\n".into(),
        save: Save::Atomic,
    });
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
    for kind in [HubKind::Folder, HubKind::Server] {
        for bit in (0..4096u64).step_by(331) {
            exclusive(bit, || {
                let (mut world, mut known) = synced_world(kind);
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
