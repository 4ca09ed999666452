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
    /// The base to merge against. Base counts only if the hub's history (at `head`) contains
    /// it. A head that went back (an ancestor of base: a hub restored from a backup, a stale
    /// answer from a cache) or sideways (a history without base: another vault's, or a restored
    /// hub other devices wrote to since) is refused unless the user asked to publish this
    /// device's copy again (`SyncOptions::republish`), or it is the graft `syncd hub set` left.
    /// A hub that was emptied gets this vault uploaded again (nothing there to lose).
    pub(super) fn merge_base(
        &mut self,
        base_id: Option<ObjectId>,
        head: Option<ObjectId>,
    ) -> Result<Option<ObjectId>, SyncError> {
        let (base, h) = match (base_id, head) {
            (Some(base), Some(h)) => (base, h),
            (Some(base), None) => {
                self.warn(&format!(
                    "the hub is empty although this device synced with it before ({}): the hub was replaced or reset; uploading this vault to it",
                    base.short()
                ));
                return Ok(None);
            }
            _ => return Ok(base_id),
        };
        let relation = self.relation(base, h)?;
        let grafting = self.graft == Some(base);
        match decide(relation, grafting, self.opts.republish) {
            MergeFrom::Base => Ok(Some(base)),
            MergeFrom::Nothing => {
                self.warn(&match relation {
                    _ if grafting => format!(
                        "joining this vault's history ({}) to the hub's, which has its own (`syncd hub set`): merging without deleting anything, differences kept as conflicts",
                        base.short()
                    ),
                    Relation::Unknown => format!(
                        "the hub's history does not contain this device's last sync ({}) within {MAX_ANCESTRY_WALK} snapshots: merging without deleting anything",
                        base.short()
                    ),
                    _ => format!(
                        "publishing this device's copy again onto the hub's history ({}), which does not contain this device's last sync ({}): merging without deleting anything, differences kept as conflicts",
                        h.short(),
                        base.short()
                    ),
                });
                Ok(None)
            }
            MergeFrom::Head => {
                // The hub's head is an ancestor of base: merged against it, this device's copy
                // is taken wherever the hub still has the old one. When the hub still holds
                // base's snapshot, it becomes the second parent (as a graft), so the devices
                // that synced it find their base in the hub's history again.
                if self.hub.missing(&[base])?.is_empty() {
                    self.graft = Some(base);
                }
                self.warn(&format!(
                    "the hub went back to an older snapshot ({}) than this device last synced ({}): publishing this device's copy on it again",
                    h.short(),
                    base.short()
                ));
                Ok(Some(h))
            }
            MergeFrom::Refuse => Err(SyncError::HubWentBack {
                hub: self.hub.describe(),
                head: h,
                base,
                common: match relation {
                    Relation::Diverged { common } => Some(Box::new(common)),
                    _ => None,
                },
                behind: relation == Relation::Behind,
            }),
        }
    }

    /// How the hub's `head` relates to this device's `base`: the walk from head (at most
    /// [`MAX_ANCESTRY_WALK`] snapshots) stops as soon as it meets base; only when it does not
    /// is base's own history walked (the local store first, then the hub), to tell a hub that
    /// went back from one on another line.
    fn relation(&mut self, base: ObjectId, head: ObjectId) -> Result<Relation, SyncError> {
        let from_head = self.ancestors(head, base)?;
        if from_head.found {
            return Ok(Relation::Contains);
        }
        let from_base = self.ancestors(base, head)?;
        let head_history: HashSet<ObjectId> = from_head.order.into_iter().collect();
        Ok(relation(
            head,
            &head_history,
            from_head.complete,
            &from_base.order,
        ))
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

    /// Whether `base` is `head` or one of its ancestors.
    fn descends_from(&mut self, head: ObjectId, base: ObjectId) -> Result<bool, SyncError> {
        Ok(self.ancestors(head, base)?.found)
    }

    /// The snapshots reachable from `start` (itself first), breadth-first, until `target` is
    /// met or [`MAX_ANCESTRY_WALK`] snapshots were seen; a missing snapshot ends that line.
    fn ancestors(&mut self, start: ObjectId, target: ObjectId) -> Result<Walked, SyncError> {
        let mut queue = VecDeque::from([start]);
        let mut seen = HashSet::from([start]);
        let mut order = Vec::new();
        while let Some(id) = queue.pop_front() {
            order.push(id);
            if id == target {
                return Ok(Walked {
                    order,
                    found: true,
                    complete: true,
                });
            }
            if seen.len() > MAX_ANCESTRY_WALK {
                return Ok(Walked {
                    order,
                    found: false,
                    complete: false,
                });
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
        Ok(Walked {
            order,
            found: false,
            complete: true,
        })
    }
}

/// What a walk of the history from one snapshot found.
struct Walked {
    /// The snapshots met, breadth-first from the start (itself first).
    order: Vec<ObjectId>,
    /// The target was met.
    found: bool,
    /// The walk ended because the history did (not at the size limit).
    complete: bool,
}

/// How the hub's head relates to this device's base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The head is base, or base is one of its ancestors: the hub moved on (or not at all).
    Contains,
    /// The head is an ancestor of base: the hub went back in time (restored from a backup, or
    /// a cache answered an old head). Taken at its word, every note synced since would look
    /// deleted by the other devices.
    Behind,
    /// The head's history does not contain base, but both go back to `common` (the newest
    /// snapshot of base's history that the head's holds): the hub went back, then other
    /// devices wrote to it.
    Diverged { common: ObjectId },
    /// The head's history shares nothing with base's: another vault's history (a hub or
    /// server vault that is not this vault's), or a hub restored from before this device's
    /// first sync.
    Unrelated,
    /// The head's history was walked only part of the way (longer than the walk allows) and
    /// holds neither base nor anything of base's history seen so far.
    Unknown,
}

/// How a round merges, given how head relates to base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeFrom {
    /// Against base: the usual round.
    Base,
    /// Against the hub's head (a hub that went back, republished on purpose): this device's
    /// copy wins wherever the hub holds the old version.
    Head,
    /// Without a base: nothing is deleted, every difference is a conflict with a revision.
    Nothing,
    /// Not at all: the round stops and changes nothing.
    Refuse,
}

/// How `head` relates to base, from the head's history (`head_history`, walked whole when
/// `head_walk_complete`; base not in it) and base's history in breadth-first order from base
/// (`base_history`, base first). Pure.
pub fn relation(
    head: ObjectId,
    head_history: &HashSet<ObjectId>,
    head_walk_complete: bool,
    base_history: &[ObjectId],
) -> Relation {
    if base_history.contains(&head) {
        return Relation::Behind;
    }
    match base_history.iter().find(|id| head_history.contains(id)) {
        Some(&common) => Relation::Diverged { common },
        None if head_walk_complete => Relation::Unrelated,
        None => Relation::Unknown,
    }
}

/// The merge a round makes. `grafting`: base is the graft `syncd hub set` recorded (this
/// vault's history brought to a hub that has its own, on purpose). `republish`: the user
/// asked to publish this device's copy onto a hub that went back or sideways. Pure.
///
/// A head that went back or sideways is never taken for "the other devices deleted these
/// files": without one of those two, the round refuses. A walk cut short (`Unknown`) merges
/// without deleting anything, as a device that missed more syncs than the walk allows must
/// not be stuck.
pub fn decide(relation: Relation, grafting: bool, republish: bool) -> MergeFrom {
    match relation {
        Relation::Contains => MergeFrom::Base,
        Relation::Unknown => MergeFrom::Nothing,
        Relation::Behind if republish => MergeFrom::Head,
        Relation::Diverged { .. } | Relation::Unrelated if grafting || republish => {
            MergeFrom::Nothing
        }
        Relation::Behind | Relation::Diverged { .. } | Relation::Unrelated => MergeFrom::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::of(&[n])
    }

    fn set(ids: &[ObjectId]) -> HashSet<ObjectId> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_head_older_than_base_went_back() {
        // history 1 <- 2 <- 3 (base); the hub's head is 2.
        let r = relation(id(2), &set(&[id(2), id(1)]), true, &[id(3), id(2), id(1)]);
        assert_eq!(r, Relation::Behind);
    }

    #[test]
    fn a_head_on_another_line_from_an_older_snapshot_diverged_there() {
        // 1 <- 2 <- 3 (base), and 2 <- 4 <- 5 (head): the newest shared snapshot is 2.
        let r = relation(
            id(5),
            &set(&[id(5), id(4), id(2), id(1)]),
            true,
            &[id(3), id(2), id(1)],
        );
        assert_eq!(r, Relation::Diverged { common: id(2) });
    }

    #[test]
    fn a_head_sharing_nothing_is_another_history_unless_its_walk_was_cut_short() {
        let head_history = set(&[id(9), id(8)]);
        let base_history = [id(3), id(2), id(1)];
        assert_eq!(
            relation(id(9), &head_history, true, &base_history),
            Relation::Unrelated
        );
        assert_eq!(
            relation(id(9), &head_history, false, &base_history),
            Relation::Unknown
        );
    }

    #[test]
    fn only_a_head_containing_base_is_merged_against_base() {
        for republish in [false, true] {
            for grafting in [false, true] {
                assert_eq!(
                    decide(Relation::Contains, grafting, republish),
                    MergeFrom::Base
                );
            }
        }
    }

    #[test]
    fn a_head_that_went_back_or_sideways_is_refused_without_republish_or_graft() {
        for relation in [
            Relation::Behind,
            Relation::Diverged { common: id(1) },
            Relation::Unrelated,
        ] {
            assert_eq!(
                decide(relation, false, false),
                MergeFrom::Refuse,
                "{relation:?}"
            );
        }
    }

    #[test]
    fn republish_merges_against_an_older_head_and_without_base_elsewhere() {
        assert_eq!(decide(Relation::Behind, false, true), MergeFrom::Head);
        assert_eq!(
            decide(Relation::Diverged { common: id(1) }, false, true),
            MergeFrom::Nothing
        );
        assert_eq!(decide(Relation::Unrelated, false, true), MergeFrom::Nothing);
    }

    #[test]
    fn a_graft_and_a_walk_cut_short_merge_without_deleting() {
        assert_eq!(decide(Relation::Unrelated, true, false), MergeFrom::Nothing);
        assert_eq!(
            decide(Relation::Diverged { common: id(1) }, true, false),
            MergeFrom::Nothing
        );
        assert_eq!(decide(Relation::Unknown, false, false), MergeFrom::Nothing);
    }
}
