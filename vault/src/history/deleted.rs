//! `syncd log --deleted`: which files each snapshot deleted, when, and on which device.
//!
//! Each snapshot is compared with its first parent by Merkle descent: only subtrees whose ids
//! differ are read, so a long history of small edits costs a few trees per snapshot, not a
//! flattening of every snapshot. A folder deleted whole is reported file by file (each can be
//! restored on its own, and `syncd restore FOLDER --at` brings them all back). A file whose
//! bytes appeared at a path the same snapshot added is reported as renamed, not lost.

use crate::hub::Hub;
use crate::id::ObjectId;
use crate::local::LocalVault;
use crate::paths::VaultPath;

use super::HistoryError;
use super::objects::{Diff, Objects, Walk};
use super::thinned::against_kept;

/// One file a snapshot deleted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Deletion {
    pub path: VaultPath,
    /// The snapshot that deleted it, its time (ns since the Unix epoch, by its device's
    /// clock) and device.
    pub snapshot: ObjectId,
    pub time_ns: i64,
    pub device_id: String,
    pub device_name: String,
    /// The snapshot before (the first parent, or the nearest kept snapshot before when the
    /// retention policy thinned the parent): `syncd restore PATH --at` it brings it back.
    pub before: ObjectId,
    /// The deleted version's blob and size.
    pub id: ObjectId,
    pub size: u64,
    /// Where its bytes went, when the same snapshot added them at another path (a rename).
    pub renamed_to: Option<VaultPath>,
}

/// The files deleted in the history reachable from the hub's head, newest snapshot first
/// (within a snapshot by path), only those at or under `under` when given, at most `limit`.
pub fn deleted(
    vault: &LocalVault,
    hub: &dyn Hub,
    under: Option<&VaultPath>,
    limit: usize,
) -> Result<Vec<Deletion>, HistoryError> {
    let mut objects = Objects::new(vault, hub)?;
    let mut walk = Walk::new(&mut objects, hub.head()?)?;
    let mut out = Vec::new();
    while out.len() < limit {
        let Some((id, snap)) = walk.next(&mut objects)? else {
            break;
        };
        if snap.parents.is_empty() {
            continue; // the first snapshot deletes nothing
        }
        // Against the first parent; if the hub's retention policy thinned it, against the
        // nearest kept snapshot before (whose version `restore --at` can bring back); a
        // thinned snapshot itself is left out (its deletions show in the next kept one).
        let tree = snap.tree;
        let found = against_kept(&mut objects, &snap, |o, base| {
            let Some((parent, old)) = base else {
                return Ok(None);
            };
            if let Some(under) = under
                && o.node_at(Some(old), under)? == o.node_at(Some(tree), under)?
            {
                return Ok(None); // nothing changed there
            }
            let mut diff = Diff::default();
            o.diff(Some(old), Some(tree), &mut diff)?;
            Ok(Some((parent, diff)))
        })?;
        let Some((parent, mut diff)) = found.flatten() else {
            continue;
        };
        diff.gone.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, meta) in diff.gone {
            if under.is_some_and(|u| !is_under(&path, u)) {
                continue;
            }
            if out.len() >= limit {
                break;
            }
            out.push(Deletion {
                renamed_to: diff.added.get(&meta.id).cloned(),
                path,
                snapshot: id,
                time_ns: snap.time_ns,
                device_id: snap.device_id.clone(),
                device_name: snap.device_name.clone(),
                before: parent,
                id: meta.id,
                size: meta.size,
            });
        }
    }
    Ok(out)
}

/// `path` is `folder` or inside it.
fn is_under(path: &VaultPath, folder: &VaultPath) -> bool {
    let (p, f) = (path.as_str(), folder.as_str());
    p == f || (p.starts_with(f) && p.as_bytes().get(f.len()) == Some(&b'/'))
}
