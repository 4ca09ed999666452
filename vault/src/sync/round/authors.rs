//! Which device wrote the hub's version of each path in conflict, for the names of the
//! revisions that keep them: the head's device made the last snapshot, but the version at a
//! path may be another device's, published earlier (see `history/author.rs`).

use std::collections::HashMap;

use crate::history::Authors;
use crate::id::ObjectId;
use crate::object::FlatTree;
use crate::paths::VaultPath;
use crate::reconcile::{Devices, Plan};

use super::Round;

impl Round<'_> {
    /// The paths of `plan`'s conflicts whose hub version (in `remote`, the tree of `head`) a
    /// device other than the head's wrote, with that device's name. Conflicts are rare, so
    /// the walks back through the history cost nothing on an ordinary round; a history that
    /// cannot be read leaves the head's name (logged).
    pub(super) fn remote_authors(
        &self,
        plan: &Plan,
        remote: &FlatTree,
        head: Option<ObjectId>,
        devices: &Devices,
    ) -> HashMap<VaultPath, String> {
        let mut found = HashMap::new();
        if plan.conflicts.is_empty() || head.is_none() {
            return found;
        }
        let mut authors = Authors::new(self.vault, Some(self.hub), head);
        for conflict in &plan.conflicts {
            let Some(meta) = remote.get(&conflict.path) else {
                continue;
            };
            match authors.introduced_by(&conflict.path, meta.id) {
                Ok(Some(name)) if name != devices.remote_name => {
                    found.insert(conflict.path.clone(), name);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    path = %conflict.path,
                    "cannot tell which device wrote the hub's version ({e}); naming its revision after the head's device"
                ),
            }
        }
        found
    }
}
