//! The invariant checks catch what they exist for: each is shown a world where it must fail.

use std::collections::BTreeMap;
use std::path::Path;

use vault::vfs;
use vault_sim::check::{self, Knowledge};
use vault_sim::ops::{Save, Step, generate};
use vault_sim::world::{RoundOutcome, World};

fn world_with_a_synced_note() -> (World, Knowledge) {
    let (mut setup, _) = generate(3, 0);
    setup.devices.truncate(2);
    let mut world = World::new(&setup);
    world.step(&Step::Write {
        dev: 0,
        path: "n.md".into(),
        text: "words\n".into(),
        save: Save::Atomic,
    });
    assert_eq!(world.sync(0), RoundOutcome::Synced);
    assert_eq!(world.sync(1), RoundOutcome::Synced);
    let mut known = Knowledge::default();
    check::record_head(&world, &mut known).unwrap();
    (world, known)
}

#[test]
fn a_healthy_world_passes_every_check() {
    let (world, known) = world_with_a_synced_note();
    check::no_torn_files(&world).unwrap();
    check::nothing_lost(&world, &known, &world.files(0), "dev0").unwrap();
    check::converged(&world).unwrap();
    check::fsck_clean(&world).unwrap();
}

#[test]
fn a_flipped_bit_in_a_hub_pack_fails_fsck() {
    let (world, _) = world_with_a_synced_note();
    let packs = world.hub_dir.join("packs");
    let pack = vfs::read_dir(&packs)
        .unwrap()
        .flatten()
        .find(|e| e.kind() == vfs::Kind::File && e.path().extension().is_some_and(|x| x == "pack"))
        .expect("a pack on the hub")
        .path();
    let len = vfs::metadata(&pack).unwrap().len();
    let rel = pack.strip_prefix(&world.hub.root).unwrap();
    world.hub.fs.flip_bit(rel, len * 8 - 20).unwrap();
    let v = check::fsck_clean(&world).unwrap_err();
    assert_eq!(v.kind, "fsck", "{v}");
    assert!(v.detail.starts_with("the hub:"), "{v}");
}

#[test]
fn a_file_no_one_wrote_is_a_torn_file() {
    let (world, _) = world_with_a_synced_note();
    world.devices[1]
        .machine
        .fs
        .flip_bit(Path::new("vault/n.md"), 3)
        .unwrap();
    let v = check::no_torn_files(&world).unwrap_err();
    assert_eq!(v.kind, "torn file");
    let v = check::converged(&world).unwrap_err();
    assert_eq!(v.kind, "not converged");
}

#[test]
fn a_version_gone_from_every_device_and_the_hub_is_lost() {
    let (world, known) = world_with_a_synced_note();
    for d in 0..2 {
        vfs::remove_file(world.devices[d].vault.join("n.md")).unwrap();
    }
    let packs = world.hub_dir.join("packs");
    for entry in vfs::read_dir(&packs).unwrap() {
        let entry = entry.unwrap();
        if entry.kind() == vfs::Kind::File {
            vfs::remove_file(entry.path()).unwrap();
        }
    }
    let v = check::nothing_lost(&world, &known, &BTreeMap::new(), "dev0").unwrap_err();
    assert_eq!(v.kind, "history lost", "{v}");
}
