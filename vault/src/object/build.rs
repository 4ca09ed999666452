//! Building the Merkle trees of a flat tree, the step every round that publishes takes.
//!
//! Written for speed on the rounds after a small edit: the paths are borrowed from the flat
//! tree (no string is allocated per file), each folder is found once per run of files that
//! share it, and each tree is encoded straight into its bytes. The first version built nested
//! maps of owned names and then a [`Tree`] per folder, and took about 20 ms for 20,000 files.

use std::collections::HashMap;

use super::{EntryKind, FlatTree, Kind, Object, TREE_HEADER, encode_entry};
use crate::id::ObjectId;

/// One folder being built: its depth and its entries (names borrowed from the flat tree).
struct Folder<'a> {
    depth: usize,
    entries: Vec<(&'a str, Item)>,
}

enum Item {
    File(super::FileMeta),
    /// A sub-folder, by its index among the folders.
    Dir(usize),
}

/// Build the Merkle trees for `files`. Returns the root tree id and every tree object, children
/// before parents (deepest first, the root last), so a store that receives them in order never
/// holds a dangling reference.
pub fn build_trees(files: &FlatTree) -> (ObjectId, Vec<Object>) {
    let mut out = Vec::new();
    let root = build_with(files, &mut |_, bytes| {
        out.push(Object {
            kind: Kind::Tree,
            bytes: bytes.to_vec(),
        })
    });
    (root, out)
}

/// The root tree id of `files`, as [`build_trees`] gives it, without keeping the trees: a
/// vault of 100,000 files has 12 MiB of them.
pub fn root_tree(files: &FlatTree) -> ObjectId {
    build_with(files, &mut |_, _| {})
}

/// Build the trees of `files`, handing each one's id and bytes to `sink` (deepest first, the
/// root last); returns the root's id.
fn build_with(files: &FlatTree, sink: &mut dyn FnMut(ObjectId, &[u8])) -> ObjectId {
    let mut folders = vec![Folder {
        depth: 0,
        entries: Vec::new(),
    }];
    let mut by_path: HashMap<&str, usize> = HashMap::from([("", 0)]);
    let mut last: (&str, usize) = ("", 0);
    for (path, meta) in files {
        let p = path.as_str();
        let (parent, name) = match p.rfind('/') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => ("", p),
        };
        // Files come sorted, so most share the previous file's folder.
        let folder = if parent == last.0 {
            last.1
        } else {
            let f = folder_of(parent, &mut folders, &mut by_path);
            last = (parent, f);
            f
        };
        folders[folder].entries.push((name, Item::File(*meta)));
    }

    let mut order: Vec<usize> = (0..folders.len()).collect();
    order.sort_by_key(|&f| std::cmp::Reverse(folders[f].depth));
    let mut ids = vec![None; folders.len()];
    let mut text = String::new();
    for f in order {
        let entries = &mut folders[f].entries;
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        text.clear();
        text.push_str(TREE_HEADER);
        text.push('\n');
        for (name, item) in entries.iter() {
            let entry = match item {
                Item::File(meta) => EntryKind::File(*meta),
                // Deeper folders come first, so every sub-folder's id is known.
                Item::Dir(sub) => EntryKind::Dir(ids[*sub].expect("sub-folder built first")),
            };
            encode_entry(&mut text, name, &entry);
        }
        let id = ObjectId::of(text.as_bytes());
        ids[f] = Some(id);
        sink(id, text.as_bytes());
    }
    ids[0].expect("the root is built")
}

/// The folder at `path` (`""`: the root), created with its missing ancestors, each entered in
/// its parent.
fn folder_of<'a>(
    path: &'a str,
    folders: &mut Vec<Folder<'a>>,
    by_path: &mut HashMap<&'a str, usize>,
) -> usize {
    if let Some(&f) = by_path.get(path) {
        return f;
    }
    let (parent, name) = match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    let up = folder_of(parent, folders, by_path);
    let f = folders.len();
    folders.push(Folder {
        depth: folders[up].depth + 1,
        entries: Vec::new(),
    });
    folders[up].entries.push((name, Item::Dir(f)));
    by_path.insert(path, f);
    f
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::object::{FileMeta, Tree};
    use crate::paths::VaultPath;

    /// The first implementation, kept as the reference: nested maps, then a `Tree` per folder.
    fn reference(files: &FlatTree) -> (ObjectId, Vec<Object>) {
        #[derive(Default)]
        struct Dir {
            files: BTreeMap<String, FileMeta>,
            dirs: BTreeMap<String, Dir>,
        }
        let mut root = Dir::default();
        for (path, meta) in files {
            let mut dir = &mut root;
            let comps: Vec<&str> = path.components().collect();
            for c in &comps[..comps.len() - 1] {
                dir = dir.dirs.entry((*c).to_string()).or_default();
            }
            dir.files.insert(comps[comps.len() - 1].to_string(), *meta);
        }
        fn emit(dir: Dir, out: &mut Vec<Object>) -> ObjectId {
            let mut tree = Tree::default();
            for (name, meta) in dir.files {
                tree.entries.insert(name, EntryKind::File(meta));
            }
            for (name, sub) in dir.dirs {
                let id = emit(sub, out);
                tree.entries.insert(name, EntryKind::Dir(id));
            }
            let obj = tree.to_object();
            let id = obj.id();
            out.push(obj);
            id
        }
        let mut out = Vec::new();
        let id = emit(root, &mut out);
        (id, out)
    }

    fn meta(n: u64) -> FileMeta {
        FileMeta {
            id: ObjectId::of(&n.to_le_bytes()),
            size: n,
            mtime_ns: n as i64 - 5,
            executable: n.is_multiple_of(3),
        }
    }

    /// Paths from a small alphabet with `/`, ` `, `.` and a non-ASCII letter, so that flat
    /// order and per-folder order differ (`a b.md` < `a/x.md`, but `a` < `a b.md`).
    fn path_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            proptest::sample::select(vec!["a", "b", "a b", "a.md", "é", "a-1", "Z"]),
            1..5,
        )
        .prop_map(|parts| parts.join("/"))
    }

    proptest! {
        #[test]
        fn same_trees_as_the_reference(paths in proptest::collection::vec(path_strategy(), 0..40)) {
            // Drop paths that would be both a file and a folder.
            let mut files = FlatTree::new();
            for (n, p) in paths.iter().enumerate() {
                let Ok(path) = VaultPath::new(p) else { continue };
                let clash = files.keys().any(|q: &VaultPath| {
                    q.as_str().starts_with(&format!("{p}/")) || p.starts_with(&format!("{q}/"))
                });
                if !clash {
                    files.insert(path, meta(n as u64));
                }
            }
            let (root, trees) = build_trees(&files);
            let (want_root, want_trees) = reference(&files);
            prop_assert_eq!(root, want_root);
            prop_assert_eq!(root_tree(&files), want_root);
            let mut got: Vec<ObjectId> = trees.iter().map(Object::id).collect();
            let mut want: Vec<ObjectId> = want_trees.iter().map(Object::id).collect();
            got.sort();
            want.sort();
            prop_assert_eq!(got, want);
            prop_assert_eq!(trees.last().map(Object::id), Some(root), "the root comes last");
        }
    }

    #[test]
    fn children_come_before_parents() {
        let files: FlatTree = ["a/b/c.md", "a/d.md", "e.md", "a b.md"]
            .iter()
            .enumerate()
            .map(|(n, p)| (VaultPath::new(p).unwrap(), meta(n as u64)))
            .collect();
        let (root, trees) = build_trees(&files);
        assert_eq!(root, reference(&files).0);
        let position: HashMap<ObjectId, usize> =
            trees.iter().enumerate().map(|(i, t)| (t.id(), i)).collect();
        for (i, t) in trees.iter().enumerate() {
            let tree = Tree::decode(&t.bytes).unwrap();
            for entry in tree.entries.values() {
                if let EntryKind::Dir(sub) = entry {
                    assert!(position[sub] < i, "a sub-tree after its parent");
                }
            }
        }
    }
}
