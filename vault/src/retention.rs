//! History retention: which snapshots keep their files when a hub is cleaned (`hub gc`).
//!
//! CONTRACT (skeleton of issue 18; the retention work fills it in, the gc work calls it):
//! snapshot objects themselves are always kept (they are a few hundred bytes, and keeping them
//! keeps the history's shape: `syncd log` still lists every round); what retention thins is
//! which snapshots' *trees* (and so the file versions only they reach) gc keeps. The head is
//! always kept, and with it every current file and everything in `.revisions/`.

use std::collections::HashSet;

use crate::id::ObjectId;

/// What the user chose. The default keeps everything.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "keep", rename_all = "snake_case")]
pub enum Policy {
    #[default]
    All,
}

/// What retention needs to know of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub id: ObjectId,
    pub time_ns: i64,
    pub parents: Vec<ObjectId>,
}

/// The snapshots whose trees are kept, of `snapshots` (every snapshot reachable from `head`),
/// under `policy` at time `now_ns`. Always contains `head`. Pure.
pub fn kept(
    snapshots: &[SnapshotInfo],
    head: ObjectId,
    policy: &Policy,
    _now_ns: i64,
) -> HashSet<ObjectId> {
    let mut kept: HashSet<ObjectId> = match policy {
        Policy::All => snapshots.iter().map(|s| s.id).collect(),
    };
    kept.insert(head);
    kept
}
