//! One sync round, step by step as `docs/sync.md` describes it. Each attempt starts from a
//! fresh scan; an attempt that finds the world changed under it (a file edited during apply or
//! upload, another device publishing first, verification finding a difference) returns
//! [`Step::Retry`] and the next attempt starts over from the folder as it is now.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use crate::apply::{ApplyReport, BATCH_BYTES, apply_actions_reporting};
use crate::hub::{CasOutcome, Hub, HubError};
use crate::id::ObjectId;
use crate::ignore_rules::IgnoreRules;
use crate::local::{LocalVault, MASS_DELETE_MIN_FILES};
use crate::object::{FileMeta, FlatTree, Kind, MAX_TREE_DEPTH, Object, Snapshot, build_trees};
use crate::paths::VaultPath;
use crate::progress::{Amount, NoProgress, Phase, Progress};
use crate::reconcile::{Action, Conflict, Devices, Plan, reconcile};
use crate::scan::{Scan, ScanOptions, scan, scan_scoped};
use crate::statcache::{StatCache, now_ns};

use super::objects::{Blobs, History, read_if, stage};
use super::{Outcome, SyncError, SyncOptions, SyncReport, SyncStats};

/// How many snapshots [`Round::descends_from`] looks at before deciding the hub's history does
/// not contain base (a device that missed more syncs than this merges without deletions).
const MAX_ANCESTRY_WALK: usize = 10_000;

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
    build_trees(files).0
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
        Ok(Round {
            vault,
            hub,
            opts,
            rules,
            cache,
            history,
            stats: SyncStats::default(),
            warnings: warning.into_iter().collect(),
            repairs: Vec::new(),
            conflicts: Vec::new(),
            changed_folder: false,
            snapshot_created: false,
            stale: Vec::new(),
            touched: Vec::new(),
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

    fn scan(&mut self, use_cache: bool) -> Result<Scan, SyncError> {
        let found = scan(
            self.vault.root(),
            &self.rules,
            &self.cache,
            ScanOptions { use_cache },
        )?;
        self.account(&found);
        Ok(found)
    }

    /// An attempt's first scan: only what the watcher saw change, when that is sound (the
    /// first attempt, the stat cache holding exactly base's files under today's ignore
    /// rules), else everything.
    fn first_scan(&mut self) -> Result<Scan, SyncError> {
        if let Some(scope) = self.opts.scope.as_ref()
            && self.stats.attempts == 1
            && !self.opts.full_verify
            && self.cache_is_base()?
        {
            let found = scan_scoped(self.vault.root(), &self.rules, &self.cache, scope)?;
            self.stats.scan_scoped = true;
            self.account(&found);
            return Ok(found);
        }
        self.scan(!self.opts.full_verify)
    }

    /// Whether the stat cache describes base's tree whole, under the ignore rules in force.
    fn cache_is_base(&mut self) -> Result<bool, SyncError> {
        let Some(cached) = self.cache.tree() else {
            return Ok(false);
        };
        if self.cache.rules() != Some(self.rules.fingerprint()) {
            return Ok(false);
        }
        let base_tree = match self.vault.base()? {
            Some(id) => Some(self.history.snapshot(id, &mut self.stats)?.tree),
            None => None,
        };
        Ok(cached == tree_or_empty(base_tree))
    }

    /// Count a scan's work and pass on its warnings.
    fn account(&mut self, found: &Scan) {
        self.stats.files_scanned += found.counters.files_scanned;
        self.stats.files_read += found.counters.files_hashed;
        self.stats.bytes_hashed += found.counters.bytes_hashed;
        for w in &found.warnings {
            self.warn(w);
        }
    }

    /// Replace the cache's entries with `scan`'s and write it; `root` (when known) is the root
    /// tree of exactly the scanned files, kept so the next quiet round need not rebuild it.
    fn save_cache(&mut self, scan: &Scan, root: Option<ObjectId>) -> Result<(), SyncError> {
        self.cache.update_from_scan(scan);
        if let Some(root) = root
            && scan.unreadable.is_empty()
        {
            self.cache.set_tree(root);
        }
        self.cache.save(&self.vault.index_path())?;
        Ok(())
    }

    /// The root tree of the scanned files, when it can be had without building every tree:
    /// the cache's tree if the scan describes exactly the cache's files. `Err(true)`: the scan
    /// differs from the cache, whose tree is `known` (so the scan's tree is not `known`);
    /// `Err(false)`: not known without building.
    fn scanned_root_cheaply(&self, scan: &Scan) -> Result<ObjectId, bool> {
        let Some(tree) = self.cache.tree() else {
            return Err(false);
        };
        if !scan.unreadable.is_empty() {
            return Err(false);
        }
        if self.cache.changes_in(scan) == 0 {
            Ok(tree)
        } else {
            Err(true)
        }
    }

    fn attempt(&mut self) -> Result<Step, SyncError> {
        // `RUST_LOG=vault=debug` shows where a round's time goes.
        let t0 = std::time::Instant::now();
        let tick =
            |step: &str| tracing::debug!(step, ms = t0.elapsed().as_secs_f64() * 1e3, "sync");
        self.progress().begin(Phase::Scanning, None);
        let scan = self.first_scan()?;
        report_scan(self.progress(), &scan);
        tick("scan");
        self.remove_temp_files(&scan);
        let base_id = self.vault.base()?;
        let head = self.hub.head()?;

        // Quiet path: nothing moved on either side. One request, nothing hashed, and base's
        // trees are not even read: its snapshot names the root tree to compare with.
        if head == base_id && scan.unreadable.is_empty() {
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

        // Base counts only if the hub's history still contains it. A hub that was emptied,
        // replaced or restored from an old backup would otherwise make every note this device
        // synced look deleted there; merging against an empty base instead deletes nothing and
        // turns every difference into a conflict with a revision.
        let merge_base = match (base_id, head) {
            (Some(base), Some(h)) if !self.descends_from(h, base)? => {
                self.warn(&format!(
                    "the hub's history does not contain this device's last sync ({}): the hub was replaced or restored; merging without deleting anything",
                    base.short()
                ));
                None
            }
            (Some(base), None) => {
                self.warn(&format!(
                    "the hub is empty although this device synced with it before ({}): the hub was replaced or reset; uploading this vault to it",
                    base.short()
                ));
                None
            }
            _ => base_id,
        };
        tick("ancestry");
        // Base's files and the scan's are two maps of every path: built side by side.
        let (base_flat, base_snap) = std::thread::scope(|s| {
            if scan.unreadable.is_empty() {
                s.spawn(|| scan.files().len());
            }
            self.flat_of_base(merge_base)
        })?;
        tick("base_flat");
        let local: Cow<'_, FlatTree> = if scan.unreadable.is_empty() {
            Cow::Borrowed(scan.files())
        } else if merge_base == base_id {
            Cow::Owned(with_unreadable(&scan, &base_flat))
        } else {
            let (fallback, _) = self.history.flat_of_snapshot(base_id, &mut self.stats)?;
            Cow::Owned(with_unreadable(&scan, &fallback))
        };
        // Only local changes (the usual case): the hub's tree is base's, already loaded.
        let (remote_flat, remote_snap) = if head == merge_base {
            (Cow::Borrowed(&base_flat), base_snap)
        } else {
            let (flat, snap) = self.history.flat_of_snapshot(head, &mut self.stats)?;
            (Cow::Owned(flat), snap)
        };
        let config = self.vault.config();
        let devices = Devices {
            local_id: config.device_id.clone(),
            local_name: config.device_name.clone(),
            remote_id: remote_snap
                .as_ref()
                .map_or_else(|| config.device_id.clone(), |s| s.device_id.clone()),
            remote_name: remote_snap
                .as_ref()
                .map_or_else(|| config.device_name.clone(), |s| s.device_name.clone()),
        };
        let rules = &self.rules;
        let plan = reconcile(&base_flat, &local, &remote_flat, &devices, &|p| {
            rules.is_ignored(p, false)
        });
        self.guard(&plan, &base_flat, &local)?;
        tick("reconcile");

        // A round that writes nothing into the folder leaves it as its scan found it: that
        // scan is the folder's side of the verification. A second walk could only notice an
        // edit made during the round, which the next round takes anyway, and would double the
        // cost of the most common round, pushing one edit.
        let folder_untouched = plan.actions.is_empty() && scan.unreadable.is_empty();
        if !plan.actions.is_empty() {
            let report = self.apply(&plan, &scan)?;
            if let Some(skip) = report.skipped.first() {
                return Ok(Step::Retry(format!("`{}` {}", skip.path, skip.reason)));
            }
        } else if !folder_untouched {
            self.cache.update_from_scan(&scan);
        }
        self.conflicts.extend(plan.conflicts.iter().cloned());
        tick("apply");

        let built = build_trees(&plan.merged);
        let merged_root = built.0;
        let publish = |this: &mut Self| {
            this.publish_and_record(
                &plan.merged,
                &remote_flat,
                &remote_snap,
                head,
                base_id,
                built,
            )
        };
        let mut cache_saved = false;
        let (published, vscan) = if folder_untouched {
            // The folder is as the scan found it, so the scan's files and the merged root go
            // to the stat cache on a thread while the snapshot is published and made durable,
            // which mostly waits for fsyncs.
            let mut cache = std::mem::take(&mut self.cache);
            let index = self.vault.index_path();
            let scan = &scan;
            let merged = &plan.merged;
            let (published, saving) = std::thread::scope(|s| {
                let saving = s.spawn(move || {
                    let matches = scan.files_if_built().is_some_and(|f| f == merged);
                    cache.update_from_scan(scan);
                    let saved = if matches {
                        cache.set_tree(merged_root);
                        cache.save(&index).map(|()| true)
                    } else {
                        Ok(false)
                    };
                    (cache, saved)
                });
                (publish(self), saving.join())
            });
            let (cache, saved) = match saving {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            self.cache = cache;
            cache_saved = saved?;
            (published, None)
        } else {
            // Verification scans the folder again; it only has to start after apply, so it
            // runs while the snapshot is built and published, which mostly waits for the disk
            // (or the network), against a copy of the cache as apply left it.
            let verify_cache = self.cache.clone();
            let rules = self.rules.clone();
            let root = self.vault.root().to_path_buf();
            std::thread::scope(|s| {
                let pending = s.spawn(move || {
                    crate::scan::scan(
                        &root,
                        &rules,
                        &verify_cache,
                        ScanOptions { use_cache: true },
                    )
                });
                let published = publish(self);
                let vscan = match pending.join() {
                    Ok(result) => result,
                    Err(panic) => std::panic::resume_unwind(panic),
                };
                (published, Some(vscan))
            })
        };
        for path in std::mem::take(&mut self.stale) {
            self.cache.remove(&path);
        }
        tick("publish");
        let (new_head, merged_root) = match published? {
            Ok(done) => done,
            Err(why) => return Ok(Step::Retry(why)),
        };
        let r = match vscan {
            Some(vscan) => {
                let vscan = vscan?;
                self.account(&vscan);
                self.verify(new_head, merged_root, &plan.merged, Some(vscan))
            }
            None if cache_saved => self.verify_hub(new_head, merged_root, &scan, true),
            None => self.verify(new_head, merged_root, &plan.merged, Some(scan)),
        };
        tick("verify");
        r
    }

    /// Publish the merged tree (`built`: its root and trees) unless the hub's head already has
    /// it, then make the objects and the new base durable locally.
    /// `Ok(Ok((head, root)))`: the hub's head afterwards and the merged root tree;
    /// `Ok(Err(why))`: start over.
    fn publish_and_record(
        &mut self,
        merged: &FlatTree,
        remote: &FlatTree,
        remote_snap: &Option<Snapshot>,
        head: Option<ObjectId>,
        base_id: Option<ObjectId>,
        built: (ObjectId, Vec<Object>),
    ) -> Result<Result<(Option<ObjectId>, ObjectId), String>, SyncError> {
        let published = self.build_and_publish(merged, remote, remote_snap, head, built)?;
        if let Ok((Some(h), _)) = published
            && Some(h) != base_id
        {
            self.history.persist()?;
            self.vault.base_ref().write(h)?;
        }
        self.history.persist()?;
        // Every publishing round adds a pack to `.vault/objects`; merged now and then, so
        // that opening the store stays cheap. Only an optimisation: a failure is reported.
        if let Err(e) = self.history.store.repack_geometric() {
            self.warn(&format!(
                "could not merge the packs of `.vault/objects`: {e}"
            ));
        }
        Ok(published)
    }

    /// Unless the hub's head already has the merged tree (root and trees built), publish it.
    /// `Ok(Ok((head, root)))`: the hub's head afterwards and the merged root tree;
    /// `Ok(Err(why))`: start over.
    fn build_and_publish(
        &mut self,
        merged: &FlatTree,
        remote: &FlatTree,
        remote_snap: &Option<Snapshot>,
        head: Option<ObjectId>,
        (merged_root, trees): (ObjectId, Vec<Object>),
    ) -> Result<Result<(Option<ObjectId>, ObjectId), String>, SyncError> {
        let remote_root = tree_or_empty(remote_snap.as_ref().map(|s| s.tree));
        if merged_root == remote_root {
            return Ok(Ok((head, merged_root)));
        }
        match self.publish(merged, remote, merged_root, trees, head)? {
            Ok(id) => Ok(Ok((Some(id), merged_root))),
            Err(why) => {
                self.history.persist()?;
                Ok(Err(why))
            }
        }
    }

    /// The files and snapshot of `base`. When the stat cache holds exactly base's tree (as it
    /// does after every verified round), its entries are base's files: no tree is read.
    fn flat_of_base(
        &mut self,
        base: Option<ObjectId>,
    ) -> Result<(FlatTree, Option<Snapshot>), SyncError> {
        if let Some(id) = base {
            let snap = self.history.snapshot(id, &mut self.stats)?;
            if self.cache.tree() == Some(snap.tree) {
                return Ok((self.cache.flat(), Some(snap)));
            }
        }
        self.history.flat_of_snapshot(base, &mut self.stats)
    }

    /// Whether `base` is `head` or one of its ancestors, walking parents breadth-first (at most
    /// [`MAX_ANCESTRY_WALK`] snapshots; a missing snapshot ends that line).
    fn descends_from(&mut self, head: ObjectId, base: ObjectId) -> Result<bool, SyncError> {
        let mut queue = std::collections::VecDeque::from([head]);
        let mut seen = HashSet::from([head]);
        while let Some(id) = queue.pop_front() {
            if id == base {
                return Ok(true);
            }
            if seen.len() > MAX_ANCESTRY_WALK {
                break;
            }
            let snap = match self.history.snapshot(id, &mut self.stats) {
                Ok(s) => s,
                Err(SyncError::Hub(HubError::Missing { .. })) => continue,
                Err(e) => return Err(e),
            };
            for parent in snap.parents {
                if seen.insert(parent) {
                    queue.push_back(parent);
                }
            }
        }
        Ok(false)
    }

    /// Temp files left in the vault by an interrupted write (a killed syncd, a power cut). Only
    /// sync and restore write them, and only under the vault lock this round holds.
    fn remove_temp_files(&mut self, scan: &Scan) {
        let removed = scan
            .temp_files
            .iter()
            .filter(|t| std::fs::remove_file(t).is_ok())
            .count();
        if removed > 0 {
            self.repairs.push(format!(
                "removed {removed} temp file(s) left by an interrupted write"
            ));
        }
    }

    /// Refuse to publish deletions that look like a vanished or stale folder.
    fn guard(&self, plan: &Plan, base: &FlatTree, local: &FlatTree) -> Result<(), SyncError> {
        if self.opts.allow_mass_delete || plan.local_deletes == 0 {
            return Ok(());
        }
        let total = base.len();
        let share = self.vault.config().mass_delete_share;
        let why = if local.is_empty() {
            " (the vault folder is empty)".to_string()
        } else if plan.local_deletes >= MASS_DELETE_MIN_FILES
            && plan.local_deletes as f64 > share * total as f64
        {
            format!(
                " (more than the {:.0}% a round may delete; `mass_delete_share` in .vault/config.toml)",
                share * 100.0
            )
        } else {
            return Ok(());
        };
        Err(SyncError::MassDelete {
            deletes: plan.local_deletes,
            total,
            why,
        })
    }

    /// Apply the plan's actions; files written go into the stat cache as known.
    fn apply(&mut self, plan: &Plan, scan: &Scan) -> Result<ApplyReport, SyncError> {
        let mut local_ids = HashMap::new();
        for (path, meta) in scan.files() {
            local_ids.entry(meta.id).or_insert_with(|| path.clone());
        }
        // A plan that deletes must not delete anything before every byte it will write has
        // arrived and been checked: a download failing half-way (a damaged or hostile hub, a
        // dropped connection) would otherwise leave deletions without their counterpart, which
        // a later round could publish. So such plans download into `.vault/staging/` first.
        let staging = self.vault.state_dir().join(STAGING_DIR);
        let deletes = plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::Delete { .. }));
        let mut need: Vec<(ObjectId, u64)> = Vec::new();
        let mut seen = HashSet::new();
        for action in &plan.actions {
            if let Action::Write { meta, .. } = action
                && !local_ids.contains_key(&meta.id)
                && seen.insert(meta.id)
            {
                need.push((meta.id, meta.size));
            }
        }
        let progress = self.progress();
        let (download, writing) = transfer_totals(&plan.actions, &need, deletes);
        if download.items > 0 {
            progress.begin(Phase::Downloading, Some(download));
        }
        let mut staged = HashMap::new();
        if deletes {
            staged = stage(self.hub, &need, &staging, &mut self.stats, progress)?;
            if download.items > 0 {
                progress.end(Phase::Downloading);
            }
        }
        progress.begin(Phase::Applying, Some(writing));
        let mut blobs = Blobs {
            root: self.vault.root(),
            local: local_ids,
            staged,
            hub: self.hub,
            stats: &mut self.stats,
            progress,
        };
        let result = apply_actions_reporting(
            self.vault.root(),
            &plan.actions,
            scan.stats(),
            &mut blobs,
            progress,
        );
        progress.end(Phase::Applying);
        if download.items > 0 && !deletes {
            progress.end(Phase::Downloading);
        }
        let _ = std::fs::remove_dir_all(&staging);
        let report = match &result {
            Ok(r) => r.clone(),
            Err(e) => e.partial().clone(),
        };
        self.stats.files_written += report.files_written as u64;
        self.stats.files_deleted += report.files_deleted as u64;
        self.stats.files_moved += report.files_moved as u64;
        self.changed_folder |= !report.done.is_empty();
        self.touched.extend(report.done.iter().cloned());
        self.cache.update_from_scan(scan);
        for done in &report.done {
            match (done.stat, done.id) {
                (Some(stat), Some(id)) => self.cache.insert_written(done.path.clone(), stat, id),
                _ => {
                    self.cache.remove(&done.path);
                }
            }
        }
        if let Err(e) = result {
            self.cache.save(&self.vault.index_path())?;
            return Err(e.into());
        }
        Ok(report)
    }

    /// Upload what the hub lacks of `merged`, then a snapshot, and move the hub's head to it.
    /// `Ok(Err(why))`: start over (a file changed under us, or another device was first).
    fn publish(
        &mut self,
        merged: &FlatTree,
        remote: &FlatTree,
        root: ObjectId,
        trees: Vec<Object>,
        head: Option<ObjectId>,
    ) -> Result<Result<ObjectId, String>, SyncError> {
        let on_hub: HashSet<ObjectId> = remote.values().map(|m| m.id).collect();
        let mut ask: Vec<ObjectId> = Vec::new();
        let mut seen = HashSet::new();
        for meta in merged.values() {
            if !on_hub.contains(&meta.id) && seen.insert(meta.id) {
                ask.push(meta.id);
            }
        }
        ask.extend(trees.iter().map(Object::id));
        let missing: HashSet<ObjectId> = self.hub.missing(&ask)?.into_iter().collect();
        let vault = self.vault;
        let snapshot_of = |time_ns| {
            let config = vault.config();
            Snapshot {
                tree: root,
                parents: head.into_iter().collect(),
                device_id: config.device_id.clone(),
                device_name: config.device_name.clone(),
                time_ns,
            }
            .to_object()
        };
        if let Some(progress) = self.opts.progress.as_deref() {
            // The snapshot is made after the blobs are read; one made now has its size.
            let snapshot = snapshot_of(now_ns()).bytes.len() as u64;
            let total = upload_total(merged, &trees, &missing, snapshot);
            progress.begin(Phase::Uploading, Some(total));
        }

        let mut batch = Vec::new();
        let mut batch_bytes = 0u64;
        let mut sent = HashSet::new();
        for (path, meta) in merged {
            if !missing.contains(&meta.id) || !sent.insert(meta.id) {
                continue;
            }
            let Some(bytes) = read_if(self.vault.root(), path, meta.id) else {
                // The file changed since it was hashed: forget its cached id and start over.
                self.stale.push(path.clone());
                return Ok(Err(format!("`{path}` changed while it was being uploaded")));
            };
            self.stats.files_read += 1;
            self.stats.bytes_hashed += bytes.len() as u64;
            batch_bytes += bytes.len() as u64;
            batch.push(Object {
                kind: Kind::Blob,
                bytes,
            });
            if batch_bytes >= BATCH_BYTES {
                self.put(&std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
        }
        let snapshot = snapshot_of(now_ns());
        let snap_id = snapshot.id();
        batch.extend(trees.iter().filter(|t| missing.contains(&t.id())).cloned());
        batch.push(snapshot.clone());
        self.put(&batch)?;
        self.progress().end(Phase::Uploading);
        self.history.remember(&trees);
        self.history.remember(std::slice::from_ref(&snapshot));
        let outcome = match self.hub.cas_head(head, snap_id) {
            Err(HubError::Refused { .. }) => {
                // The hub lacks objects it was assumed to have (a lost pack): send what it
                // misses of this snapshot, then try once more.
                let mut all: Vec<ObjectId> = merged.values().map(|m| m.id).collect();
                all.extend(trees.iter().map(Object::id));
                let missing = self.hub.missing(&all)?;
                let sent = self.reupload(&missing, merged)?;
                self.repairs.push(format!(
                    "the hub had lost {sent} object(s) of the vault; they were uploaded again"
                ));
                self.hub.cas_head(head, snap_id)?
            }
            other => other?,
        };
        match outcome {
            CasOutcome::Updated => {
                self.snapshot_created = true;
                Ok(Ok(snap_id))
            }
            CasOutcome::Conflict { actual } => Ok(Err(format!(
                "another device published first (the hub's head is now {})",
                actual.map(|a| a.short()).unwrap_or_else(|| "empty".into())
            ))),
        }
    }

    fn put(&mut self, objects: &[Object]) -> Result<(), SyncError> {
        if objects.is_empty() {
            return Ok(());
        }
        self.hub.put(objects)?;
        let bytes = objects.iter().map(|o| o.bytes.len() as u64).sum::<u64>();
        self.stats.objects_sent += objects.len() as u64;
        self.stats.bytes_sent += bytes;
        let sent = Amount::new(objects.len() as u64, bytes);
        self.progress().advance(Phase::Uploading, sent);
        Ok(())
    }

    /// Step 8: the folder, scanned again, must have the tree the hub computes for its head.
    /// `scanned`: the folder scanned after apply, if the caller did that already.
    fn verify(
        &mut self,
        head: Option<ObjectId>,
        expected: ObjectId,
        merged: &FlatTree,
        scanned: Option<Scan>,
    ) -> Result<Step, SyncError> {
        // `expected` is the root tree of `merged`, so comparing the flat trees is the same test
        // as comparing roots, without rebuilding and hashing every tree.
        let mut vscan = match scanned {
            Some(s) => s,
            None => self.scan(true)?,
        };
        if !scan_equals(&mut vscan, merged) {
            let mut local = with_unreadable(&vscan, merged);
            // Either a file changed since apply (a new local edit: the next attempt takes it),
            // or the stat cache lied. Rehash the differing files to tell which.
            let differing: Vec<VaultPath> = differing_paths(&local, merged);
            for p in &differing {
                self.cache.remove(p);
            }
            vscan = self.scan(true)?;
            local = with_unreadable(&vscan, merged);
            if local != *merged {
                self.save_cache(&vscan, None)?;
                return Ok(Step::Retry(format!(
                    "{} file(s) changed during the round, first `{}`",
                    differing.len(),
                    differing.first().map(VaultPath::as_str).unwrap_or("?")
                )));
            }
            self.repairs.push(format!(
                "the stat cache held stale ids for {} file(s); they were hashed again",
                differing.len()
            ));
        }
        self.verify_hub(head, expected, &vscan, false)
    }

    /// The hub's side of step 8: the hub's tree for `head` must be `expected`, which the folder
    /// (as `vscan` found it) has. Saves the stat cache from `vscan` unless `cache_saved`.
    fn verify_hub(
        &mut self,
        head: Option<ObjectId>,
        expected: ObjectId,
        vscan: &Scan,
        cache_saved: bool,
    ) -> Result<Step, SyncError> {
        let hub_tree = self.hub_tree(vscan)?;
        if tree_or_empty(hub_tree) != expected {
            if self.hub.head()? != head {
                self.save_cache(vscan, None)?;
                return Ok(Step::Retry(
                    "another device published while this round verified".into(),
                ));
            }
            return Err(SyncError::VerifyFailed {
                hub: self.hub.describe(),
                local: expected,
                hub_tree,
                differences: vec![format!(
                    "the hub's head {} reports tree {}",
                    head.map(|h| h.short()).unwrap_or_default(),
                    hub_tree.map(|t| t.short()).unwrap_or_default()
                )],
            });
        }
        if !cache_saved {
            self.save_cache(vscan, Some(expected))?;
        }
        Ok(Step::Done {
            head,
            tree: hub_tree,
        })
    }

    /// The hub's tree hash for its head, re-uploading objects it reports missing (a lost or
    /// deleted pack) from this device's store and files.
    fn hub_tree(&mut self, scan: &Scan) -> Result<Option<ObjectId>, SyncError> {
        // A missing tree hides the objects under it, so this may take one pass per level.
        let mut sent = 0;
        let mut passes = 0;
        let result = loop {
            passes += 1;
            let answer = if self.opts.full_verify {
                self.hub.verify_tree()
            } else {
                self.hub.tree_hash()
            };
            match answer {
                Ok(tree) => break Ok(tree),
                // One pass per tree level at most; a hub that keeps asking is broken.
                Err(HubError::Missing { ids, hub }) if passes <= MAX_TREE_DEPTH + 2 => {
                    let now = self.reupload(&ids, scan.files())?;
                    if now == 0 {
                        break Err(HubError::Missing { ids, hub }.into());
                    }
                    sent += now;
                }
                Err(e) => break Err(e.into()),
            }
        };
        if sent > 0 {
            self.repairs.push(format!(
                "the hub had lost {sent} object(s); they were uploaded again"
            ));
        }
        result
    }

    /// Upload those of `ids` this device has; returns how many.
    fn reupload(&mut self, ids: &[ObjectId], files: &FlatTree) -> Result<usize, SyncError> {
        let wanted: HashSet<ObjectId> = ids.iter().copied().collect();
        let mut objects = Vec::new();
        let mut found = HashSet::new();
        for (path, meta) in files {
            if wanted.contains(&meta.id)
                && !found.contains(&meta.id)
                && let Some(bytes) = read_if(self.vault.root(), path, meta.id)
            {
                self.stats.files_read += 1;
                self.stats.bytes_hashed += bytes.len() as u64;
                found.insert(meta.id);
                objects.push(Object {
                    kind: Kind::Blob,
                    bytes,
                });
            }
        }
        for id in ids {
            if !found.contains(id)
                && let Some(object) = self.history.local_object(*id)
            {
                found.insert(*id);
                objects.push(object);
            }
        }
        // Trees before the snapshot, children before parents is not needed: the hub checks
        // completeness only when the head moves, and the head is already set.
        let total = objects.iter().fold(Amount::default(), |t, o| {
            Amount::new(t.items + 1, t.bytes + o.bytes.len() as u64)
        });
        self.progress().begin(Phase::Uploading, Some(total));
        for chunk in objects.chunks(4096) {
            self.put(chunk)?;
        }
        self.progress().end(Phase::Uploading);
        Ok(found.len())
    }
}

/// A scan, reported when it returns: files seen, bytes hashed.
fn report_scan(progress: &dyn Progress, scan: &Scan) {
    let c = &scan.counters;
    progress.advance(
        Phase::Scanning,
        Amount::new(c.files_scanned, c.bytes_hashed),
    );
    progress.end(Phase::Scanning);
}

/// What apply will download (the blobs of `need`, the plan's writes no local file holds;
/// the empty file is never fetched unless staged) and do (every action; the bytes of the
/// writes), for progress.
fn transfer_totals(actions: &[Action], need: &[(ObjectId, u64)], staged: bool) -> (Amount, Amount) {
    let empty = ObjectId::of(b"");
    let mut download = Amount::default();
    for (id, size) in need {
        if staged || *size != 0 || *id != empty {
            download = Amount::new(download.items + 1, download.bytes + size);
        }
    }
    let mut applying = Amount::new(actions.len() as u64, 0);
    for action in actions {
        if let Action::Write { meta, .. } = action {
            applying.bytes += meta.size;
        }
    }
    (download, applying)
}

/// What publishing sends: the blobs of `merged` and the `trees` the hub is `missing`, and a
/// snapshot of `snapshot` bytes.
fn upload_total(
    merged: &FlatTree,
    trees: &[Object],
    missing: &HashSet<ObjectId>,
    snapshot: u64,
) -> Amount {
    let mut total = Amount::new(1, snapshot);
    let mut seen = HashSet::new();
    for meta in merged.values() {
        if missing.contains(&meta.id) && seen.insert(meta.id) {
            total = Amount::new(total.items + 1, total.bytes + meta.size);
        }
    }
    for tree in trees.iter().filter(|t| missing.contains(&t.id())) {
        total = Amount::new(total.items + 1, total.bytes + tree.bytes.len() as u64);
    }
    total
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
