//! Hub compaction and gc through the real binaries (docs/format.md, "Hub folder"): a hub with
//! many rounds compacted by the rounds themselves and by `syncd hub gc`, with every snapshot
//! still readable; compaction while another device syncs from the same hub folder in
//! separate processes; killed uploads freed after the grace period (dry run first); a
//! compaction killed at every step leaves a hub that verifies; `vault-server gc` and the
//! server's own compaction after pushes.

#[path = "../common/mod.rs"]
mod common;

mod concurrent;
mod crash;
mod server;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{Device, Run, World};
use filetime::FileTime;

/// `syncd hub gc --vault <device> <extra>`.
pub fn hub_gc(world: &World, device: &Device, extra: &[&str]) -> Run {
    let vault = device.root.display().to_string();
    let mut args = vec!["hub", "gc", "--vault", &vault];
    args.extend_from_slice(extra);
    world.syncd(&args)
}

/// `n` publishing rounds on `device`, one note edited in each.
pub fn rounds(device: &Device, n: usize, tag: &str) {
    for i in 0..n {
        device.write(
            &format!("notes/{tag}-{}.md", i % 5),
            &format!("{tag} round {i}\n"),
            1_700_000_000 + i as i64,
        );
        let report = device.sync();
        assert!(report.snapshot_created, "round {i} published");
    }
}

/// Set the mtime of `path` `by` into the past.
pub fn age(path: &Path, by: Duration) {
    let m = fs::metadata(path).unwrap().modified().unwrap();
    filetime::set_file_mtime(path, FileTime::from_system_time(m - by)).unwrap();
}

/// The files of the hub folder (packs, retired packs, temp files), sorted.
pub fn hub_files(world: &World) -> Vec<String> {
    let mut out = Vec::new();
    for dir in [
        world.hub.clone(),
        world.hub.join("packs"),
        world.hub.join("packs/retired"),
    ] {
        if let Ok(rd) = fs::read_dir(&dir) {
            out.extend(rd.flatten().map(|e| e.path().display().to_string()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_hub_with_many_rounds_is_compacted_and_every_snapshot_still_reads() {
    let world = World::new();
    let a = world.device("a");
    a.init();
    rounds(&a, 40, "a");
    // The rounds compact by themselves: never far above the threshold.
    let packs = world.hub_packs().len();
    assert!(packs <= 17, "{packs} packs after 40 rounds");

    let gc = hub_gc(&world, &a, &["--json"]).ok().json();
    assert_eq!(gc["objects_dropped"], 0, "{gc}");
    let after = gc["packs_after"].as_u64().unwrap();
    assert!(
        after < 10 && after as usize == world.hub_packs().len(),
        "{gc}"
    );
    let human = hub_gc(&world, &a, &["--dry-run"]).ok();
    assert!(
        human.stdout.contains("Dry run") && human.stdout.contains("packs:"),
        "{}",
        human.stdout
    );

    a.assert_verified();
    let log = a.run("log", &["--json"]).ok().json();
    let snapshots = log.as_array().expect("a list of snapshots").len();
    assert!(snapshots >= 40, "{snapshots} snapshots in the log");
    // The oldest version still reads.
    let of_note = a.run("log", &["--json", "notes/a-0.md"]).ok().json();
    let oldest = of_note.as_array().unwrap().last().unwrap()["snapshot"]
        .as_str()
        .expect("a snapshot id")
        .to_string();
    let shown = a.run("show", &["--at", &oldest[..12], "notes/a-0.md"]).ok();
    assert_eq!(shown.stdout, "a round 0\n");
    // A new device gets the whole vault from the compacted hub.
    let b = world.device("b");
    b.init();
    b.sync();
    common::assert_converged(&[&a, &b]);
    b.assert_verified();
}

#[test]
fn gc_frees_killed_uploads_after_the_grace_and_a_dry_run_changes_nothing() {
    let world = World::new();
    let a = world.device("a");
    a.init();
    rounds(&a, 3, "a");
    // A killed upload: a complete pack whose snapshot never became head, and a temp file.
    let hub = world.open_hub();
    use vault::hub::Hub;
    let junk = vault::object::Object {
        kind: vault::object::Kind::Blob,
        bytes: vec![42u8; 200_000],
    };
    hub.put(std::slice::from_ref(&junk)).unwrap();
    let temp = world.hub.join("packs/.vault-tmp-00112233aabbccdd");
    fs::write(&temp, vec![0u8; 50_000]).unwrap();

    // Inside the grace period, nothing of theirs goes.
    let young = hub_gc(&world, &a, &["--json"]).ok().json();
    assert_eq!(young["objects_dropped"], 0, "{young}");
    assert!(temp.exists());

    for p in world.hub_packs() {
        age(&p, Duration::from_secs(7200));
    }
    age(&temp, Duration::from_secs(7200));
    let before = hub_files(&world);
    let dry = hub_gc(&world, &a, &["--dry-run", "--json"]).ok().json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["objects_dropped"], 1, "{dry}");
    assert_eq!(dry["temps_removed"], 1, "{dry}");
    assert!(dry["bytes_dropped"].as_u64().unwrap() >= 200_000, "{dry}");
    assert_eq!(hub_files(&world), before, "a dry run changes nothing");

    let done = hub_gc(&world, &a, &["--json"]).ok().json();
    assert_eq!(done["objects_dropped"], 1, "{done}");
    assert_eq!(done["temps_removed"], 1, "{done}");
    assert!(!temp.exists());
    assert_eq!(
        world.open_hub().missing(&[junk.id()]).unwrap(),
        vec![junk.id()]
    );
    // The retired packs go once past the grace period.
    let later = hub_gc(&world, &a, &["--grace", "0s", "--json"]).ok().json();
    assert!(later["retired_deleted"].as_u64().unwrap() >= 1, "{later}");
    assert!(later["bytes_freed"].as_u64().unwrap() >= 200_000, "{later}");
    a.assert_verified();
    rounds(&a, 1, "after");
    a.assert_verified();
}
