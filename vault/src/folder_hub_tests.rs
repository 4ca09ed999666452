//! Tests of [`super::FolderHub`]: the shared hub conformance suite, then folder specifics.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::conformance::{HubFactory, TestSnapshot};
use super::*;
use crate::statcache::now_ns;

/// Hubs in temp folders that live as long as the test process (removed by the OS's tmp
/// cleaning; each test uses fresh ones).
struct Folders {
    base: tempfile::TempDir,
    next: AtomicUsize,
}

impl Folders {
    fn new() -> Folders {
        Folders {
            base: tempfile::tempdir().unwrap(),
            next: AtomicUsize::new(0),
        }
    }
}

impl HubFactory for Folders {
    type Hub = FolderHub;

    fn create(&self) -> FolderHub {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        FolderHub::open(&self.base.path().join(format!("hub{n}"))).unwrap()
    }

    fn reopen(&self, hub: &FolderHub) -> FolderHub {
        FolderHub::open(hub.path()).unwrap()
    }

    fn lose_object(&self, hub: &FolderHub, id: ObjectId) -> bool {
        let store = PackStore::open(&hub.path().join("packs")).unwrap();
        let pack = store.pack_of(id).expect("the object to lose is stored");
        fs::remove_file(pack).unwrap();
        true
    }
}

crate::hub_conformance_tests!(Folders::new());

#[test]
fn open_creates_layout_in_new_or_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/hub");
    let hub = FolderHub::open(&path).unwrap();
    assert!(path.join("packs").is_dir() && path.join("refs").is_dir());
    let marker: serde_json::Value =
        serde_json::from_slice(&fs::read(path.join(MARKER_FILE)).unwrap()).unwrap();
    assert_eq!(marker["format"], 1);
    assert!(marker["created_ns"].as_i64().unwrap() > 0);
    assert_eq!(hub.head().unwrap(), None);
    // An empty folder (a crash-left temp file does not count) becomes a hub too.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    fs::write(empty.join(format!("{TEMP_PREFIX}abc")), b"").unwrap();
    FolderHub::open(&empty).unwrap();
    assert!(empty.join(MARKER_FILE).is_file());
}

#[test]
fn non_empty_folder_without_marker_is_not_a_hub() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("my notes.md"), b"important").unwrap();
    let err = FolderHub::open(dir.path()).unwrap_err();
    assert!(matches!(err, HubError::NotAHub(_)), "{err:?}");
    assert!(
        !dir.path().join(MARKER_FILE).exists(),
        "must not touch a foreign folder"
    );
    assert!(!dir.path().join("packs").exists());
}

#[test]
fn newer_format_is_refused_and_bad_marker_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join(MARKER_FILE),
        br#"{"format":3,"created_ns":1,"extra":true}"#,
    )
    .unwrap();
    let err = FolderHub::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            HubError::UnsupportedFormat {
                found: 3,
                supported: 2,
                ..
            }
        ),
        "{err:?}"
    );
    fs::write(dir.path().join(MARKER_FILE), b"{not json").unwrap();
    let err = FolderHub::open(dir.path()).unwrap_err();
    assert!(matches!(err, HubError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains(MARKER_FILE), "{err}");
    // Unknown extra fields are fine: later versions may add some.
    fs::write(
        dir.path().join(MARKER_FILE),
        br#"{"format":1,"created_ns":1,"note":"x"}"#,
    )
    .unwrap();
    FolderHub::open(dir.path()).unwrap();
}

#[test]
fn first_sync_of_many_notes_is_one_pack() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let contents: Vec<(String, Vec<u8>)> = (0..2000)
        .map(|i| {
            (
                format!("dir{}/note{i}.md", i % 37),
                format!("note {i}").into_bytes(),
            )
        })
        .collect();
    let files: Vec<(&str, &[u8])> = contents
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect();
    let s = TestSnapshot::new(&files, vec![]);
    hub.put(&s.all()).unwrap();
    assert_eq!(fs::read_dir(dir.path().join("packs")).unwrap().count(), 1);
    assert_eq!(hub.cas_head(None, s.id).unwrap(), CasOutcome::Updated);
    assert_eq!(hub.tree_hash().unwrap(), Some(s.root));
}

#[test]
fn put_refuses_malformed_trees_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    for kind in [Kind::Tree, Kind::Snapshot] {
        let bad = Object {
            kind,
            bytes: b"garbage\n".to_vec(),
        };
        assert!(
            matches!(hub.put(&[bad]), Err(HubError::Object(_))),
            "{kind:?}"
        );
    }
    assert_eq!(fs::read_dir(dir.path().join("packs")).unwrap().count(), 0);
}

#[test]
fn cas_refuses_state_dir_in_root_tree() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let mut inner = Tree::default();
    let (b, meta) = leaf(b"secret");
    inner
        .entries
        .insert("config.toml".into(), EntryKind::File(meta));
    let inner = inner.to_object();
    let mut root = Tree::default();
    root.entries
        .insert(".Vault".into(), EntryKind::Dir(inner.id()));
    let root = root.to_object();
    let snap = Snapshot {
        tree: root.id(),
        parents: vec![],
        device_id: "d".into(),
        device_name: "d".into(),
        time_ns: 0,
    }
    .to_object();
    hub.put(&[b, inner, root, snap.clone()]).unwrap();
    let r = hub.cas_head(None, snap.id());
    assert!(matches!(r, Err(HubError::Refused { .. })), "{r:?}");
    assert_eq!(hub.head().unwrap(), None);
}

/// A tree naming the same subtree twice at every level has 2^depth paths; the walk must visit
/// each distinct tree once instead of exploding (a hostile device must not hang the hub).
#[test]
fn walk_visits_shared_subtrees_once() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let (b, meta) = leaf(b"leaf");
    let mut objs = vec![b];
    let mut t = Tree::default();
    t.entries.insert("f".into(), EntryKind::File(meta));
    let mut below = t.to_object();
    for _ in 0..100 {
        objs.push(below.clone());
        let mut t = Tree::default();
        t.entries.insert("a".into(), EntryKind::Dir(below.id()));
        t.entries.insert("b".into(), EntryKind::Dir(below.id()));
        below = t.to_object();
    }
    objs.push(below.clone());
    let snap = Snapshot {
        tree: below.id(),
        parents: vec![],
        device_id: "d".into(),
        device_name: "d".into(),
        time_ns: 0,
    }
    .to_object();
    objs.push(snap.clone());
    hub.put(&objs).unwrap();
    assert_eq!(hub.cas_head(None, snap.id()).unwrap(), CasOutcome::Updated);
    assert_eq!(hub.tree_hash().unwrap(), Some(below.id()));
}

#[test]
fn missing_under_lists_what_a_repair_must_upload() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let s = TestSnapshot::new(&[("a.md", b"a"), ("d/b.md", b"b")], vec![]);
    assert_eq!(hub.missing_under(s.id).unwrap(), vec![s.id]);
    hub.put(std::slice::from_ref(&s.snapshot)).unwrap();
    assert_eq!(hub.missing_under(s.id).unwrap(), vec![s.root]);
    hub.put(&s.trees).unwrap();
    let mut got = hub.missing_under(s.id).unwrap();
    got.sort();
    let mut want: Vec<ObjectId> = s.blobs.iter().map(Object::id).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn damaged_tree_in_pack_is_named_damaged_by_tree_hash() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let s = TestSnapshot::new(&[("a.md", b"a")], vec![]);
    hub.put(&s.blobs).unwrap();
    hub.put(&s.trees).unwrap();
    hub.put(std::slice::from_ref(&s.snapshot)).unwrap();
    hub.cas_head(None, s.id).unwrap();
    let store = PackStore::open(&dir.path().join("packs")).unwrap();
    let pack = store.pack_of(s.root).unwrap().to_path_buf();
    let mut bytes = fs::read(&pack).unwrap();
    bytes[10] ^= 1; // inside the only tree's bytes
    fs::write(&pack, bytes).unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    // Named, so a device that holds the tree stores a good copy over it.
    match hub.tree_hash() {
        Err(HubError::Damaged { ids, .. }) => assert_eq!(ids, vec![s.root]),
        other => panic!("expected Damaged, got {other:?}"),
    }
}

/// A blob and the tree metadata that names it.
fn leaf(bytes: &[u8]) -> (Object, crate::object::FileMeta) {
    let b = Object {
        kind: Kind::Blob,
        bytes: bytes.to_vec(),
    };
    let meta = crate::object::FileMeta {
        id: b.id(),
        size: bytes.len() as u64,
        mtime_ns: 0,
        executable: false,
    };
    (b, meta)
}

/// Flip one bit in the middle of `id`'s bytes in the hub's pack that holds it.
fn flip_bit(hub: &Path, id: ObjectId) {
    let store = PackStore::open(&hub.join("packs")).unwrap();
    let pack = store.pack_of(id).unwrap().to_path_buf();
    let mut bytes = fs::read(&pack).unwrap();
    let object = bytes
        .windows(5)
        .position(|w| w == b"bravo")
        .expect("the blob's bytes are in the pack");
    bytes[object + 2] ^= 0x04;
    fs::write(&pack, bytes).unwrap();
}

#[test]
fn a_flipped_bit_in_a_blob_is_found_by_verify_tree_and_repaired_by_a_put() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let s = TestSnapshot::new(&[("a.md", b"alpha"), ("b.md", b"bravo note")], vec![]);
    hub.put(&s.blobs).unwrap();
    hub.put(&s.trees).unwrap();
    hub.put(std::slice::from_ref(&s.snapshot)).unwrap();
    hub.cas_head(None, s.id).unwrap();
    let bad = ObjectId::of(b"bravo note");
    flip_bit(dir.path(), bad);

    let hub = FolderHub::open(dir.path()).unwrap();
    // Presence is all the quick check sees; the full one re-hashes the blob.
    assert!(hub.tree_hash().unwrap().is_some());
    match hub.verify_tree() {
        Err(HubError::Damaged { ids, .. }) => assert_eq!(ids, vec![bad]),
        other => panic!("expected Damaged, got {other:?}"),
    }
    // A download fails for that object only, and names it.
    let good = ObjectId::of(b"alpha");
    match hub.get(&[good, bad]) {
        Err(HubError::Damaged { ids, .. }) => assert_eq!(ids, vec![bad]),
        other => panic!("expected Damaged, got {other:?}"),
    }
    assert_eq!(hub.get(&[good]).unwrap()[0].bytes, b"alpha");

    // Putting the good bytes again repairs it, for this handle and any other.
    let blob = Object {
        kind: Kind::Blob,
        bytes: b"bravo note".to_vec(),
    };
    hub.put(std::slice::from_ref(&blob)).unwrap();
    assert_eq!(hub.verify_tree().unwrap(), Some(s.root));
    let other = FolderHub::open(dir.path()).unwrap();
    assert_eq!(other.verify_tree().unwrap(), Some(s.root));
    assert_eq!(other.get(&[bad]).unwrap()[0].bytes, b"bravo note");
}

#[test]
fn a_damaged_tree_is_listed_by_verify_tree_and_repaired_by_a_put() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let s = TestSnapshot::new(&[("a.md", b"a")], vec![]);
    hub.put(&s.blobs).unwrap();
    hub.put(&s.trees).unwrap();
    hub.put(std::slice::from_ref(&s.snapshot)).unwrap();
    hub.cas_head(None, s.id).unwrap();
    let store = PackStore::open(&dir.path().join("packs")).unwrap();
    let pack = store.pack_of(s.root).unwrap().to_path_buf();
    let mut bytes = fs::read(&pack).unwrap();
    bytes[10] ^= 1; // inside the only tree's bytes
    fs::write(&pack, bytes).unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    match hub.verify_tree() {
        Err(HubError::Damaged { ids, .. }) => assert_eq!(ids, vec![s.root]),
        other => panic!("expected Damaged, got {other:?}"),
    }
    hub.put(&s.trees).unwrap();
    assert_eq!(hub.verify_tree().unwrap(), Some(s.root));
}

/// A snapshot behind the head whose every copy rotted would stop for good any device whose
/// base lies behind it (it walks there to find its base): the full verification names it too,
/// and a device that holds a good copy stores it again (found by the simulation, `--rot`).
#[test]
fn a_damaged_snapshot_in_the_history_is_listed_by_verify_tree_and_repaired_by_a_put() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let s1 = TestSnapshot::new(&[("a.md", b"one")], vec![]);
    let s2 = TestSnapshot::new(&[("a.md", b"two")], vec![s1.id]);
    let s3 = TestSnapshot::new(&[("a.md", b"three")], vec![s2.id]);
    let mut head = None;
    for s in [&s1, &s2, &s3] {
        hub.put(&s.blobs).unwrap();
        hub.put(&s.trees).unwrap();
        hub.put(std::slice::from_ref(&s.snapshot)).unwrap();
        hub.cas_head(head, s.id).unwrap();
        head = Some(s.id);
    }
    // s2's snapshot names s1 as its parent: flip a digit of that.
    let store = PackStore::open(&dir.path().join("packs")).unwrap();
    let pack = store.pack_of(s2.id).unwrap().to_path_buf();
    let mut bytes = fs::read(&pack).unwrap();
    let parent = s1.id.to_hex();
    let at = bytes
        .windows(parent.len())
        .position(|w| w == parent.as_bytes())
        .expect("the snapshot's bytes are in the pack");
    bytes[at + 3] ^= 0x01;
    fs::write(&pack, bytes).unwrap();

    let hub = FolderHub::open(dir.path()).unwrap();
    assert!(matches!(hub.get(&[s2.id]), Err(HubError::Damaged { .. })));
    match hub.verify_tree() {
        Err(HubError::Damaged { ids, .. }) => assert_eq!(ids, vec![s2.id]),
        other => panic!("expected Damaged, got {other:?}"),
    }
    hub.put(std::slice::from_ref(&s2.snapshot)).unwrap();
    assert_eq!(hub.verify_tree().unwrap(), Some(s3.root));
    assert_eq!(hub.get(&[s2.id]).unwrap()[0].bytes, s2.snapshot.bytes);
}

/// The clock is read from a file the hub folder's filesystem stamps, which is then removed:
/// the hub folder holds exactly what it held before.
#[test]
fn clock_probe_reads_the_filesystem_time_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let names = || {
        let mut n: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        n.sort();
        n
    };
    let before = names();
    let t = hub.time_ns().unwrap();
    assert!((now_ns() - t).abs() < 60_000_000_000, "{t}");
    assert_eq!(names(), before);
}

#[test]
fn the_first_chunk_list_raises_the_format_keeping_other_fields() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(dir.path()).unwrap();
    let marker = || -> serde_json::Value {
        serde_json::from_slice(&fs::read(dir.path().join(MARKER_FILE)).unwrap()).unwrap()
    };
    assert_eq!(marker()["format"], 1);
    // Another field (say the retention policy) written meanwhile survives the rewrite.
    let mut m = marker();
    m["retention"] = serde_json::json!({"keep": "all"});
    fs::write(
        dir.path().join(MARKER_FILE),
        serde_json::to_vec(&m).unwrap(),
    )
    .unwrap();
    let blob = Object {
        kind: Kind::Blob,
        bytes: vec![1; 10],
    };
    hub.put(std::slice::from_ref(&blob)).unwrap();
    assert_eq!(
        marker()["format"],
        1,
        "blobs, trees and snapshots keep format 1"
    );
    let list = crate::content::ChunkList {
        level: crate::content::Level::Chunks,
        pieces: vec![crate::content::Piece {
            id: blob.id(),
            len: 10,
        }],
    };
    hub.put(&[list.to_object()]).unwrap();
    assert_eq!(marker()["format"], 2);
    assert_eq!(marker()["retention"]["keep"], "all");
    // A format-2 hub opens, and reads its list back.
    let again = FolderHub::open(dir.path()).unwrap();
    assert_eq!(
        again.get(&[list.to_object().id()]).unwrap()[0].kind,
        Kind::Chunks
    );
}

fn chunk(n: u8, len: usize) -> (ObjectId, Object) {
    let object = Object {
        kind: Kind::Blob,
        bytes: vec![n; len],
    };
    (object.id(), object)
}

fn packs_in(hub: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(hub.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".pack"))
        .collect();
    names.sort();
    names
}

/// An upload stream writes its batches into one pack, committed every so many bytes: what is
/// committed is visible to another handle at once, and a stream dropped before `finish` (a
/// cut-off upload) keeps the committed packs and leaves no temp file.
#[test]
fn an_upload_stream_commits_large_packs_and_a_cut_off_one_keeps_what_it_committed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("hub");
    let hub = FolderHub::open(&root)
        .unwrap()
        .with_stream_pack_bytes(3 << 10);
    let other = FolderHub::open(&root).unwrap();
    let batches: Vec<Vec<(ObjectId, Object)>> = (0..5u8)
        .map(|b| (0..2).map(|i| chunk(b * 2 + i, 1000)).collect())
        .collect();
    let ids = |range: std::ops::Range<usize>| -> Vec<ObjectId> {
        batches[range].iter().flatten().map(|(id, _)| *id).collect()
    };

    let mut stream = hub.put_stream();
    stream.put(batches[0].clone()).unwrap();
    assert_eq!(
        other.missing(&ids(0..1)).unwrap().len(),
        2,
        "not yet durable"
    );
    stream.put(batches[1].clone()).unwrap();
    // 4,000 bytes >= 3 KiB: the first pack is in place, with both batches.
    assert!(other.missing(&ids(0..2)).unwrap().is_empty());
    assert_eq!(packs_in(&root).len(), 1);
    stream.put(batches[2].clone()).unwrap();
    stream.finish().unwrap();
    assert!(other.missing(&ids(0..3)).unwrap().is_empty());
    assert_eq!(packs_in(&root).len(), 2);
    let got = other.get(&ids(0..3)).unwrap();
    let want: Vec<Object> = batches[..3]
        .iter()
        .flatten()
        .map(|(_, o)| o.clone())
        .collect();
    assert_eq!(got, want);

    // Cut off: one batch written, never finished.
    let mut stream = hub.put_stream();
    stream.put(batches[3].clone()).unwrap();
    drop(stream);
    assert_eq!(other.missing(&ids(3..4)).unwrap().len(), 2);
    let temps: Vec<_> = fs::read_dir(root.join("packs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(TEMP_PREFIX))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    assert_eq!(packs_in(&root).len(), 2);
}

/// A stream refuses what a put refuses, before writing anything.
#[test]
fn an_upload_stream_refuses_malformed_lists() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FolderHub::open(&dir.path().join("hub")).unwrap();
    let bad = Object {
        kind: Kind::Chunks,
        bytes: b"not a list".to_vec(),
    };
    let mut stream = hub.put_stream();
    assert!(stream.put(vec![(bad.id(), bad)]).is_err());
    stream.finish().unwrap();
    assert!(packs_in(&dir.path().join("hub")).is_empty());
}
