//! Three-way merge of base, local and remote trees into a plan: the tree to publish and the
//! actions that bring the local folder to it. Pure: data in, data out, no disk.

use crate::object::{FileMeta, FlatTree};
use crate::paths::VaultPath;

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
            Action::Delete { path, .. } | Action::Write { path, .. } | Action::Touch { path, .. } => {
                path
            }
        }
    }
}

/// Which side of a merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Local,
    Remote,
}

/// How two versions of one path collided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Both sides changed (or both added) the path, to different bytes.
    BothChanged,
    /// Two different paths that a case-insensitive or normalising filesystem would merge.
    NameClash,
}

/// A conflict and how it was resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
