//! The history read from a hub alone: the server has no device folder and no local store,
//! only the vaults' hubs (the web view's log, a file's history, a revision's author). Same
//! walks, same checks as on a device; only where objects come from differs.

use crate::hub::Hub;
use crate::id::ObjectId;
use crate::object::{FileMeta, Snapshot};
use crate::paths::VaultPath;

use super::changes::PathChange;
use super::objects::{Known, Node, Objects};
use super::thinned::{against_kept, ensure_kept, is_missing};
use super::{HistoryError, LogEntry, author, log_walk};

/// [`super::log`] for a server: the log of the hub's head, objects from `hub` only.
pub fn log_hub(
    hub: &dyn Hub,
    path: Option<&VaultPath>,
    limit: usize,
) -> Result<Vec<LogEntry>, HistoryError> {
    let head = hub.head()?;
    HubHistory::new(hub, Known::default()).log(head, path, None, limit)
}

/// A reader of one hub's history. Decoded snapshots and trees can be kept between readers
/// ([`HubHistory::into_known`]): they never change for their ids, so a server paging
/// through a long log, or walking one file's history again, reads each from the hub once.
/// The snapshot a change list was taken against (`None`: the first snapshot), and the changes.
pub type ChangesSince = (Option<ObjectId>, Vec<PathChange>);

pub struct HubHistory<'h> {
    objects: Objects<'h>,
}

impl<'h> HubHistory<'h> {
    /// Reads `hub`, knowing the snapshots and trees `known` already (each decoded from its
    /// own id).
    pub fn new(hub: &'h dyn Hub, known: Known) -> HubHistory<'h> {
        HubHistory {
            objects: Objects::hub_only(hub, known),
        }
    }

    /// The snapshots and trees decoded by this reader and those it was given.
    pub fn into_known(self) -> Known {
        self.objects.into_known()
    }

    /// The snapshot `id` (hash-checked, strictly decoded).
    pub fn snapshot(&mut self, id: ObjectId) -> Result<Snapshot, HistoryError> {
        self.objects.snapshot(id)
    }

    /// The log from `head`, newest first, at most `limit` entries after `after` (see
    /// [`super::log`] for `path`).
    pub fn log(
        &mut self,
        head: Option<ObjectId>,
        path: Option<&VaultPath>,
        after: Option<ObjectId>,
        limit: usize,
    ) -> Result<Vec<LogEntry>, HistoryError> {
        log_walk(&mut self.objects, head, path, after, limit)
    }

    /// Every path `snapshot` changed compared with its first parent (all its files for the
    /// first snapshot), by path, and the snapshot compared with: the first parent, or the
    /// nearest kept snapshot before when the hub's retention policy thinned the parent.
    /// `None` when `snapshot` itself was thinned (its files are no longer on the hub).
    pub fn changes(&mut self, snapshot: &Snapshot) -> Result<Option<ChangesSince>, HistoryError> {
        let tree = snapshot.tree;
        against_kept(&mut self.objects, snapshot, |o, base| {
            Ok((base.map(|b| b.0), o.changes(base.map(|b| b.1), Some(tree))?))
        })
    }

    /// The file at `path` in the snapshot `snapshot` (`None`: no file there);
    /// [`HistoryError::Thinned`] when the hub no longer holds that snapshot's files.
    pub fn file_at(
        &mut self,
        snapshot: ObjectId,
        path: &VaultPath,
    ) -> Result<Option<FileMeta>, HistoryError> {
        let snap = self.objects.snapshot(snapshot)?;
        let root = snap.tree;
        match self.objects.node_at(Some(root), path) {
            Ok(Some(Node::File(meta))) => Ok(Some(meta)),
            Ok(_) => Ok(None),
            Err(e) if is_missing(&e) && !self.objects.holds(root)? => {
                let entry = LogEntry::of(snapshot, snap, None);
                ensure_kept(&mut self.objects, &entry).map(|()| None)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the hub still holds the files of `snapshot` (not thinned by its retention
    /// policy).
    pub fn kept(&mut self, snapshot: &Snapshot) -> Result<bool, HistoryError> {
        self.objects.holds(snapshot.tree)
    }

    /// The device that wrote the content `id` at `path`, as a restore names the version it
    /// replaces: the device of the snapshot that introduced it, walking back from `from`;
    /// `None` when `from` does not hold it there.
    pub fn author(
        &mut self,
        from: Option<ObjectId>,
        path: &VaultPath,
        id: ObjectId,
    ) -> Result<Option<String>, HistoryError> {
        author::introduced_by(&mut self.objects, from, path, id)
    }
}

#[cfg(test)]
#[path = "on_hub_tests.rs"]
mod tests;
