//! A vault's history as `syncd log` shows it: the snapshots reachable from the hub's head,
//! newest first, and for one path only the snapshots that changed it.
//!
//! Snapshots and trees come from this device's store (`.vault/objects`) when it has them, else
//! from the hub. Every object fetched is hashed and compared with its id and goes through the
//! strict decoders, so a damaged or hostile hub can cause an error but never a wrong answer or a
//! crash. Nothing is written: reading history needs no lock and changes neither side.
//!
//! For a path, only the trees on the way to it are loaded (Merkle descent), and the descent stops
//! as soon as a snapshot and its parent share the subtree: a log of one note in a vault of
//! thousands of folders reads a handful of trees per snapshot.

use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::hub::{Hub, HubError};
use crate::id::ObjectId;
use crate::local::{LocalError, LocalVault};
use crate::object::{EntryKind, FileMeta, ObjectError, Snapshot, Tree, flatten};
use crate::paths::VaultPath;
use crate::store::{PackStore, StoreError};

/// How a snapshot changed one path, compared with its first parent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileChange {
    /// The path appeared with blob `id`; `renamed_from` when those bytes left another path in
    /// the same snapshot (a rename).
    Added {
        id: ObjectId,
        renamed_from: Option<VaultPath>,
    },
    /// The bytes (or the executable bit) changed.
    Modified { from: ObjectId, to: ObjectId },
    /// The path went away; `renamed_to` when its bytes appeared at another path.
    Deleted {
        id: ObjectId,
        renamed_to: Option<VaultPath>,
    },
}

/// One snapshot in the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogEntry {
    pub snapshot: ObjectId,
    /// When the snapshot was made (ns since the Unix epoch, by the clock of its device).
    pub time_ns: i64,
    pub device_id: String,
    pub device_name: String,
    pub parents: Vec<ObjectId>,
    pub tree: ObjectId,
    /// For a log of one path: what this snapshot did to it. `None` in a log of everything.
    pub change: Option<FileChange>,
}

/// Why the history could not be read. Nothing was changed in any of these cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("this device's object store `.vault/objects`: {0}")]
    Store(#[from] StoreError),
    #[error(
        "the hub `{hub}` sent {got} object(s) for {asked} requested; the hub is damaged or faulty: check it, or point this vault at another hub"
    )]
    Miscount {
        hub: String,
        asked: usize,
        got: usize,
    },
    #[error(
        "the hub `{hub}` sent object {id} with bytes that hash to {actual}; the hub is damaged or was written by a faulty client: check it, or run `syncd sync` on a healthy device to upload the object again"
    )]
    Damaged {
        hub: String,
        id: ObjectId,
        actual: ObjectId,
    },
    #[error(
        "the history holds an object that cannot be used ({0}); the hub or this device's `.vault/objects` is damaged: run `syncd verify`, and `syncd sync` on a healthy device"
    )]
    Object(#[from] ObjectError),
}

/// The snapshots reachable from the hub's head, newest first (by snapshot time; ties by id),
/// each once, at most `limit` of them. With `path`, only snapshots in which that path's content
/// differs from the snapshot's first parent are listed, each with its [`FileChange`].
pub fn log(
    vault: &LocalVault,
    hub: &dyn Hub,
    path: Option<&VaultPath>,
    limit: usize,
) -> Result<Vec<LogEntry>, HistoryError> {
    let mut objects = Objects {
        store: vault.objects()?,
        hub,
        trees: HashMap::new(),
        snaps: HashMap::new(),
    };
    let mut out = Vec::new();
    let Some(head) = hub.head()? else {
        return Ok(out);
    };
    // Newest first: the heap pops the greatest (time, id).
    let mut seen = HashSet::from([head]);
    let mut queue = BinaryHeap::from([(objects.snapshots(&[head])?.remove(0).time_ns, head)]);
    while let Some((_, id)) = queue.pop() {
        if out.len() >= limit {
            break;
        }
        let snap = objects.snapshots(&[id])?.remove(0);
        let fresh: Vec<ObjectId> = snap
            .parents
            .iter()
            .copied()
            .filter(|p| seen.insert(*p))
            .collect();
        for (pid, parent) in fresh.iter().zip(objects.snapshots(&fresh)?) {
            queue.push((parent.time_ns, *pid));
        }
        let change = match path {
            None => None,
            Some(path) => {
                let old_root = match snap.parents.first() {
                    Some(p) => Some(objects.snapshots(&[*p])?.remove(0).tree),
                    None => None,
                };
                match objects.change(snap.tree, old_root, path)? {
                    Some(change) => Some(change),
                    None => continue,
                }
            }
        };
        out.push(LogEntry {
            snapshot: id,
            time_ns: snap.time_ns,
            device_id: snap.device_id,
            device_name: snap.device_name,
            parents: snap.parents,
            tree: snap.tree,
            change,
        });
    }
    Ok(out)
}

/// Snapshots and trees, from the local store first and the hub otherwise, each checked.
struct Objects<'a> {
    store: PackStore,
    hub: &'a dyn Hub,
    trees: HashMap<ObjectId, Tree>,
    snaps: HashMap<ObjectId, Snapshot>,
}

impl Objects<'_> {
    /// The bytes of `ids` (in order): local ones from the store, the rest in one `get`, each
    /// checked against its id.
    fn bytes(&mut self, ids: &[ObjectId]) -> Result<Vec<Vec<u8>>, HistoryError> {
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(ids.len());
        let mut need: Vec<usize> = Vec::new();
        let mut reader = self.store.reader();
        for (i, id) in ids.iter().enumerate() {
            match reader.read(*id) {
                Ok(o) => out.push(o.bytes),
                Err(StoreError::NotFound { .. } | StoreError::PackGone { .. }) => {
                    need.push(i);
                    out.push(Vec::new());
                }
                Err(e) => return Err(e.into()),
            }
        }
        if need.is_empty() {
            return Ok(out);
        }
        let hub = self.hub.describe();
        let want: Vec<ObjectId> = need.iter().map(|&i| ids[i]).collect();
        let got = self.hub.get(&want)?;
        if got.len() != want.len() {
            return Err(HistoryError::Miscount {
                hub,
                asked: want.len(),
                got: got.len(),
            });
        }
        for (i, object) in need.into_iter().zip(got) {
            let (id, actual) = (ids[i], ObjectId::of(&object.bytes));
            if actual != id {
                return Err(HistoryError::Damaged { hub, id, actual });
            }
            out[i] = object.bytes;
        }
        Ok(out)
    }

    /// The snapshots `ids`, in order, each decoded once per walk.
    fn snapshots(&mut self, ids: &[ObjectId]) -> Result<Vec<Snapshot>, HistoryError> {
        let need: Vec<ObjectId> = ids
            .iter()
            .copied()
            .filter(|id| !self.snaps.contains_key(id))
            .collect();
        for (id, bytes) in need.iter().zip(self.bytes(&need)?) {
            self.snaps.insert(*id, Snapshot::decode(&bytes)?);
        }
        Ok(ids.iter().map(|id| self.snaps[id].clone()).collect())
    }

    fn tree(&mut self, id: ObjectId) -> Result<&Tree, HistoryError> {
        if !self.trees.contains_key(&id) {
            let tree = Tree::decode(&self.bytes(&[id])?.remove(0))?;
            self.trees.insert(id, tree);
        }
        Ok(&self.trees[&id])
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

    /// The file at `path` under the root tree `root`, loading only the trees on the way.
    fn file_at(
        &mut self,
        root: Option<ObjectId>,
        path: &VaultPath,
    ) -> Result<Option<FileMeta>, HistoryError> {
        Ok(self.descend(root, None, path)?.0)
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
    fn change(
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
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
