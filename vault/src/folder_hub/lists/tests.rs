//! The folder hub's walk below large files: lists decoded, chunks required and re-hashed.

use std::fs;
use std::path::Path;

use crate::content::{ChunkList, Level, Piece, objects_of};
use crate::folder_hub::FolderHub;
use crate::hub::{CasOutcome, Hub, HubError};
use crate::id::ObjectId;
use crate::object::{FileMeta, FlatTree, Kind, Object, Snapshot, build_trees};
use crate::paths::VaultPath;
use crate::store::PackStore;

use crate::test_bytes::noise;

/// A snapshot of `files` given as (path, file id, size, the file's objects).
struct Built {
    snapshot: Object,
    objects: Vec<Object>,
    root: ObjectId,
}

fn build(files: Vec<(String, ObjectId, u64, Vec<Object>)>) -> Built {
    let mut flat = FlatTree::new();
    let mut objects = Vec::new();
    for (path, id, size, objs) in files {
        flat.insert(
            VaultPath::new(&path).unwrap(),
            FileMeta {
                id,
                size,
                mtime_ns: 1,
                executable: false,
            },
        );
        objects.extend(objs);
    }
    let (root, trees) = build_trees(&flat);
    objects.extend(trees);
    let snapshot = Snapshot {
        tree: root,
        parents: vec![],
        device_id: "d".into(),
        device_name: "d".into(),
        time_ns: 1,
    }
    .to_object();
    Built {
        snapshot,
        objects,
        root,
    }
}

fn big(path: &str, bytes: &[u8]) -> (String, ObjectId, u64, Vec<Object>) {
    let (id, objects) = objects_of(bytes);
    (path.to_string(), id, bytes.len() as u64, objects)
}

fn put_all_but(hub: &FolderHub, b: &Built, leave_out: &[ObjectId]) {
    let objects: Vec<Object> = b
        .objects
        .iter()
        .filter(|o| !leave_out.contains(&o.id()))
        .cloned()
        .collect();
    hub.put(&objects).unwrap();
    hub.put(std::slice::from_ref(&b.snapshot)).unwrap();
}

fn chunks_of(objects: &[Object]) -> Vec<ObjectId> {
    objects
        .iter()
        .filter(|o| o.kind == Kind::Blob)
        .map(Object::id)
        .collect()
}

#[test]
fn a_missing_chunk_refuses_the_head_until_it_is_put() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let bytes = noise(3 << 20, 1);
    let (path, id, size, objects) = big("video/clip.bin", &bytes);
    let chunks = chunks_of(&objects);
    assert!(chunks.len() > 2, "a 3 MiB file makes several chunks");
    let lost = chunks[1];
    let b = build(vec![(path, id, size, objects.clone())]);
    put_all_but(&hub, &b, &[lost]);
    let err = hub.cas_head(None, b.snapshot.id()).unwrap_err();
    assert!(matches!(err, HubError::Refused { .. }), "{err:?}");
    assert!(err.to_string().contains(&lost.to_string()), "{err}");
    assert_eq!(hub.head().unwrap(), None);
    assert_eq!(hub.missing_under(b.snapshot.id()).unwrap(), vec![lost]);
    // The file that holds it, for the user's message.
    let held = hub.files_holding(b.snapshot.id(), &[lost]).unwrap();
    let p = VaultPath::new("video/clip.bin").unwrap();
    assert_eq!(held[&p], vec![lost]);
    let chunk = objects.iter().find(|o| o.id() == lost).unwrap().clone();
    hub.put(&[chunk]).unwrap();
    assert_eq!(
        hub.cas_head(None, b.snapshot.id()).unwrap(),
        CasOutcome::Updated
    );
    assert_eq!(hub.tree_hash().unwrap(), Some(b.root));
    assert_eq!(hub.verify_tree().unwrap(), Some(b.root));
    let held = hub.files_holding(b.snapshot.id(), &[lost, id]).unwrap();
    assert_eq!(held[&p].len(), 2);
    assert!(held[&p].contains(&lost) && held[&p].contains(&id));
}

/// Flip one bit of `id`'s bytes in the pack that holds it.
fn flip(hub: &Path, id: ObjectId, bytes: &[u8]) {
    let store = PackStore::open(&hub.join("packs")).unwrap();
    let pack = store.pack_of(id).unwrap().to_path_buf();
    let mut data = fs::read(&pack).unwrap();
    let at = data
        .windows(64)
        .position(|w| w == &bytes[..64])
        .expect("the chunk is in the pack");
    data[at + 10] ^= 0x10;
    fs::write(&pack, data).unwrap();
}

#[test]
fn a_damaged_chunk_fails_verify_tree_by_name_and_a_put_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let bytes = noise(2 << 20, 2);
    let (path, id, size, objects) = big("big.bin", &bytes);
    let b = build(vec![(path, id, size, objects.clone()), {
        let (i, o) = objects_of(b"small");
        ("a.md".to_string(), i, 5, o)
    }]);
    put_all_but(&hub, &b, &[]);
    hub.cas_head(None, b.snapshot.id()).unwrap();
    let victim = objects
        .iter()
        .find(|o| o.kind == Kind::Blob)
        .unwrap()
        .clone();
    flip(dir.path(), victim.id(), &victim.bytes);

    let hub = FolderHub::open(dir.path()).unwrap();
    // Presence is all the quick check sees; the full one re-hashes every chunk.
    assert_eq!(hub.tree_hash().unwrap(), Some(b.root));
    match hub.verify_tree() {
        Err(HubError::Damaged { ids, .. }) => assert_eq!(ids, vec![victim.id()]),
        other => panic!("expected Damaged, got {other:?}"),
    }
    let held = hub.files_holding(b.snapshot.id(), &[victim.id()]).unwrap();
    assert_eq!(
        held.keys().map(|p| p.to_string()).collect::<Vec<_>>(),
        vec!["big.bin"]
    );
    hub.put(&[victim]).unwrap();
    assert_eq!(hub.verify_tree().unwrap(), Some(b.root));
}

/// A two-level file built by hand (group boundaries fall where chunk ids start with a zero
/// byte, too rarely for a small test file): a missing group, then a missing chunk under it.
#[test]
fn groups_are_walked_and_required() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let chunks: Vec<Object> = (0..4)
        .map(|i| Object {
            kind: Kind::Blob,
            bytes: noise(1000 + i, i as u64 + 10),
        })
        .collect();
    let group = |cs: &[Object]| ChunkList {
        level: Level::Chunks,
        pieces: cs
            .iter()
            .map(|c| Piece {
                id: c.id(),
                len: c.bytes.len() as u64,
            })
            .collect(),
    };
    let (g1, g2) = (group(&chunks[..2]), group(&chunks[2..]));
    let top = ChunkList {
        level: Level::Groups,
        pieces: [&g1, &g2]
            .iter()
            .map(|g| Piece {
                id: g.to_object().id(),
                len: g.len(),
            })
            .collect(),
    };
    let mut objects = chunks.clone();
    objects.extend([g1.to_object(), g2.to_object(), top.to_object()]);
    let b = build(vec![(
        "f.bin".into(),
        top.to_object().id(),
        top.len(),
        objects,
    )]);
    put_all_but(&hub, &b, &[g2.to_object().id(), chunks[3].id()]);
    assert_eq!(
        hub.missing_under(b.snapshot.id()).unwrap(),
        vec![g2.to_object().id()]
    );
    hub.put(&[g2.to_object()]).unwrap();
    assert_eq!(
        hub.missing_under(b.snapshot.id()).unwrap(),
        vec![chunks[3].id()]
    );
    assert!(hub.cas_head(None, b.snapshot.id()).is_err());
    hub.put(&[chunks[3].clone()]).unwrap();
    hub.cas_head(None, b.snapshot.id()).unwrap();
    assert_eq!(hub.verify_tree().unwrap(), Some(b.root));
}

/// A top list whose group's chunks do not add up to what the top says is not acceptable.
#[test]
fn a_group_of_the_wrong_length_refuses_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let chunk = Object {
        kind: Kind::Blob,
        bytes: noise(500, 3),
    };
    let g = ChunkList {
        level: Level::Chunks,
        pieces: vec![Piece {
            id: chunk.id(),
            len: 500,
        }],
    };
    let top = ChunkList {
        level: Level::Groups,
        pieces: vec![Piece {
            id: g.to_object().id(),
            len: 501,
        }],
    };
    let objects = vec![chunk, g.to_object(), top.to_object()];
    let b = build(vec![("f.bin".into(), top.to_object().id(), 501, objects)]);
    put_all_but(&hub, &b, &[]);
    let err = hub.cas_head(None, b.snapshot.id()).unwrap_err();
    assert!(matches!(err, HubError::Refused { .. }), "{err:?}");
    assert_eq!(hub.head().unwrap(), None);
}

/// An older version stored a large file as one blob: it still walks as one blob.
#[test]
fn a_large_file_stored_whole_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let bytes = noise(1 << 20, 4);
    let whole = Object {
        kind: Kind::Blob,
        bytes: bytes.clone(),
    };
    let b = build(vec![(
        "old.bin".into(),
        whole.id(),
        bytes.len() as u64,
        vec![whole],
    )]);
    put_all_but(&hub, &b, &[]);
    hub.cas_head(None, b.snapshot.id()).unwrap();
    assert_eq!(hub.verify_tree().unwrap(), Some(b.root));
}
