//! Upgrading from a version without chunks (docs/format.md, "Upgrading from a version without
//! chunks"): a hub whose tree names a large file by its whole-blob id, as an older version
//! wrote it, and two devices whose base is that snapshot. The first round publishes the new
//! (chunk list) id as an ordinary change; the second device, computing the same id, meets no
//! conflict; the whole blob stays readable from the old snapshot.

use std::fs;

use super::{SyncOptions, sync};
use crate::content::objects_of;
use crate::folder_hub::FolderHub;
use crate::hub::{CasOutcome, Hub};
use crate::local::LocalVault;
use crate::object::{FileMeta, FlatTree, Kind, Object, Snapshot, build_trees};
use crate::paths::VaultPath;

use crate::test_bytes::noise;

#[test]
#[ignore = "needs the round to upload chunked files (branch i18-chunksync); run after merging"]
fn an_upgraded_device_publishes_large_files_by_chunk_list_once_and_others_agree() {
    let dir = tempfile::tempdir().unwrap();
    let hub_path = dir.path().join("hub");
    let hub = FolderHub::open(&hub_path).unwrap();
    let big = noise(2 << 20, 9);
    let mtime = filetime::FileTime::from_unix_time(1_790_000_000, 0);
    let devices: Vec<LocalVault> = (0..2)
        .map(|i| {
            let v = LocalVault::init(
                &dir.path().join(format!("dev{i}")),
                &hub_path.display().to_string(),
                &format!("dev{i}"),
            )
            .unwrap();
            for (name, bytes) in [("big.bin", &big[..]), ("a.md", b"note")] {
                let p = v.root().join(name);
                fs::write(&p, bytes).unwrap();
                filetime::set_file_mtime(&p, mtime).unwrap();
            }
            v
        })
        .collect();

    // The hub as an older version left it: the large file as one whole blob.
    let whole = Object {
        kind: Kind::Blob,
        bytes: big.clone(),
    };
    let note = Object {
        kind: Kind::Blob,
        bytes: b"note".to_vec(),
    };
    let meta = |id, size| FileMeta {
        id,
        size,
        mtime_ns: 1_790_000_000 * 1_000_000_000,
        executable: false,
    };
    let mut flat = FlatTree::new();
    flat.insert(
        VaultPath::new("big.bin").unwrap(),
        meta(whole.id(), big.len() as u64),
    );
    flat.insert(VaultPath::new("a.md").unwrap(), meta(note.id(), 4));
    let (root, mut objects) = build_trees(&flat);
    let old = Snapshot {
        tree: root,
        parents: vec![],
        device_id: "0123456789abcdef".into(),
        device_name: "old version".into(),
        time_ns: 1_790_000_000 * 1_000_000_000,
    }
    .to_object();
    objects.extend([whole.clone(), note, old.clone()]);
    hub.put(&objects).unwrap();
    assert_eq!(hub.cas_head(None, old.id()).unwrap(), CasOutcome::Updated);
    for v in &devices {
        v.base_ref().compare_and_swap(None, old.id()).unwrap();
    }

    let first = sync(&devices[0], &hub, &SyncOptions::default()).unwrap();
    assert!(
        first.snapshot_created,
        "the new id is published as a change"
    );
    assert!(first.conflicts.is_empty(), "{:?}", first.conflicts);
    let new_id = objects_of(&big).0;
    let head = hub.head().unwrap().unwrap();
    let snap = Snapshot::decode(&hub.get(&[head]).unwrap()[0].bytes).unwrap();
    let files = crate::hub_write::files(&hub, snap.tree).unwrap();
    assert_eq!(files[&VaultPath::new("big.bin").unwrap()].id, new_id);
    assert_eq!(hub.verify_tree().unwrap(), Some(snap.tree));
    // The old whole blob stays, reachable from the old snapshot.
    assert_eq!(hub.get(&[whole.id()]).unwrap()[0].bytes, big);

    let second = sync(&devices[1], &hub, &SyncOptions::default()).unwrap();
    assert!(second.conflicts.is_empty(), "{:?}", second.conflicts);
    assert!(
        !second.snapshot_created,
        "both sides agree: nothing to publish"
    );
    assert!(!devices[1].root().join(".revisions").exists());
    assert_eq!(fs::read(devices[1].root().join("big.bin")).unwrap(), big);
}
