//! Round-level tests of skipped paths (`round/stuck.rs`) on real folders and a real folder
//! hub: the round completes in one attempt, keeps both sides, publishes the rest, and later
//! rounds neither publish the obstacle as a deletion nor forget it.

use std::fs;
use std::process::Command;

use filetime::FileTime;

use super::*;
use crate::folder_hub::FolderHub;
use crate::hub::Hub;

struct World {
    _dir: tempfile::TempDir,
    hub: FolderHub,
    devices: Vec<LocalVault>,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let hub_path = dir.path().join("hub");
    let hub = FolderHub::open(&hub_path).unwrap();
    let devices = (0..2)
        .map(|i| {
            let root = dir.path().join(format!("dev{i}"));
            LocalVault::init(&root, &hub_path.display().to_string(), &format!("dev{i}")).unwrap()
        })
        .collect();
    World {
        _dir: dir,
        hub,
        devices,
    }
}

fn write(v: &LocalVault, path: &str, text: &str, secs: i64) {
    let p = v.root().join(path);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, text).unwrap();
    filetime::set_file_mtime(&p, FileTime::from_unix_time(1_790_000_000 + secs, 0)).unwrap();
}

fn read(v: &LocalVault, path: &str) -> Option<String> {
    fs::read_to_string(v.root().join(path)).ok()
}

fn sync_ok(w: &World, i: usize) -> SyncReport {
    sync(&w.devices[i], &w.hub, &SyncOptions::default())
        .unwrap_or_else(|e| panic!("sync of dev{i} failed: {e}"))
}

#[test]
fn a_folder_where_the_hub_has_a_file_is_skipped_and_everything_else_syncs() {
    let w = world();
    write(&w.devices[1], "a.md", "the hub's file", 1);
    sync_ok(&w, 1);
    write(&w.devices[0], "a.md/x.md", "in this device's folder", 2);
    write(&w.devices[0], "b.md", "another edit", 3);

    let report = sync_ok(&w, 0);
    assert_eq!(report.stats.attempts, 1);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].path.as_str(), "a.md");
    assert_eq!(report.skipped[0].reason, SkipKind::FolderInTheWay);
    assert!(report.snapshot_created, "b.md was not published");
    assert_eq!(
        read(&w.devices[0], "a.md/x.md").as_deref(),
        Some("in this device's folder")
    );
    sync_ok(&w, 1);
    assert_eq!(
        read(&w.devices[1], "a.md").as_deref(),
        Some("the hub's file")
    );
    assert_eq!(read(&w.devices[1], "b.md").as_deref(), Some("another edit"));
    assert!(!w.devices[1].root().join("a.md/x.md").exists());

    // The next round meets it again, publishes nothing (no deletion of the hub's file).
    let head = w.hub.head().unwrap();
    let again = sync_ok(&w, 0);
    assert_eq!(again.skipped.len(), 1);
    assert_eq!(w.hub.head().unwrap(), head);

    // Resolved by the user: both sides get everything, the record is gone.
    fs::rename(
        w.devices[0].root().join("a.md"),
        w.devices[0].root().join("folder"),
    )
    .unwrap();
    let done = sync_ok(&w, 0);
    assert!(done.skipped.is_empty(), "{:?}", done.skipped);
    assert_eq!(
        read(&w.devices[0], "a.md").as_deref(),
        Some("the hub's file")
    );
    assert!(!w.devices[0].state_dir().join("stuck.json").exists());
    sync_ok(&w, 1);
    assert_eq!(
        read(&w.devices[1], "folder/x.md").as_deref(),
        Some("in this device's folder")
    );
}

/// `chattr +i`: a file that not even root may replace (where the filesystem and the
/// privileges allow setting it; otherwise there is nothing to test here).
fn immutable(path: &std::path::Path, on: bool) -> bool {
    Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(path)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_file_the_system_refuses_to_replace_is_skipped_as_permission_denied() {
    let w = world();
    write(&w.devices[0], "a.md", "first", 1);
    sync_ok(&w, 0);
    sync_ok(&w, 1);
    write(&w.devices[1], "a.md", "edited on the other device", 2);
    sync_ok(&w, 1);
    write(&w.devices[0], "b.md", "another edit", 3);
    let note = w.devices[0].root().join("a.md");
    if !immutable(&note, true) {
        eprintln!("skipped: cannot make a file immutable here (chattr +i)");
        return;
    }
    let result = sync(&w.devices[0], &w.hub, &SyncOptions::default());
    immutable(&note, false);
    let report = result.unwrap();
    assert_eq!(report.stats.attempts, 1);
    assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
    assert_eq!(report.skipped[0].reason, SkipKind::PermissionDenied);
    assert!(
        report.skipped[0].message.starts_with("`a.md`: "),
        "{}",
        report.skipped[0].message
    );
    assert_eq!(read(&w.devices[0], "a.md").as_deref(), Some("first"));
    sync_ok(&w, 1);
    assert_eq!(
        read(&w.devices[1], "a.md").as_deref(),
        Some("edited on the other device")
    );
    assert_eq!(read(&w.devices[1], "b.md").as_deref(), Some("another edit"));

    // Writable again: the other device's edit arrives (this one never edited it).
    let done = sync_ok(&w, 0);
    assert!(done.skipped.is_empty());
    assert_eq!(
        read(&w.devices[0], "a.md").as_deref(),
        Some("edited on the other device")
    );
}

#[test]
fn an_immutable_file_that_loses_a_conflict_is_skipped_without_a_revision_each_round() {
    let w = world();
    write(&w.devices[0], "a.md", "first", 1);
    sync_ok(&w, 0);
    sync_ok(&w, 1);
    write(&w.devices[0], "a.md", "this device's older edit", 2);
    write(&w.devices[1], "a.md", "the other device's newer edit", 3);
    sync_ok(&w, 1);
    let note = w.devices[0].root().join("a.md");
    if !immutable(&note, true) {
        eprintln!("skipped: cannot make a file immutable here (chattr +i)");
        return;
    }
    let first = sync(&w.devices[0], &w.hub, &SyncOptions::default());
    let second = sync(&w.devices[0], &w.hub, &SyncOptions::default());
    immutable(&note, false);
    for report in [first.unwrap(), second.unwrap()] {
        assert_eq!(report.stats.attempts, 1);
        assert_eq!(report.skipped.len(), 1, "{:?}", report.skipped);
        assert_eq!(report.skipped[0].reason, SkipKind::PermissionDenied);
    }
    assert_eq!(
        read(&w.devices[0], "a.md").as_deref(),
        Some("this device's older edit")
    );
    let revisions = w.devices[0].root().join(".revisions");
    assert!(!revisions.exists() || fs::read_dir(&revisions).unwrap().count() == 0);

    // Changeable again: the conflict is resolved once, with one revision.
    let done = sync_ok(&w, 0);
    assert!(done.skipped.is_empty());
    assert_eq!(done.conflicts.len(), 1);
    assert_eq!(
        read(&w.devices[0], "a.md").as_deref(),
        Some("the other device's newer edit")
    );
    let kept = done.conflicts[0].revision.as_str();
    assert_eq!(
        read(&w.devices[0], kept).as_deref(),
        Some("this device's older edit")
    );
    sync_ok(&w, 1);
    assert_eq!(
        read(&w.devices[1], kept).as_deref(),
        Some("this device's older edit")
    );
}
