//! Table tests of the folder guard: which folders trip it, and which do not.

use super::*;
use crate::id::ObjectId;
use crate::object::FileMeta;

fn p(s: &str) -> VaultPath {
    VaultPath::new(s).unwrap()
}

fn meta(content: &str) -> FileMeta {
    FileMeta {
        id: ObjectId::of(content.as_bytes()),
        size: content.len() as u64,
        mtime_ns: 1,
        executable: false,
    }
}

/// `n` files under `folder` (every third one a level deeper), with distinct contents.
fn files(folder: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            let path = if i % 3 == 2 {
                format!("{folder}/deep/f{i}.md")
            } else {
                format!("{folder}/f{i}.md")
            };
            (path.clone(), format!("content of {path}"))
        })
        .collect()
}

fn tree(files: &[(String, String)]) -> FlatTree {
    files.iter().map(|(k, c)| (p(k), meta(c))).collect()
}

/// Base holds `base`; the device kept `kept` (and added `added`): what does the guard name,
/// with `vanished` mounts? Every base file not kept is deleted by the round.
fn guard(
    base: &[(String, String)],
    kept: &dyn Fn(&str) -> bool,
    added: &[(String, String)],
    vanished: &[&str],
) -> Vec<(String, usize, GuardReason)> {
    let base_tree = tree(base);
    let mut local: FlatTree = base_tree
        .iter()
        .filter(|(k, _)| kept(k.as_str()))
        .map(|(k, m)| (k.clone(), *m))
        .collect();
    local.extend(tree(added));
    let merged = local.clone();
    let deleted = local_deletions(&base_tree, &local, &base_tree, &merged);
    let mounts: Vec<VaultPath> = vanished.iter().map(|m| p(m)).collect();
    guarded_folders(&base_tree, &local, &deleted, &mounts)
        .into_iter()
        .map(|g| (g.folder.to_string(), g.deletes, g.why))
        .collect()
}

fn vault() -> Vec<(String, String)> {
    let mut all = files("projects", 12);
    all.extend(files("notes", 30));
    all.extend(files("drive", 3));
    all.push(("top.md".into(), "top".into()));
    all
}

#[test]
fn a_folder_that_held_many_files_and_lost_all_trips() {
    let got = guard(&vault(), &|k| !k.starts_with("projects/"), &[], &[]);
    assert_eq!(got, [("projects".into(), 12, GuardReason::Emptied)]);
}

#[test]
fn new_files_in_an_emptied_folder_do_not_hide_it() {
    let added = [("projects/new.md".to_string(), "new".to_string())];
    let got = guard(&vault(), &|k| !k.starts_with("projects/"), &added, &[]);
    assert_eq!(got, [("projects".into(), 12, GuardReason::Emptied)]);
}

#[test]
fn a_folder_keeping_one_of_its_files_does_not_trip() {
    let got = guard(
        &vault(),
        &|k| !k.starts_with("projects/") || k == "projects/f0.md",
        &[],
        &[],
    );
    assert_eq!(got, []);
}

#[test]
fn a_small_folder_emptied_does_not_trip() {
    let mut base = vault();
    base.extend(files("scratch", FOLDER_GUARD_MIN_FILES - 1));
    let got = guard(&base, &|k| !k.starts_with("scratch/"), &[], &[]);
    assert_eq!(got, []);
}

#[test]
fn only_the_topmost_emptied_folder_is_named() {
    let mut base = files("a/b", 12);
    base.extend(files("a/c", 12));
    base.extend(files("x", 1));
    let got = guard(&base, &|k| !k.starts_with("a/"), &[], &[]);
    assert_eq!(got, [("a".into(), 24, GuardReason::Emptied)]);
    // One sub-folder emptied, its sibling kept: the sub-folder.
    let got = guard(&base, &|k| !k.starts_with("a/b/"), &[], &[]);
    assert_eq!(got, [("a/b".into(), 12, GuardReason::Emptied)]);
}

#[test]
fn a_moved_folder_is_not_a_deletion() {
    let base = vault();
    let moved: Vec<(String, String)> = base
        .iter()
        .filter(|(k, _)| k.starts_with("projects/"))
        .map(|(k, c)| (k.replacen("projects/", "archive/", 1), c.clone()))
        .collect();
    let got = guard(&base, &|k| !k.starts_with("projects/"), &moved, &[]);
    assert_eq!(got, []);
}

#[test]
fn any_deletion_under_a_vanished_mount_trips() {
    // Even one file, far below the folder rule's threshold.
    let got = guard(&vault(), &|k| k != "drive/f0.md", &[], &["drive"]);
    assert_eq!(got, [("drive".into(), 1, GuardReason::Unmounted)]);
    let got = guard(&vault(), &|k| !k.starts_with("drive/"), &[], &["drive"]);
    assert_eq!(got, [("drive".into(), 3, GuardReason::Unmounted)]);
}

#[test]
fn a_vanished_mount_without_deletions_under_it_does_not_trip() {
    let got = guard(&vault(), &|k| k != "notes/f0.md", &[], &["drive"]);
    assert_eq!(got, []);
    // `drive2/` is not inside `drive/`.
    let mut base = vault();
    base.extend(files("drive2", 2));
    let got = guard(&base, &|k| !k.starts_with("drive2/"), &[], &["drive"]);
    assert_eq!(got, []);
}

#[test]
fn a_vanished_mount_that_is_also_emptied_is_named_once_as_a_mount() {
    let mut base = vault();
    base.extend(files("disk", 15));
    let got = guard(&base, &|k| !k.starts_with("disk/"), &[], &["disk"]);
    assert_eq!(got, [("disk".into(), 15, GuardReason::Unmounted)]);
    // A mount inside an emptied folder: the folder above names both.
    let mut base = files("outer", 12);
    base.extend(files("outer/disk", 3));
    let got = guard(&base, &|k| !k.starts_with("outer/"), &[], &["outer/disk"]);
    assert_eq!(got, [("outer".into(), 15, GuardReason::Emptied)]);
}

#[test]
fn deletions_already_made_on_the_hub_are_not_this_rounds() {
    let base = tree(&vault());
    let local: FlatTree = base
        .iter()
        .filter(|(k, _)| !k.as_str().starts_with("projects/"))
        .map(|(k, m)| (k.clone(), *m))
        .collect();
    // The hub deleted them too: nothing for this round to publish.
    let deleted = local_deletions(&base, &local, &local, &local);
    assert!(deleted.is_empty());
}

#[test]
fn the_message_names_the_folder_and_what_to_do() {
    let text = held_back_message(&[GuardedFolder {
        folder: p("drive"),
        deletes: 3,
        why: GuardReason::Unmounted,
    }]);
    for words in ["`drive`", "3 file(s)", "not mounted", "--allow-mass-delete"] {
        assert!(text.contains(words), "{words}: {text}");
    }
}
