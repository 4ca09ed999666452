//! `log` against a real folder hub whose snapshots are built by hand.

use super::*;
use crate::folder_hub::FolderHub;
use crate::hub::CasOutcome;
use crate::object::{FileMeta, FlatTree, Kind, Object, Snapshot, build_trees};
use crate::test_hub::{Damage, FaultyHub};

pub(super) struct World {
    pub _dir: tempfile::TempDir,
    pub hub: FolderHub,
    pub vault: LocalVault,
}

pub(super) fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(&dir.path().join("hub")).unwrap();
    let vault = LocalVault::init(&dir.path().join("vault"), "unused", "laptop").unwrap();
    World {
        _dir: dir,
        hub,
        vault,
    }
}

pub(super) fn p(s: &str) -> VaultPath {
    VaultPath::new(s).unwrap()
}

pub(super) fn id(content: &str) -> ObjectId {
    ObjectId::of(content.as_bytes())
}

/// Put the files and a snapshot of them on the hub (without moving head); returns its id and
/// every tree and snapshot object written.
pub(super) fn snapshot(
    hub: &FolderHub,
    files: &[(&str, &str)],
    parents: &[ObjectId],
    time_s: i64,
) -> (ObjectId, Vec<Object>) {
    let flat: FlatTree = files
        .iter()
        .map(|(path, text)| {
            let meta = FileMeta {
                id: id(text),
                size: text.len() as u64,
                mtime_ns: 1,
                executable: false,
            };
            (p(path), meta)
        })
        .collect();
    let (root, mut objects) = build_trees(&flat);
    let snap = Snapshot {
        tree: root,
        parents: parents.to_vec(),
        device_id: "0123456789abcdef".into(),
        device_name: format!("dev{time_s}"),
        time_ns: time_s * 1_000_000_000,
    };
    objects.push(snap.to_object());
    let blobs = files.iter().map(|(_, text)| Object {
        kind: Kind::Blob,
        bytes: text.as_bytes().to_vec(),
    });
    let all: Vec<Object> = blobs.chain(objects.iter().cloned()).collect();
    hub.put(&all).unwrap();
    (snap.to_object().id(), objects)
}

/// Publish a snapshot as the new head.
pub(super) fn publish(
    hub: &FolderHub,
    files: &[(&str, &str)],
    parents: &[ObjectId],
    time_s: i64,
) -> ObjectId {
    let (id, _) = snapshot(hub, files, parents, time_s);
    let old = hub.head().unwrap();
    assert_eq!(hub.cas_head(old, id).unwrap(), CasOutcome::Updated);
    id
}

fn ids(entries: &[LogEntry]) -> Vec<ObjectId> {
    entries.iter().map(|e| e.snapshot).collect()
}

fn changes(entries: &[LogEntry]) -> Vec<FileChange> {
    entries.iter().filter_map(|e| e.change.clone()).collect()
}

#[test]
fn empty_hub_has_no_history() {
    let w = world();
    assert!(log(&w.vault, &w.hub, None, usize::MAX).unwrap().is_empty());
}

#[test]
fn lists_snapshots_newest_first_and_the_changes_of_one_path() {
    let w = world();
    let s1 = publish(&w.hub, &[("a.md", "a"), ("b/c.md", "c1")], &[], 1);
    let s2 = publish(&w.hub, &[("a.md", "a"), ("b/c.md", "c2")], &[s1], 2);
    let s3 = publish(&w.hub, &[("b/c.md", "c2"), ("d.md", "d")], &[s2], 3);
    let s4 = publish(&w.hub, &[("b/e.md", "c2"), ("d.md", "d")], &[s3], 4);

    let all = log(&w.vault, &w.hub, None, usize::MAX).unwrap();
    assert_eq!(ids(&all), vec![s4, s3, s2, s1]);
    assert!(all.iter().all(|e| e.change.is_none()));
    assert_eq!(all[0].device_name, "dev4");
    assert_eq!(all[0].parents, vec![s3]);

    let c = log(&w.vault, &w.hub, Some(&p("b/c.md")), usize::MAX).unwrap();
    assert_eq!(ids(&c), vec![s4, s2, s1]);
    assert_eq!(
        changes(&c),
        vec![
            FileChange::Deleted {
                id: id("c2"),
                renamed_to: Some(p("b/e.md")),
            },
            FileChange::Modified {
                from: id("c1"),
                to: id("c2"),
            },
            FileChange::Added {
                id: id("c1"),
                renamed_from: None,
            },
        ]
    );

    let e = log(&w.vault, &w.hub, Some(&p("b/e.md")), usize::MAX).unwrap();
    assert_eq!(ids(&e), vec![s4]);
    assert_eq!(
        changes(&e),
        vec![FileChange::Added {
            id: id("c2"),
            renamed_from: Some(p("b/c.md")),
        }]
    );

    let a = log(&w.vault, &w.hub, Some(&p("a.md")), usize::MAX).unwrap();
    assert_eq!(ids(&a), vec![s3, s1]);
    assert!(matches!(
        a[0].change,
        Some(FileChange::Deleted {
            renamed_to: None,
            ..
        })
    ));

    assert_eq!(ids(&log(&w.vault, &w.hub, None, 2).unwrap()), vec![s4, s3]);
    assert_eq!(
        ids(&log(&w.vault, &w.hub, Some(&p("b/c.md")), 1).unwrap()),
        vec![s4]
    );
    assert!(
        log(&w.vault, &w.hub, Some(&p("never.md")), 9)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn merges_visit_each_snapshot_once_by_time() {
    let w = world();
    let root = publish(&w.hub, &[("n.md", "0")], &[], 1);
    let (left, _) = snapshot(&w.hub, &[("n.md", "L")], &[root], 3);
    let (right, _) = snapshot(&w.hub, &[("n.md", "0"), ("r.md", "r")], &[root], 2);
    let merge = publish(&w.hub, &[("n.md", "L"), ("r.md", "r")], &[left, right], 4);
    let all = log(&w.vault, &w.hub, None, usize::MAX).unwrap();
    assert_eq!(ids(&all), vec![merge, left, right, root]);
    // Against the first parent (left), the merge brought r.md in; n.md is unchanged.
    let r = log(&w.vault, &w.hub, Some(&p("r.md")), usize::MAX).unwrap();
    assert_eq!(ids(&r), vec![merge, right]);
    let n = log(&w.vault, &w.hub, Some(&p("n.md")), usize::MAX).unwrap();
    assert_eq!(ids(&n), vec![left, root]);
}

pub(super) fn watched(hub: &FolderHub, damage: bool) -> FaultyHub<'_> {
    FaultyHub {
        damage: if damage {
            Damage::Everything
        } else {
            Damage::Nothing
        },
        ..FaultyHub::new(hub)
    }
}

#[test]
fn damaged_objects_from_the_hub_are_refused() {
    let w = world();
    publish(&w.hub, &[("a.md", "a")], &[], 1);
    let hub = watched(&w.hub, true);
    let err = log(&w.vault, &hub, None, 10).unwrap_err();
    assert!(matches!(err, HistoryError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("hash"), "{err}");
}

#[test]
fn the_local_store_is_read_before_the_hub() {
    let w = world();
    let (s1, mut known) = snapshot(&w.hub, &[("a.md", "a")], &[], 1);
    let (s2, more) = snapshot(&w.hub, &[("a.md", "b")], &[s1], 2);
    known.extend(more);
    w.hub.cas_head(None, s2).unwrap();
    w.vault.objects().unwrap().write_pack(&known).unwrap();
    let hub = watched(&w.hub, false);
    let c = log(&w.vault, &hub, Some(&p("a.md")), usize::MAX).unwrap();
    assert_eq!(ids(&c), vec![s2, s1]);
    assert_eq!(
        hub.fetched.get(),
        0,
        "asked the hub for objects the device has"
    );
}

#[test]
fn a_path_log_loads_only_the_trees_on_the_path() {
    let w = world();
    let names: Vec<(String, String)> = (0..40)
        .map(|i| (format!("f{i:02}/note.md"), format!("v0-{i}")))
        .collect();
    let mut parent = None;
    for round in 0..5 {
        // Each round edits folder f<round>; f39 is only ever added, in the first round.
        let files: Vec<(String, String)> = names
            .iter()
            .enumerate()
            .map(|(i, (path, text))| {
                let text = if i < round + 1 {
                    format!("v{round}-{i}")
                } else {
                    text.clone()
                };
                (path.clone(), text)
            })
            .collect();
        let refs: Vec<(&str, &str)> = files
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let parents: Vec<ObjectId> = parent.into_iter().collect();
        parent = Some(publish(&w.hub, &refs, &parents, round as i64 + 1));
    }
    let hub = watched(&w.hub, false);
    let c = log(&w.vault, &hub, Some(&p("f39/note.md")), usize::MAX).unwrap();
    assert_eq!(c.len(), 1);
    // 5 snapshots, 5 root trees (each compared with its parent's), and f39's folder only in the
    // first snapshot: later snapshots share it with their parent, so it is never opened again.
    assert!(
        hub.fetched.get() <= 11,
        "fetched {} objects for a one-path log",
        hub.fetched.get()
    );
}
