use std::collections::HashMap;
use std::convert::Infallible;

use proptest::prelude::*;

use super::*;
use crate::object::{FlatTree, build_trees};
use crate::paths::VaultPath;

fn meta(n: u64) -> FileMeta {
    FileMeta {
        id: ObjectId::of(&n.to_le_bytes()),
        size: n,
        mtime_ns: n as i64 - 5,
        executable: n.is_multiple_of(3),
    }
}

/// A flat tree of `paths` (those that would clash with an earlier one as file and folder are
/// left out), each file's entry from `seed` and its position.
fn flat_of(paths: &[String], seed: u64) -> FlatTree {
    let mut files = FlatTree::new();
    for (n, p) in paths.iter().enumerate() {
        let Ok(path) = VaultPath::new(p) else {
            continue;
        };
        let clash = files.keys().any(|q: &VaultPath| {
            q.as_str().starts_with(&format!("{p}/")) || p.starts_with(&format!("{q}/"))
        });
        if !clash {
            files.insert(path, meta(seed + n as u64 % 3));
        }
    }
    files
}

/// Patch the trees of `old` into those of `new` and check them against a full build: the same
/// root, and every tree the new root needs is among the basis's and the patch's.
fn check(old: &FlatTree, new: &FlatTree) -> Result<(), TestCaseError> {
    let (basis, basis_trees) = build_trees(old);
    let store: HashMap<ObjectId, Object> = basis_trees.into_iter().map(|t| (t.id(), t)).collect();
    let mut loaded = 0;
    let mut load = |id: ObjectId| -> Result<Tree, Infallible> {
        loaded += 1;
        Ok(Tree::decode(&store[&id].bytes).unwrap())
    };
    let diff = changes(old, new);
    let (root, trees) = match patch_trees(basis, &diff, &mut load) {
        Ok(done) => done,
        Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
    };
    let (want_root, want_trees) = build_trees(new);
    prop_assert_eq!(root, want_root);
    prop_assert_eq!(
        trees.last().map(Object::id),
        Some(root),
        "the root comes last"
    );
    // Two folders alike have one tree: where it first comes.
    let mut made: HashMap<ObjectId, usize> = HashMap::new();
    for (i, t) in trees.iter().enumerate() {
        made.entry(t.id()).or_insert(i);
    }
    for t in &want_trees {
        let id = t.id();
        prop_assert!(
            made.contains_key(&id) || store.contains_key(&id),
            "tree {id} nowhere"
        );
    }
    // Children before parents, among the trees only the patch made (a tree the basis has may
    // also come later, made for another folder alike).
    for (i, t) in trees.iter().enumerate() {
        for entry in Tree::decode(&t.bytes).unwrap().entries.values() {
            if let EntryKind::Dir(sub) = entry
                && !store.contains_key(sub)
                && let Some(&j) = made.get(sub)
            {
                prop_assert!(j < i, "a sub-tree after its parent");
            }
        }
    }
    // Only the folders on changed paths are read.
    if diff.is_empty() {
        prop_assert_eq!(trees.len(), 1);
    }
    Ok(())
}

/// Paths from a small alphabet with `/`, ` `, `.` and a non-ASCII letter, so that flat order
/// and per-folder order differ (`a b.md` < `a/x.md`, but `a` < `a b.md`), and files become
/// folders and back.
fn path_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        proptest::sample::select(vec!["a", "b", "a b", "a.md", "é", "a-1", "Z"]),
        1..5,
    )
    .prop_map(|parts| parts.join("/"))
}

proptest! {
    #[test]
    fn same_trees_as_a_full_build(
        old in proptest::collection::vec(path_strategy(), 0..40),
        new in proptest::collection::vec(path_strategy(), 0..40),
        kept in proptest::collection::vec(any::<bool>(), 40),
        seed in 0u64..2,
    ) {
        let old_flat = flat_of(&old, 0);
        // The new tree: some of the old paths (some with another entry), and new ones.
        let mut carried: Vec<String> = old
            .iter()
            .zip(&kept)
            .filter(|(_, k)| **k)
            .map(|(p, _)| p.clone())
            .collect();
        carried.extend(new);
        let new_flat = flat_of(&carried, seed);
        check(&old_flat, &new_flat)?;
        check(&new_flat, &old_flat)?;
    }
}

fn tree(items: &[(&str, u64)]) -> FlatTree {
    items
        .iter()
        .map(|(p, n)| (VaultPath::new(p).unwrap(), meta(*n)))
        .collect()
}

#[test]
fn one_edit_reads_and_builds_only_its_path() {
    let old = tree(&[
        ("a/b/c.md", 1),
        ("a/b/d.md", 2),
        ("a/e.md", 3),
        ("f/g.md", 4),
        ("h.md", 5),
    ]);
    let mut new = old.clone();
    new.insert(VaultPath::new("a/b/c.md").unwrap(), meta(9));
    let (basis, trees) = build_trees(&old);
    let store: HashMap<ObjectId, Object> = trees.into_iter().map(|t| (t.id(), t)).collect();
    let mut asked = Vec::new();
    let mut load = |id: ObjectId| -> Result<Tree, Infallible> {
        asked.push(id);
        Ok(Tree::decode(&store[&id].bytes).unwrap())
    };
    let (root, made) = patch_trees(basis, &changes(&old, &new), &mut load).unwrap();
    assert_eq!(root, build_trees(&new).0);
    // The root, `a` and `a/b`: not `f`.
    assert_eq!(asked.len(), 3);
    assert_eq!(made.len(), 3);
}

#[test]
fn folders_emptied_go_and_the_root_stays() {
    let old = tree(&[("a/b/c.md", 1), ("d.md", 2)]);
    let empty = FlatTree::new();
    check(&old, &empty).unwrap();
    check(&empty, &old).unwrap();
    // A file where a folder was, and back.
    let file = tree(&[("a", 3), ("d.md", 2)]);
    check(&old, &file).unwrap();
    check(&file, &old).unwrap();
}

#[test]
fn a_file_and_a_folder_under_one_name_is_refused() {
    let old = tree(&[("a/b.md", 1)]);
    let (basis, trees) = build_trees(&old);
    let store: HashMap<ObjectId, Object> = trees.into_iter().map(|t| (t.id(), t)).collect();
    let mut load =
        |id: ObjectId| -> Result<Tree, Infallible> { Ok(Tree::decode(&store[&id].bytes).unwrap()) };
    // `a` added as a file while `a/b.md` stays: not a flat tree.
    let m = meta(2);
    let got = patch_trees(basis, &[("a", Some(m))], &mut load);
    assert!(matches!(got, Err(PatchError::Clash(p)) if p == "a"));
}
