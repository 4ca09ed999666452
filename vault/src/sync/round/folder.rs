//! The folder's side of a round: scanning (whole, or only what the watcher saw), the stat
//! cache, the mass-delete guard and applying a plan to the folder.

use super::handed_on::scan_handing_on;
use super::*;
use crate::sync::GuardedFolder;
use crate::sync::guard::{guarded_folders, is_under, local_deletions};
use crate::sync::mounts;
use std::collections::BTreeSet;

/// Record under the vault's own spelling the notes a normalising filesystem lists under
/// another ([`Scan::respell`]): `knows` says whether the vault knows a path, `known` lists the
/// paths it knows. Costs nothing unless the scan found a non-ASCII path the vault does not know.
pub(super) fn respell_as_known<'k>(
    root: &std::path::Path,
    scan: &mut Scan,
    knows: impl Fn(&VaultPath) -> bool,
    known: impl Iterator<Item = &'k VaultPath>,
) -> usize {
    let unknown: Vec<VaultPath> = scan
        .entries()
        .map(|(p, _, _)| p)
        .filter(|p| !p.as_str().is_ascii() && !knows(p))
        .cloned()
        .collect();
    if unknown.is_empty() {
        return 0;
    }
    let scanned: std::collections::HashSet<&str> = scan
        .entries()
        .map(|(p, _, _)| p.as_str())
        .filter(|p| !p.is_ascii())
        .collect();
    let missing: Vec<&VaultPath> = known
        .filter(|p| !p.as_str().is_ascii() && !scanned.contains(p.as_str()))
        .collect();
    let pairs = crate::paths::respellings(&unknown, missing);
    scan.respell(root, &pairs)
}

impl Round<'_> {
    pub(super) fn scan(&mut self, use_cache: bool) -> Result<Scan, SyncError> {
        let mut found = scan(
            self.vault.root(),
            &self.rules,
            &self.cache,
            ScanOptions { use_cache },
        )?;
        self.respell_as_cached(&mut found);
        self.account(&found);
        Ok(found)
    }

    /// [`respell_as_known`] with the paths of `merged`: what apply just wrote, in the
    /// spelling the hub has.
    pub(super) fn respell_as_merged(&self, found: &mut Scan, merged: &FlatTree) {
        if respell_as_known(
            self.vault.root(),
            found,
            |p| merged.contains_key(p),
            merged.keys(),
        ) > 0
        {
            found.sort_by_path();
        }
    }

    /// [`respell_as_known`] with the stat cache's paths: after a finished round, the spellings
    /// this device wrote and published.
    fn respell_as_cached(&self, found: &mut Scan) {
        let cached: Vec<VaultPath> = self
            .cache
            .entries()
            .filter(|(p, _)| !p.is_ascii())
            .map(|(p, _)| VaultPath::from_checked(p))
            .collect();
        let cache = &self.cache;
        respell_as_known(
            self.vault.root(),
            found,
            |p| cache.entry(p.as_str()).is_some(),
            cached.iter(),
        );
    }

    /// An attempt's first scan: only what the watcher saw change, when that is sound (the
    /// first attempt, the stat cache holding exactly base's files under today's ignore
    /// rules), else everything. The chunks of new large files go to the hub as the scan cuts
    /// them ([`super::handed_on`]).
    pub(super) fn first_scan(&mut self) -> Result<Scan, SyncError> {
        let scoped = self.opts.scope.is_some()
            && self.stats.attempts == 1
            && !self.opts.full_verify
            && self.cache_is_base()?;
        let (root, rules, cache, progress) =
            (self.vault.root(), &self.rules, &self.cache, self.progress());
        let use_cache = !self.opts.full_verify;
        let scope = self.opts.scope.as_ref().filter(|_| scoped);
        let (found, handed_on) = scan_handing_on(self.hub, |sink| match scope {
            Some(scope) => scan_scoped(root, rules, cache, scope, progress, sink),
            None => scan_reporting(
                root,
                rules,
                cache,
                ScanOptions { use_cache },
                progress,
                sink,
            ),
        });
        self.stats.objects_sent += handed_on.objects_sent;
        self.stats.bytes_sent += handed_on.bytes_sent;
        self.on_hub.extend(handed_on.on_hub);
        if let Some(e) = handed_on.failed {
            tracing::info!(error = %e, "the hub took no chunks during the scan; they go with the upload");
        }
        let mut found = found?;
        self.respell_as_cached(&mut found);
        self.stats.scan_scoped |= scope.is_some();
        self.account(&found);
        Ok(found)
    }

    /// Whether the stat cache describes base's tree whole, under the ignore rules in force.
    pub(super) fn cache_is_base(&mut self) -> Result<bool, SyncError> {
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
    pub(super) fn account(&mut self, found: &Scan) {
        self.stats.files_scanned += found.counters.files_scanned;
        self.stats.files_read += found.counters.files_hashed;
        self.stats.bytes_hashed += found.counters.bytes_hashed;
        for w in &found.warnings {
            self.warn(w);
        }
        self.first_scan_ns.get_or_insert(found.started_at_ns);
        for (id, chunks) in &found.chunk_plans {
            self.chunk_plans.insert(*id, Arc::clone(chunks));
        }
    }

    /// Replace the cache's entries with `scan`'s and write it; `root` (when known) is the root
    /// tree of exactly the scanned files, kept so the next quiet round need not rebuild it.
    pub(super) fn save_cache(
        &mut self,
        scan: &Scan,
        root: Option<ObjectId>,
    ) -> Result<(), SyncError> {
        self.cache().update_from_scan(scan);
        if let Some(root) = root
            && scan.unreadable.is_empty()
            && self.held.is_empty()
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
    pub(super) fn scanned_root_cheaply(&self, scan: &Scan) -> Result<ObjectId, bool> {
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

    /// Temp files left in the vault by an interrupted write (a killed syncd, a power cut). Only
    /// sync and restore write them, and only under the vault lock this round holds.
    pub(super) fn remove_temp_files(&mut self, scan: &Scan) {
        let removed = scan
            .temp_files
            .iter()
            .filter(|t| crate::vfs::remove_file(t).is_ok())
            .count();
        if removed > 0 {
            self.repairs.push(format!(
                "removed {removed} temp file(s) left by an interrupted write"
            ));
        }
    }

    /// Add the mount points `scan` found to `.vault/mounts` (written only when that adds
    /// one); its path and the mount points remembered now.
    pub(super) fn remember_mounts(
        &self,
        scan: &Scan,
    ) -> Result<(std::path::PathBuf, BTreeSet<VaultPath>), SyncError> {
        let path = self.vault.state_dir().join(mounts::MOUNTS_FILE);
        let mut known = mounts::load(&path);
        let before = known.len();
        known.extend(scan.mounts.iter().cloned());
        if known.len() != before {
            mounts::save(&path, &known).map_err(|source| SyncError::Record {
                path: path.clone(),
                source,
            })?;
        }
        Ok((path, known))
    }

    /// Step 5, the mass-delete guard. Refuses the whole round when the vault folder looks
    /// vanished or stale (empty, or more than the allowed share deleted); returns the folders
    /// whose deletions must be held back ([`super::super::guard`]: a remembered mount point
    /// that is not mounted, a folder emptied of many files). Remembers the mount points the
    /// scan found; `--allow-mass-delete` forgets those not mounted whose files it deletes.
    pub(super) fn guard(
        &self,
        plan: &Plan,
        base: &FlatTree,
        local: &FlatTree,
        remote: &FlatTree,
        scan: &Scan,
    ) -> Result<Vec<GuardedFolder>, SyncError> {
        let (mounts_path, remembered) = self.remember_mounts(scan)?;
        let mut mounts = remembered.clone();
        let deleted = if plan.local_deletes == 0 {
            Vec::new()
        } else {
            local_deletions(base, local, remote, &plan.merged)
        };
        // Only a mount point with deletions under it is looked at again (one stat each).
        let vanished: Vec<VaultPath> = mounts
            .iter()
            .filter(|m| deleted.iter().any(|p| is_under(p, m)))
            .filter(|m| !mounts::is_mounted(self.vault.root(), m))
            .cloned()
            .collect();
        if self.opts.allow_mass_delete {
            for m in &vanished {
                mounts.remove(m);
            }
        }
        if mounts != remembered {
            mounts::save(&mounts_path, &mounts).map_err(|source| SyncError::Record {
                path: mounts_path.clone(),
                source,
            })?;
        }
        if self.opts.allow_mass_delete || plan.local_deletes == 0 {
            return Ok(Vec::new());
        }
        let total = base.len();
        let share = self.vault.config().mass_delete_share;
        if local.is_empty() {
            return Err(SyncError::MassDelete {
                deletes: plan.local_deletes,
                total,
                why: " (the vault folder is empty)".to_string(),
            });
        }
        let held = guarded_folders(base, local, &deleted, &vanished);
        // The share rule counts what would still be published once those are held back.
        let deletes = plan
            .local_deletes
            .saturating_sub(held.iter().map(|g| g.deletes).sum::<usize>());
        if deletes >= MASS_DELETE_MIN_FILES && deletes as f64 > share * total as f64 {
            return Err(SyncError::MassDelete {
                deletes,
                total,
                why: format!(
                    " (more than the {:.0}% a round may delete; `mass_delete_share` in .vault/config.toml)",
                    share * 100.0
                ),
            });
        }
        Ok(held)
    }

    /// Apply the plan's actions; files written go into the stat cache as known.
    pub(super) fn apply(&mut self, plan: &mut Plan, scan: &Scan) -> Result<ApplyReport, SyncError> {
        // A local file holding the bytes of each write, where there is one (a copy, a
        // conflict's other side): only for the ids written, not a map of every file (6 MiB
        // at 100,000 files).
        let written: HashSet<ObjectId> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Write { meta, .. } => Some(meta.id),
                _ => None,
            })
            .collect();
        let mut local_ids = HashMap::new();
        for (path, meta) in scan.files() {
            if written.contains(&meta.id) {
                local_ids.entry(meta.id).or_insert_with(|| path.clone());
            }
        }
        drop(written);
        // What the scan saw at the paths the actions touch: each is checked again just
        // before it is acted on.
        let stats = scan.stats_of(
            plan.actions
                .iter()
                .flat_map(|a| match a {
                    Action::Move { from, to, .. } => [Some(from), Some(to)],
                    Action::Delete { path, .. }
                    | Action::Write { path, .. }
                    | Action::Touch { path, .. } => [Some(path), None],
                })
                .flatten(),
        );
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
        // A large file's new content downloads only the chunks its older version lacks.
        let mut older: HashMap<ObjectId, VaultPath> = HashMap::new();
        for action in &plan.actions {
            if let Action::Write {
                path,
                meta,
                expect: Some(old),
            } = action
                && meta.size >= crate::apply::STREAM_FROM
                && old.size >= crate::content::CHUNKED_FROM
                && !local_ids.contains_key(&meta.id)
            {
                older.entry(meta.id).or_insert_with(|| path.clone());
            }
        }
        drop(seen);
        let progress = self.progress();
        let (download, writing) = transfer_totals(&plan.actions, &need, deletes);
        if download.items > 0 {
            progress.begin(Phase::Downloading, Some(download));
        }
        let mut staged = HashMap::new();
        if deletes {
            let root = self.vault.root();
            let older = older
                .iter()
                .map(|(id, p)| (*id, p.to_fs_path(root)))
                .collect();
            staged = stage(self.hub, &need, &older, &staging, &mut self.stats, progress)?;
            if download.items > 0 {
                progress.end(Phase::Downloading);
            }
        }
        // Counted (and staged): not held through apply (4 MiB at 100,000 files).
        drop(need);
        progress.begin(Phase::Applying, Some(writing));
        let mut blobs = Blobs {
            root: self.vault.root(),
            local: local_ids,
            staged,
            older,
            hub: self.hub,
            stats: &mut self.stats,
            progress,
        };
        let result = apply_actions_reporting(
            self.vault.root(),
            &plan.actions,
            Scanned::new(&stats, scan.started_at_ns),
            &mut blobs,
            progress,
        );
        progress.end(Phase::Applying);
        if download.items > 0 && !deletes {
            progress.end(Phase::Downloading);
        }
        let _ = crate::vfs::remove_dir_all(&staging);
        // The report is moved, not copied: at 100,000 downloaded files its list of what was
        // done is about 10 MiB.
        let (mut report, failed) = match result {
            Ok(r) => (r, None),
            Err(e) => (e.partial().clone(), Some(e)),
        };
        if report.skipped.is_empty() {
            // Done with: only paths left as they were need the actions again (to hold back
            // the moves out of them), and a first download's are 13 MiB at 100,000 files.
            plan.actions = Vec::new();
        }
        self.stats.files_written += report.files_written as u64;
        self.stats.files_deleted += report.files_deleted as u64;
        self.stats.files_moved += report.files_moved as u64;
        self.changed_folder |= !report.done.is_empty();
        self.cache.update_from_scan(scan);
        let written = report.done.iter().filter(|d| d.stat.is_some());
        let (count, bytes) = written.fold((0, 0), |(n, b), d| (n + 1, b + d.path.as_str().len()));
        self.cache.reserve(count, bytes);
        for done in &report.done {
            match (done.stat, done.id) {
                (Some(stat), Some(id)) => self.cache.insert_written(done.path.clone(), stat, id),
                _ => {
                    self.cache.remove(&done.path);
                }
            }
        }
        // What was done is reported by the round (`SyncReport::touched`), not by this report,
        // and only to a caller that asked.
        if !self.opts.report_touched {
            report.done = Vec::new();
        } else if self.touched.is_empty() {
            self.touched = std::mem::take(&mut report.done);
        } else {
            self.touched.append(&mut report.done);
        }
        if let Some(e) = failed {
            self.cache.save(&self.vault.index_path())?;
            return Err(e.into());
        }
        Ok(report)
    }
}

/// What apply will download (the blobs of `need`, the plan's writes no local file holds;
/// the empty file is never fetched unless staged) and do (every action; the bytes of the
/// writes), for progress.
pub(super) fn transfer_totals(
    actions: &[Action],
    need: &[(ObjectId, u64)],
    staged: bool,
) -> (Amount, Amount) {
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
