//! Who wrote a version that is about to become a revision: the device its revision name
//! carries. A version in the history was written by the device whose snapshot last introduced
//! that content at that path, found by walking back from a snapshot (this device's base for a
//! restore, the hub's head for a conflict) until the path held something else. A restore or a
//! conflict must not label another device's words with the name of this device or of the
//! head's (`syncd revisions` would say "from laptop" for the phone's note).

use super::{HistoryError, Node, Objects, Walk};
use crate::hub::Hub;
use crate::id::ObjectId;
use crate::local::LocalVault;
use crate::paths::VaultPath;

/// Names the device that wrote a path's content, with the history this device can read.
pub(crate) struct Authors<'h> {
    /// `None` without a hub to read the history from (then every version is this device's).
    objects: Option<Objects<'h>>,
    /// Where the walks start.
    from: Option<ObjectId>,
    local: String,
}

impl<'h> Authors<'h> {
    /// Walks from `from` (a snapshot), reading the local store and then `hub`.
    pub fn new(
        vault: &LocalVault,
        hub: Option<&'h dyn Hub>,
        from: Option<ObjectId>,
    ) -> Authors<'h> {
        let objects = hub.and_then(|hub| Objects::new(vault, hub).ok());
        Authors {
            objects,
            from,
            local: vault.config().device_name.clone(),
        }
    }

    /// For a restore (walking from this device's base): the device that wrote the content
    /// `id` now at `path`: this device for a version the base snapshot does not hold there
    /// (an edit not synced yet), else the device of the snapshot that introduced it. When the
    /// history cannot be read (no hub, offline), this device, with a warning in the log.
    pub fn of(&mut self, path: &VaultPath, id: ObjectId) -> String {
        match self.introduced_by(path, id) {
            Ok(Some(name)) => name,
            Ok(None) => self.local.clone(),
            Err(e) => {
                tracing::warn!(%path, "cannot tell which device wrote the current version ({e}); naming it after this device");
                self.local.clone()
            }
        }
    }

    /// The device of the snapshot that introduced `id` at `path`, walking back from the
    /// start; `None` when the start does not hold it there.
    pub fn introduced_by(
        &mut self,
        path: &VaultPath,
        id: ObjectId,
    ) -> Result<Option<String>, HistoryError> {
        let Some(objects) = &mut self.objects else {
            return Ok(None);
        };
        introduced_by(objects, self.from, path, id)
    }
}

/// The device of the snapshot that introduced `id` at `path`, walking back from `from`;
/// `None` when `from` does not hold it there. Shared by [`Authors`] (a device) and
/// [`super::HubHistory::author`] (the server, hub only).
pub(crate) fn introduced_by(
    objects: &mut Objects,
    from: Option<ObjectId>,
    path: &VaultPath,
    id: ObjectId,
) -> Result<Option<String>, HistoryError> {
    let mut walk = Walk::new(objects, from)?;
    let mut author = None;
    while let Some((_, snap)) = walk.next(objects)? {
        match objects.node_at(Some(snap.tree), path)? {
            Some(Node::File(meta)) if meta.id == id => author = Some(snap.device_name),
            _ => break,
        }
    }
    Ok(author)
}
