//! A new head's files from the previous head's: only the subtrees whose id changed are read.
//!
//! Two readers hold the files of a tree and need them again for a later tree: a round taking
//! the hub's changes (base's files, from the stat cache) and the web view after each snapshot.
//! Flattening the whole tree of a 100,000-note vault reads and decodes every folder (16 MiB
//! of trees, about half a second on the server, and every path made again, 7 MiB); a snapshot
//! that edits 10 notes changes only the trees on the paths to them, and the Merkle ids say
//! which. The known files are copied, their paths shared, and only the differing trees are
//! read, a level at a time (one batch of reads a level: one request to a hub). The result is
//! the same [`FlatTree`] [`super::flatten`] gives, with the same checks on every new name, and
//! the list of what changed, so a reader can update its own index by those paths alone.

use std::collections::HashMap;
use std::ops::Bound;

use super::{EntryKind, FileMeta, FlatTree, MAX_TREE_DEPTH, ObjectError, Tree};
use crate::id::ObjectId;
use crate::paths::{PathError, VaultPath, is_state_dir};

/// What changed from one flattened tree to another.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlatChanges {
    /// Files added or whose metadata changed, with their new metadata (path order).
    pub changed: Vec<(VaultPath, FileMeta)>,
    /// Files gone (path order).
    pub removed: Vec<VaultPath>,
    /// Folders of the new tree, among those read, holding another vault's state (a `.vault`
    /// below the top, as older versions synced): left out, as [`super::flatten`] leaves them.
    pub skipped_state: Vec<VaultPath>,
}

impl FlatChanges {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Reads the trees of one level: one tree for each id, in the order given.
pub type LoadLevel<'l, E> = dyn FnMut(&[ObjectId]) -> Result<Vec<Tree>, E> + 'l;

/// One folder to compare: its path (`None`: the top), its tree in the new tree, and in the
/// old one (`None`: not there).
type Pair = (Option<VaultPath>, ObjectId, Option<ObjectId>);

/// The files of the tree `new_root`, given `old`, the files of the tree `old_root` (exactly
/// [`super::flatten`] of it: the caller vouches), and what changed between the two. Only
/// trees whose id differs between the two sides are read: `load` is given the ids of one
/// level at a time and returns their trees in that order. `old` itself is not changed (it is
/// copied, its paths shared).
pub fn flatten_since<E>(
    old_root: ObjectId,
    old: &FlatTree,
    new_root: ObjectId,
    load: &mut LoadLevel<'_, E>,
) -> Result<(FlatTree, FlatChanges), E>
where
    E: From<ObjectError>,
{
    let mut changes = FlatChanges::default();
    let mut gone_folders: Vec<VaultPath> = Vec::new();
    let mut level: Vec<Pair> = vec![(None, new_root, Some(old_root))];
    let mut depth = 0;
    while !level.is_empty() {
        if depth > MAX_TREE_DEPTH {
            return Err(ObjectError::TooDeep(MAX_TREE_DEPTH).into());
        }
        level.retain(|(_, now, before)| Some(*now) != *before);
        let trees = load_level(&level, load)?;
        let mut next = Vec::new();
        for (prefix, now, before) in level {
            let empty = Tree::default();
            let now_tree = &trees[&now];
            let before_tree = before.map_or(&empty, |id| &trees[&id]);
            compare(
                prefix.as_ref(),
                now_tree,
                before_tree,
                &mut changes,
                &mut gone_folders,
                &mut next,
            )?;
        }
        level = next;
        depth += 1;
    }
    for folder in gone_folders {
        // Everything under `folder/` lies together, from that text on.
        let start = format!("{folder}/");
        changes.removed.extend(
            old.range::<str, _>((Bound::Included(start.as_str()), Bound::Unbounded))
                .map(|(p, _)| p)
                .take_while(|p| p.as_str().starts_with(&start))
                .cloned(),
        );
    }
    changes.changed.sort_by(|a, b| a.0.cmp(&b.0));
    changes.removed.sort();
    let mut files = old.clone();
    for path in &changes.removed {
        files.remove(path);
    }
    files.extend(changes.changed.iter().map(|(p, m)| (p.clone(), *m)));
    Ok((files, changes))
}

/// The trees of a level's pairs, both sides, each read once.
fn load_level<E>(
    level: &[Pair],
    load: &mut LoadLevel<'_, E>,
) -> Result<HashMap<ObjectId, Tree>, E> {
    let mut ids: Vec<ObjectId> = level
        .iter()
        .flat_map(|(_, now, before)| [Some(*now), *before])
        .flatten()
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let trees = load(&ids)?;
    assert_eq!(
        trees.len(),
        ids.len(),
        "a tree loader gives one tree per id"
    );
    Ok(ids.into_iter().zip(trees).collect())
}

/// One folder's entries, new against old: the files that changed or went, the folders that
/// went, and the folders to compare at the next level.
fn compare(
    prefix: Option<&VaultPath>,
    now: &Tree,
    before: &Tree,
    changes: &mut FlatChanges,
    gone_folders: &mut Vec<VaultPath>,
    next: &mut Vec<Pair>,
) -> Result<(), ObjectError> {
    let names: std::collections::BTreeSet<&String> =
        now.entries.keys().chain(before.entries.keys()).collect();
    for name in names {
        let new = now.entries.get(name);
        let old = before.entries.get(name);
        if new == old {
            continue;
        }
        // Another vault's state below the top: left out, as `flatten` does (so the old files
        // hold nothing of it either).
        if let Some(folder) = prefix
            && is_state_dir(name)
        {
            if new.is_some() && !changes.skipped_state.contains(folder) {
                changes.skipped_state.push(folder.clone());
            }
            continue;
        }
        if prefix.is_none() && new.is_some() && is_state_dir(name) {
            return Err(ObjectError::BadName(PathError::StateDir(name.clone())));
        }
        let path = match prefix {
            None => VaultPath::new(name),
            Some(p) => p.join(name),
        }?;
        match (old, new) {
            // Changed in place: only its new metadata.
            (Some(EntryKind::File(_)), Some(EntryKind::File(_))) => {}
            (Some(EntryKind::File(_)), _) => changes.removed.push(path.clone()),
            (Some(EntryKind::Dir(_)), Some(EntryKind::Dir(_))) | (None, _) => {}
            (Some(EntryKind::Dir(_)), _) => gone_folders.push(path.clone()),
        }
        match new {
            Some(EntryKind::File(meta)) => changes.changed.push((path, *meta)),
            Some(EntryKind::Dir(id)) => {
                let was = match old {
                    Some(EntryKind::Dir(b)) => Some(*b),
                    _ => None,
                };
                next.push((Some(path), *id, was));
            }
            None => {}
        }
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
        let mut load = |ids: &[ObjectId]| -> Result<Vec<Tree>, ObjectError> {
            reads += ids.len();
            Ok(ids.iter().map(|id| trees[id].clone()).collect())
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
        assert_eq!(
            changes,
            FlatChanges {
                changed,
                removed,
                skipped_state: Vec::new()
            }
        );
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
        let mut load_level = |ids: &[ObjectId]| -> Result<Vec<Tree>, ObjectError> {
            Ok(ids.iter().map(|id| trees[id].clone()).collect())
        };
        let (got, changes) = flatten_since(old_root, &old, root_id, &mut load_level).unwrap();
        assert_eq!(got, flatten(root_id, &mut load).unwrap());
        assert_eq!(got.len(), 1);
        assert_eq!(changes.skipped_state, vec![VaultPath::new("a").unwrap()]);
    }

    /// A file set of up to 12 notes in up to two levels of three folders.
    fn files() -> impl proptest::strategy::Strategy<Value = Vec<(String, u8)>> {
        use proptest::prelude::*;
        let path = (
            proptest::collection::vec(prop_oneof![Just("a"), Just("b"), Just("c")], 0..3),
            prop_oneof![Just("x.md"), Just("y.md"), Just("z.md")],
        )
            .prop_map(|(folders, name)| {
                folders
                    .into_iter()
                    .chain([name])
                    .collect::<Vec<_>>()
                    .join("/")
            });
        proptest::collection::btree_map(path, 0u8..4, 0..12).prop_map(|m| m.into_iter().collect())
    }

    proptest::proptest! {
        /// Whatever the two trees, the files are those of a full flatten and the changes
        /// exactly the difference (checked inside `check`).
        #[test]
        fn the_same_as_a_full_flatten(before in files(), after in files()) {
            let before: Vec<(&str, u8)> = before.iter().map(|(p, n)| (p.as_str(), *n)).collect();
            let after: Vec<(&str, u8)> = after.iter().map(|(p, n)| (p.as_str(), *n)).collect();
            check(&before, &after);
        }
    }
}
