//! Snapshots, trees and blobs of the history, read from this device's store (`.vault/objects`)
//! when it has them and from the hub otherwise; every object is hashed and compared with its
//! id, and trees and snapshots go through the strict decoders. Also the walk over the
//! snapshots reachable from a head, newest first, and the Merkle descents the history
//! commands share: along one path, and under one folder.

use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::hub::Hub;
use crate::id::ObjectId;
use crate::local::LocalVault;
use crate::object::{
    EntryKind, FileMeta, MAX_TREE_DEPTH, Object, ObjectError, Snapshot, Tree, flatten,
};
use crate::paths::{PathError, STATE_DIR, VaultPath};
use crate::store::{PackStore, StoreError};

use super::{FileChange, HistoryError};

/// How many objects one `get` asks the hub for.
const BATCH: usize = 1024;

/// What a path names in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    File(FileMeta),
    Dir(ObjectId),
}

/// Snapshots, trees and blobs, from the local store first and the hub otherwise, each checked.
pub(crate) struct Objects<'a> {
    /// `None` on the server, which has only the hub (the web view's history).
    store: Option<PackStore>,
    pub hub: &'a dyn Hub,
    trees: HashMap<ObjectId, Tree>,
    snaps: HashMap<ObjectId, Snapshot>,
    /// Whether the hub holds a root tree, for those asked (retention: a thinned snapshot's
    /// tree is gone from the hub; history/thinned.rs).
    pub(super) held: HashMap<ObjectId, bool>,
}

impl<'a> Objects<'a> {
    pub fn new(vault: &LocalVault, hub: &'a dyn Hub) -> Result<Objects<'a>, HistoryError> {
        Ok(Objects {
            store: Some(vault.objects()?),
            hub,
            trees: HashMap::new(),
            snaps: HashMap::new(),
            held: HashMap::new(),
        })
    }

    /// Everything from `hub` (the server has no local store), starting with the snapshots
    /// and trees `known` already decoded by an earlier reader (they never change for an id).
    pub fn hub_only(hub: &'a dyn Hub, known: Known) -> Objects<'a> {
        Objects {
            store: None,
            hub,
            trees: known.trees,
            snaps: known.snapshots,
            held: HashMap::new(),
        }
    }

    /// The snapshots and trees decoded so far, to hand to the next [`Objects::hub_only`].
    pub fn into_known(self) -> Known {
        Known {
            snapshots: self.snaps,
            trees: self.trees,
        }
    }

    /// The bytes of `ids` (in order): local ones from the store, the rest in `get`s of at
    /// most [`BATCH`], each checked against its id. The kind the hub reports is not trusted:
    /// a note may hold exactly the bytes of a tree (same id).
    pub fn bytes(&mut self, ids: &[ObjectId]) -> Result<Vec<Vec<u8>>, HistoryError> {
        Ok(self.objects(ids)?.into_iter().map(|o| o.bytes).collect())
    }

    /// The objects `ids` (in order) with the kind they were stored as: from the local store
    /// when it has them, the rest from the hub in `get`s of at most [`BATCH`], each checked
    /// against its id (a file's content reader checks the kinds it needs).
    pub fn objects(&mut self, ids: &[ObjectId]) -> Result<Vec<Object>, HistoryError> {
        let mut out: Vec<Option<Object>> = vec![None; ids.len()];
        if let Some(store) = &self.store {
            let mut reader = store.reader();
            for (i, id) in ids.iter().enumerate() {
                match reader.read(*id) {
                    Ok(o) => out[i] = Some(o),
                    Err(StoreError::NotFound { .. } | StoreError::PackGone { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let need: Vec<usize> = (0..ids.len()).filter(|i| out[*i].is_none()).collect();
        let hub = self.hub.describe();
        for chunk in need.chunks(BATCH) {
            let want: Vec<ObjectId> = chunk.iter().map(|&i| ids[i]).collect();
            let got = self.hub.get(&want)?;
            if got.len() != want.len() {
                return Err(HistoryError::Miscount {
                    hub,
                    asked: want.len(),
                    got: got.len(),
                });
            }
            for (&i, object) in chunk.iter().zip(got) {
                let (id, actual) = (ids[i], ObjectId::of(&object.bytes));
                if actual != id {
                    return Err(HistoryError::Damaged { hub, id, actual });
                }
                out[i] = Some(object);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The snapshots `ids`, in order, each decoded once per walk.
    pub fn snapshots(&mut self, ids: &[ObjectId]) -> Result<Vec<Snapshot>, HistoryError> {
        let need: Vec<ObjectId> = ids
            .iter()
            .copied()
            .filter(|id| !self.snaps.contains_key(id))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for (id, bytes) in need.iter().zip(self.bytes(&need)?) {
            self.snaps.insert(*id, Snapshot::decode(&bytes)?);
        }
        Ok(ids.iter().map(|id| self.snaps[id].clone()).collect())
    }

    pub fn snapshot(&mut self, id: ObjectId) -> Result<Snapshot, HistoryError> {
        Ok(self.snapshots(&[id])?.remove(0))
    }

    pub fn tree(&mut self, id: ObjectId) -> Result<&Tree, HistoryError> {
        if !self.trees.contains_key(&id) {
            let tree = Tree::decode(&self.bytes(&[id])?.remove(0))?;
            self.trees.insert(id, tree);
        }
        Ok(&self.trees[&id])
    }

    /// Load every tree under `root` this walk has not decoded yet, a level at a time, so a
    /// folder of many subfolders costs one request to the hub per level, not one per folder.
    fn preload(&mut self, root: ObjectId) -> Result<(), HistoryError> {
        let mut level = vec![root];
        for _ in 0..=MAX_TREE_DEPTH + 1 {
            if level.is_empty() {
                return Ok(());
            }
            let need: Vec<ObjectId> = level
                .iter()
                .copied()
                .filter(|id| !self.trees.contains_key(id))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            for (id, bytes) in need.iter().zip(self.bytes(&need)?) {
                self.trees.insert(*id, Tree::decode(&bytes)?);
            }
            level = level
                .iter()
                .flat_map(|id| self.trees[id].entries.values())
                .filter_map(|e| match e {
                    EntryKind::Dir(sub) => Some(*sub),
                    EntryKind::File(_) => None,
                })
                .collect();
        }
        Err(ObjectError::TooDeep(MAX_TREE_DEPTH).into())
    }

    /// The entry named `name` in tree `dir` (`None` for no tree).
    fn entry(
        &mut self,
        dir: Option<ObjectId>,
        name: &str,
    ) -> Result<Option<EntryKind>, HistoryError> {
        match dir {
            Some(id) => Ok(self.tree(id)?.entries.get(name).cloned()),
            None => Ok(None),
        }
    }

    /// What `path` names under the root tree `root`, loading only the trees on the way.
    pub fn node_at(
        &mut self,
        root: Option<ObjectId>,
        path: &VaultPath,
    ) -> Result<Option<Node>, HistoryError> {
        let mut dir = root;
        let mut names = path.components().peekable();
        while let Some(name) = names.next() {
            match (self.entry(dir, name)?, names.peek().is_some()) {
                (Some(EntryKind::Dir(id)), true) => dir = Some(id),
                (Some(EntryKind::Dir(id)), false) => return Ok(Some(Node::Dir(id))),
                (Some(EntryKind::File(m)), false) => return Ok(Some(Node::File(m))),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Every file under the folder tree `dir`, whose path in the vault is `at`.
    pub fn files_under(
        &mut self,
        dir: ObjectId,
        at: &VaultPath,
    ) -> Result<Vec<(VaultPath, FileMeta)>, HistoryError> {
        self.preload(dir)?;
        let trees = &self.trees;
        let files = flatten::<HistoryError>(dir, &mut |t| {
            trees
                .get(&t)
                .cloned()
                .ok_or_else(|| ObjectError::TooDeep(MAX_TREE_DEPTH).into())
        })?;
        files
            .into_iter()
            .map(|(rel, meta)| {
                let path = VaultPath::new(&format!("{at}/{rel}")).map_err(ObjectError::from)?;
                Ok((path, meta))
            })
            .collect()
    }

    /// The file at `path` under the root tree `root`.
    fn file_at(
        &mut self,
        root: Option<ObjectId>,
        path: &VaultPath,
    ) -> Result<Option<FileMeta>, HistoryError> {
        Ok(match self.node_at(root, path)? {
            Some(Node::File(m)) => Some(m),
            _ => None,
        })
    }

    /// Walk `path` down two root trees at once. Returns the file at `path` in each, or `None`
    /// for both as soon as the walk reaches a subtree the two share (nothing below differs).
    fn descend(
        &mut self,
        mut a: Option<ObjectId>,
        mut b: Option<ObjectId>,
        path: &VaultPath,
    ) -> Result<(Option<FileMeta>, Option<FileMeta>), HistoryError> {
        let names: Vec<&str> = path.components().collect();
        let (last, folders) = names.split_last().expect("a vault path has a component");
        for name in folders {
            if a == b {
                return Ok((None, None));
            }
            let dir = |e: Option<EntryKind>| match e {
                Some(EntryKind::Dir(id)) => Some(id),
                _ => None,
            };
            a = dir(self.entry(a, name)?);
            b = dir(self.entry(b, name)?);
        }
        if a == b {
            return Ok((None, None));
        }
        let file = |e: Option<EntryKind>| match e {
            Some(EntryKind::File(m)) => Some(m),
            _ => None,
        };
        Ok((file(self.entry(a, last)?), file(self.entry(b, last)?)))
    }

    /// How `path` differs between the root trees `old` and `new`.
    pub fn change(
        &mut self,
        new: ObjectId,
        old: Option<ObjectId>,
        path: &VaultPath,
    ) -> Result<Option<FileChange>, HistoryError> {
        let (now, before) = self.descend(Some(new), old, path)?;
        Ok(match (before, now) {
            (None, None) => None,
            (Some(a), Some(b)) if a.same_content(&b) => None,
            (Some(a), Some(b)) => Some(FileChange::Modified {
                from: a.id,
                to: b.id,
            }),
            (None, Some(m)) => Some(FileChange::Added {
                id: m.id,
                renamed_from: self.moved(old, Some(new), path, m.id)?,
            }),
            (Some(m), None) => Some(FileChange::Deleted {
                id: m.id,
                renamed_to: self.moved(Some(new), old, path, m.id)?,
            }),
        })
    }

    /// A path other than `path` that holds blob `id` in the root tree `with` but not in
    /// `without`: where a rename of `path` came from (or went to). Flattens `with`, which only
    /// happens for snapshots that add or delete the logged path.
    fn moved(
        &mut self,
        with: Option<ObjectId>,
        without: Option<ObjectId>,
        path: &VaultPath,
        id: ObjectId,
    ) -> Result<Option<VaultPath>, HistoryError> {
        let Some(with) = with else {
            return Ok(None);
        };
        let files = flatten::<HistoryError>(with, &mut |t| Ok(self.tree(t)?.clone()))?;
        for (other, meta) in files.iter().filter(|(p, m)| *p != path && m.id == id) {
            let there = self.file_at(without, other)?;
            if there.is_none_or(|m| !m.same_content(meta)) {
                return Ok(Some(other.clone()));
            }
        }
        Ok(None)
    }

    /// The files in the tree `old` but not in `new` (`gone`), and the blob ids of the files in
    /// `new` but not in `old` (`added`, for telling renames). Only subtrees whose ids differ are
    /// read (Merkle descent): a snapshot that changed one note costs a tree per level.
    pub fn diff(
        &mut self,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
        out: &mut Diff,
    ) -> Result<(), HistoryError> {
        self.descend_all(old, new, None, 0, &mut |path, old, new| match (old, new) {
            (Some(m), None) => out.gone.push((path.clone(), m)),
            (None, Some(m)) => {
                out.added.entry(m.id).or_insert_with(|| path.clone());
            }
            _ => {}
        })
    }

    /// Call `visit(path, old file, new file)` for every path where the trees `old` and `new`
    /// hold a file on at least one side and their entries differ, reading only subtrees whose
    /// ids differ (Merkle descent). Every name is checked again as a path.
    pub fn descend_all(
        &mut self,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
        at: Option<&VaultPath>,
        depth: usize,
        visit: &mut Visit<'_>,
    ) -> Result<(), HistoryError> {
        if old == new {
            return Ok(());
        }
        if depth > MAX_TREE_DEPTH {
            return Err(ObjectError::TooDeep(MAX_TREE_DEPTH).into());
        }
        let load = |s: &mut Self, id: Option<ObjectId>| -> Result<Tree, HistoryError> {
            Ok(match id {
                Some(id) => s.tree(id)?.clone(),
                None => Tree::default(),
            })
        };
        let (old, new) = (load(self, old)?, load(self, new)?);
        let names: std::collections::BTreeSet<&String> =
            old.entries.keys().chain(new.entries.keys()).collect();
        for name in names {
            if at.is_none() && name.eq_ignore_ascii_case(STATE_DIR) {
                return Err(ObjectError::BadName(PathError::StateDir(name.clone())).into());
            }
            let path = match at {
                None => VaultPath::new(name),
                Some(p) => p.join(name),
            }
            .map_err(ObjectError::from)?;
            let split = |e: Option<&EntryKind>| match e {
                Some(EntryKind::File(m)) => (Some(*m), None),
                Some(EntryKind::Dir(id)) => (None, Some(*id)),
                None => (None, None),
            };
            let (old_file, old_dir) = split(old.entries.get(name));
            let (new_file, new_dir) = split(new.entries.get(name));
            if (old_file.is_some() || new_file.is_some()) && old_file != new_file {
                visit(&path, old_file, new_file);
            }
            if old_dir.is_some() || new_dir.is_some() {
                self.descend_all(old_dir, new_dir, Some(&path), depth + 1, visit)?;
            }
        }
        Ok(())
    }
}

/// What [`Objects::descend_all`] calls for each path that differs: the path, its old file
/// and its new file.
pub type Visit<'v> = dyn FnMut(&VaultPath, Option<FileMeta>, Option<FileMeta>) + 'v;

/// Snapshots and trees decoded by one reader of a hub's history, for the next: each was
/// checked against its id when read, and an id's object never changes.
#[derive(Debug, Default)]
pub struct Known {
    pub snapshots: HashMap<ObjectId, Snapshot>,
    pub trees: HashMap<ObjectId, Tree>,
}

impl Known {
    /// How many tree entries are kept (a measure of the memory the trees take).
    pub fn tree_entries(&self) -> usize {
        self.trees.values().map(|t| t.entries.len()).sum()
    }
}

/// What [`Objects::diff`] found.
#[derive(Debug, Default)]
pub(crate) struct Diff {
    pub gone: Vec<(VaultPath, FileMeta)>,
    pub added: HashMap<ObjectId, VaultPath>,
}

/// The snapshots reachable from a head, newest first (by snapshot time; ties by id), each once.
pub(crate) struct Walk {
    seen: HashSet<ObjectId>,
    queue: BinaryHeap<(i64, ObjectId)>,
}

impl Walk {
    pub fn new(objects: &mut Objects, head: Option<ObjectId>) -> Result<Walk, HistoryError> {
        let mut walk = Walk {
            seen: HashSet::new(),
            queue: BinaryHeap::new(),
        };
        if let Some(head) = head {
            walk.seen.insert(head);
            walk.queue.push((objects.snapshot(head)?.time_ns, head));
        }
        Ok(walk)
    }

    pub fn next(
        &mut self,
        objects: &mut Objects,
    ) -> Result<Option<(ObjectId, Snapshot)>, HistoryError> {
        let Some((_, id)) = self.queue.pop() else {
            return Ok(None);
        };
        let snap = objects.snapshot(id)?;
        let fresh: Vec<ObjectId> = snap
            .parents
            .iter()
            .copied()
            .filter(|p| self.seen.insert(*p))
            .collect();
        for (pid, parent) in fresh.iter().zip(objects.snapshots(&fresh)?) {
            self.queue.push((parent.time_ns, *pid));
        }
        Ok(Some((id, snap)))
    }
}
