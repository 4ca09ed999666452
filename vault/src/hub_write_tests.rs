use super::*;
use crate::folder_hub::FolderHub;

fn path(p: &str) -> VaultPath {
    VaultPath::new(p).unwrap()
}

fn web() -> Author {
    Author {
        device_id: "web".into(),
        device_name: "web".into(),
    }
}

fn write(p: &str, text: &str) -> Edit {
    Edit {
        path: path(p),
        content: Some(text.as_bytes().to_vec()),
    }
}

/// A hub with `notes.md` and `a/b.md`, published through [`publish`] itself.
fn hub_with_notes(dir: &std::path::Path) -> (FolderHub, ObjectId) {
    let hub = FolderHub::open(&dir.join("hub")).unwrap();
    let head = publish(
        &hub,
        None,
        &FlatTree::new(),
        &[write("notes.md", "- [ ] one\n"), write("a/b.md", "b\n")],
        &web(),
        1_000,
    )
    .unwrap();
    (hub, head)
}

#[test]
fn a_published_change_is_a_child_of_the_head_with_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, first) = hub_with_notes(dir.path());
    let before = files(&hub, snapshot(&hub, first).unwrap().tree).unwrap();
    let second = publish(
        &hub,
        Some(first),
        &before,
        &[write("notes.md", "- [x] one\n")],
        &web(),
        2_000,
    )
    .unwrap();
    assert_eq!(hub.head().unwrap(), Some(second));
    let snap = snapshot(&hub, second).unwrap();
    assert_eq!(snap.parents, vec![first]);
    assert_eq!(snap.device_name, "web");
    let after = files(&hub, snap.tree).unwrap();
    assert_eq!(after[&path("a/b.md")], before[&path("a/b.md")]);
    let note = after[&path("notes.md")];
    assert_eq!(note.mtime_ns, 2_000);
    assert_eq!(
        fetch(&hub, &[note.id], Kind::Blob).unwrap()[0],
        b"- [x] one\n"
    );
    // The hub's own walk accepts the new head.
    assert_eq!(hub.verify_tree().unwrap(), Some(snap.tree));
}

#[test]
fn a_moved_head_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, first) = hub_with_notes(dir.path());
    let before = files(&hub, snapshot(&hub, first).unwrap().tree).unwrap();
    let rival = publish(
        &hub,
        Some(first),
        &before,
        &[write("other.md", "x\n")],
        &web(),
        2_000,
    )
    .unwrap();
    let err = publish(
        &hub,
        Some(first),
        &before,
        &[write("notes.md", "- [x] one\n")],
        &web(),
        3_000,
    )
    .unwrap_err();
    assert!(matches!(err, WriteError::Moved { actual } if actual == Some(rival)));
    assert_eq!(hub.head().unwrap(), Some(rival));
}

#[test]
fn files_and_folders_cannot_take_each_others_place() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, first) = hub_with_notes(dir.path());
    let before = files(&hub, snapshot(&hub, first).unwrap().tree).unwrap();
    for (edit, reason) in [
        (write("a", "x"), "it is a folder"),
        (
            write("notes.md/x.md", "x"),
            "a file is where its folder would be",
        ),
        (
            Edit {
                path: path("gone.md"),
                content: None,
            },
            "there is no such file",
        ),
    ] {
        let err = apply_edits(&before, &[edit], 5).unwrap_err();
        assert!(
            matches!(err, WriteError::Blocked { reason: r, .. } if r == reason),
            "{err}"
        );
    }
    // A sibling whose name only starts like a folder's is not inside it.
    let ok = apply_edits(&before, &[write("a.md", "x"), write("a-b/c.md", "y")], 5).unwrap();
    assert_eq!(ok.len(), 4);
    let removed = apply_edits(
        &before,
        &[Edit {
            path: path("a/b.md"),
            content: None,
        }],
        5,
    )
    .unwrap();
    assert_eq!(removed.len(), 1);
}

#[test]
fn a_written_version_is_never_dated_before_the_one_it_replaces() {
    let meta = |mtime_ns| FileMeta {
        id: ObjectId::of(b"x"),
        size: 1,
        mtime_ns,
        executable: false,
    };
    assert_eq!(write_time(100, None), 100);
    assert_eq!(write_time(100, Some(&meta(40))), 100);
    // Saved by a device whose clock ran ahead of the server's.
    assert_eq!(write_time(100, Some(&meta(500))), 501);
}

#[test]
fn files_since_a_head_equal_a_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, first) = hub_with_notes(dir.path());
    let root1 = snapshot(&hub, first).unwrap().tree;
    let before = files(&hub, root1).unwrap();
    let second = publish(
        &hub,
        Some(first),
        &before,
        &[
            write("a/b.md", "changed\n"),
            write("new/deep/c.md", "c\n"),
            Edit {
                path: path("notes.md"),
                content: None,
            },
        ],
        &web(),
        2_000,
    )
    .unwrap();
    let root2 = snapshot(&hub, second).unwrap().tree;
    let (after, changes) = files_since(&hub, root1, &before, root2).unwrap();
    assert_eq!(after, files(&hub, root2).unwrap());
    let changed: Vec<&str> = changes.changed.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(changed, ["a/b.md", "new/deep/c.md"]);
    assert_eq!(changes.removed, [path("notes.md")]);
}

/// Found by the simulation (docs/reliability.md "Simulation"): two folders holding the same
/// notes with the same times are one tree object, which the listing took only once, so the
/// second folder's read failed as "hub lacks 1 object" (the web view of such a vault, `cp -a`
/// of a folder, could not load).
#[test]
fn two_folders_alike_are_both_listed() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(&dir.path().join("hub")).unwrap();
    let head = publish(
        &hub,
        None,
        &FlatTree::new(),
        &[write("x/n.md", "same\n"), write("y/n.md", "same\n")],
        &web(),
        1_000,
    )
    .unwrap();
    let tree = snapshot(&hub, head).unwrap().tree;
    let listed = files(&hub, tree).unwrap();
    let paths: Vec<&str> = listed.keys().map(|p| p.as_str()).collect();
    assert_eq!(paths, ["x/n.md", "y/n.md"]);
}
