//! One sync round, step by step as `docs/sync.md` describes it. Each attempt starts from a
//! fresh scan; an attempt that finds the world changed under it (a file edited during apply or
//! upload, another device publishing first, verification finding a difference) returns
//! [`Step::Retry`] and the next attempt starts over from the folder as it is now.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use crate::apply::{ApplyReport, BATCH_BYTES, Scanned, apply_actions_reporting};
use crate::content::chunker::ChunkRef;
use crate::hub::{CasOutcome, Hub, HubError};
use crate::id::ObjectId;
use crate::ignore_rules::IgnoreRules;
use crate::local::{LocalVault, MASS_DELETE_MIN_FILES};
use crate::object::{
    FileMeta, FlatTree, Kind, MAX_TREE_DEPTH, Object, Snapshot, build_trees, root_tree,
};
use crate::paths::VaultPath;
use crate::progress::{Amount, NoProgress, Phase, Progress};
use crate::reconcile::{Action, Conflict, Devices, Plan, reconcile_with};
use crate::scan::{Scan, ScanOptions, scan, scan_reporting, scan_scoped};
use crate::statcache::{LetGo, StatCache};

use super::objects::{Blobs, History, read_if, stage};
use super::{Outcome, SkippedPath, SyncError, SyncOptions, SyncReport, SyncStats};

mod ancestry;
mod authors;
mod damaged;
mod deleted;
mod folder;
mod handed_on;
mod hub_side;
mod publishing;
mod stuck;
mod trees;
mod upload_chunked;

use publishing::{FolderSide, ToPublish};
use stuck::{STUCK_FILE, StuckRecord};

/// Where a plan that deletes downloads its blobs before touching the folder (in `.vault/`).
const STAGING_DIR: &str = "staging";

/// How an attempt ended.
enum Step {
    /// Both sides agree on `tree` at `head`.
    Done {
        head: Option<ObjectId>,
        tree: Option<ObjectId>,
    },
    /// Start again from a fresh scan, for this reason.
    Retry(String),
}

pub(super) struct Round<'a> {
    vault: &'a LocalVault,
    hub: &'a dyn Hub,
    opts: &'a SyncOptions,
    rules: IgnoreRules,
    cache: StatCache,
    /// `cache` was let go while `.vault/index` holds it (see [`Round::cache`]).
    cache_on_disk: Option<LetGo>,
    history: History<'a>,
    stats: SyncStats,
    warnings: Vec<String>,
    repairs: Vec<String>,
    conflicts: Vec<Conflict>,
    changed_folder: bool,
    snapshot_created: bool,
    /// Files found changed while being uploaded: their cache entries go once the cache is
    /// back from the thread that may be saving it.
    stale: Vec<VaultPath>,
    /// What apply changed in the folder, over all attempts (see [`SyncReport::touched`]).
    touched: Vec<crate::apply::Done>,
    /// Blobs the hub holds only damaged copies of, learned from a failed download: the next
    /// attempt leaves their paths as they are instead of failing the whole round.
    hub_damaged: HashSet<ObjectId>,
    /// The paths this attempt left as they are for that reason: the folder's side of the
    /// verification takes them from the merged tree, and base does not move (the next round
    /// tries them again, and must not read their absence as a local deletion).
    unavailable: Vec<VaultPath>,
    /// Folders whose deletions the folder guard holds back in this attempt: every scan takes
    /// them as unreadable, so base's files there count as unchanged.
    guarded: Vec<super::GuardedFolder>,
    /// What this device's side is in the regions it could not bring to the hub's version
    /// (`round/stuck.rs`), as `.vault/stuck.json` holds it.
    record: StuckRecord,
    /// This attempt's regions held back from the hub's version, and what to report of them.
    held: Vec<VaultPath>,
    skipped: Vec<SkippedPath>,
    /// `.vault/graft`: a history (`syncd hub set` brought to a hub with its own) that the
    /// next published snapshot joins to the hub's, as its second parent.
    graft: Option<ObjectId>,
    /// Where the chunks of the large files this round's scans hashed lie ([`Scan::chunk_plans`]):
    /// their upload reads those pieces instead of cutting the files again.
    chunk_plans: HashMap<ObjectId, Arc<[ChunkRef]>>,
    /// Chunks known to be on the hub, durable, since the scan handed them on this round
    /// ([`handed_on`]): a large file's upload checks them against the file but sends them no more.
    on_hub: HashSet<ObjectId>,
    /// When this round's first scan began: a large file unchanged since (by its stat, as the
    /// stat cache judges) still holds the bytes every scan of the round read.
    first_scan_ns: Option<i64>,
}

/// The local side for reconcile: the scanned files, plus, for paths the scan could not read,
/// what `fallback` (base, or the tree just agreed on) says; an unreadable file is unchanged,
/// never deleted.
pub(super) fn with_unreadable(scan: &Scan, fallback: &FlatTree) -> FlatTree {
    let mut tree = scan.files().clone();
    for gone in &scan.unreadable {
        let prefix = format!("{gone}/");
        for (path, meta) in fallback {
            if path == gone || path.as_str().starts_with(&prefix) {
                tree.insert(path.clone(), *meta);
            }
        }
    }
    tree
}

/// The root tree of `files`.
pub(super) fn root_of(files: &FlatTree) -> ObjectId {
    root_tree(files)
}

/// A snapshot's tree, or for no snapshot (an empty hub, a device that never synced) the empty
/// tree: an empty folder agrees with an empty hub.
pub(super) fn tree_or_empty(tree: Option<ObjectId>) -> ObjectId {
    tree.unwrap_or_else(|| root_of(&FlatTree::new()))
}

impl<'a> Round<'a> {
    pub fn new(
        vault: &'a LocalVault,
        hub: &'a dyn Hub,
        opts: &'a SyncOptions,
    ) -> Result<Round<'a>, SyncError> {
        let rules = IgnoreRules::load(vault.root())?;
        let (cache, warning) = StatCache::load(&vault.index_path());
        let history = History::new(vault.objects()?, hub);
        let (graft, graft_warning) = ancestry::load_graft(vault);
        let mut warnings: Vec<String> = warning.into_iter().chain(graft_warning).collect();
        let record = StuckRecord::load(&vault.state_dir().join(STUCK_FILE)).unwrap_or_else(|w| {
            warnings.push(w);
            StuckRecord::default()
        });
        Ok(Round {
            vault,
            hub,
            opts,
            rules,
            cache,
            cache_on_disk: None,
            history,
            stats: SyncStats::default(),
            warnings,
            repairs: Vec::new(),
            conflicts: Vec::new(),
            changed_folder: false,
            snapshot_created: false,
            stale: Vec::new(),
            touched: Vec::new(),
            record,
            guarded: Vec::new(),
            hub_damaged: HashSet::new(),
            unavailable: Vec::new(),
            held: Vec::new(),
            skipped: Vec::new(),
            graft,
            chunk_plans: HashMap::new(),
            on_hub: HashSet::new(),
            first_scan_ns: None,
        })
    }

    pub fn run(mut self) -> Result<SyncReport, SyncError> {
        let mut reason = String::new();
        for attempt in 1..=self.opts.max_attempts.max(1) {
            self.stats.attempts = attempt;
            match self.attempt()? {
                Step::Done { head, tree } => return Ok(self.report(head, tree)),
                Step::Retry(why) => {
                    tracing::info!(attempt, reason = %why, "sync: starting over");
                    reason = why;
                }
            }
        }
        Err(SyncError::Unsettled {
            attempts: self.stats.attempts,
            reason,
        })
    }

    fn report(self, head: Option<ObjectId>, tree: Option<ObjectId>) -> SyncReport {
        let outcome = match (self.changed_folder, self.snapshot_created) {
            (false, false) => Outcome::UpToDate,
            (true, false) => Outcome::Pulled,
            (false, true) => Outcome::Pushed,
            (true, true) => Outcome::Merged,
        };
        let mut stats = self.stats;
        stats.conflicts = self.conflicts.len() as u64;
        SyncReport {
            outcome,
            head,
            tree,
            snapshot_created: self.snapshot_created,
            conflicts: self.conflicts,
            warnings: self.warnings,
            repairs: self.repairs,
            held_back: self.guarded,
            skipped: self.skipped,
            stats,
            touched: self.touched,
        }
    }

    /// Where this round reports how far it got.
    fn progress(&self) -> &'a dyn Progress {
        self.opts.progress.as_deref().unwrap_or(&NoProgress)
    }

    fn warn(&mut self, text: &str) {
        if !self.warnings.iter().any(|w| w == text) {
            tracing::info!("{text}");
            self.warnings.push(text.to_string());
        }
    }

    fn attempt(&mut self) -> Result<Step, SyncError> {
        // `RUST_LOG=vault=debug` shows where a round's time goes.
        let t0 = std::time::Instant::now();
        let tick =
            |step: &str| tracing::debug!(step, ms = t0.elapsed().as_secs_f64() * 1e3, "sync");
        self.unavailable.clear();
        self.held.clear();
        self.guarded.clear();
        self.skipped.clear();
        self.cache();
        let mut scan = self.first_scan()?;
        self.progress().end(Phase::Scanning);
        tick("scan");
        self.remove_temp_files(&scan);
        if !scan.mounts.is_empty() {
            // Even a quiet round remembers a mount point it sees (the folder guard needs it
            // once the drive is gone); a vault without one reads nothing more.
            self.remember_mounts(&scan)?;
        }
        let base_id = self.vault.base()?;
        let head = self.hub.head()?;
        self.forget_joined_graft(head)?;

        // Quiet path: nothing moved on either side. One request, nothing hashed, and base's
        // trees are not even read: its snapshot names the root tree to compare with. (Not
        // while paths are held back: they are merged, and reported, every round.)
        if head == base_id
            && scan.unreadable.is_empty()
            && self.record.regions.is_empty()
            && self.graft.is_none()
        {
            let base_tree = match base_id {
                Some(id) => Some(self.history.snapshot(id, &mut self.stats)?.tree),
                None => None,
            };
            let base_root = tree_or_empty(base_tree);
            let root = match self.scanned_root_cheaply(&scan) {
                Ok(root) => Some(root),
                // Differs from the cache, which holds base's tree: a local change.
                Err(true) if self.cache.tree() == Some(base_root) => None,
                Err(_) => Some(root_of(scan.files())),
            };
            if root == Some(base_root) && self.opts.full_verify {
                // Asked to check everything: the hub must still compute this tree from its
                // own data (a lost pack is uploaded again).
                self.cache.update_from_scan(&scan);
                let (base_flat, _) = self.history.flat_of_snapshot(base_id, &mut self.stats)?;
                return self.verify(head, base_root, &base_flat, None);
            }
            if root == Some(base_root) {
                if scan.counters.files_hashed > 0
                    || self.cache.len() != scan.len()
                    || self.cache.tree() != Some(base_root)
                    || self.cache.rules() != scan.rules
                {
                    self.save_cache(&scan, Some(base_root))?;
                }
                return Ok(Step::Done {
                    head,
                    tree: base_tree,
                });
            }
        }

        // Base counts only if the hub's history still contains it (`round/ancestry.rs`).
        let merge_base = self.merge_base(base_id, head)?;
        tick("ancestry");
        // Base's files and the scan's are two maps of every path: built side by side, base's
        // sharing the scan's paths (which takes the scan in path order: at most two sorted
        // runs to merge). Base's are shared (`Rc`) with the hub's when those are the same, so
        // that otherwise they can go once the merged trees are built (below).
        scan.sort_by_path();
        let (base_flat, base_snap, base_built) = std::thread::scope(|s| {
            if scan.unreadable.is_empty() {
                s.spawn(|| scan.files().len());
            }
            self.flat_of_base(merge_base, &scan)
        })?;
        // A note the filesystem lists under another spelling than base's (a stat cache lost
        // or older than base) keeps base's.
        let root = self.vault.root();
        if folder::respell_as_known(
            root,
            &mut scan,
            |p| base_flat.contains_key(p),
            base_flat.keys(),
        ) > 0
        {
            scan.sort_by_path();
        }
        let base_flat = Rc::new(base_flat);
        tick("base_flat");
        // Where this device could not take the hub's version, its side of the merge is what
        // it last had there, not the base it published (`round/stuck.rs`).
        let mine: Cow<'_, FlatTree> = if merge_base == base_id && !self.record.regions.is_empty() {
            Cow::Owned(self.record.apply(&base_flat))
        } else {
            Cow::Borrowed(&base_flat)
        };
        let local: Cow<'_, FlatTree> = if scan.unreadable.is_empty() {
            Cow::Borrowed(scan.files())
        } else if merge_base == base_id {
            Cow::Owned(with_unreadable(&scan, &mine))
        } else {
            let (fallback, _) = self.history.flat_of_snapshot(base_id, &mut self.stats)?;
            Cow::Owned(with_unreadable(&scan, &fallback))
        };
        // Only local changes (the usual case): the hub's tree is base's, already loaded.
        let (remote_flat, remote_snap) = if head == merge_base {
            (Rc::clone(&base_flat), base_snap.clone())
        } else {
            let basis = base_built.map(|root| (root, &*base_flat));
            let (flat, snap) = self.flat_of_head(head, basis)?;
            // The trees just fetched go to the local store now rather than at the end of the
            // round, so their bytes are not held through apply (12 MiB for a first download
            // of 100,000 files).
            self.history.persist()?;
            (Rc::new(flat), snap)
        };
        tick("remote_flat");
        for folder in std::mem::take(&mut self.history.skipped_state) {
            self.warn(&format!(
                "the hub holds `{folder}/.vault/`, another vault's private state that an older version synced: skipped, never written here; the next snapshot leaves it out"
            ));
        }
        let config = self.vault.config();
        let mut devices = Devices {
            local_id: config.device_id.clone(),
            local_name: config.device_name.clone(),
            remote_id: remote_snap
                .as_ref()
                .map_or_else(|| config.device_id.clone(), |s| s.device_id.clone()),
            remote_name: remote_snap
                .as_ref()
                .map_or_else(|| config.device_name.clone(), |s| s.device_name.clone()),
            remote_authors: HashMap::new(),
        };
        // Old copies of notes deleted since (a backup put back) are kept aside, not published.
        let evidence = self.history_evidence(base_snap.as_ref(), &mine, &local, &remote_flat)?;
        let rules = &self.rules;
        let is_ignored = |p: &VaultPath| rules.is_ignored(p, false);
        let first = reconcile_with(
            &mine,
            &local,
            &remote_flat,
            &devices,
            &evidence,
            &is_ignored,
        );
        // A revision of the hub's version is named after the device that wrote it, which need
        // not be the head's: found in the history for the paths in conflict, then merged again.
        devices.remote_authors = self.remote_authors(&first, &remote_flat, head, &devices);
        let merge = |local: &FlatTree| {
            reconcile_with(&mine, local, &remote_flat, &devices, &evidence, &is_ignored)
        };
        let mut plan = if devices.remote_authors.is_empty() {
            first
        } else {
            merge(&local)
        };
        let guarded = self.guard(&plan, &mine, &local, &remote_flat, &scan)?;
        if !guarded.is_empty() {
            // Held back: the rest of the round goes on, with base's files in those folders
            // taken as unchanged here (as for an unreadable folder). That is sound only while
            // the hub has not changed them either: nothing is then written there, and the
            // merged tree keeps them as they are.
            if guarded
                .iter()
                .any(|g| changed_under(&mine, &remote_flat, &g.folder))
            {
                return Err(SyncError::FolderGuard { held: guarded });
            }
            scan.unreadable
                .extend(guarded.iter().map(|g| g.folder.clone()));
            plan = merge(&with_unreadable(&scan, &mine));
            self.guarded = guarded;
        }
        self.unavailable = damaged::drop_damaged_writes(&mut plan, &self.hub_damaged);
        tick("reconcile");

        // A round that writes nothing into the folder leaves it as its scan found it: that
        // scan is the folder's side of the verification. A second walk could only notice an
        // edit made during the round, which the next round takes anyway, and would double the
        // cost of the most common round, pushing one edit.
        let folder_untouched = plan.actions.is_empty() && scan.unreadable.is_empty();
        let mut skipped = Vec::new();
        if !plan.actions.is_empty() {
            let report = match self.apply(&mut plan, &scan) {
                Err(e) => match damaged::damaged_ids(&e) {
                    // Every other file can still come: try again without these.
                    Some(ids) if ids.iter().any(|id| !self.hub_damaged.contains(id)) => {
                        self.hub_damaged.extend(ids.iter().copied());
                        return Ok(Step::Retry(format!(
                            "the hub's copies of {} file(s) are damaged",
                            ids.len()
                        )));
                    }
                    _ => return Err(e),
                },
                Ok(report) => report,
            };
            // A file changed since the scan: the next attempt sees it as it is now. Anything
            // else in the way stays until the user acts; the round goes on without it.
            // (A later action in the region of an obstacle, say the write after a move that
            // could not happen, is part of that obstacle.)
            let stuck = stuck::regions(&report.skipped);
            let transient = |s: &&crate::apply::Skipped| {
                !s.kind.is_permanent() && !stuck.iter().any(|k| stuck::in_region(&s.path, &k.at))
            };
            if let Some(skip) = report.skipped.iter().find(transient) {
                return Ok(Step::Retry(format!("`{}` {}", skip.path, skip.reason)));
            }
            skipped = report.skipped;
        } else if !folder_untouched {
            self.cache.update_from_scan(&scan);
        }
        self.conflicts.extend(plan.conflicts.iter().cloned());
        let mut plan = match self.hold_back(&plan, &skipped, &mine, &remote_flat)? {
            Some(merged) => Plan { merged, ..plan },
            None => plan,
        };
        // Applied: from here on only the merged tree counts (a first download's actions are
        // 13 MiB at 100,000 files).
        plan.actions = Vec::new();
        // Files whose bytes the hub holds only damaged copies of are reported with the paths
        // skipped for good: the rest synced, and they need a device that has them.
        self.skipped
            .extend(self.unavailable.iter().map(|path| SkippedPath {
                path: path.clone(),
                reason: crate::apply::SkipKind::HubDamaged,
                message: damaged::not_downloaded(path),
            }));
        tick("apply");

        // When the merged tree is the hub's (every download), its trees are the hub's: only
        // the root is computed, to be sure, instead of holding every tree (12 MiB at 100,000
        // files). A graft publishes even then, with its trees.
        let remote_root = tree_or_empty(remote_snap.as_ref().map(|s| s.tree));
        let same_as_remote = plan.merged == *remote_flat;
        let basis = base_built.map(|root| (root, &*base_flat));
        let built = match self.graft {
            None if same_as_remote && basis.is_none() => match root_tree(&plan.merged) {
                root if root == remote_root => (root, Vec::new()),
                _ => build_trees(&plan.merged),
            },
            None if same_as_remote => match self.build_trees(&plan.merged, basis) {
                (root, _) if root == remote_root => (root, Vec::new()),
                built => built,
            },
            _ => self.build_trees(&plan.merged, basis),
        };
        // What reconcile and the trees needed of base and of the folder is done with: base's
        // files go now (unless they are the hub's), before the verification scan makes its own
        // (7 MiB at 100,000 files; a shadowed binding would live to the end of the attempt).
        drop((mine, evidence));
        drop(base_flat);
        // The hub's files, when they are the merged tree, need not be held twice through the
        // verification (7 MiB at 100,000 files).
        let remote_kept = (!same_as_remote).then_some(remote_flat);
        let remote_flat: &FlatTree = remote_kept.as_deref().unwrap_or(&plan.merged);
        tick("built");
        let to_publish = ToPublish {
            merged: &plan.merged,
            remote: remote_flat,
            remote_snap: &remote_snap,
            head,
            base_id,
            built,
        };
        let (published, folder_side) =
            self.publish_beside_folder(to_publish, scan, folder_untouched)?;
        for path in std::mem::take(&mut self.stale) {
            self.cache().remove(&path);
        }
        tick("publish");
        let (new_head, merged_root) = match published? {
            Ok(done) => done,
            Err(why) => return Ok(Step::Retry(why)),
        };
        let r = match folder_side {
            FolderSide::Rescanned(vscan) => {
                let vscan = vscan?;
                self.account(&vscan);
                self.verify(new_head, merged_root, &plan.merged, Some(vscan))
            }
            FolderSide::Scanned {
                scan,
                cache_saved: true,
            } => self.verify_hub(new_head, merged_root, &plan.merged, &scan, true),
            FolderSide::Scanned { scan, .. } => {
                self.verify(new_head, merged_root, &plan.merged, Some(scan))
            }
        };
        tick("verify");
        r
    }

    /// The stat cache, loaded again from `.vault/index` if it was let go after being saved.
    fn cache(&mut self) -> &mut StatCache {
        if let Some(was) = self.cache_on_disk.take() {
            let (cache, warning) = StatCache::load_again(&self.vault.index_path(), was);
            self.cache = cache;
            if let Some(w) = warning {
                self.warn(&w);
            }
        }
        &mut self.cache
    }
}

/// Whether the files `scan` found (none unreadable) are exactly `flat`: one sort of the
/// scan's entries and one pass, instead of building the scan's flat tree to compare.
fn scan_equals(scan: &mut Scan, flat: &FlatTree) -> bool {
    if !scan.unreadable.is_empty() || scan.len() != flat.len() {
        return false;
    }
    if let Some(files) = scan.files_if_built() {
        return files == flat;
    }
    scan.sort_by_path();
    scan.entries()
        .zip(flat)
        .all(|((p, s, id), (fp, fm))| p == fp && FileMeta::of(s, *id) == *fm)
}

/// Whether any file under `folder` differs between `a` and `b`.
fn changed_under(a: &FlatTree, b: &FlatTree, folder: &VaultPath) -> bool {
    let under = |t: &FlatTree| -> Vec<(VaultPath, FileMeta)> {
        t.iter()
            .filter(|(p, _)| super::guard::is_under(p, folder))
            .map(|(p, m)| (p.clone(), *m))
            .collect()
    };
    under(a) != under(b)
}

/// Paths whose entries differ between two flat trees.
pub(super) fn differing_paths(a: &FlatTree, b: &FlatTree) -> Vec<VaultPath> {
    let mut out: Vec<VaultPath> = a
        .iter()
        .filter(|(p, m)| b.get(*p) != Some(m))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(b.keys().filter(|p| !a.contains_key(*p)).cloned());
    out.sort();
    out
}
