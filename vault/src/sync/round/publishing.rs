//! The end of a round that has its merged tree: publish it, and meanwhile, on a thread, make
//! the folder's side of the verification (the publish mostly waits for fsyncs or the network).

use crate::id::ObjectId;
use crate::object::{FlatTree, Object, Snapshot};
use crate::scan::{Scan, ScanError, ScanOptions};

use super::{Round, SyncError, tree_or_empty};

/// What a round publishes, and against what.
pub(super) struct ToPublish<'p> {
    pub merged: &'p FlatTree,
    /// The hub's files at `head`.
    pub remote: &'p FlatTree,
    pub remote_snap: &'p Option<Snapshot>,
    pub head: Option<ObjectId>,
    /// The snapshot this device last synced.
    pub base_id: Option<ObjectId>,
    /// The merged root tree and the trees built for it.
    pub built: (ObjectId, Vec<Object>),
}

/// `Ok((head, root))`: the hub's head afterwards and the merged root tree; `Err(why)`: start
/// over.
pub(super) type Published = Result<(Option<ObjectId>, ObjectId), String>;

/// The folder's side of the verification.
pub(super) enum FolderSide {
    /// The folder was scanned again after apply wrote into it.
    Rescanned(Result<Scan, ScanError>),
    /// Nothing was written: the round's own scan stands, and the stat cache was saved from it
    /// (when the scan's files are the merged tree).
    Scanned { scan: Scan, cache_saved: bool },
}

impl Round<'_> {
    /// Publish `p` while the folder's side of the verification is made. `folder_untouched`:
    /// the folder is as `scan` found it, so the scan's files and the merged root go to the
    /// stat cache; otherwise the folder is scanned again, against the cache as apply left it.
    pub(super) fn publish_beside_folder(
        &mut self,
        p: ToPublish<'_>,
        mut scan: Scan,
        folder_untouched: bool,
    ) -> Result<(Result<Published, SyncError>, FolderSide), SyncError> {
        let merged_root = p.built.0;
        // A simulated machine does one thing at a time, so that a run replays exactly: the
        // two sides run one after the other there.
        let one_at_a_time = crate::vfs::is_simulated(self.vault.root());
        if folder_untouched {
            let mut cache = std::mem::take(&mut self.cache);
            let index = self.vault.index_path();
            let merged = p.merged;
            let save = move || {
                let matches = scan.files_if_built().is_some_and(|f| f == merged);
                if matches {
                    // Compared: the merged tree says the same (7 MiB at 100,000 files,
                    // not held through the upload).
                    scan.forget_files();
                }
                cache.update_from_scan(&scan);
                let saved = if matches {
                    cache.set_tree(merged_root);
                    cache.save(&index).map(|()| true)
                } else {
                    Ok(false)
                };
                // Saved, the cache is let go until something needs it again (rarely: a
                // retry, a repair), so its 16 MiB at 100,000 files are not held while
                // the upload goes on.
                let let_go = match saved {
                    Ok(true) => cache.let_go(),
                    _ => None,
                };
                (cache, let_go, saved, scan)
            };
            let (published, saving) = if one_at_a_time {
                let saving = save();
                (self.publish_and_record(p), Ok(saving))
            } else {
                std::thread::scope(|s| {
                    let saving = s.spawn(save);
                    (self.publish_and_record(p), saving.join())
                })
            };
            let (cache, let_go, saved, scan) = match saving {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            self.cache = cache;
            self.cache_on_disk = let_go;
            let cache_saved = saved?;
            Ok((published, FolderSide::Scanned { scan, cache_saved }))
        } else {
            // Verification scans the folder again; it only has to start after apply, so it
            // runs while the snapshot is built and published, against the cache as apply
            // left it (lent to that thread: publishing does not use it, and a copy costs 16
            // MiB at 100,000 files). The first scan is done with: the verification scan
            // replaces it (its entries and flat tree are 17 MiB at 100,000 files, held twice
            // otherwise).
            drop(scan);
            let verify_cache = std::mem::take(&mut self.cache);
            let rules = self.rules.clone();
            let root = self.vault.root().to_path_buf();
            let rescan = move || {
                let vscan = crate::scan::scan(
                    &root,
                    &rules,
                    &verify_cache,
                    ScanOptions { use_cache: true },
                );
                (vscan, verify_cache)
            };
            let (published, vscan, cache) = if one_at_a_time {
                let published = self.publish_and_record(p);
                let (vscan, cache) = rescan();
                (published, vscan, cache)
            } else {
                std::thread::scope(|s| {
                    let pending = s.spawn(rescan);
                    let published = self.publish_and_record(p);
                    let (vscan, cache) = match pending.join() {
                        Ok(done) => done,
                        Err(panic) => std::panic::resume_unwind(panic),
                    };
                    (published, vscan, cache)
                })
            };
            self.cache = cache;
            Ok((published, FolderSide::Rescanned(vscan)))
        }
    }

    /// Publish the merged tree unless the hub's head already has it, then make the objects
    /// and the new base durable locally.
    fn publish_and_record(&mut self, p: ToPublish<'_>) -> Result<Published, SyncError> {
        let base_id = p.base_id;
        let published = self.build_and_publish(p)?;
        // With files left out for damage on the hub, the folder is not the merged tree yet:
        // base stays, so the next round fetches them again rather than publish their absence.
        if let Ok((Some(h), _)) = published
            && Some(h) != base_id
            && self.unavailable.is_empty()
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
    fn build_and_publish(&mut self, p: ToPublish<'_>) -> Result<Published, SyncError> {
        let (merged_root, trees) = p.built;
        let remote_root = tree_or_empty(p.remote_snap.as_ref().map(|s| s.tree));
        // A graft is published even when the trees agree: its snapshot joins the histories.
        if merged_root == remote_root && self.graft.is_none() {
            return Ok(Ok((p.head, merged_root)));
        }
        match self.publish(p.merged, p.remote, merged_root, trees, p.head)? {
            Ok(id) => Ok(Ok((Some(id), merged_root))),
            Err(why) => {
                self.history.persist()?;
                Ok(Err(why))
            }
        }
    }
}
