//! `show_to` and `restore_at` of large (chunked) files against a real folder hub.

use crate::content::objects_of;
use crate::folder_hub::FolderHub;
use crate::history::tests::{p, world};
use crate::history::{At, HistoryError, show_to};
use crate::hub::{CasOutcome, Hub};
use crate::id::ObjectId;
use crate::object::{FileMeta, FlatTree, Kind, Snapshot, build_trees};
use crate::restore::{FileOutcome, RestoreError, restore_at};
use crate::test_hub::{Damage, FaultyHub};

const S: i64 = 1_000_000_000;

use crate::test_bytes::noise;

/// Publish `files` (any sizes) as the new head at `time_s`.
fn publish(hub: &FolderHub, files: &[(&str, &[u8])], time_s: i64) -> ObjectId {
    let mut flat = FlatTree::new();
    let mut objects = Vec::new();
    for (path, bytes) in files {
        let (id, objs) = objects_of(bytes);
        objects.extend(objs);
        flat.insert(
            p(path),
            FileMeta {
                id,
                size: bytes.len() as u64,
                mtime_ns: 1,
                executable: false,
            },
        );
    }
    let (root, trees) = build_trees(&flat);
    objects.extend(trees);
    let old = hub.head().unwrap();
    let snap = Snapshot {
        tree: root,
        parents: old.into_iter().collect(),
        device_id: "0123456789abcdef".into(),
        device_name: "dev".into(),
        time_ns: time_s * S,
    }
    .to_object();
    objects.push(snap.clone());
    hub.put(&objects).unwrap();
    assert_eq!(hub.cas_head(old, snap.id()).unwrap(), CasOutcome::Updated);
    snap.id()
}

#[test]
fn a_large_version_is_shown_and_restored_exactly() {
    let w = world();
    let v1 = noise(3 << 20, 1);
    let v2 = noise(2 << 20, 2);
    publish(&w.hub, &[("media/big.bin", &v1), ("a.md", b"one")], 1);
    publish(&w.hub, &[("media/big.bin", &v2), ("a.md", b"two")], 2);

    let mut out = Vec::new();
    let shown = show_to(
        &w.vault,
        &w.hub,
        &p("media/big.bin"),
        &At::Time(S),
        &mut out,
    )
    .unwrap();
    assert!(out == v1, "the bytes of the first version");
    assert_eq!(shown.meta.id, objects_of(&v1).0);

    let root = w.vault.root();
    std::fs::create_dir_all(root.join("media")).unwrap();
    std::fs::write(root.join("media/big.bin"), &v2).unwrap();
    let report = restore_at(&w.vault, &w.hub, &p("media"), &At::Time(S)).unwrap();
    assert_eq!(report.files[0].outcome, FileOutcome::Restored);
    assert!(std::fs::read(root.join("media/big.bin")).unwrap() == v1);
    let kept = report.files[0].kept_current.as_ref().unwrap();
    assert!(std::fs::read(kept.to_fs_path(root)).unwrap() == v2);
    // Restoring it again finds it in place (by its content id) and changes nothing.
    let again = restore_at(&w.vault, &w.hub, &p("media/big.bin"), &At::Time(S)).unwrap();
    assert_eq!(again.unchanged, 1);
}

#[test]
fn a_damaged_chunk_is_refused_and_nothing_is_written() {
    let w = world();
    let v1 = noise(2 << 20, 3);
    publish(&w.hub, &[("big.bin", &v1)], 1);
    publish(&w.hub, &[("other.md", b"x")], 2);
    let (_, objects) = objects_of(&v1);
    let chunk = objects.iter().rfind(|o| o.kind == Kind::Blob).unwrap().id();
    let hub = FaultyHub {
        damage: Damage::One(chunk),
        ..FaultyHub::new(&w.hub)
    };
    let mut out = Vec::new();
    let err = show_to(&w.vault, &hub, &p("big.bin"), &At::Time(S), &mut out).unwrap_err();
    assert!(matches!(err, HistoryError::Damaged { .. }), "{err}");
    assert!(
        out.len() < v1.len(),
        "never the whole file from a damaged source"
    );

    let root = w.vault.root();
    std::fs::write(root.join("big.bin"), b"mine").unwrap();
    let err = restore_at(&w.vault, &hub, &p("big.bin"), &At::Time(S)).unwrap_err();
    assert!(
        matches!(err, RestoreError::History(HistoryError::Damaged { .. })),
        "{err}"
    );
    assert_eq!(std::fs::read(root.join("big.bin")).unwrap(), b"mine");
    let names: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| n == "big.bin" || n == ".vault"),
        "no temp file left: {names:?}"
    );
}

/// A large file an older version stored whole reads as that blob.
#[test]
fn a_large_file_stored_whole_is_shown() {
    let w = world();
    let bytes = noise(1 << 20, 4);
    let whole = crate::object::Object {
        kind: Kind::Blob,
        bytes: bytes.clone(),
    };
    let mut flat = FlatTree::new();
    flat.insert(
        p("old.bin"),
        FileMeta {
            id: whole.id(),
            size: bytes.len() as u64,
            mtime_ns: 1,
            executable: false,
        },
    );
    let (root, mut objects) = build_trees(&flat);
    let snap = Snapshot {
        tree: root,
        parents: vec![],
        device_id: "0123456789abcdef".into(),
        device_name: "old".into(),
        time_ns: S,
    }
    .to_object();
    objects.extend([whole, snap.clone()]);
    w.hub.put(&objects).unwrap();
    w.hub.cas_head(None, snap.id()).unwrap();
    let mut out = Vec::new();
    show_to(&w.vault, &w.hub, &p("old.bin"), &At::Time(S), &mut out).unwrap();
    assert!(out == bytes);
}
