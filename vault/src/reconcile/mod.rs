//! Three-way merge of base, local and remote trees into a plan: the tree to publish and the
//! actions that bring the local folder to it. Pure: data in, data out, no disk.
//!
//! A sync round runs this after every edit, so it must cost about what the changes cost, not
//! what the vault holds: a path identical in all three trees needs no decision (it stays as it
//! is and no action touches it), so one merge-join pass over the sorted trees (`diff.rs`) sets
//! those aside, and the rules (`merge.rs`), rename detection and name clashes (`clashes.rs`)
//! only see the rest. `reference.rs` (tests only) keeps the plain per-path version this must
//! agree with.

use crate::object::{FileMeta, FlatTree};
use crate::paths::VaultPath;

use diff::Diff;
use merge::Merge;

pub use evidence::{BACKWARD_SLACK_NS, Deletion, Evidence};

/// One change to make to the local folder. Each carries what the path must still hold
/// (`expect`), so `apply` can refuse to touch a file that changed since the scan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Rename a local file, keeping its bytes and times (a rename seen on the other side, or a
    /// local version moving into `.revisions/`). `to` must not exist.
    Move {
        from: VaultPath,
        to: VaultPath,
        expect: FileMeta,
    },
    /// Remove a local file.
    Delete { path: VaultPath, expect: FileMeta },
    /// Put blob `meta.id` at `path`, with `meta`'s modification time and mode.
    /// `expect: None` means the path must not exist.
    Write {
        path: VaultPath,
        meta: FileMeta,
        expect: Option<FileMeta>,
    },
    /// Same bytes on both sides; only adopt `meta`'s modification time and mode.
    Touch {
        path: VaultPath,
        meta: FileMeta,
        expect: FileMeta,
    },
}

impl Action {
    /// The path this action changes (for a move: where the file ends up).
    pub fn path(&self) -> &VaultPath {
        match self {
            Action::Move { to, .. } => to,
            Action::Delete { path, .. }
            | Action::Write { path, .. }
            | Action::Touch { path, .. } => path,
        }
    }
}

/// Which side of a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Local,
    Remote,
}

/// How two versions of one path collided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Both sides changed (or both added) the path, to different bytes.
    BothChanged,
    /// Two different paths that a case-insensitive or normalising filesystem would merge.
    NameClash,
    /// One side put back a version older than the one it replaced, or a note deleted since (a
    /// backup restored with its modification times): the newer state keeps the path.
    OlderVersion,
}

/// A conflict and how it was resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conflict {
    pub path: VaultPath,
    pub kind: ConflictKind,
    /// The side whose version keeps the path.
    pub winner: Side,
    /// Where the losing version was kept.
    pub revision: VaultPath,
}

/// Who is on each side, for the conflict rule and revision names.
#[derive(Debug, Clone)]
pub struct Devices {
    pub local_id: String,
    pub local_name: String,
    /// The device that wrote the remote head snapshot.
    pub remote_id: String,
    pub remote_name: String,
    /// For revision names: the device that wrote the hub's version of a path, where that is
    /// not the head's device (the round finds them in the history for the paths in conflict;
    /// empty: the head's device for every path).
    pub remote_authors: std::collections::HashMap<VaultPath, String>,
}

impl Devices {
    /// The name a revision of the hub's version of `path` carries.
    pub fn remote_name_for(&self, path: &VaultPath) -> &str {
        self.remote_authors
            .get(path)
            .map_or(self.remote_name.as_str(), String::as_str)
    }
}

/// The outcome of [`reconcile`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The tree to publish: what the folder holds once `actions` are applied.
    pub merged: FlatTree,
    /// In order: moves, deletes, writes, touches (deletes before writes, so a case-only rename
    /// never overwrites the file it renames on a case-insensitive filesystem).
    pub actions: Vec<Action>,
    pub conflicts: Vec<Conflict>,
    /// Paths whose local deletion this plan publishes.
    pub local_deletes: usize,
}

/// Merge `local` and `remote`, which both descend from `base` (empty for a device that has never
/// synced, so every difference becomes a conflict and nothing is deleted).
///
/// The rules (see `docs/sync.md`):
/// - a path changed on one side only takes that side (including a deletion);
/// - changed on both sides to the same bytes is no conflict (the newer time is kept);
/// - edited on one side and deleted on the other: the edit wins, so no words are lost;
/// - changed on both sides to different bytes: the newer modification time keeps the path (ties:
///   the greater device id), the other version is kept under `.revisions/`;
/// - a rename (a deleted path whose bytes reappear at a new path with the same modification
///   time, one-to-one, not empty) on one side and an edit of the old path on the other: the
///   edit moves to the new name; without that evidence it is a delete plus an add;
/// - a change whose modification time goes back more than [`BACKWARD_SLACK_NS`] before base's
///   version (a backup put back) never simply wins: the other side's version (or deletion)
///   keeps the path and the older-looking one goes under `.revisions/`;
/// - paths under `is_ignored` are left as the remote has them and never touched locally;
/// - two paths that only differ in case or Unicode normalisation cannot both exist on macOS or
///   Windows: the newcomer is kept under `.revisions/` instead.
pub fn reconcile(
    base: &FlatTree,
    local: &FlatTree,
    remote: &FlatTree,
    devices: &Devices,
    is_ignored: &dyn Fn(&VaultPath) -> bool,
) -> Plan {
    reconcile_with(
        base,
        local,
        remote,
        devices,
        &Evidence::default(),
        is_ignored,
    )
}

/// [`reconcile`] with what the round learned from the history: a local file at a path base
/// lacks that is an old copy of a note deleted since ([`Evidence::resurrected`]) is kept under
/// `.revisions/` rather than published at its path.
pub fn reconcile_with(
    base: &FlatTree,
    local: &FlatTree,
    remote: &FlatTree,
    devices: &Devices,
    evidence: &Evidence,
    is_ignored: &dyn Fn(&VaultPath) -> bool,
) -> Plan {
    let diff = Diff::new(base, local, remote);
    Merge::new(base, local, remote, devices, evidence).run(diff, is_ignored)
}

/// The conflict rule: the newer modification time wins; equal times go to the greater device id,
/// so every device that merges the same pair picks the same winner.
pub fn local_wins(l: &FileMeta, r: &FileMeta, devices: &Devices) -> bool {
    (l.mtime_ns, devices.local_id.as_str()) > (r.mtime_ns, devices.remote_id.as_str())
}

mod clashes;
mod diff;
pub mod evidence;
mod merge;

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
