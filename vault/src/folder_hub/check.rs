//! The walk `fsck` makes of a hub's kept snapshots (`crate::fsck::hub`): the same walk
//! `cas_head` and `verify_tree` make ([`FolderHub::walk_with`]: trees re-hashed and decoded,
//! a large file's lists and groups read, every chunk's presence checked), from each kept
//! snapshot in turn, each against the one walked before it, so a long history costs the
//! trees its snapshots changed, not the whole vault once per snapshot.
//!
//! It runs over a store the caller opened ([`PackStore::refresh_skipping_damaged`]), so a pack
//! whose header is damaged hides only its own objects, and it never fails on damage: every
//! missing or damaged id is collected with the newest snapshot that needs it.

use std::collections::HashSet;

use super::{FolderHub, GONE_RETRIES, WalkError};
use crate::hub::HubError;
use crate::id::ObjectId;
use crate::store::PackStore;

/// What the walk of the kept snapshots found.
#[derive(Debug, Default)]
pub struct KeptWalk {
    /// Ids some kept snapshot reaches that no pack holds, with the newest snapshot that
    /// reaches each (in the order found).
    pub missing: Vec<(ObjectId, ObjectId)>,
    /// Trees, lists and snapshots whose every copy is damaged, and blobs in `known_damaged`
    /// that a kept snapshot reaches, with the newest snapshot that reaches each.
    pub damaged: Vec<(ObjectId, ObjectId)>,
    /// Snapshots whose walk stopped at an object that is not acceptable (a malformed tree or
    /// list, a forbidden name), with why.
    pub invalid: Vec<(ObjectId, String)>,
    /// Distinct blobs (whole files and chunks) found present.
    pub blobs: usize,
}

impl FolderHub {
    /// Walk every snapshot of `snapshots` (newest first is cheapest: each is walked against
    /// the one before) through `store`. `known_damaged`: blobs the caller found damaged by
    /// re-hashing every object; those a snapshot reaches are reported in
    /// [`KeptWalk::damaged`]. `walked` is told after each snapshot.
    pub fn walk_kept(
        &self,
        store: &mut PackStore,
        snapshots: &[ObjectId],
        known_damaged: &HashSet<ObjectId>,
        walked: &mut dyn FnMut(usize),
    ) -> Result<KeptWalk, HubError> {
        let mut out = KeptWalk::default();
        let mut missing_seen: HashSet<ObjectId> = HashSet::new();
        let mut damaged_seen: HashSet<ObjectId> = HashSet::new();
        let mut blobs_seen: HashSet<ObjectId> = HashSet::new();
        let mut baseline: Option<ObjectId> = None;
        for (i, &snapshot) in snapshots.iter().enumerate() {
            let mut tries = 0;
            let (missing, damaged, present) = loop {
                let mut present = Vec::new();
                let mut damaged = Vec::new();
                let result = self.walk_with(
                    store,
                    snapshot,
                    baseline,
                    &mut |id| present.push(id),
                    Some(&mut damaged),
                );
                match result {
                    Err(WalkError::Gone) if tries < GONE_RETRIES => {
                        tries += 1;
                        store
                            .refresh_skipping_damaged()
                            .map_err(|e| self.store_err(e))?;
                    }
                    Err(WalkError::Gone) => {
                        return Err(self.walk_err(WalkError::Gone, super::corrupt));
                    }
                    Err(WalkError::Hub(e)) => return Err(e),
                    Err(WalkError::Invalid(detail)) => {
                        out.invalid.push((snapshot, detail));
                        break (Vec::new(), Vec::new(), Vec::new());
                    }
                    Ok(missing) => break (missing, damaged, present),
                }
            };
            let walked_whole = out.invalid.last().is_none_or(|(s, _)| *s != snapshot);
            for id in missing {
                if missing_seen.insert(id) {
                    out.missing.push((id, snapshot));
                }
            }
            for id in damaged {
                if damaged_seen.insert(id) {
                    out.damaged.push((id, snapshot));
                }
            }
            for id in present {
                if blobs_seen.insert(id) && known_damaged.contains(&id) && damaged_seen.insert(id) {
                    out.damaged.push((id, snapshot));
                }
            }
            // Only a snapshot walked whole vouches for what the next one shares with it.
            baseline = walked_whole.then_some(snapshot);
            walked(i + 1);
        }
        out.blobs = blobs_seen.len();
        Ok(out)
    }
}

/// At most this many snapshots of history are checked by a full verification (a hostile or
/// enormous history cannot make it run forever; a vault syncing every minute for years has
/// fewer than this behind its head once retention thinned it).
const MAX_HISTORY_CHECKED: usize = 200_000;

/// The snapshots behind `snapshot` (its parents, theirs, ...) whose every copy in `store` is
/// damaged. A device behind the head walks them to find its base, so one rotten snapshot would
/// stop it for good; a full verification names them, and a device that holds a good copy
/// stores it again. Snapshots the store lacks (thinned by retention) end their branch quietly.
pub(super) fn damaged_history(store: &PackStore, snapshot: ObjectId) -> Vec<ObjectId> {
    use crate::object::Snapshot;
    use crate::store::StoreError;
    let mut reader = store.reader();
    let mut damaged = Vec::new();
    let mut seen = HashSet::new();
    let mut next = vec![snapshot];
    while let Some(id) = next.pop() {
        if !seen.insert(id) || seen.len() > MAX_HISTORY_CHECKED {
            continue;
        }
        match reader.read(id).map(|o| Snapshot::decode(&o.bytes)) {
            Ok(Ok(snap)) => next.extend(snap.parents.iter().copied()),
            Err(StoreError::Corrupt { .. }) => damaged.push(id),
            // Not a snapshot (its tree walk reports that), or not here: nothing more to see.
            Ok(Err(_)) | Err(_) => {}
        }
    }
    damaged
}
