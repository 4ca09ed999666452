//! Issue 15, point 4: old versions put back. Restoring notes from a backup (`cp -p`, an
//! unzipped archive: their modification times are those of the backup) must not replace newer
//! edits made on other devices, nor bring back notes deleted since. Such an edit, whose time
//! goes backwards past the version it replaces, is a conflict: both versions are kept, the
//! older-looking one under `.revisions/`.

use std::fs;
use std::path::Path;

use filetime::FileTime;

use crate::common::{World, assert_converged, synced_pair};

/// `cp -p from to`: the bytes and the modification time.
fn copy_keeping_time(from: &Path, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(from, to).unwrap();
    let m = fs::metadata(from).unwrap();
    filetime::set_file_mtime(to, FileTime::from_last_modification_time(&m)).unwrap();
}

#[test]
fn backward_mtimes_backup_restore_keeps_newer_edit() {
    let w = World::new();
    let (a, b) = synced_pair(&w, &[("note.md", "as backed up\n", 1), ("keep.md", "k", 2)]);
    let backup = w.path().join("backup-note.md");
    copy_keeping_time(&a.path("note.md"), &backup);
    // The desktop edits the note (now); the laptop gets the edit.
    fs::write(b.path("note.md"), "the desktop's newer edit\n").unwrap();
    b.sync();
    a.sync();
    assert_eq!(
        a.read("note.md").as_deref(),
        Some("the desktop's newer edit\n")
    );
    // The laptop's user restores the note from last week's backup.
    copy_keeping_time(&backup, &a.path("note.md"));
    let r = a.sync();
    assert_eq!(r.conflicts.len(), 1, "the restore is a conflict: {r:?}");
    b.sync();
    a.sync();
    for d in [&a, &b] {
        assert_eq!(
            d.read("note.md").as_deref(),
            Some("the desktop's newer edit\n"),
            "{}: the newer edit keeps the path: {:?}",
            d.name,
            d.files()
        );
        assert_eq!(
            d.revisions_holding("as backed up\n").len(),
            1,
            "{}: the backup's text is kept as a revision: {:?}",
            d.name,
            d.files()
        );
    }
    assert_converged(&[&a, &b]);
}

#[test]
fn backward_mtimes_restored_deleted_note_stays_deleted() {
    let w = World::new();
    let (a, b) = synced_pair(
        &w,
        &[
            ("projects/note.md", "as backed up\n", 1),
            ("keep.md", "k", 2),
        ],
    );
    let backup = w.path().join("backup-note.md");
    copy_keeping_time(&a.path("projects/note.md"), &backup);
    // The desktop deletes the note, then goes on working; the laptop follows.
    b.remove("projects/note.md");
    b.sync();
    for i in 0..3 {
        fs::write(b.path("keep.md"), format!("k, edit {i}")).unwrap();
        b.sync();
    }
    a.sync();
    assert_eq!(a.read("projects/note.md"), None);
    // The laptop's user restores the folder from a backup, the deleted note with it.
    copy_keeping_time(&backup, &a.path("projects/note.md"));
    let r = a.sync();
    assert_eq!(r.conflicts.len(), 1, "the restore is a conflict: {r:?}");
    b.sync();
    a.sync();
    for d in [&a, &b] {
        assert_eq!(
            d.read("projects/note.md"),
            None,
            "{}: the deleted note stays deleted: {:?}",
            d.name,
            d.files()
        );
        assert_eq!(
            d.revisions_holding("as backed up\n").len(),
            1,
            "{}: the restored copy is kept as a revision: {:?}",
            d.name,
            d.files()
        );
        assert_eq!(d.read("keep.md").as_deref(), Some("k, edit 2"));
    }
    assert_converged(&[&a, &b]);
}

/// Not a restore: an old file copied in (`cp -p`, unzip) at a path the vault never had syncs
/// like any new note.
#[test]
fn backward_mtimes_old_file_at_a_new_path_syncs_normally() {
    let w = World::new();
    let (a, b) = synced_pair(&w, &[("keep.md", "k", 2)]);
    a.write(
        "imported/old-paper.md",
        "written long ago\n",
        -30 * 24 * 3600,
    );
    let r = a.sync();
    assert!(r.conflicts.is_empty(), "{r:?}");
    b.sync();
    for d in [&a, &b] {
        assert_eq!(
            d.read("imported/old-paper.md").as_deref(),
            Some("written long ago\n"),
            "{}",
            d.name
        );
        assert!(d.revisions_holding("written long ago\n").is_empty());
    }
    assert_converged(&[&a, &b]);
}
