//! The files of a tree read through what it changed since a tree whose files are known
//! ([`crate::object::flatten_since`]): only the folders whose trees differ are read, those
//! this device lacks fetched from the hub a level at a time (one `get` per level and batch,
//! as [`History::flat`] does).
//!
//! A round that takes the hub's changes held the hub's every tree decoded (16 MiB at 100,000
//! files) and every path as a new string (7 MiB) to learn that a few folders changed; here the
//! known files (base's, from the stat cache) are copied, their paths shared.

use std::collections::{HashMap, HashSet};

use super::{History, TREE_BATCH, bad_remote};
use crate::id::ObjectId;
use crate::object::{FlatTree, Kind, ObjectError, Tree, flatten_since};
use crate::sync::{SyncError, SyncStats};

/// Why a tree of the hub's could not be taken: not read, or not a valid tree there.
enum Failed {
    Read(SyncError),
    Tree(ObjectError),
}

impl From<ObjectError> for Failed {
    fn from(e: ObjectError) -> Failed {
        Failed::Tree(e)
    }
}

impl History<'_> {
    /// Every file under the tree `root`, as [`History::flat`] gives them, when the files
    /// under `known_root` are `known` (exactly [`crate::object::flatten`] of it: the caller
    /// vouches). Folders whose tree id is the same hold the same files, so only the trees
    /// that differ are read, and the names in them checked as `flatten` checks them.
    pub fn flat_from_known(
        &mut self,
        root: ObjectId,
        known_root: ObjectId,
        known: &FlatTree,
        stats: &mut SyncStats,
    ) -> Result<FlatTree, SyncError> {
        let since = flatten_since(known_root, known, root, &mut |ids| {
            let fetched = self.fetch_unknown(ids, stats).map_err(Failed::Read)?;
            ids.iter()
                .map(|&id| self.decoded(id, &fetched).map_err(Failed::Read))
                .collect()
        });
        let (flat, changes) = since.map_err(|e| match e {
            Failed::Read(e) => e,
            Failed::Tree(e) => bad_remote(self.hub, e),
        })?;
        for folder in changes.skipped_state {
            if !self.skipped_state.contains(&folder) {
                self.skipped_state.push(folder);
            }
        }
        Ok(flat)
    }

    /// The trees among `ids` this device does not hold, fetched from the hub in batches.
    fn fetch_unknown(
        &mut self,
        ids: &[ObjectId],
        stats: &mut SyncStats,
    ) -> Result<HashMap<ObjectId, Vec<u8>>, SyncError> {
        let need: Vec<ObjectId> = ids
            .iter()
            .copied()
            .filter(|id| !self.knows(*id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut fetched = HashMap::new();
        for chunk in need.chunks(TREE_BATCH) {
            for (id, bytes) in chunk.iter().zip(self.fetch(chunk, Kind::Tree, stats)?) {
                fetched.insert(*id, bytes);
            }
        }
        Ok(fetched)
    }

    /// The tree `id`, from `fetched` or this device's store.
    fn decoded(
        &self,
        id: ObjectId,
        fetched: &HashMap<ObjectId, Vec<u8>>,
    ) -> Result<Tree, SyncError> {
        let bytes = match fetched.get(&id) {
            Some(b) => std::borrow::Cow::Borrowed(b),
            None => std::borrow::Cow::Owned(self.local_bytes(id).ok_or_else(|| {
                bad_remote(self.hub, format!("tree {id} vanished from the local store"))
            })?),
        };
        Tree::decode(&bytes).map_err(|e| bad_remote(self.hub, format!("tree {id}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::folder_hub::FolderHub;
    use crate::hub::Hub;
    use crate::object::{EntryKind, FileMeta, Object, build_trees};
    use crate::paths::VaultPath;
    use crate::store::PackStore;

    fn meta(n: u64) -> FileMeta {
        FileMeta {
            id: ObjectId::of(&n.to_le_bytes()),
            size: n,
            mtime_ns: 7,
            executable: false,
        }
    }

    fn flat(items: &[(&str, u64)]) -> FlatTree {
        items
            .iter()
            .map(|(p, n)| (VaultPath::new(p).unwrap(), meta(*n)))
            .collect()
    }

    /// `new`'s files read through what they changed since `old`'s (whose trees this device
    /// holds; `new`'s are on the hub), and read whole: the same, and the skipped folders.
    fn both_ways(old: &FlatTree, new_root: ObjectId, new_trees: &[Object]) -> (FlatTree, FlatTree) {
        let dir = tempfile::tempdir().unwrap();
        let hub = FolderHub::open(&dir.path().join("hub")).unwrap();
        hub.put(new_trees).unwrap();
        let mut store = PackStore::open(&dir.path().join("objects")).unwrap();
        let (old_root, old_trees) = build_trees(old);
        store.write_pack(&old_trees).unwrap();
        let mut stats = SyncStats::default();
        let mut history = History::new(store, &hub);
        let changed = history
            .flat_from_known(new_root, old_root, old, &mut stats)
            .unwrap();
        let skipped = std::mem::take(&mut history.skipped_state);
        let whole = history.flat(new_root, &mut stats).unwrap();
        assert_eq!(skipped, history.skipped_state, "the same folders noted");
        (changed, whole)
    }

    #[test]
    fn the_same_files_as_reading_every_tree() {
        let old = flat(&[
            ("a/b/c.md", 1),
            ("a/d.md", 2),
            ("f", 3),
            ("g/h.md", 4),
            ("g b.md", 5),
            ("g-1/x.md", 6),
            ("g/i/j.md", 7),
            ("k.md", 8),
        ]);
        let news = [
            // One edit, one new file, one deleted.
            flat(&[
                ("a/b/c.md", 9),
                ("a/d.md", 2),
                ("a/e.md", 10),
                ("f", 3),
                ("g/h.md", 4),
                ("g b.md", 5),
                ("g-1/x.md", 6),
                ("g/i/j.md", 7),
            ]),
            // A folder gone (its neighbours `g b.md`, `g-1` stay), a file become a folder.
            flat(&[
                ("a/b/c.md", 1),
                ("a/d.md", 2),
                ("f/new.md", 3),
                ("g b.md", 5),
                ("g-1/x.md", 6),
                ("k.md", 8),
            ]),
            // A folder become a file, everything else gone.
            flat(&[("g", 11)]),
            FlatTree::new(),
            old.clone(),
        ];
        for new in news {
            let (root, trees) = build_trees(&new);
            let (changed, whole) = both_ways(&old, root, &trees);
            assert_eq!(changed, new);
            assert_eq!(whole, new);
        }
    }

    #[test]
    fn another_vaults_state_below_the_top_is_left_out_and_noted() {
        let old = flat(&[("n/a.md", 1)]);
        // `n/.vault/config.toml`, as an older version synced it: built by hand.
        let mut state = Tree::default();
        state
            .entries
            .insert("config.toml".into(), EntryKind::File(meta(2)));
        let state = state.to_object();
        let mut folder = Tree::default();
        folder
            .entries
            .insert("a.md".into(), EntryKind::File(meta(1)));
        folder
            .entries
            .insert("b.md".into(), EntryKind::File(meta(3)));
        folder
            .entries
            .insert(".vault".into(), EntryKind::Dir(state.id()));
        let folder = folder.to_object();
        let mut top = Tree::default();
        top.entries.insert("n".into(), EntryKind::Dir(folder.id()));
        let top = top.to_object();
        let (changed, whole) = both_ways(&old, top.id(), &[state, folder, top.clone()]);
        assert_eq!(changed, flat(&[("n/a.md", 1), ("n/b.md", 3)]));
        assert_eq!(whole, changed);
    }
}
