//! A hostile hub for the tests: a head that is wrong in the ways an attacker (or a damaged
//! disk) could make it, written past the hub's own checks straight into a hub folder, whether
//! devices reach that folder directly or through a `vault-server` serving it.

use std::fs;
use std::path::Path;

use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::object::{
    EntryKind, FileMeta, FlatTree, Kind, Object, ObjectError, Snapshot, Tree, build_trees, flatten,
};
use vault::refs::RefFile;
use vault::store::PackStore;
use vault::{ObjectId, VaultPath};

use super::at;

/// How a hostile hub's head is made wrong.
#[derive(Debug, Clone, Copy)]
pub enum Hostile {
    /// A root tree entry named `..`.
    DotDot,
    /// A root tree entry naming the agent's own `.vault/`.
    StateDir,
    /// An entry whose name holds a `/` (`../escape.md`).
    Slash,
    /// A valid tree whose blob's bytes in the hub's pack do not hash to its id.
    BadBlob,
}

/// The files of the head of the hub folder `hub_dir`.
pub fn hub_files(hub_dir: &Path) -> FlatTree {
    let hub = FolderHub::open(hub_dir).unwrap();
    let Some(head) = hub.head().unwrap() else {
        return FlatTree::new();
    };
    let get = |id: ObjectId| hub.get(&[id]).unwrap().remove(0).bytes;
    let snap = Snapshot::decode(&get(head)).unwrap();
    flatten::<ObjectError>(snap.tree, &mut |t| Tree::decode(&get(t))).unwrap()
}

/// Make the hub's head a snapshot (child of the current head) that is wrong as `how` says,
/// written past the hub's own checks, straight into its packs and `refs/head`.
pub fn poison_hub(hub_dir: &Path, how: Hostile) {
    let mut packs = PackStore::open(&hub_dir.join("packs")).unwrap();
    let head = FolderHub::open(hub_dir).unwrap().head().unwrap();
    let good = b"good".to_vec();
    let blob = Object {
        kind: Kind::Blob,
        bytes: good.clone(),
    };
    let meta = FileMeta {
        id: blob.id(),
        size: 4,
        mtime_ns: at(5).unix_seconds() * 1_000_000_000,
        executable: false,
    };
    let raw_tree = |name: &str| Object {
        kind: Kind::Tree,
        bytes: format!("vault-tree 1\nf {} 4 0 - {name}\n", meta.id).into_bytes(),
    };
    let mut objects = vec![blob.clone()];
    let root = match how {
        Hostile::DotDot => raw_tree(".."),
        Hostile::Slash => raw_tree("../escape.md"),
        Hostile::StateDir => {
            let mut inner = Tree::default();
            inner
                .entries
                .insert("config.toml".into(), EntryKind::File(meta));
            let mut root = Tree::default();
            root.entries
                .insert(".vault".into(), EntryKind::Dir(inner.to_object().id()));
            objects.push(inner.to_object());
            root.to_object()
        }
        Hostile::BadBlob => {
            // The blob alone in a pack, then its bytes changed in place (same length).
            packs.write_pack(&objects).unwrap();
            objects.clear();
            let pack = fs::read_dir(hub_dir.join("packs"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "pack"))
                .find(|p| {
                    fs::read(p)
                        .unwrap()
                        .windows(4)
                        .any(|x| x == good.as_slice())
                })
                .unwrap();
            let mut bytes = fs::read(&pack).unwrap();
            let at = bytes.windows(4).position(|x| x == good.as_slice()).unwrap();
            bytes[at..at + 4].copy_from_slice(b"evil");
            fs::write(&pack, bytes).unwrap();
            // The head's files, one of them changed and one added, both with that blob.
            let mut files = hub_files(hub_dir);
            for path in ["d/n.md", "evil.md"] {
                files.insert(VaultPath::new(path).unwrap(), meta);
            }
            // Children before parents: the root comes last.
            let (_, mut trees) = build_trees(&files);
            let root = trees.pop().unwrap();
            objects.extend(trees);
            root
        }
    };
    let snap = Snapshot {
        tree: root.id(),
        parents: head.into_iter().collect(),
        device_id: "0badc0de0badc0de".into(),
        device_name: "intruder".into(),
        time_ns: 0,
    }
    .to_object();
    objects.push(root);
    objects.push(snap.clone());
    packs.write_pack(&objects).unwrap();
    RefFile::new(hub_dir.join("refs/head"))
        .write(snap.id())
        .unwrap();
}
