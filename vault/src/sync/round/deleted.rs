//! The history evidence reconcile needs to keep a deleted note deleted when an old copy of it is
//! put back (a backup restored with its modification times): for local files at paths base
//! lacks, whether an earlier snapshot had the path, its last version there and when it was
//! deleted (see `reconcile::evidence`).
//!
//! Cheap in the normal case: only files older than base's snapshot (by more than the clock
//! slack) are looked up at all, and a note written now never is. For those, one walk back along
//! the first parents of base reads, per snapshot, only the trees on the way to each path still
//! looked for, and stops as soon as every path is found or can no longer qualify (the
//! snapshots reached are older than its time), or after [`MAX_DELETION_WALK`] snapshots.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use super::Round;
use crate::hub::HubError;
use crate::id::ObjectId;
use crate::object::{EntryKind, FileMeta, FlatTree, Snapshot, Tree};
use crate::paths::VaultPath;
use crate::reconcile::{BACKWARD_SLACK_NS, Deletion, Evidence};
use crate::sync::SyncError;

/// How many snapshots before base the walk looks at. A note deleted longer ago than that is not
/// recognised when an old copy comes back: the copy syncs as a new note (nothing is lost).
pub(super) const MAX_DELETION_WALK: usize = 1_000;

impl Round<'_> {
    /// [`Evidence`] for the local files at paths `base` and `remote` lack whose modification
    /// times are older than base's snapshot `base_snap` (none: a device that never synced, or
    /// a hub whose history lost base, has no deletions to respect).
    pub(super) fn history_evidence(
        &mut self,
        base_snap: Option<&Snapshot>,
        base: &FlatTree,
        local: &FlatTree,
        remote: &FlatTree,
    ) -> Result<Evidence, SyncError> {
        let Some(base_snap) = base_snap else {
            return Ok(Evidence::default());
        };
        let horizon = base_snap.time_ns.saturating_sub(BACKWARD_SLACK_NS);
        // Most files of a vault are older than base: one pass beside base's sorted paths
        // rather than a lookup for each.
        let mut wanted: BTreeMap<&VaultPath, i64> = BTreeMap::new();
        let mut in_base = base.keys().peekable();
        for (path, meta) in local {
            while in_base.next_if(|b| *b < path).is_some() {}
            if meta.mtime_ns < horizon
                && in_base.peek() != Some(&path)
                && !remote.contains_key(path)
            {
                wanted.insert(path, meta.mtime_ns);
            }
        }
        let mut deleted = BTreeMap::new();
        let mut trees = HashMap::new();
        let mut newer_time = base_snap.time_ns;
        let mut parent = base_snap.parents.first().copied();
        for _ in 0..MAX_DELETION_WALK {
            // A deletion found further back was made no later than `newer_time`: a file no
            // older than that can no longer be an old copy of what it deleted.
            wanted.retain(|_, mtime| *mtime < newer_time.saturating_sub(BACKWARD_SLACK_NS));
            let Some(id) = parent else {
                break;
            };
            if wanted.is_empty() {
                break;
            }
            let snap = match self.history.snapshot(id, &mut self.stats) {
                Ok(s) => s,
                // A hub that lost old history, or whose copy of it is damaged: what it still
                // has was all there is to see (at worst an old copy put back syncs as a note).
                Err(e) if history_ends(&e) => break,
                Err(e) => return Err(e),
            };
            let mut found = Vec::new();
            let mut readable = true;
            for path in wanted.keys() {
                match self.file_at(&mut trees, snap.tree, path) {
                    Ok(Some(last)) => found.push(((*path).clone(), last)),
                    Ok(None) => {}
                    Err(e) if history_ends(&e) => {
                        tracing::warn!(snapshot = %id.short(), "the deletion evidence stops at a snapshot the hub cannot read whole ({e})");
                        readable = false;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !readable {
                break;
            }
            for (path, last) in found {
                wanted.remove(&path);
                let at_ns = newer_time;
                deleted.insert(path, Deletion { last, at_ns });
            }
            newer_time = snap.time_ns;
            parent = snap.parents.first().copied();
        }
        Ok(Evidence { deleted })
    }

    /// The file at `path` under the root tree `root`, reading only the trees on the way
    /// (`trees`: those read so far in this walk).
    fn file_at(
        &mut self,
        trees: &mut HashMap<ObjectId, Tree>,
        root: ObjectId,
        path: &VaultPath,
    ) -> Result<Option<FileMeta>, SyncError> {
        let mut dir = root;
        let mut names = path.components().peekable();
        while let Some(name) = names.next() {
            let tree = match trees.entry(dir) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => slot.insert(self.history.tree(dir, &mut self.stats)?),
            };
            match (tree.entries.get(name), names.peek()) {
                (Some(EntryKind::File(meta)), None) => return Ok(Some(*meta)),
                (Some(EntryKind::Dir(sub)), Some(_)) => dir = *sub,
                _ => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// Whether reading the history failed because the hub no longer has it whole (lost, or only
/// damaged copies): evidence is looked for in what can be read, and a round never stops for
/// it (the device would be stuck behind one rotten old object).
fn history_ends(e: &SyncError) -> bool {
    matches!(
        e,
        SyncError::Hub(HubError::Missing { .. } | HubError::Damaged { .. })
    )
}
