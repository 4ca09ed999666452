//! Read-only questions about a vault: what changed locally since the last sync (`status`), and
//! whether the folder and the hub agree (`verify`). Neither changes the folder or the hub.

use std::path::PathBuf;

use crate::hub::{Hub, HubError};
use crate::id::ObjectId;
use crate::ignore_rules::IgnoreRules;
use crate::local::LocalVault;
use crate::object::{FileMeta, FlatTree, Snapshot, Tree, flatten};
use crate::paths::VaultPath;
use crate::scan::{ScanOptions, scan};
use crate::statcache::StatCache;
use crate::store::PackStore;

use super::objects::History;
use super::round::{differing_paths, root_of, tree_or_empty, with_unreadable};
use super::{LastSync, SyncError, SyncStats};

/// How a path differs from base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// A local change not yet synced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub path: VaultPath,
    pub kind: ChangeKind,
}

/// What `syncd status` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub vault: PathBuf,
    pub hub: String,
    pub device_name: String,
    pub device_id: String,
    /// The snapshot this device last agreed on with the hub.
    pub base: Option<ObjectId>,
    /// Local changes since base (content or presence; a new modification time alone is not
    /// listed).
    pub changes: Vec<Change>,
    /// Files that exist but could not be read.
    pub unreadable: Vec<VaultPath>,
    pub warnings: Vec<String>,
    /// Files kept in `.revisions/`.
    pub revisions: usize,
    pub last_sync: Option<LastSync>,
}

/// The files of snapshot `id` from the local store alone.
fn local_flat(store: &PackStore, id: Option<ObjectId>) -> Result<FlatTree, SyncError> {
    let Some(id) = id else {
        return Ok(FlatTree::new());
    };
    let snap = Snapshot::decode(&store.read(id)?.bytes)?;
    flatten::<SyncError>(snap.tree, &mut |t| Ok(Tree::decode(&store.read(t)?.bytes)?))
}

/// Local changes since the last sync; asks no hub and writes nothing.
pub fn status(vault: &LocalVault) -> Result<Status, SyncError> {
    let rules = IgnoreRules::load(vault.root())?;
    let (cache, warning) = StatCache::load(&vault.index_path());
    let found = scan(vault.root(), &rules, &cache, ScanOptions::default())?;
    let base = vault.base()?;
    let base_flat = local_flat(&vault.objects()?, base)?;
    let local = with_unreadable(&found, &base_flat);
    let mut changes = Vec::new();
    for (path, meta) in &local {
        match base_flat.get(path) {
            None => changes.push(Change {
                path: path.clone(),
                kind: ChangeKind::Added,
            }),
            Some(old) if !old.same_content(meta) => changes.push(Change {
                path: path.clone(),
                kind: ChangeKind::Modified,
            }),
            Some(_) => {}
        }
    }
    for path in base_flat.keys().filter(|p| !local.contains_key(*p)) {
        changes.push(Change {
            path: path.clone(),
            kind: ChangeKind::Deleted,
        });
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    let config = vault.config();
    Ok(Status {
        vault: vault.root().to_path_buf(),
        hub: config.hub.clone(),
        device_name: config.device_name.clone(),
        device_id: config.device_id.clone(),
        base,
        changes,
        unreadable: found.unreadable.clone(),
        warnings: warning.into_iter().chain(found.warnings).collect(),
        revisions: local.keys().filter(|p| p.is_revision()).count(),
        last_sync: LastSync::load(vault),
    })
}

/// One path where the folder and the hub's head differ.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub path: VaultPath,
    pub local: Option<FileMeta>,
    pub hub: Option<FileMeta>,
}

/// An object of the hub's head whose stored copy is damaged (its bytes no longer hash to its
/// id), found by re-hashing every object ([`Hub::verify_tree`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HubDamage {
    pub id: ObjectId,
    /// The files of the head holding it (none for a tree or a snapshot): the file itself, or
    /// a large file one of whose lists or chunks it is.
    pub paths: Vec<VaultPath>,
    /// Whether this device holds a good copy, so that `syncd sync --full-verify` here
    /// repairs the hub.
    pub here: bool,
}

/// For each of `ids` (missing or damaged on the hub), the files of `hub_flat` holding it and
/// whether this device has a good copy. A chunk is placed in its file through this device's
/// copy of the file (read once, in slices) when it is the same version.
fn locate(
    ids: &[ObjectId],
    hub_flat: &FlatTree,
    local: &FlatTree,
    history: &History,
    root: &std::path::Path,
) -> Vec<HubDamage> {
    if ids.is_empty() {
        return Vec::new();
    }
    let mut pieces_here = std::collections::HashSet::new();
    let held = crate::content::owners::files_holding(hub_flat, ids, &mut |path, meta| {
        if local.get(path).is_none_or(|m| m.id != meta.id) {
            return None;
        }
        let pieces = crate::content::owners::pieces_on_disk(root, path, meta)?;
        pieces_here.extend(pieces.iter().copied());
        Some(pieces)
    });
    ids.iter()
        .map(|id| {
            let paths: Vec<VaultPath> = held
                .iter()
                .filter(|(_, got)| got.contains(id))
                .map(|(p, _)| p.clone())
                .collect();
            let here = history.knows(*id)
                || pieces_here.contains(id)
                || paths
                    .iter()
                    .any(|p| local.get(p).is_some_and(|m| m.id == *id));
            HubDamage {
                id: *id,
                paths,
                here,
            }
        })
        .collect()
}

/// What `syncd verify` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub head: Option<ObjectId>,
    /// The root tree the hub computed for its head from its own data.
    pub hub_tree: Option<ObjectId>,
    /// The root tree of the folder as scanned now.
    pub local_tree: ObjectId,
    pub equal: bool,
    /// Paths that differ (empty when equal).
    pub differences: Vec<Difference>,
    /// Objects the hub holds only damaged copies of (then `equal` is false).
    pub hub_damaged: Vec<HubDamage>,
    /// Objects the head needs that the hub lacks (a lost pack; then `equal` is false), with
    /// the files holding them: a whole file, or a chunk of a large one.
    pub hub_missing: Vec<HubDamage>,
    /// Whether every file was hashed (`full`) rather than trusted from the stat cache.
    pub full: bool,
    pub files_hashed: u64,
}

/// Compare the folder's tree with the tree the hub computes for its head. With `full`, every
/// file is hashed (the stat cache is not trusted). Changes neither side.
pub fn verify(vault: &LocalVault, hub: &dyn Hub, full: bool) -> Result<VerifyReport, SyncError> {
    let rules = IgnoreRules::load(vault.root())?;
    let (cache, _) = StatCache::load(&vault.index_path());
    let found = scan(
        vault.root(),
        &rules,
        &cache,
        ScanOptions { use_cache: !full },
    )?;
    let head = hub.head()?;
    let (hub_tree, damaged, missing) = match hub.verify_tree() {
        Ok(tree) => (tree, Vec::new(), Vec::new()),
        Err(HubError::Damaged { ids, .. }) => (None, ids, Vec::new()),
        // A missing chunk of a large file (or a whole file): named by path below.
        Err(HubError::Missing { ids, .. }) => (None, Vec::new(), ids),
        Err(e) => return Err(e.into()),
    };
    let mut history = History::new(vault.objects()?, hub);
    let mut stats = SyncStats::default();
    let (hub_flat, _) = match history.flat_of_snapshot(head, &mut stats) {
        Ok(flat) => flat,
        // The trees themselves are what is missing: nothing to name the ids by.
        Err(_) if !missing.is_empty() => {
            return Err(HubError::Missing {
                hub: hub.describe(),
                ids: missing,
            }
            .into());
        }
        Err(e) => return Err(e),
    };
    let local = with_unreadable(&found, &hub_flat);
    let local_tree = root_of(&local);
    let hub_damaged = locate(&damaged, &hub_flat, &local, &history, vault.root());
    let hub_missing = locate(&missing, &hub_flat, &local, &history, vault.root());
    let equal =
        hub_damaged.is_empty() && hub_missing.is_empty() && local_tree == tree_or_empty(hub_tree);
    let differences = if local == hub_flat {
        Vec::new()
    } else {
        differing_paths(&local, &hub_flat)
            .into_iter()
            .map(|path| Difference {
                local: local.get(&path).copied(),
                hub: hub_flat.get(&path).copied(),
                path,
            })
            .collect()
    };
    Ok(VerifyReport {
        head,
        hub_tree,
        local_tree,
        equal,
        differences,
        hub_damaged,
        hub_missing,
        full,
        files_hashed: found.counters.files_hashed,
    })
}
