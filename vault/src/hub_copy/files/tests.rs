//! `copy_history` of large files between two real folder hubs.

use std::convert::Infallible;

use crate::content::{objects_of, write_content};
use crate::folder_hub::FolderHub;
use crate::hub::{CasOutcome, Hub};
use crate::hub_copy::{CopyError, LocalCopies, copy_history};
use crate::id::ObjectId;
use crate::object::{FileMeta, FlatTree, Kind, Object, Snapshot, build_trees};
use crate::paths::VaultPath;
use crate::progress::NoProgress;

use crate::test_bytes::noise;

/// Publish `files` on `hub` as a device would (objects, then the head); returns the snapshot.
fn publish(hub: &FolderHub, files: &[(&str, &[u8])], parent: Option<ObjectId>) -> ObjectId {
    let mut flat = FlatTree::new();
    let mut objects = Vec::new();
    for (path, bytes) in files {
        let (id, objs) = objects_of(bytes);
        objects.extend(objs);
        flat.insert(
            VaultPath::new(path).unwrap(),
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
    let snap = Snapshot {
        tree: root,
        parents: parent.into_iter().collect(),
        device_id: "d".into(),
        device_name: "d".into(),
        time_ns: 1 + i64::from(parent.is_some()),
    }
    .to_object();
    objects.push(snap.clone());
    hub.put(&objects).unwrap();
    assert_eq!(
        hub.cas_head(parent, snap.id()).unwrap(),
        CasOutcome::Updated
    );
    snap.id()
}

fn bytes_of(hub: &dyn Hub, id: ObjectId) -> Vec<u8> {
    let mut out = Vec::new();
    write_content(
        &mut |ids| Ok::<_, Infallible>(hub.get(ids).unwrap()),
        id,
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn a_large_file_and_its_edit_reach_the_new_hub_chunk_by_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let old = FolderHub::open(&dir.path().join("old")).unwrap();
    let new = FolderHub::open(&dir.path().join("new")).unwrap();
    let v1 = noise(3 << 20, 5);
    let mut v2 = v1.clone();
    v2[3 << 19] ^= 0xff; // one byte in the middle
    let s1 = publish(&old, &[("big.bin", &v1), ("a.md", b"a")], None);
    let s2 = publish(&old, &[("big.bin", &v2), ("a.md", b"a")], Some(s1));
    let report = copy_history(&old, &new, s2, &LocalCopies::none(), &NoProgress).unwrap();
    assert_eq!(new.cas_head(None, s2).unwrap(), CasOutcome::Updated);
    assert!(new.verify_tree().unwrap().is_some());
    let (id1, o1) = objects_of(&v1);
    let (id2, o2) = objects_of(&v2);
    assert_eq!(bytes_of(&new, id1), v1);
    assert_eq!(bytes_of(&new, id2), v2);
    // Shared chunks travel once: the objects put are exactly the distinct ones.
    let mut distinct: Vec<ObjectId> = o1.iter().chain(&o2).map(Object::id).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(report.objects, distinct.len() as u64 + 1 + 2 + 2);
    // A second copy finds nothing to do.
    let again = copy_history(&old, &new, s2, &LocalCopies::none(), &NoProgress).unwrap();
    assert_eq!(again.objects, 0);
}

#[test]
fn a_chunk_the_old_hub_cannot_give_comes_from_this_devices_file_or_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let old = FolderHub::open(&dir.path().join("old")).unwrap();
    let bytes = noise(2 << 20, 6);
    let head = publish(&old, &[("media/big.bin", &bytes)], None);
    let (id, objects) = objects_of(&bytes);
    let chunk = objects.iter().find(|o| o.kind == Kind::Blob).unwrap().id();
    let faulty = crate::test_hub::FaultyHub {
        damage: crate::test_hub::Damage::One(chunk),
        ..crate::test_hub::FaultyHub::new(&old)
    };

    // Without a copy here: named by the file's path, and no list or tree reaches the new hub.
    let bare = FolderHub::open(&dir.path().join("bare")).unwrap();
    let err = copy_history(&faulty, &bare, head, &LocalCopies::none(), &NoProgress).unwrap_err();
    let CopyError::Incomplete { missing, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(missing[0].id, chunk);
    assert_eq!(missing[0].path.as_deref(), Some("media/big.bin"));
    assert_eq!(bare.missing(&[id, head]).unwrap(), vec![id, head]);

    // This device's file at that path has it (the stat cache need not know the file).
    let vault = dir.path().join("vault");
    std::fs::create_dir_all(vault.join("media")).unwrap();
    std::fs::write(vault.join("media/big.bin"), &bytes).unwrap();
    let local = LocalCopies::new(None, &vault, []);
    let new = FolderHub::open(&dir.path().join("new")).unwrap();
    let report = copy_history(&faulty, &new, head, &local, &NoProgress).unwrap();
    assert_eq!(report.from_this_device, 1);
    assert_eq!(new.cas_head(None, head).unwrap(), CasOutcome::Updated);
    assert!(new.verify_tree().unwrap().is_some());
    assert_eq!(bytes_of(&new, id), bytes);
}

/// A large file an older version stored as one blob is copied as that blob.
#[test]
fn a_large_file_stored_whole_is_copied_whole() {
    let dir = tempfile::tempdir().unwrap();
    let old = FolderHub::open(&dir.path().join("old")).unwrap();
    let new = FolderHub::open(&dir.path().join("new")).unwrap();
    let bytes = noise(1 << 20, 7);
    let whole = Object {
        kind: Kind::Blob,
        bytes: bytes.clone(),
    };
    let mut flat = FlatTree::new();
    flat.insert(
        VaultPath::new("old.bin").unwrap(),
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
        device_id: "d".into(),
        device_name: "d".into(),
        time_ns: 1,
    }
    .to_object();
    objects.push(whole.clone());
    objects.push(snap.clone());
    old.put(&objects).unwrap();
    old.cas_head(None, snap.id()).unwrap();
    copy_history(&old, &new, snap.id(), &LocalCopies::none(), &NoProgress).unwrap();
    new.cas_head(None, snap.id()).unwrap();
    assert_eq!(bytes_of(&new, whole.id()), bytes);
}
