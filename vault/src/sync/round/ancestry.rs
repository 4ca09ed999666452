//! Whether the hub's history contains this device's base, which decides the base a round
//! merges against, and the graft (`.vault/graft`, left by `syncd hub set` on a hub with its
//! own history) that the next published snapshot joins to the hub's history.

use std::collections::{HashSet, VecDeque};

use crate::hub::HubError;
use crate::id::ObjectId;
use crate::local::LocalVault;

use super::{Round, SyncError};

/// How many snapshots [`Round::descends_from`] looks at before deciding the hub's history does
/// not contain base (a device that missed more syncs than this merges without deletions).
const MAX_ANCESTRY_WALK: usize = 10_000;

/// The vault's graft, and a warning if it cannot be read: only a link between histories, an
/// unreadable one must not stop every round.
pub(super) fn load_graft(vault: &LocalVault) -> (Option<ObjectId>, Option<String>) {
    match vault.graft() {
        Ok(g) => (g, None),
        Err(e) => (
            None,
            Some(format!(
                "{e}; ignored: the next snapshot does not join the history it named (remove the file to silence this)"
            )),
        ),
    }
}

impl Round<'_> {
    /// The base to merge against: `base_id` only if the hub's history (at `head`) still
    /// contains it. A hub that was emptied, replaced or restored from an old backup would
    /// otherwise make every note this device synced look deleted there; merging against an
    /// empty base instead deletes nothing and turns every difference into a conflict with a
    /// revision.
    pub(super) fn merge_base(
        &mut self,
        base_id: Option<ObjectId>,
        head: Option<ObjectId>,
    ) -> Result<Option<ObjectId>, SyncError> {
        Ok(match (base_id, head) {
            (Some(base), Some(h)) if !self.descends_from(h, base)? => {
                if self.graft == Some(base) {
                    self.warn(&format!(
                        "joining this vault's history ({}) to the hub's, which has its own (`syncd hub set`): merging without deleting anything, differences kept as conflicts",
                        base.short()
                    ));
                    None
                } else {
                    self.warn(&format!(
                        "the hub's history does not contain this device's last sync ({}): the hub was replaced or restored; merging without deleting anything",
                        base.short()
                    ));
                    None
                }
            }
            (Some(base), None) => {
                self.warn(&format!(
                    "the hub is empty although this device synced with it before ({}): the hub was replaced or reset; uploading this vault to it",
                    base.short()
                ));
                None
            }
            _ => base_id,
        })
    }

    /// A graft the hub's history already contains (this device published it, or the hub is
    /// empty, so there is nothing to join it to) is forgotten.
    pub(super) fn forget_joined_graft(&mut self, head: Option<ObjectId>) -> Result<(), SyncError> {
        let Some(graft) = self.graft else {
            return Ok(());
        };
        let joined = match head {
            Some(h) => self.descends_from(h, graft)?,
            None => true,
        };
        if joined {
            self.vault.clear_graft()?;
            self.graft = None;
        }
        Ok(())
    }

    /// Whether `base` is `head` or one of its ancestors, walking parents breadth-first (at most
    /// [`MAX_ANCESTRY_WALK`] snapshots; a missing snapshot ends that line).
    fn descends_from(&mut self, head: ObjectId, base: ObjectId) -> Result<bool, SyncError> {
        let mut queue = VecDeque::from([head]);
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
}
