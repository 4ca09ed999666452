//! A hub in a plain folder (a USB stick, a NAS share, a folder synced by another service):
//! the [`Hub`] trait on top of a [`PackStore`] and a [`RefFile`].
//!
//! Layout (see `docs/format.md`, section "Hub folder"):
//!
//! ```text
//! HUB/vault-hub.json     {"format":1,"created_ns":...}: marks the folder as a hub (format 2
//!                        once it holds a chunk list: a large file as chunks)
//! HUB/packs/<hex>.pack   the objects, in packs written once (crate::store)
//! HUB/refs/head          the head snapshot id, moved only by compare-and-swap (crate::refs)
//! ```
//!
//! Several processes may use one hub folder at once: packs appear atomically and never change,
//! and `head` moves under a lock file. A handle refreshes its pack index whenever an answer
//! depends on what others wrote (`missing`, `get` of an unknown id, `cas_head`, `tree_hash`).

use crate::vfs as fs;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::UNIX_EPOCH;

use rayon::prelude::*;

use crate::fsutil::{PathIoError, TEMP_PREFIX, io_at, write_atomic};
use crate::hub::{CasOutcome, Hub, HubError, PutStream};
use crate::id::ObjectId;
use crate::object::{EntryKind, Kind, MAX_TREE_DEPTH, Object, ObjectError, Snapshot, Tree};
use crate::paths::STATE_DIR;
use crate::refs::{RefError, RefFile};
use crate::store::{PackStore, StoreError};

mod check;
mod lists;
mod stream;

pub use check::KeptWalk;
pub use stream::{STREAM_PACK_BYTES, UploadPack};

/// Shared test suite for every [`Hub`] implementation.
#[cfg(any(test, feature = "test-support"))]
#[path = "hub_conformance.rs"]
pub mod conformance;

/// The file that marks a folder as a hub.
pub const MARKER_FILE: &str = "vault-hub.json";
/// The newest hub folder format this code reads and writes: 2 once the hub holds any
/// [`Kind::Chunks`] object (a large file as chunks), which a syncd that knows only format 1
/// could not read; it then refuses the hub and says "upgrade syncd" instead.
pub const HUB_FORMAT: u32 = 2;
/// The format a new hub starts with (no chunk lists yet), so older syncd keep using it until
/// a large file arrives.
pub const HUB_FORMAT_PLAIN: u32 = 1;

/// Contents of `vault-hub.json`. Unknown fields are ignored, so a later format can add some.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Marker {
    format: u32,
    created_ns: i64,
}

/// A hub stored in a folder.
#[derive(Debug)]
pub struct FolderHub {
    root: PathBuf,
    /// Behind a mutex because [`Hub`] methods take `&self` and a hub may be shared by threads.
    store: Mutex<PackStore>,
    head: RefFile,
    /// A snapshot this process walked and found complete, with the store's vanished-pack count
    /// at that time: while no pack vanished, it is still complete (packs are never changed),
    /// so `tree_hash` right after `cas_head` need not walk the whole vault again.
    complete: Mutex<Option<(ObjectId, u64)>>,
    /// Whether `vault-hub.json` already says [`HUB_FORMAT`] (chunk lists may be stored).
    chunked: std::sync::atomic::AtomicBool,
    /// When an upload stream commits its pack ([`STREAM_PACK_BYTES`]; tests make it small).
    stream_pack_bytes: u64,
}

/// The `format` of the marker at `path`, if it can be read.
fn marker_format(path: &Path) -> Option<u32> {
    let bytes = fs::read(path).ok()?;
    let marker: Marker = serde_json::from_slice(&bytes).ok()?;
    Some(marker.format)
}

/// What a walk from a snapshot found wrong.
enum WalkError {
    /// The hub could not read its own data (I/O, damaged pack).
    Hub(HubError),
    /// A tree or snapshot that is not acceptable (malformed, forbidden name, too deep).
    Invalid(String),
    /// A pack listed when the walk began was retired (compaction, gc) while it ran: list the
    /// packs again and walk again (see [`FolderHub::settled`]).
    Gone,
}

/// How many times a walk or read starts again after packs were retired under it. Compaction
/// retires a hub's packs in one burst, so a second try nearly always succeeds; more tries only
/// cover several compactions in a row.
const GONE_RETRIES: usize = 4;

impl FolderHub {
    /// Open the hub in `path`, creating the folder and layout if it is missing or empty.
    pub fn open(path: &Path) -> Result<FolderHub, HubError> {
        let hub = path.display().to_string();
        let io = |e: PathIoError| HubError::Io {
            hub: hub.clone(),
            source: e,
        };
        fs::create_dir_all(path)
            .map_err(io_at("creating hub folder", path))
            .map_err(io)?;
        let marker_path = path.join(MARKER_FILE);
        match fs::read(&marker_path) {
            Ok(bytes) => {
                let marker: Marker =
                    serde_json::from_slice(&bytes).map_err(|e| HubError::Corrupt {
                        hub: hub.clone(),
                        detail: format!("`{}` is not valid ({e}); restore it from a backup, or write {{\"format\":1,\"created_ns\":0}} into it", marker_path.display()),
                    })?;
                if !(HUB_FORMAT_PLAIN..=HUB_FORMAT).contains(&marker.format) {
                    return Err(HubError::UnsupportedFormat {
                        hub,
                        found: marker.format,
                        supported: HUB_FORMAT,
                    });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !is_empty_dir(path).map_err(io)? {
                    return Err(HubError::NotAHub(hub));
                }
                // The marker goes first: a second process opening the folder at the same time
                // then sees either an empty folder (and creates the same layout) or a hub.
                let marker = Marker {
                    format: HUB_FORMAT_PLAIN,
                    created_ns: crate::vfs::now_ns_at(path),
                };
                let text = serde_json::to_vec(&marker).unwrap_or_default();
                write_atomic(&marker_path, &text)
                    .map_err(io_at("writing", &marker_path))
                    .map_err(io)?;
            }
            Err(e) => return Err(io(io_at("reading", &marker_path)(e))),
        }
        let chunked = marker_format(&marker_path) == Some(HUB_FORMAT);
        let refs = path.join("refs");
        fs::create_dir_all(&refs)
            .map_err(io_at("creating", &refs))
            .map_err(io)?;
        // Loaded on first use: every store operation below refreshes first.
        let store =
            PackStore::open_unloaded(&path.join("packs")).map_err(|e| store_err(&hub, e))?;
        Ok(FolderHub {
            root: path.to_path_buf(),
            store: Mutex::new(store),
            head: RefFile::new(refs.join("head")),
            complete: Mutex::new(None),
            chunked: std::sync::atomic::AtomicBool::new(chunked),
            stream_pack_bytes: STREAM_PACK_BYTES,
        })
    }

    /// This handle's uploads commit a pack every `bytes` instead of [`STREAM_PACK_BYTES`]:
    /// `vault-server` commits more often, as a connection cut off midway is common there and
    /// what was committed is not sent again.
    pub fn with_stream_pack_bytes(mut self, bytes: u64) -> FolderHub {
        self.stream_pack_bytes = bytes;
        self
    }

    /// Before the first [`Kind::Chunks`] object is stored: raise `vault-hub.json`'s format to
    /// [`HUB_FORMAT`] (atomically, keeping every other field), so a syncd that cannot read
    /// chunk lists refuses the hub rather than misreading it. Once per handle at most.
    fn mark_chunked(&self) -> Result<(), HubError> {
        use std::sync::atomic::Ordering;
        if self.chunked.load(Ordering::Acquire) {
            return Ok(());
        }
        let path = self.root.join(MARKER_FILE);
        let io = |e: PathIoError| HubError::Io {
            hub: self.describe(),
            source: e,
        };
        let bytes = fs::read(&path)
            .map_err(io_at("reading", &path))
            .map_err(io)?;
        let mut marker: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| HubError::Corrupt {
                hub: self.describe(),
                detail: format!("`{}` is not valid ({e})", path.display()),
            })?;
        if marker.get("format").and_then(|f| f.as_u64()) != Some(u64::from(HUB_FORMAT)) {
            marker["format"] = serde_json::Value::from(HUB_FORMAT);
            let text = serde_json::to_vec(&marker).unwrap_or_default();
            write_atomic(&path, &text)
                .map_err(io_at("writing", &path))
                .map_err(io)?;
        }
        self.chunked.store(true, Ordering::Release);
        Ok(())
    }

    fn remember_complete(&self, snapshot: ObjectId, vanished: u64) {
        *self.complete.lock().unwrap_or_else(|p| p.into_inner()) = Some((snapshot, vanished));
    }

    /// The tree of `snapshot` after checking that the hub holds all of it: walked unless this
    /// handle checked that very snapshot already (and no pack vanished since), or walked
    /// always when `full`.
    fn snapshot_tree(&self, snapshot: ObjectId, full: bool) -> Result<ObjectId, HubError> {
        let mut store = self.lock_store();
        self.refresh(&mut store)?;
        let known = *self.complete.lock().unwrap_or_else(|p| p.into_inner());
        if full || known != Some((snapshot, store.vanished_packs())) {
            let checked = self.settled(&mut store, |store| {
                if full {
                    self.walk_hashing(store, snapshot)
                } else {
                    self.walk(store, snapshot, None).map(Checked::missing)
                }
            });
            let Checked { missing, damaged } = checked.map_err(|e| self.walk_err(e, corrupt))?;
            if !missing.is_empty() {
                return Err(HubError::Missing {
                    hub: self.describe(),
                    ids: missing,
                });
            }
            if !damaged.is_empty() {
                return Err(HubError::Damaged {
                    hub: self.describe(),
                    ids: damaged,
                });
            }
            self.remember_complete(snapshot, store.vanished_packs());
        }
        // The walk decoded it already; decoding again is cheap and keeps `walk` simple.
        let snap = store.read(snapshot).map_err(|e| self.store_err(e))?;
        Ok(Snapshot::decode(&snap.bytes)?.tree)
    }

    /// The hub folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Every object reachable from `snapshot` (the snapshot itself, its trees, the blobs
    /// they name, and the chunk lists, groups and chunks of large files) that the hub lacks, after picking up packs written by others. Subtrees under
    /// a missing tree cannot be listed until that tree is uploaded, so a repair may take
    /// several rounds: upload what is listed, ask again, until the list is empty.
    pub fn missing_under(&self, snapshot: ObjectId) -> Result<Vec<ObjectId>, HubError> {
        let mut store = self.lock_store();
        self.refresh(&mut store)?;
        self.settled(&mut store, |store| self.walk(store, snapshot, None))
            .map_err(|e| self.walk_err(e, corrupt))
    }

    /// Run `walk` over the store; when a pack it needed was retired meanwhile (a compaction
    /// or gc in another process), list the packs again and run it again: the objects are in
    /// the pack that replaced it.
    fn settled<T>(
        &self,
        store: &mut PackStore,
        walk: impl Fn(&PackStore) -> Result<T, WalkError>,
    ) -> Result<T, WalkError> {
        for _ in 0..GONE_RETRIES {
            match walk(store) {
                Err(WalkError::Gone) => {
                    tracing::debug!(hub = %self.describe(), "a pack was retired during a walk; walking again");
                    store
                        .refresh()
                        .map_err(|e| WalkError::Hub(self.store_err(e)))?;
                }
                other => return other,
            }
        }
        walk(store)
    }

    /// Every object of `ids`, or [`HubError::Damaged`] naming each one whose stored copies
    /// are all damaged (so a caller can ask again for the others).
    fn read_all(&self, store: &PackStore, ids: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        let mut reader = store.reader();
        // Read in the order of the packs on disk, answered in the order asked.
        let mut order = ids.to_vec();
        store.sort_by_location(&mut order);
        let mut read: HashMap<ObjectId, Object> = HashMap::with_capacity(order.len());
        let mut damaged = Vec::new();
        for id in &order {
            match reader.read(*id) {
                Ok(o) => {
                    read.insert(*id, o);
                }
                Err(e @ StoreError::Corrupt { .. }) => {
                    tracing::warn!("{e}");
                    if !damaged.contains(id) {
                        damaged.push(*id);
                    }
                }
                Err(e) => return Err(self.store_err(e)),
            }
        }
        if !damaged.is_empty() {
            return Err(HubError::Damaged {
                hub: self.describe(),
                ids: damaged,
            });
        }
        // An id asked twice is answered twice (the bytes cloned only then).
        let mut out: Vec<Object> = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let object = match read.remove(id) {
                Some(o) => o,
                None => {
                    let first = ids[..i].iter().position(|x| x == id);
                    out[first.expect("every id asked was read")].clone()
                }
            };
            out.push(object);
        }
        Ok(out)
    }

    fn lock_store(&self) -> MutexGuard<'_, PackStore> {
        // A thread that panicked while holding the lock cannot have left the index wrong in a
        // harmful way (a stale index only makes us refresh), so carry on.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refresh(&self, store: &mut PackStore) -> Result<(), HubError> {
        store.refresh().map_err(|e| self.store_err(e))
    }

    fn store_err(&self, e: StoreError) -> HubError {
        store_err(&self.describe(), e)
    }

    fn ref_err(&self, e: RefError) -> HubError {
        let hub = self.describe();
        match e {
            RefError::Io(source) => HubError::Io { hub, source },
            RefError::Locked { lock, .. } => HubError::Locked {
                hub,
                lock: lock.display().to_string(),
            },
            other => HubError::Corrupt {
                hub,
                detail: other.to_string(),
            },
        }
    }

    fn walk_err(
        &self,
        e: WalkError,
        invalid: fn(hub: String, detail: String) -> HubError,
    ) -> HubError {
        match e {
            WalkError::Hub(e) => e,
            WalkError::Invalid(detail) => invalid(self.describe(), detail),
            WalkError::Gone => HubError::Io {
                hub: self.describe(),
                source: crate::fsutil::PathIoError {
                    action: "reading packs that keep being replaced by a compaction in",
                    path: self.root.join("packs"),
                    source: io::Error::new(io::ErrorKind::NotFound, "pack gone; retry"),
                },
            },
        }
    }

    /// The full check of `snapshot`: [`FolderHub::walk`] from scratch, then every blob it
    /// names re-hashed from the packs (in slices, on all cores). A damaged blob is reported,
    /// not an error: the caller learns every damaged object at once, so a device can repair
    /// them all in one upload.
    fn walk_hashing(&self, store: &PackStore, snapshot: ObjectId) -> Result<Checked, WalkError> {
        let mut blobs = Vec::new();
        let mut damaged = Vec::new();
        let mut missing = self.walk_with(
            store,
            snapshot,
            None,
            &mut |id| blobs.push(id),
            Some(&mut damaged),
        )?;
        let results: Vec<(ObjectId, Result<(), StoreError>)> = blobs
            .par_chunks(64)
            .flat_map_iter(|chunk| {
                let mut reader = store.reader();
                chunk
                    .iter()
                    .map(|id| (*id, reader.check(*id)))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (id, result) in results {
            match result {
                Ok(()) => {}
                Err(StoreError::Corrupt { .. }) => damaged.push(id),
                Err(StoreError::NotFound { .. }) => missing.push(id),
                Err(StoreError::PackGone { .. }) => return Err(WalkError::Gone),
                Err(e) => return Err(WalkError::Hub(self.store_err(e))),
            }
        }
        for id in check::damaged_history(store, snapshot) {
            if !damaged.contains(&id) {
                damaged.push(id);
            }
        }
        Ok(Checked { missing, damaged })
    }

    /// Walk from `snapshot` through the hub's own data: decode the snapshot, read (and so
    /// re-hash) every distinct tree reachable from its root, check every blob is present; for
    /// a large file, read and decode its chunk list and groups and check every chunk is
    /// present (the index's kinds say which ids are lists: no blob is read here).
    /// Returns the ids that are absent. Each distinct tree is read once, so a hostile tree that
    /// names one subtree many times cannot make the walk explode.
    ///
    /// With a `baseline` (a snapshot known complete: the head being replaced, which was
    /// checked when it became head), subtrees and files the new snapshot shares with it at the
    /// same place are not read again: after editing one note, the walk reads the trees on that
    /// note's path instead of the whole vault. A pack lost since the baseline was checked goes
    /// unnoticed here; `verify_tree` (and `syncd verify`, `syncd sync --full-verify`) walk
    /// everything.
    fn walk(
        &self,
        store: &PackStore,
        snapshot: ObjectId,
        baseline: Option<ObjectId>,
    ) -> Result<Vec<ObjectId>, WalkError> {
        self.walk_with(store, snapshot, baseline, &mut |_| {}, None)
    }

    /// [`FolderHub::walk`], telling `present` of every distinct blob (whole file or chunk) it
    /// found in the store.
    /// With `damaged`, a snapshot or tree whose every copy is damaged is listed there (and
    /// what is under it cannot be walked) instead of failing the walk.
    fn walk_with(
        &self,
        store: &PackStore,
        snapshot: ObjectId,
        baseline: Option<ObjectId>,
        present: &mut dyn FnMut(ObjectId),
        mut damaged: Option<&mut Vec<ObjectId>>,
    ) -> Result<Vec<ObjectId>, WalkError> {
        let mut reader = store.reader();
        let mut missing = Vec::new();
        let snap = match reader.read(snapshot) {
            Ok(o) => Snapshot::decode(&o.bytes).map_err(|e| invalid(snapshot, "snapshot", e))?,
            Err(StoreError::NotFound { .. }) => return Ok(vec![snapshot]),
            Err(StoreError::PackGone { .. }) => return Err(WalkError::Gone),
            Err(StoreError::Corrupt { .. }) if damaged.is_some() => {
                damaged.iter_mut().for_each(|d| d.push(snapshot));
                return Ok(Vec::new());
            }
            Err(e) => return Err(WalkError::Hub(self.store_err(e))),
        };
        // The baseline's root, if it can be read; otherwise everything is walked.
        let old_root = baseline
            .and_then(|b| reader.read(b).ok())
            .and_then(|o| Snapshot::decode(&o.bytes).ok())
            .map(|s| s.tree);
        let mut seen_trees = HashSet::new();
        let mut seen_blobs = HashSet::new();
        let mut stack = vec![(snap.tree, 0usize, old_root)];
        while let Some((tree_id, depth, old)) = stack.pop() {
            if old == Some(tree_id) || !seen_trees.insert(tree_id) {
                continue;
            }
            if depth > MAX_TREE_DEPTH {
                let e = ObjectError::TooDeep(MAX_TREE_DEPTH);
                return Err(invalid(tree_id, "tree", e));
            }
            // The kind stored with the id is not checked: a blob whose bytes happen to be a
            // tree's encoding has the same id, and whoever stored it first chose the label.
            let tree = match reader.read(tree_id) {
                Ok(o) => Tree::decode(&o.bytes).map_err(|e| invalid(tree_id, "tree", e))?,
                Err(StoreError::NotFound { .. }) => {
                    missing.push(tree_id);
                    continue;
                }
                Err(StoreError::PackGone { .. }) => return Err(WalkError::Gone),
                Err(StoreError::Corrupt { .. }) if damaged.is_some() => {
                    damaged.iter_mut().for_each(|d| d.push(tree_id));
                    continue;
                }
                Err(e) => return Err(WalkError::Hub(self.store_err(e))),
            };
            let old_tree = old
                .and_then(|id| reader.read(id).ok())
                .and_then(|o| Tree::decode(&o.bytes).ok())
                .unwrap_or_default();
            for (name, entry) in tree.entries {
                if depth == 0 && name.eq_ignore_ascii_case(STATE_DIR) {
                    return Err(WalkError::Invalid(format!(
                        "root tree {tree_id} contains `{name}`, the agents' private folder"
                    )));
                }
                let before = old_tree.entries.get(&name);
                match entry {
                    EntryKind::Dir(sub) => {
                        let old_sub = match before {
                            Some(EntryKind::Dir(o)) => Some(*o),
                            _ => None,
                        };
                        stack.push((sub, depth + 1, old_sub));
                    }
                    EntryKind::File(meta) => {
                        let known = matches!(before, Some(EntryKind::File(m)) if m.id == meta.id);
                        if !known && seen_blobs.insert(meta.id) {
                            let mut below = lists::Below {
                                seen: &mut seen_blobs,
                                missing: &mut missing,
                                damaged: damaged.as_deref_mut(),
                                present: &mut *present,
                            };
                            self.walk_file(store, &mut reader, meta.id, &mut below)?;
                        }
                    }
                }
            }
        }
        Ok(missing)
    }
}

/// What a full check found wrong.
#[derive(Default)]
struct Checked {
    missing: Vec<ObjectId>,
    damaged: Vec<ObjectId>,
}

impl Checked {
    fn missing(missing: Vec<ObjectId>) -> Checked {
        Checked {
            missing,
            damaged: Vec::new(),
        }
    }
}

/// Trees, snapshots and chunk lists are decoded before they are stored, so garbage is refused
/// at once rather than when a head points at it.
fn check_decodes(o: &Object) -> Result<(), HubError> {
    match o.kind {
        Kind::Tree => drop(Tree::decode(&o.bytes)?),
        Kind::Snapshot => drop(Snapshot::decode(&o.bytes)?),
        Kind::Chunks => drop(crate::content::ChunkList::decode(&o.bytes)?),
        Kind::Blob => {}
    }
    Ok(())
}

fn corrupt(hub: String, detail: String) -> HubError {
    HubError::Corrupt { hub, detail }
}

fn refused(hub: String, detail: String) -> HubError {
    HubError::Refused { hub, detail }
}

fn invalid(id: ObjectId, what: &str, e: ObjectError) -> WalkError {
    WalkError::Invalid(format!("{what} {id} is not acceptable: {e}"))
}

fn store_err(hub: &str, e: StoreError) -> HubError {
    let hub = hub.to_string();
    match e {
        StoreError::Io(source) => HubError::Io { hub, source },
        StoreError::NotFound { id, .. } | StoreError::PackGone { id, .. } => {
            HubError::Missing { hub, ids: vec![id] }
        }
        // Named as such, a device that holds the object stores a good copy over it.
        StoreError::Corrupt { id, .. } => HubError::Damaged { hub, ids: vec![id] },
        other => HubError::Corrupt {
            hub,
            detail: other.to_string(),
        },
    }
}

/// Whether `dir` holds nothing but crash-left temp files.
fn is_empty_dir(dir: &Path) -> Result<bool, PathIoError> {
    for entry in fs::read_dir(dir).map_err(io_at("listing", dir))? {
        let entry = entry.map_err(io_at("listing", dir))?;
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Hub for FolderHub {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn head(&self) -> Result<Option<ObjectId>, HubError> {
        self.head.read().map_err(|e| self.ref_err(e))
    }

    /// Always refreshes the pack index first, so packs written by other processes count and
    /// packs deleted from the folder (by hand, or by a sync service) do not: a device asking
    /// what to re-upload gets a true answer.
    fn missing(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, HubError> {
        let mut store = self.lock_store();
        self.refresh(&mut store)?;
        let mut seen = HashSet::new();
        Ok(ids
            .iter()
            .copied()
            .filter(|id| !store.contains(*id) && seen.insert(*id))
            .collect())
    }

    /// Trees and snapshots are decoded before they are stored, so garbage is refused at once
    /// rather than when a head points at it.
    fn put(&self, objects: &[Object]) -> Result<(), HubError> {
        for o in objects {
            check_decodes(o)?;
        }
        if objects.iter().any(|o| o.kind == Kind::Chunks) {
            self.mark_chunked()?;
        }
        let mut store = self.lock_store();
        // Others may have stored some of these already; do not write them twice, unless the
        // copy stored is damaged (a repair): then the good one is written and served.
        self.refresh(&mut store)?;
        let mut damaged = HashSet::new();
        let mut reader = store.reader();
        // Hashed once: the same ids name the objects in the pack.
        let ids: Vec<ObjectId> = objects.iter().map(Object::id).collect();
        for &id in &ids {
            if store.contains(id)
                && !damaged.contains(&id)
                && matches!(reader.check(id), Err(StoreError::Corrupt { .. }))
            {
                damaged.insert(id);
            }
        }
        drop(reader);
        if !damaged.is_empty() {
            tracing::warn!(
                hub = %self.describe(),
                count = damaged.len(),
                "storing good copies of damaged objects"
            );
        }
        store
            .write_pack_over(objects, &ids, &damaged)
            .map_err(|e| self.store_err(e))?;
        Ok(())
    }

    fn get(&self, ids: &[ObjectId]) -> Result<Vec<Object>, HubError> {
        let mut store = self.lock_store();
        let absent = |s: &PackStore| {
            ids.iter()
                .copied()
                .filter(|id| !s.contains(*id))
                .collect::<Vec<_>>()
        };
        if !absent(&store).is_empty() {
            self.refresh(&mut store)?;
        }
        let still = absent(&store);
        if !still.is_empty() {
            return Err(HubError::Missing {
                hub: self.describe(),
                ids: still,
            });
        }
        let mut tries = 0;
        loop {
            match self.read_all(&store, ids) {
                Err(HubError::Missing { .. }) if tries < GONE_RETRIES => {
                    // A pack was retired (compaction, gc) or deleted behind our back: list the
                    // packs again; the objects are in the pack that replaced it, or gone.
                    tries += 1;
                    self.refresh(&mut store)?;
                    let gone = absent(&store);
                    if !gone.is_empty() {
                        return Err(HubError::Missing {
                            hub: self.describe(),
                            ids: gone,
                        });
                    }
                }
                other => return other,
            }
        }
    }

    /// Refuses (without touching `head`) a snapshot that is malformed or whose trees and blobs
    /// are not all in the hub, so `head` never points at an incomplete vault. The snapshot's
    /// parents are history, not content, and are not required: a hub that lost an old
    /// snapshot can still move forward.
    ///
    /// The check runs under the head's lock, as a hub gc sweeps under it: an object the check
    /// found cannot be removed by a gc before `head` points at it (docs/format.md, "Hub
    /// folder").
    fn cas_head(&self, old: Option<ObjectId>, new: ObjectId) -> Result<CasOutcome, HubError> {
        let held = self.head.hold().map_err(|e| self.ref_err(e))?;
        let actual = held.read().map_err(|e| self.ref_err(e))?;
        if actual != old {
            return Ok(CasOutcome::Conflict { actual });
        }
        let mut store = self.lock_store();
        self.refresh(&mut store)?;
        // Only what `new` adds to `old` needs checking, unless packs vanished under us (packs
        // retired by a compaction or gc do not count: those never drop what head reaches).
        let missing = self
            .settled(&mut store, |store| {
                let baseline = old.filter(|_| store.vanished_packs() == 0);
                self.walk(store, new, baseline)
            })
            .map_err(|e| self.walk_err(e, refused))?;
        if missing.is_empty() {
            self.remember_complete(new, store.vanished_packs());
        }
        if let Some(first) = missing.first() {
            return Err(HubError::Refused {
                hub: self.describe(),
                detail: format!(
                    "snapshot {new} references {} object(s) the hub lacks (first {first}); put them, then retry",
                    missing.len()
                ),
            });
        }
        drop(store);
        crate::crash_hook::point("head-moving");
        held.compare_and_swap(old, new).map_err(|e| self.ref_err(e))
    }

    fn tree_of(&self, snapshot: ObjectId, full: bool) -> Result<ObjectId, HubError> {
        self.snapshot_tree(snapshot, full)
    }

    /// Compacts the hub when `packs/` holds more than [`crate::hub_gc::AUTO_ABOVE`] packs.
    /// The check is one listing of `packs/` (well under a millisecond for a compacted hub);
    /// a compaction rewrites the smallest packs, a few hundred kB in the usual case. A failure
    /// changes nothing and is only logged: the next round tries again.
    fn after_publish(&self) {
        match crate::hub_gc::compact_if_worthwhile(&self.root) {
            Ok(Some(r)) => tracing::debug!(
                hub = %self.describe(),
                before = r.packs_before,
                after = r.packs_after,
                "compacted the hub's packs"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(hub = %self.describe(), "could not compact the hub: {e}"),
        }
    }

    fn put_stream(&self) -> Box<dyn PutStream + '_> {
        Box::new(stream::FolderPutStream {
            hub: self,
            upload: UploadPack::default(),
        })
    }

    /// The time the hub folder's filesystem stamps on a file created there now: the file
    /// server's clock on a network share, this machine's kernel clock on a local disk. A
    /// device whose own clock is wrong would otherwise win (or lose) every conflict through a
    /// folder hub. The probe is an empty temp file under a random name (never a pack or a
    /// ref), removed at once; it costs one create, stat and unlink per round (under 0.1 ms
    /// measured on a local ext4 disk, a few round trips on a share), small next to the scan
    /// every round makes, so every round checks.
    fn time_ns(&self) -> Result<i64, HubError> {
        let probe = crate::fsutil::temp_path_for(&self.root.join("clock"));
        let io = |e: PathIoError| HubError::Io {
            hub: self.describe(),
            source: e,
        };
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(io_at("creating a clock probe", &probe))
            .map_err(io)?;
        let stamped = file.metadata().and_then(|m| m.modified());
        drop(file);
        let removed = fs::remove_file(&probe);
        let stamped = stamped
            .map_err(io_at("reading the time of", &probe))
            .map_err(io)?;
        removed
            .map_err(io_at("removing the clock probe", &probe))
            .map_err(io)?;
        Ok(match stamped.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        })
    }
}

#[cfg(test)]
#[path = "folder_hub_tests.rs"]
mod tests;
