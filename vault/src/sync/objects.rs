//! Where a round gets objects from, and how it checks them.
//!
//! Trees and snapshots come from the local store (`.vault/objects`) when this device already
//! knows them, else from the hub, and are then kept locally so the next round need not ask
//! again. Blobs for apply come from a local file with the same content when there is one (a
//! copy or a conflict needs no download), else from the hub. Every object is hashed and
//! compared with the id it was asked for; an object's kind as the hub reports it is not
//! trusted for blobs, because a note may have exactly the bytes of a tree encoding (same id).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::apply::{BATCH_BYTES, BlobSource, FetchError};
use crate::fsutil::PathIoError;
use crate::hub::{Hub, HubError};
use crate::id::ObjectId;
use crate::object::{FlatTree, Kind, Object, Snapshot, Tree, flatten_noting};
use crate::paths::VaultPath;
use crate::progress::{Amount, Phase, Progress};
use crate::store::PackStore;

use super::{SyncError, SyncStats};

mod changed;
mod large;

/// How many trees one `get` asks the hub for.
const TREE_BATCH: usize = 1024;

/// Trees and snapshots, read through the local store and filled from the hub.
pub(super) struct History<'a> {
    pub store: PackStore,
    pub hub: &'a dyn Hub,
    /// Fetched from the hub (or made by this round) and not yet written to the local store.
    fresh: Vec<Object>,
    /// Where each of `fresh` is in it.
    fresh_ids: HashMap<ObjectId, usize>,
    /// Trees [`History::flat`] loaded for its walk, and hands out (each one only once: a
    /// 100,000-file vault's trees decoded take 16 MiB).
    cache: HashMap<ObjectId, Tree>,
    /// Folders whose `.vault/` a tree held (another vault's state, synced by an older
    /// version) and `flatten` left out, for the round to warn about.
    pub skipped_state: Vec<VaultPath>,
}

fn bad_remote(hub: &dyn Hub, detail: impl std::fmt::Display) -> SyncError {
    SyncError::BadRemote {
        hub: hub.describe(),
        detail: detail.to_string(),
    }
}

/// Check that `bytes` are the object `id`.
fn check_bytes(hub: &dyn Hub, id: ObjectId, bytes: &[u8]) -> Result<(), SyncError> {
    let actual = ObjectId::of(bytes);
    if actual != id {
        return Err(bad_remote(
            hub,
            format!("object {id} arrived with bytes that hash to {actual}"),
        ));
    }
    Ok(())
}

impl<'a> History<'a> {
    pub fn new(store: PackStore, hub: &'a dyn Hub) -> History<'a> {
        History {
            store,
            hub,
            fresh: Vec::new(),
            fresh_ids: HashMap::new(),
            cache: HashMap::new(),
            skipped_state: Vec::new(),
        }
    }

    /// Whether the local store (or this round's fetches) hold `id`.
    pub fn knows(&self, id: ObjectId) -> bool {
        self.store.contains(id) || self.fresh_ids.contains_key(&id)
    }

    /// Raw bytes of a tree or snapshot this device knows.
    pub fn local_bytes(&self, id: ObjectId) -> Option<Vec<u8>> {
        local_bytes(&self.store, &self.fresh, &self.fresh_ids, id)
    }

    /// A tree or snapshot this device knows, as an object to upload again.
    pub fn local_object(&self, id: ObjectId) -> Option<Object> {
        if let Some(&i) = self.fresh_ids.get(&id) {
            return Some(self.fresh[i].clone());
        }
        self.store.read(id).ok()
    }

    /// Keep `object` (id `id`) for the local store, unless known already.
    fn keep(&mut self, id: ObjectId, object: Object) {
        if self.store.contains(id) {
            return;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = self.fresh_ids.entry(id) {
            slot.insert(self.fresh.len());
            self.fresh.push(object);
        }
    }

    /// Fetch `ids` from the hub, check each, and remember them for the local store.
    fn fetch(
        &mut self,
        ids: &[ObjectId],
        kind: Kind,
        stats: &mut SyncStats,
    ) -> Result<Vec<Vec<u8>>, SyncError> {
        let objects = self.hub.get(ids)?;
        if objects.len() != ids.len() {
            return Err(bad_remote(
                self.hub,
                format!("asked for {} objects, got {}", ids.len(), objects.len()),
            ));
        }
        let mut out = Vec::with_capacity(ids.len());
        for (id, object) in ids.iter().zip(objects) {
            check_bytes(self.hub, *id, &object.bytes)?;
            stats.objects_received += 1;
            stats.bytes_received += object.bytes.len() as u64;
            if !self.fresh_ids.contains_key(id) {
                let copy = Object {
                    kind,
                    bytes: object.bytes.clone(),
                };
                self.keep(*id, copy);
            }
            out.push(object.bytes);
        }
        Ok(out)
    }

    /// The snapshot `id`, from the local store or the hub.
    pub fn snapshot(&mut self, id: ObjectId, stats: &mut SyncStats) -> Result<Snapshot, SyncError> {
        let bytes = match self.local_bytes(id) {
            Some(b) => b,
            None => self.fetch(&[id], Kind::Snapshot, stats)?.remove(0),
        };
        Snapshot::decode(&bytes).map_err(|e| bad_remote(self.hub, format!("snapshot {id}: {e}")))
    }

    /// The tree `id`, from the local store or the hub, for a walk down one path (which keeps
    /// its own trees: the cache here holds only trees whose subtrees are loaded too).
    pub fn tree(&mut self, id: ObjectId, stats: &mut SyncStats) -> Result<Tree, SyncError> {
        if let Some(tree) = self.cache.get(&id) {
            return Ok(tree.clone());
        }
        let bytes = match self.local_bytes(id) {
            Some(b) => b,
            None => self.fetch(&[id], Kind::Tree, stats)?.remove(0),
        };
        Tree::decode(&bytes).map_err(|e| bad_remote(self.hub, format!("tree {id}: {e}")))
    }

    /// Make sure every tree under `root` is loaded, fetching those this device lacks from the
    /// hub one level at a time (one `get` per level and batch, not one per folder).
    fn load_trees(&mut self, root: ObjectId, stats: &mut SyncStats) -> Result<(), SyncError> {
        let mut level = vec![root];
        let mut depth = 0;
        while !level.is_empty() {
            depth += 1;
            if depth > crate::object::MAX_TREE_DEPTH + 1 {
                return Err(bad_remote(self.hub, "trees nested too deeply"));
            }
            let need: Vec<ObjectId> = level
                .iter()
                .copied()
                .filter(|id| !self.cache.contains_key(id) && !self.knows(*id))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let mut fetched = HashMap::new();
            for chunk in need.chunks(TREE_BATCH) {
                for (id, bytes) in chunk.iter().zip(self.fetch(chunk, Kind::Tree, stats)?) {
                    fetched.insert(*id, bytes);
                }
            }
            let mut next = Vec::new();
            for id in level {
                if self.cache.contains_key(&id) {
                    continue;
                }
                let bytes = match fetched.get(&id) {
                    Some(b) => b.clone(),
                    None => self.local_bytes(id).ok_or_else(|| {
                        bad_remote(self.hub, format!("tree {id} vanished from the local store"))
                    })?,
                };
                let tree = Tree::decode(&bytes)
                    .map_err(|e| bad_remote(self.hub, format!("tree {id}: {e}")))?;
                for entry in tree.entries.values() {
                    if let crate::object::EntryKind::Dir(sub) = entry {
                        next.push(*sub);
                    }
                }
                self.cache.insert(id, tree);
            }
            level = next;
        }
        Ok(())
    }

    /// Every file under the tree `root`, each path validated (`flatten`).
    pub fn flat(&mut self, root: ObjectId, stats: &mut SyncStats) -> Result<FlatTree, SyncError> {
        self.load_trees(root, stats)?;
        let History {
            store,
            hub,
            fresh,
            fresh_ids,
            cache,
            skipped_state,
        } = self;
        let hub = *hub;
        // Each tree is taken out of the cache as the walk reaches it, so the trees held shrink
        // as the flat tree grows; a tree that is also elsewhere (two folders alike) is decoded
        // again from its bytes.
        let load = &mut |id| {
            if let Some(tree) = cache.remove(&id) {
                return Ok(tree);
            }
            let bytes = local_bytes(store, fresh, fresh_ids, id)
                .ok_or_else(|| bad_remote(hub, format!("tree {id} is missing")))?;
            Tree::decode(&bytes).map_err(|e| bad_remote(hub, format!("tree {id}: {e}")))
        };
        let flat = flatten_noting::<SyncError>(root, load, skipped_state).map_err(|e| match e {
            SyncError::Hub(HubError::Object(o)) => bad_remote(hub, o),
            other => other,
        });
        self.cache.clear();
        flat
    }

    /// The files of snapshot `id` (empty for `None`), and the snapshot itself.
    pub fn flat_of_snapshot(
        &mut self,
        id: Option<ObjectId>,
        stats: &mut SyncStats,
    ) -> Result<(FlatTree, Option<Snapshot>), SyncError> {
        let Some(id) = id else {
            return Ok((FlatTree::new(), None));
        };
        let snap = self.snapshot(id, stats)?;
        Ok((self.flat(snap.tree, stats)?, Some(snap)))
    }

    /// Keep `objects` (new trees and a snapshot this device made) in the local store too.
    pub fn remember(&mut self, objects: &[Object]) {
        for o in objects {
            let id = o.id();
            if !self.knows(id) {
                self.keep(id, o.clone());
            }
        }
    }

    /// [`History::remember`] for objects the caller is done with (`ids`: theirs), moved
    /// instead of copied.
    pub fn remember_owned(&mut self, objects: Vec<Object>, ids: &[ObjectId]) {
        for (o, id) in objects.into_iter().zip(ids) {
            self.keep(*id, o);
        }
    }

    /// Write what was fetched or made this round to the local store, as one pack.
    pub fn persist(&mut self) -> Result<(), SyncError> {
        if self.fresh.is_empty() {
            return Ok(());
        }
        let objects: Vec<Object> = self
            .fresh
            .drain(..)
            .filter(|o| !self.store.contains(o.id()))
            .collect();
        self.fresh_ids.clear();
        self.store.write_pack(&objects)?;
        Ok(())
    }
}

/// Raw bytes of a tree or snapshot: kept this round (`fresh`, where `fresh_ids` says), else in
/// the local store.
fn local_bytes(
    store: &PackStore,
    fresh: &[Object],
    fresh_ids: &HashMap<ObjectId, usize>,
    id: ObjectId,
) -> Option<Vec<u8>> {
    if let Some(&i) = fresh_ids.get(&id) {
        return Some(fresh[i].bytes.clone());
    }
    store.read(id).ok().map(|o| o.bytes)
}

/// Read the file at `path` and return its bytes if they still hash to `id`.
pub(crate) fn read_if(root: &Path, path: &VaultPath, id: ObjectId) -> Option<Vec<u8>> {
    let bytes = crate::vfs::read(path.to_fs_path(root)).ok()?;
    (ObjectId::of(&bytes) == id).then_some(bytes)
}

/// Download the blobs `need` (id, size) from the hub into `dir`, one file per blob, each
/// checked against its id, in batches of about [`BATCH_BYTES`]. Returns where each one is.
/// `dir` is emptied first; it is scratch space, so nothing here is fsynced.
pub(super) fn stage(
    hub: &dyn Hub,
    need: &[(ObjectId, u64)],
    older: &HashMap<ObjectId, PathBuf>,
    dir: &Path,
    stats: &mut SyncStats,
    progress: &dyn Progress,
) -> Result<HashMap<ObjectId, PathBuf>, SyncError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| {
            SyncError::Local(crate::local::LocalError::Io(PathIoError {
                action,
                path,
                source,
            }))
        }
    };
    let _ = crate::vfs::remove_dir_all(dir);
    crate::vfs::create_dir_all(dir).map_err(io("creating", dir))?;
    let mut out = HashMap::new();
    // Large files stream into their staged file; the rest come in batches.
    type Sized = Vec<(ObjectId, u64)>;
    let (large, need): (Sized, Sized) = need
        .iter()
        .partition(|(_, size)| *size >= crate::apply::STREAM_FROM);
    for (id, _) in large {
        let path = dir.join(id.to_hex());
        let older = older.get(&id).and_then(|p| large::Older::open(p));
        large::stage_one(hub, id, older.as_ref(), &path, stats, progress)?;
        out.insert(id, path);
    }
    let mut start = 0;
    while start < need.len() {
        let mut end = start;
        let mut bytes = 0u64;
        while end < need.len() && (end == start || bytes + need[end].1 <= BATCH_BYTES) {
            bytes += need[end].1;
            end += 1;
        }
        let ids: Vec<ObjectId> = need[start..end].iter().map(|(id, _)| *id).collect();
        let objects = hub.get(&ids)?;
        if objects.len() != ids.len() {
            return Err(bad_remote(
                hub,
                format!("asked for {} objects, got {}", ids.len(), objects.len()),
            ));
        }
        for (id, object) in ids.iter().zip(objects) {
            check_bytes(hub, *id, &object.bytes)?;
            stats.objects_received += 1;
            stats.bytes_received += object.bytes.len() as u64;
            let path = dir.join(id.to_hex());
            crate::vfs::write(&path, &object.bytes).map_err(io("writing", &path))?;
            out.insert(*id, path);
            let got = Amount::new(1, object.bytes.len() as u64);
            progress.advance(Phase::Downloading, got);
        }
        start = end;
    }
    Ok(out)
}

/// Blobs for `apply_actions`: a local file with the same content first, then what
/// [`stage`] downloaded, the hub otherwise.
pub(super) struct Blobs<'a> {
    pub root: &'a Path,
    /// Some local file holding each id, from the scan the plan came from.
    pub local: HashMap<ObjectId, VaultPath>,
    /// Blobs downloaded before the folder was touched.
    pub staged: HashMap<ObjectId, PathBuf>,
    /// For a large file's new content, a path holding an older version of it (the file the
    /// write replaces): its chunks need no download.
    pub older: HashMap<ObjectId, VaultPath>,
    pub hub: &'a dyn Hub,
    pub stats: &'a mut SyncStats,
    /// Told of each blob received ([`Phase::Downloading`]).
    pub progress: &'a dyn Progress,
}

impl BlobSource for Blobs<'_> {
    fn write_to(
        &mut self,
        id: ObjectId,
        size: u64,
        out: &mut crate::vfs::File,
    ) -> Result<(), FetchError> {
        self.stream_to(id, size, out)
    }

    fn fetch(&mut self, ids: &[ObjectId]) -> Result<Vec<Vec<u8>>, FetchError> {
        let mut out: Vec<Option<Vec<u8>>> = vec![None; ids.len()];
        let mut need = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let found = self.local.get(id).and_then(|p| read_if(self.root, p, *id));
            match found {
                Some(bytes) => {
                    self.stats.files_read += 1;
                    self.stats.bytes_hashed += bytes.len() as u64;
                    out[i] = Some(bytes);
                }
                // Checked when staged, and again by apply_actions before it is written.
                None => match self.staged.get(id).and_then(|p| crate::vfs::read(p).ok()) {
                    Some(bytes) => out[i] = Some(bytes),
                    None => need.push(i),
                },
            }
        }
        if !need.is_empty() {
            let want: Vec<ObjectId> = need.iter().map(|&i| ids[i]).collect();
            let got = self.hub.get(&want)?;
            if got.len() != want.len() {
                return Err(format!("asked for {} objects, got {}", want.len(), got.len()).into());
            }
            for (i, object) in need.into_iter().zip(got) {
                // The bytes are checked against the id by apply_actions before use.
                self.stats.objects_received += 1;
                self.stats.bytes_received += object.bytes.len() as u64;
                let got = Amount::new(1, object.bytes.len() as u64);
                self.progress.advance(Phase::Downloading, got);
                out[i] = Some(object.bytes);
            }
        }
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}
