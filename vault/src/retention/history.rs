//! The snapshots of a hub as retention sees them, and what a policy would keep of them now
//! (the preview `syncd hub retention` and `vault-server retention` print).

use std::collections::HashSet;

use crate::history::{HistoryError, Known, Objects, Walk};
use crate::hub::Hub;
use crate::id::ObjectId;

use super::{Policy, SnapshotInfo, kept};

/// Every snapshot reachable from the hub's head (newest first), read from `hub` alone, each
/// hash-checked; and the head (`None`: no history yet).
pub fn snapshot_infos(
    hub: &dyn Hub,
) -> Result<(Option<ObjectId>, Vec<SnapshotInfo>), HistoryError> {
    let head = hub.head()?;
    let mut objects = Objects::hub_only(hub, Known::default());
    let mut walk = Walk::new(&mut objects, head)?;
    let mut out = Vec::new();
    while let Some((id, snap)) = walk.next(&mut objects)? {
        out.push(SnapshotInfo {
            id,
            time_ns: snap.time_ns,
            parents: snap.parents,
        });
    }
    Ok((head, out))
}

/// What a policy keeps of a hub's history at one time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Preview {
    /// Snapshots in the history (all of them keep their snapshot object).
    pub snapshots: usize,
    /// Of those, how many the policy keeps the files of.
    pub keep_files: usize,
    /// How many of the others still have their files on the hub (gc would free them).
    pub to_thin: usize,
    /// How many already lost their files (thinned by an earlier gc).
    pub thinned: usize,
}

/// The preview of `policy` over `hub`'s history at `now_ns`.
pub fn preview(hub: &dyn Hub, policy: &Policy, now_ns: i64) -> Result<Preview, HistoryError> {
    let (head, infos) = snapshot_infos(hub)?;
    let Some(head) = head else {
        return Ok(Preview {
            snapshots: 0,
            keep_files: 0,
            to_thin: 0,
            thinned: 0,
        });
    };
    let keep = kept(&infos, head, policy, now_ns);
    let mut objects = Objects::hub_only(hub, Known::default());
    let trees: Vec<ObjectId> = objects
        .snapshots(&infos.iter().map(|s| s.id).collect::<Vec<_>>())?
        .into_iter()
        .map(|s| s.tree)
        .collect();
    let absent: HashSet<ObjectId> = missing(hub, &trees)?;
    let mut p = Preview {
        snapshots: infos.len(),
        keep_files: 0,
        to_thin: 0,
        thinned: 0,
    };
    for (info, tree) in infos.iter().zip(&trees) {
        if keep.contains(&info.id) {
            p.keep_files += 1;
        } else if absent.contains(tree) {
            p.thinned += 1;
        } else {
            p.to_thin += 1;
        }
    }
    Ok(p)
}

/// Which of `ids` the hub lacks, asked in batches.
pub(crate) fn missing(hub: &dyn Hub, ids: &[ObjectId]) -> Result<HashSet<ObjectId>, HistoryError> {
    let unique: Vec<ObjectId> = ids.iter().copied().collect::<HashSet<_>>().into_iter().collect();
    let mut out = HashSet::new();
    for chunk in unique.chunks(4096) {
        out.extend(hub.missing(chunk)?);
    }
    Ok(out)
}
