//! Issue 15, point 2: a rename is followed only on strong evidence. A new note whose bytes equal
//! those of a note deleted in the same round (a daily note made from a template) is a delete
//! plus an add, so another device's edit of the deleted note stays at its own path instead of
//! moving into the new note; a real `mv` (same bytes, same modification time) still carries
//! the other device's edit to the new name.

use std::fs;

use crate::common::{World, assert_converged, synced_pair};

const TEMPLATE: &str = "# Daily note\n\n## Tasks\n\n## Log\n";

#[test]
fn rename_evidence_template_note_keeps_other_devices_edit() {
    let w = World::new();
    let (a, b) = synced_pair(&w, &[("daily/old.md", TEMPLATE, 1)]);
    // The laptop deletes yesterday's note and makes today's from the same template: the same
    // bytes, written now.
    a.remove("daily/old.md");
    fs::write(a.path("daily/new.md"), TEMPLATE).unwrap();
    // Meanwhile the desktop writes in yesterday's note.
    let edit = format!("{TEMPLATE}- the desktop's words\n");
    b.write("daily/old.md", &edit, 20);
    a.sync();
    b.sync();
    a.sync();
    for d in [&a, &b] {
        assert_eq!(
            d.read("daily/old.md").as_deref(),
            Some(edit.as_str()),
            "{}: the edit stays at its own path: {:?}",
            d.name,
            d.files()
        );
        assert_eq!(
            d.read("daily/new.md").as_deref(),
            Some(TEMPLATE),
            "{}: the new note keeps the template: {:?}",
            d.name,
            d.files()
        );
    }
    assert_converged(&[&a, &b]);
}

#[test]
fn rename_evidence_real_move_still_carries_the_edit() {
    for renamer_first in [true, false] {
        let w = World::new();
        let (a, b) = synced_pair(&w, &[("old.md", "a note worth moving\n", 1)]);
        fs::create_dir_all(a.path("archive")).unwrap();
        fs::rename(a.path("old.md"), a.path("archive/moved.md")).unwrap();
        b.write("old.md", "a note worth moving\nedited on the desktop\n", 20);
        let (first, second) = if renamer_first { (&a, &b) } else { (&b, &a) };
        first.sync();
        let r = second.sync();
        assert!(r.conflicts.is_empty(), "{r:?}");
        first.sync();
        for d in [&a, &b] {
            assert_eq!(
                d.files().into_iter().collect::<Vec<_>>(),
                vec![(
                    "archive/moved.md".to_string(),
                    b"a note worth moving\nedited on the desktop\n".to_vec()
                )],
                "renamer first: {renamer_first}; {}",
                d.name
            );
        }
        assert_converged(&[&a, &b]);
    }
}

#[test]
fn rename_evidence_empty_new_file_is_never_a_rename() {
    let w = World::new();
    let (a, b) = synced_pair(&w, &[("inbox.md", "", 1), ("keep.md", "kept", 2)]);
    // Even moved with its time kept, an empty file says nothing about where it came from.
    fs::rename(a.path("inbox.md"), a.path("other.md")).unwrap();
    b.write("inbox.md", "the desktop's first words\n", 20);
    a.sync();
    b.sync();
    a.sync();
    for d in [&a, &b] {
        assert_eq!(
            d.read("inbox.md").as_deref(),
            Some("the desktop's first words\n"),
            "{}: {:?}",
            d.name,
            d.files()
        );
        assert_eq!(d.read("other.md").as_deref(), Some(""), "{}", d.name);
    }
    assert_converged(&[&a, &b]);
}
