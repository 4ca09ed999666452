//! A new head's files from the previous head's: only the subtrees whose id changed are read.
//!
//! The web view holds the flattened files of a vault's head and asks for them again after each
//! snapshot. Flattening the whole tree of a 100,000-note vault reads and decodes every folder
//! (about half a second on the server); a snapshot that edits 10 notes changes only the trees
//! on the paths to them, and the Merkle ids say which. The result is the same [`FlatTree`]
//! [`super::flatten`] gives, with the same checks on every new name, and the list of what
//! changed, so a reader can update its own index by those paths alone.

use super::{EntryKind, FileMeta, FlatTree, MAX_TREE_DEPTH, ObjectError, Tree, flatten_into};
use crate::id::ObjectId;
use crate::paths::{PathError, STATE_DIR, VaultPath, is_state_dir};

/// What changed from one flattened tree to another.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlatChanges {
    /// Files added or whose metadata changed, with their new metadata (path order).
    pub changed: Vec<(VaultPath, FileMeta)>,
    /// Files gone (path order).
    pub removed: Vec<VaultPath>,
}

impl FlatChanges {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

/// The files of the tree `new_root`, given `old`, the files of the tree `old_root` (as
/// [`super::flatten`] made them), and what changed between the two. Only trees whose id
/// differs between the two sides are loaded; `old` itself is not changed (it is copied, its
/// paths shared).
pub fn flatten_since<E>(
    old_root: ObjectId,
    old: &FlatTree,
    new_root: ObjectId,
    load: &mut dyn FnMut(ObjectId) -> Result<Tree, E>,
) -> Result<(FlatTree, FlatChanges), E>
where
    E: From<ObjectError>,
{
    let mut changes = FlatChanges::default();
    descend(None, old_root, new_root, 0, load, &mut changes)?;
    changes.changed.sort_by(|a, b| a.0.cmp(&b.0));
    changes.removed.sort();
    let mut files = old.clone();
    for path in &changes.removed {
        files.remove(path);
    }
    for (path, meta) in &changes.changed {
        files.insert(path.clone(), *meta);
    }
    Ok((files, changes))
}

/// The files of one side of an entry that is not on the other (a file, or all under a folder).
fn all_under<E>(
    path: &VaultPath,
    entry: EntryKind,
    depth: usize,
    load: &mut dyn FnMut(ObjectId) -> Result<Tree, E>,
) -> Result<Vec<(VaultPath, FileMeta)>, E>
where
    E: From<ObjectError>,
{
    let mut out = Vec::new();
    match entry {
        EntryKind::File(meta) => out.push((path.clone(), meta)),
        EntryKind::Dir(sub) => {
            flatten_into(Some(path), sub, depth + 1, load, &mut Vec::new(), &mut out)?
        }
    }
    Ok(out)
}

fn descend<E>(
    prefix: Option<&VaultPath>,
    old_id: ObjectId,
    new_id: ObjectId,
    depth: usize,
    load: &mut dyn FnMut(ObjectId) -> Result<Tree, E>,
    changes: &mut FlatChanges,
) -> Result<(), E>
where
    E: From<ObjectError>,
{
    if old_id == new_id {
        return Ok(());
    }
    if depth > MAX_TREE_DEPTH {
        return Err(ObjectError::TooDeep(MAX_TREE_DEPTH).into());
    }
    let old = load(old_id)?;
    let mut new = load(new_id)?;
    // A `.vault` below the top is left out on both sides, as `flatten` does.
    let skip = |name: &str| prefix.is_some() && is_state_dir(name);
    for (name, old_entry) in old.entries {
        if skip(&name) {
            continue;
        }
        let path = match prefix {
            None => VaultPath::new(&name),
            Some(p) => p.join(&name),
        }
        .map_err(ObjectError::from)?;
        match (old_entry, new.entries.remove(&name)) {
            (EntryKind::File(a), Some(EntryKind::File(b))) => {
                if a != b {
                    changes.changed.push((path, b));
                }
            }
            (EntryKind::Dir(a), Some(EntryKind::Dir(b))) => {
                descend(Some(&path), a, b, depth + 1, load, changes)?
            }
            (gone, now) => {
                for (p, _) in all_under(&path, gone, depth, load)? {
                    changes.removed.push(p);
                }
                if let Some(now) = now {
                    changes.changed.extend(all_under(&path, now, depth, load)?);
                }
            }
        }
    }
    // What is left of the new tree is new.
    for (name, entry) in new.entries {
        if skip(&name) {
            continue;
        }
        if prefix.is_none() && name.eq_ignore_ascii_case(STATE_DIR) {
            return Err(ObjectError::BadName(PathError::StateDir(name)).into());
        }
        let path = match prefix {
            None => VaultPath::new(&name),
            Some(p) => p.join(&name),
        }
        .map_err(ObjectError::from)?;
        changes
            .changed
            .extend(all_under(&path, entry, depth, load)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::object::{build_trees, flatten};

    fn meta(n: u8) -> FileMeta {
        FileMeta {
            id: ObjectId::of(&[n]),
            size: n as u64,
            mtime_ns: n as i64,
            executable: false,
        }
    }

    /// The trees of `files` in `store`; the root's id.
    fn store(files: &[(&str, u8)], store: &mut HashMap<ObjectId, Tree>) -> (ObjectId, FlatTree) {
        let flat: FlatTree = files
            .iter()
            .map(|(p, n)| (VaultPath::new(p).unwrap(), meta(*n)))
            .collect();
        let (root, objects) = build_trees(&flat);
        for object in objects {
            store.insert(
                ObjectId::of(&object.bytes),
                Tree::decode(&object.bytes).unwrap(),
            );
        }
        (root, flat)
    }

    /// Flattened since `before`, compared with a full flatten of `after`; the changes and how
    /// many trees were read.
    fn check(before: &[(&str, u8)], after: &[(&str, u8)]) -> (FlatChanges, usize) {
        let mut trees = HashMap::new();
        let (old_root, _) = store(before, &mut trees);
        let (new_root, want) = store(after, &mut trees);
        let mut load_all = |id: ObjectId| -> Result<Tree, ObjectError> { Ok(trees[&id].clone()) };
        let old = flatten(old_root, &mut load_all).unwrap();
        let mut reads = 0;
        let mut load = |id: ObjectId| -> Result<Tree, ObjectError> {
            reads += 1;
            Ok(trees[&id].clone())
        };
        let (got, changes) = flatten_since(old_root, &old, new_root, &mut load).unwrap();
        assert_eq!(got, want);
        // The changes are exactly the difference of the two maps.
        let mut changed: Vec<(VaultPath, FileMeta)> = want
            .iter()
            .filter(|(p, m)| old.get(*p) != Some(*m))
            .map(|(p, m)| (p.clone(), *m))
            .collect();
        changed.sort_by(|a, b| a.0.cmp(&b.0));
        let removed: Vec<VaultPath> = old
            .keys()
            .filter(|p| !want.contains_key(*p))
            .cloned()
            .collect();
        assert_eq!(changes, FlatChanges { changed, removed });
        (changes, reads)
    }

    #[test]
    fn only_the_changed_trees_are_read() {
        let before = [
            ("a/x.md", 1),
            ("a/y.md", 2),
            ("b/c/d.md", 3),
            ("b/c/e.md", 4),
            ("z.md", 5),
        ];
        let mut after = before;
        after[2].1 = 9;
        let (changes, reads) = check(&before, &after);
        assert_eq!(changes.changed.len(), 1);
        // root, b, b/c on both sides.
        assert_eq!(reads, 6);
        assert_eq!(check(&before, &before).1, 0);
    }

    #[test]
    fn added_removed_and_replaced_folders() {
        let before = [("a/x.md", 1), ("a/y/z.md", 2), ("f", 3), ("k.md", 4)];
        // A folder becomes a file, a file becomes a folder, a folder is removed, one added.
        let after = [("a/y", 7), ("f/g/h.md", 8), ("n/o/p.md", 9), ("k.md", 4)];
        check(&before, &after);
        check(&after, &before);
        check(&[], &before);
        check(&before, &[]);
    }

    #[test]
    fn a_state_folder_below_the_top_is_left_out() {
        let mut trees = HashMap::new();
        let (old_root, _) = store(&[("a/x.md", 1)], &mut trees);
        // A tree for `a` holding a `.vault` folder, as an older version published.
        let inner = Tree {
            entries: [("s".to_string(), EntryKind::File(meta(3)))].into(),
        };
        let inner_id = ObjectId::of(b"inner");
        trees.insert(inner_id, inner);
        let a = Tree {
            entries: [
                ("x.md".to_string(), EntryKind::File(meta(2))),
                (".vault".to_string(), EntryKind::Dir(inner_id)),
            ]
            .into(),
        };
        let a_id = ObjectId::of(b"a");
        trees.insert(a_id, a);
        let root = Tree {
            entries: [("a".to_string(), EntryKind::Dir(a_id))].into(),
        };
        let root_id = ObjectId::of(b"root");
        trees.insert(root_id, root);
        let mut load = |id: ObjectId| -> Result<Tree, ObjectError> { Ok(trees[&id].clone()) };
        let old = flatten(old_root, &mut load).unwrap();
        let (got, _) = flatten_since(old_root, &old, root_id, &mut load).unwrap();
        assert_eq!(got, flatten(root_id, &mut load).unwrap());
        assert_eq!(got.len(), 1);
    }
}
