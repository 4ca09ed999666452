//! The folder's side of a round: scanning (whole, or only what the watcher saw), the stat
//! cache, the mass-delete guard and applying a plan to the folder.

use super::*;

impl Round<'_> {
    pub(super) fn scan(&mut self, use_cache: bool) -> Result<Scan, SyncError> {
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
    pub(super) fn first_scan(&mut self) -> Result<Scan, SyncError> {
        if let Some(scope) = self.opts.scope.as_ref()
            && self.stats.attempts == 1
            && !self.opts.full_verify
            && self.cache_is_base()?
        {
            let found = scan_scoped(
                self.vault.root(),
                &self.rules,
                &self.cache,
                scope,
                self.progress(),
            )?;
            self.stats.scan_scoped = true;
            self.account(&found);
            return Ok(found);
        }
        let found = scan_reporting(
            self.vault.root(),
            &self.rules,
            &self.cache,
            ScanOptions {
                use_cache: !self.opts.full_verify,
            },
            self.progress(),
        )?;
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
    }

    /// Replace the cache's entries with `scan`'s and write it; `root` (when known) is the root
    /// tree of exactly the scanned files, kept so the next quiet round need not rebuild it.
    pub(super) fn save_cache(
        &mut self,
        scan: &Scan,
        root: Option<ObjectId>,
    ) -> Result<(), SyncError> {
        self.cache.update_from_scan(scan);
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
            .filter(|t| std::fs::remove_file(t).is_ok())
            .count();
        if removed > 0 {
            self.repairs.push(format!(
                "removed {removed} temp file(s) left by an interrupted write"
            ));
        }
    }

    /// Refuse to publish deletions that look like a vanished or stale folder.
    pub(super) fn guard(
        &self,
        plan: &Plan,
        base: &FlatTree,
        local: &FlatTree,
    ) -> Result<(), SyncError> {
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
    pub(super) fn apply(&mut self, plan: &Plan, scan: &Scan) -> Result<ApplyReport, SyncError> {
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
