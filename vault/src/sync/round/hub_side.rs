//! The hub's side of a round: uploading what the hub lacks, publishing a snapshot with a
//! compare-and-swap, and verifying (and repairing) that both sides hold the same tree.

use super::upload_chunked::ChunkedUpload;
use super::*;
use crate::apply::SkipKind;
use crate::content::CHUNKED_FROM;

impl Round<'_> {
    /// Upload what the hub lacks of `merged`, then a snapshot, and move the hub's head to it.
    /// `Ok(Err(why))`: start over (a file changed under us, or another device was first).
    pub(super) fn publish(
        &mut self,
        merged: &FlatTree,
        remote: &FlatTree,
        root: ObjectId,
        trees: Vec<Object>,
        head: Option<ObjectId>,
    ) -> Result<Result<ObjectId, String>, SyncError> {
        // Each tree hashed once; a first upload of 100,000 notes has 12 MiB of them.
        let tree_ids: Vec<ObjectId> = trees.iter().map(Object::id).collect();
        let mut ask: Vec<ObjectId> = {
            let on_hub: HashSet<ObjectId> = remote.values().map(|m| m.id).collect();
            let mut ask: Vec<ObjectId> = merged
                .values()
                .map(|m| m.id)
                .filter(|id| !on_hub.contains(id))
                .collect();
            ask.sort_unstable();
            ask.dedup();
            ask
        };
        ask.extend_from_slice(&tree_ids);
        let missing: HashSet<ObjectId> = self.hub.missing(&ask)?.into_iter().collect();
        drop(ask);
        let vault = self.vault;
        // A graft (`.vault/graft`) joins another history: the second parent.
        let parents: Vec<ObjectId> = head.into_iter().chain(self.graft).collect();
        let snapshot_of = |time_ns| {
            let config = vault.config();
            Snapshot {
                tree: root,
                parents: parents.clone(),
                device_id: config.device_id.clone(),
                device_name: config.device_name.clone(),
                time_ns,
            }
            .to_object()
        };
        if let Some(progress) = self.opts.progress.as_deref() {
            // The snapshot is made after the blobs are read; one made now has its size.
            let snapshot = snapshot_of(crate::vfs::now_ns_at(self.vault.root()))
                .bytes
                .len() as u64;
            let total = upload_total(merged, &trees, &tree_ids, &missing, snapshot);
            progress.begin(Phase::Uploading, Some(total));
        }

        let mut batch = Vec::new();
        let mut batch_bytes = 0u64;
        // Which trees to send, decided before the blobs are: `sent` takes the blobs' ids out
        // of `missing` as they go (one set of ids, not two), and a tree could have a note's
        // bytes.
        let trees_missing: Vec<bool> = tree_ids.iter().map(|id| missing.contains(id)).collect();
        let mut unsent = missing;
        for (path, meta) in merged {
            if !unsent.remove(&meta.id) {
                continue;
            }
            if meta.size >= CHUNKED_FROM {
                // A large file travels as chunks, read and sent a batch at a time.
                if let ChunkedUpload::Changed =
                    self.upload_chunked(path, meta.id, true, &HashSet::new())?
                {
                    self.stale.push(path.clone());
                    return Ok(Err(format!("`{path}` changed while it was being uploaded")));
                }
                continue;
            }
            let Some(bytes) = read_if(self.vault.root(), path, meta.id) else {
                // The file changed since it was hashed: forget its cached id and start over.
                self.stale.push(path.clone());
                return Ok(Err(format!("`{path}` changed while it was being uploaded")));
            };
            self.stats.files_read += 1;
            self.stats.bytes_hashed += bytes.len() as u64;
            // A pack stays within BATCH_BYTES of content (a server's body limit of 8 MiB
            // takes it; larger files are chunked above).
            if batch_bytes + bytes.len() as u64 > BATCH_BYTES {
                self.put(&std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
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
        drop(unsent);
        // The trees the hub lacks go in packs of BATCH_BYTES like the blobs (copies of a
        // batch at a time, not of every tree), then the snapshot, last.
        for (tree, _) in trees.iter().zip(&trees_missing).filter(|(_, m)| **m) {
            let len = tree.bytes.len() as u64;
            if batch_bytes + len > BATCH_BYTES && !batch.is_empty() {
                self.put(&std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
            batch_bytes += len;
            batch.push(tree.clone());
        }
        let snapshot = snapshot_of(crate::vfs::now_ns_at(self.vault.root()));
        let snap_id = snapshot.id();
        batch.push(snapshot.clone());
        self.put(&batch)?;
        drop(batch);
        self.progress().end(Phase::Uploading);
        self.history.remember_owned(trees, &tree_ids);
        self.history.remember(std::slice::from_ref(&snapshot));
        // Kept here before the head moves: a head whose trees only the hub held (this
        // device's store could not be written: a full disk) was lost for good once the
        // hub's copy rotted, every device stuck behind it (seed 5805 of the soak).
        self.history.persist()?;
        let outcome = match self.hub.cas_head(head, snap_id) {
            Err(HubError::Refused { .. }) => {
                // The hub lacks objects it was assumed to have (a lost pack): send what it
                // misses of this snapshot, then try once more. Every tree of the merged tree
                // is asked about, not only those built anew: a build patched from base's
                // trees reuses trees the hub may have lost too.
                let mut all: Vec<ObjectId> = merged.values().map(|m| m.id).collect();
                let (_, every_tree) = crate::object::build_trees(merged);
                let every_id: Vec<ObjectId> = every_tree.iter().map(Object::id).collect();
                all.extend_from_slice(&every_id);
                self.history.remember_owned(every_tree, &every_id);
                let missing = self.hub.missing(&all)?;
                let sent = self.reupload(&missing, merged)?;
                self.repairs.push(format!(
                    "the hub had lost {sent} object(s) of the vault; they were uploaded again"
                ));
                self.hub.cas_head(head, snap_id)?
            }
            Err(HubError::Damaged { ids, hub }) => {
                // The hub checks the new head's objects before it moves, and one it holds
                // only damaged copies of (bit rot) stops it: a good copy from here repairs it.
                self.repair_damaged(&ids, hub, merged)?;
                self.hub.cas_head(head, snap_id)?
            }
            other => other?,
        };
        match outcome {
            CasOutcome::Updated => {
                // The hub's housekeeping (`Hub::after_publish`) waits for the end of the round
                // (`sync`), when the round's memory is free again.
                self.snapshot_created = true;
                if self.graft.take().is_some() {
                    self.vault.clear_graft()?;
                }
                Ok(Ok(snap_id))
            }
            CasOutcome::Conflict { actual } => Ok(Err(format!(
                "another device published first (the hub's head is now {})",
                actual.map(|a| a.short()).unwrap_or_else(|| "empty".into())
            ))),
        }
    }

    pub(super) fn put(&mut self, objects: &[Object]) -> Result<(), SyncError> {
        if objects.is_empty() {
            return Ok(());
        }
        self.put_counted(objects)?;
        let bytes = objects.iter().map(|o| o.bytes.len() as u64).sum::<u64>();
        let sent = Amount::new(objects.len() as u64, bytes);
        self.progress().advance(Phase::Uploading, sent);
        Ok(())
    }

    /// Put `objects` (one pack) and count them in the round's stats, without progress.
    pub(super) fn put_counted(&mut self, objects: &[Object]) -> Result<(), SyncError> {
        if objects.is_empty() {
            return Ok(());
        }
        self.hub.put(objects)?;
        let bytes = objects.iter().map(|o| o.bytes.len() as u64).sum::<u64>();
        self.stats.objects_sent += objects.len() as u64;
        self.stats.bytes_sent += bytes;
        Ok(())
    }

    /// Step 8: the folder, scanned again, must have the tree the hub computes for its head.
    /// `scanned`: the folder scanned after apply, if the caller did that already.
    pub(super) fn verify(
        &mut self,
        head: Option<ObjectId>,
        expected: ObjectId,
        merged: &FlatTree,
        scanned: Option<Scan>,
    ) -> Result<Step, SyncError> {
        // `expected` is the root tree of `merged`, so comparing the flat trees is the same test
        // as comparing roots, without rebuilding and hashing every tree.
        self.cache();
        let mut vscan = match scanned {
            Some(s) => s,
            None => self.scan(true)?,
        };
        self.respell_as_merged(&mut vscan, merged);
        self.hold(&mut vscan);
        if !scan_equals(&mut vscan, merged) && self.folder_side(&vscan, merged) != *merged {
            let local = self.folder_side(&vscan, merged);
            // Either a file changed since apply (a new local edit: the next attempt takes it),
            // or the stat cache lied. Rehash the differing files to tell which.
            let differing: Vec<VaultPath> = differing_paths(&local, merged);
            if differing.is_empty() {
                // Equal but for unreadable or held-back paths, which keep the merged entries.
                return self.verify_hub(head, expected, merged, &vscan, false);
            }
            for p in &differing {
                self.cache.remove(p);
            }
            vscan = self.scan(true)?;
            self.respell_as_merged(&mut vscan, merged);
            self.hold(&mut vscan);
            let local = self.folder_side(&vscan, merged);
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
        self.verify_hub(head, expected, merged, &vscan, false)
    }

    /// Folders the guard holds back, and paths left as they are because the hub's copy is
    /// damaged, count as unreadable in every scan of this attempt: the folder lacks (or keeps
    /// an older version of) their files, and the merged tree keeps the hub's.
    fn hold(&self, scan: &mut Scan) {
        scan.unreadable
            .extend(self.guarded.iter().map(|g| g.folder.clone()));
        scan.unreadable.extend(self.unavailable.iter().cloned());
    }

    /// The hub's side of step 8: the hub's tree for `head` must be `expected`, which the folder
    /// (as `vscan` found it) has. Saves the stat cache from `vscan` unless `cache_saved`.
    pub(super) fn verify_hub(
        &mut self,
        head: Option<ObjectId>,
        expected: ObjectId,
        merged: &FlatTree,
        vscan: &Scan,
        cache_saved: bool,
    ) -> Result<Step, SyncError> {
        let hub_tree = self.hub_tree(head, vscan, merged)?;
        if tree_or_empty(hub_tree) != expected {
            // A hub that answers with its head's tree whatever it is asked (a server from
            // before `Hub::tree_of` took a snapshot) makes a round that another device
            // overtook try again.
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

    /// The hub's tree hash for `head` (the snapshot the round settled on, whatever head the
    /// hub has moved to since), re-uploading objects it reports missing (a lost or
    /// deleted pack) or damaged (bytes changed on its disk; only a full verification re-hashes
    /// them) from this device's store and files. `merged` (the tree the round agreed on) names
    /// the paths of damaged objects in what the round reports.
    pub(super) fn hub_tree(
        &mut self,
        head: Option<ObjectId>,
        scan: &Scan,
        merged: &FlatTree,
    ) -> Result<Option<ObjectId>, SyncError> {
        let Some(head) = head else {
            return Ok(None);
        };
        // A missing tree hides the objects under it, so this may take one pass per level.
        let mut sent = 0;
        let mut passes = 0;
        let result = loop {
            passes += 1;
            match self.hub.tree_of(head, self.opts.full_verify) {
                Ok(tree) => break Ok(tree),
                // One pass per tree level at most; a hub that keeps asking is broken.
                Err(HubError::Missing { ids, hub }) if passes <= MAX_TREE_DEPTH + 2 => {
                    let now = self.reupload(&ids, scan.files())?;
                    if now == 0 {
                        break Err(HubError::Missing { ids, hub }.into());
                    }
                    sent += now;
                }
                Err(HubError::Damaged { ids, hub }) if passes <= MAX_TREE_DEPTH + 2 => {
                    let left = self.repair_damaged_from(&ids, scan.files(), merged)?;
                    if left.is_empty() {
                        continue;
                    }
                    // Files no good copy of is here: reported with the paths skipped, as a
                    // download of them is, and the round stands (every other file synced);
                    // the hub's tree is taken as the quick check gives it.
                    let Some(paths) = damaged::paths_of(&left, merged) else {
                        let paths = damaged::names_of(&left, merged);
                        break Err(SyncError::HubDamaged { hub, paths });
                    };
                    for path in paths {
                        let message = damaged::not_repairable(&path);
                        // A path the download left for the same damage says so once.
                        match self.skipped.iter_mut().find(|s| s.path == path) {
                            Some(known) if known.reason == SkipKind::HubDamaged => {
                                known.message = message;
                            }
                            _ => self.skipped.push(SkippedPath {
                                path,
                                reason: SkipKind::HubDamaged,
                                message,
                            }),
                        }
                    }
                    break self.hub.tree_of(head, false).map_err(SyncError::from);
                }
                Err(e) => break Err(e.into()),
            }
        };
        if sent > 0 {
            self.repairs.push(format!(
                "the hub had lost {sent} object(s); they were uploaded again"
            ));
        }
        result.map(Some)
    }

    /// Store good copies of `ids`, which the hub holds damaged, from this device's files (the
    /// merged tree's) and store; the repair is reported. A good copy stored again is the one
    /// the hub serves from then on.
    fn repair_damaged(
        &mut self,
        ids: &[ObjectId],
        hub: String,
        merged: &FlatTree,
    ) -> Result<(), SyncError> {
        let left = self.repair_damaged_from(ids, merged, merged)?;
        if left.is_empty() {
            return Ok(());
        }
        let paths = damaged::names_of(&left, merged);
        Err(SyncError::HubDamaged { hub, paths })
    }

    /// [`Round::repair_damaged`] from `files` (the folder as scanned, or the merged tree);
    /// `merged` names the damaged objects' paths. Returns the ids this device has no good
    /// copy of.
    fn repair_damaged_from(
        &mut self,
        ids: &[ObjectId],
        files: &FlatTree,
        merged: &FlatTree,
    ) -> Result<Vec<ObjectId>, SyncError> {
        let found = self.reupload_found(ids, files)?;
        let (fixed, left): (Vec<ObjectId>, Vec<ObjectId>) =
            ids.iter().partition(|id| found.contains(*id));
        for name in damaged::names_of(&fixed, merged) {
            self.repairs.push(format!(
                "the hub's copy of `{name}` was damaged; this device uploaded a good copy"
            ));
        }
        Ok(left)
    }

    /// Upload those of `ids` this device has; returns how many.
    pub(super) fn reupload(
        &mut self,
        ids: &[ObjectId],
        files: &FlatTree,
    ) -> Result<usize, SyncError> {
        self.reupload_found(ids, files).map(|found| found.len())
    }

    /// [`Round::reupload`], returning which of `ids` were uploaded.
    pub(super) fn reupload_found(
        &mut self,
        ids: &[ObjectId],
        files: &FlatTree,
    ) -> Result<HashSet<ObjectId>, SyncError> {
        let wanted: HashSet<ObjectId> = ids.iter().copied().collect();
        let mut objects = Vec::new();
        let mut found = HashSet::new();
        // Large files as chunks: those named, then (when some ids are still unaccounted for:
        // a lost chunk or group of a file) every large file, sending only what the hub lacks.
        let mut large: Vec<(&VaultPath, ObjectId)> = Vec::new();
        for (path, meta) in files {
            if meta.size >= CHUNKED_FROM && !large.iter().any(|(_, id)| *id == meta.id) {
                large.push((path, meta.id));
            }
        }
        large.sort_by_key(|(_, id)| !wanted.contains(id));
        let file_ids: HashSet<ObjectId> = files.values().map(|m| m.id).collect();
        for (path, id) in large {
            let named = wanted.contains(&id);
            let unknown = wanted
                .iter()
                .any(|w| !found.contains(w) && !file_ids.contains(w) && !self.history.knows(*w));
            if !named && !unknown {
                break;
            }
            if let ChunkedUpload::Sent(ids) = self.upload_chunked(path, id, false, &wanted)? {
                found.extend(ids.into_iter().filter(|i| wanted.contains(i)));
            }
        }
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
        Ok(found)
    }
}

/// What publishing sends: the blobs of `merged` and the `trees` the hub is `missing`, and a
/// snapshot of `snapshot` bytes.
pub(super) fn upload_total(
    merged: &FlatTree,
    trees: &[Object],
    tree_ids: &[ObjectId],
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
    for (tree, _) in trees
        .iter()
        .zip(tree_ids)
        .filter(|(_, id)| missing.contains(id))
    {
        total = Amount::new(total.items + 1, total.bytes + tree.bytes.len() as u64);
    }
    total
}
