//! A vault's history as `syncd log`, `syncd show` and `syncd restore --at` reach it: the
//! snapshots reachable from the hub's head, newest first; for one path only the snapshots that
//! changed it; the files deleted and by whom ([`deleted`]); and any version of any path at a
//! snapshot or a time ([`snapshot_at`], [`show`]; `crate::restore::at` writes them back).
//!
//! Snapshots and trees come from this device's store (`.vault/objects`) when it has them, else
//! from the hub. Every object fetched is hashed and compared with its id and goes through the
//! strict decoders, so a damaged or hostile hub can cause an error but never a wrong answer or a
//! crash. Nothing is written: reading history needs no lock and changes neither side.
//!
//! For a path, only the trees on the way to it are loaded (Merkle descent), and the descent stops
//! as soon as a snapshot and its parent share the subtree: a log of one note in a vault of
//! thousands of folders reads a handful of trees per snapshot.

pub(crate) mod at;
mod author;
mod changes;
mod content;
mod deleted;
mod objects;
mod on_hub;
mod thinned;

use crate::hub::{Hub, HubError};
use crate::id::ObjectId;
use crate::local::{LocalError, LocalVault};
use crate::object::{ObjectError, Snapshot};
use crate::paths::VaultPath;
use crate::store::StoreError;

pub use at::{At, Shown, Version, show, show_to, snapshot_at};
pub(crate) use author::Authors;
pub use changes::{PathChange, pair_renames};
pub use deleted::{Deletion, deleted};
pub use objects::Known;
pub(crate) use objects::{Node, Objects, Walk};
pub use on_hub::{HubHistory, log_hub};

/// How a snapshot changed one path, compared with its first parent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FileChange {
    /// The path appeared with blob `id`; `renamed_from` when those bytes left another path in
    /// the same snapshot (a rename).
    Added {
        id: ObjectId,
        renamed_from: Option<VaultPath>,
    },
    /// The bytes (or the executable bit) changed.
    Modified { from: ObjectId, to: ObjectId },
    /// The path went away; `renamed_to` when its bytes appeared at another path.
    Deleted {
        id: ObjectId,
        renamed_to: Option<VaultPath>,
    },
}

/// One snapshot in the log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogEntry {
    pub snapshot: ObjectId,
    /// When the snapshot was made (ns since the Unix epoch, by the clock of its device).
    pub time_ns: i64,
    pub device_id: String,
    pub device_name: String,
    pub parents: Vec<ObjectId>,
    pub tree: ObjectId,
    /// For a log of one path: what this snapshot did to it. `None` in a log of everything.
    pub change: Option<FileChange>,
    /// Whether the hub still holds this snapshot's files (its tree): `false` once the hub's
    /// retention policy thinned it (the snapshot stays in the log; its files are gone).
    pub kept: bool,
    /// For a log of one path, when the first parent's files were thinned: the nearest kept
    /// snapshot before, which `change` is against instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared_with: Option<ObjectId>,
}

/// Why the history could not be read. Nothing was changed in any of these cases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("this device's object store `.vault/objects`: {0}")]
    Store(#[from] StoreError),
    #[error(
        "the hub `{hub}` sent {got} object(s) for {asked} requested; the hub is damaged or faulty: check it, or point this vault at another hub"
    )]
    Miscount {
        hub: String,
        asked: usize,
        got: usize,
    },
    #[error(
        "the hub `{hub}` sent object {id} with bytes that hash to {actual}; the hub is damaged or was written by a faulty client: check it, or run `syncd sync` on a healthy device to upload the object again"
    )]
    Damaged {
        hub: String,
        id: ObjectId,
        actual: ObjectId,
    },
    #[error(
        "the history holds an object that cannot be used ({0}); the hub or this device's `.vault/objects` is damaged: run `syncd verify`, and `syncd sync` on a healthy device"
    )]
    Object(#[from] ObjectError),
    #[error("the hub has no snapshots yet, so there is no history to look at")]
    NoHistory,
    /// A large file's lists or chunks do not make the file they should (a damaged or hostile
    /// source: wrong kind, lengths that do not add up, a piece not sent).
    #[error(
        "the history's copy of file {id} cannot be read: {detail}; run `syncd verify`, and `syncd sync --full-verify` on a device that has the file"
    )]
    Content { id: ObjectId, detail: String },
    /// Writing a file's bytes out (to a temp file, or standard output) failed.
    #[error("writing the file's bytes: {0}")]
    Write(#[source] std::io::Error),
    #[error(
        "`{0}` names no snapshot: a snapshot is named by at least 4 of the hex digits `syncd log` prints"
    )]
    BadSnapshotName(String),
    #[error(
        "no snapshot on the hub starts with `{0}`; `syncd log` lists them (a snapshot made after the hub's head, or never published, is not in the history)"
    )]
    UnknownSnapshot(String),
    #[error("`{prefix}` is the start of {count} snapshots ({examples}); give more of its digits")]
    AmbiguousSnapshot {
        prefix: String,
        count: usize,
        examples: String,
    },
    #[error(
        "no snapshot was made at or before {time}: the oldest on the hub is {oldest} ({oldest_time}); give a later time"
    )]
    TooEarly {
        time: String,
        oldest: String,
        oldest_time: String,
    },
    #[error("{0}")]
    NotThere(String),
    #[error(
        "snapshot {snapshot} ({time}) no longer has its files on the hub: the hub's retention policy thinned it (`syncd hub retention` shows the policy); {nearest}"
    )]
    Thinned {
        snapshot: String,
        time: String,
        nearest: String,
    },
    #[error(
        "`{path}` is a folder in snapshot {snapshot}; `syncd show` prints one file: name a file in it, or bring the whole folder back with `syncd restore {path} --at {snapshot}`"
    )]
    IsAFolder { path: VaultPath, snapshot: String },
}

/// The snapshots reachable from the hub's head, newest first (by snapshot time; ties by id),
/// each once, at most `limit` of them. With `path`, only snapshots in which that path's content
/// differs from the snapshot's first parent are listed, each with its [`FileChange`].
pub fn log(
    vault: &LocalVault,
    hub: &dyn Hub,
    path: Option<&VaultPath>,
    limit: usize,
) -> Result<Vec<LogEntry>, HistoryError> {
    let mut objects = Objects::new(vault, hub)?;
    let head = hub.head()?;
    log_walk(&mut objects, head, path, None, limit)
}

/// The log from `head` (see [`log`]), the entries up to and including `after` left out
/// (paging: `after` is the last entry of the page before; [`HistoryError::UnknownSnapshot`]
/// when the walk never meets it).
pub(crate) fn log_walk(
    objects: &mut Objects,
    head: Option<ObjectId>,
    path: Option<&VaultPath>,
    after: Option<ObjectId>,
    limit: usize,
) -> Result<Vec<LogEntry>, HistoryError> {
    let mut walk = Walk::new(objects, head)?;
    let mut out = Vec::new();
    let mut skipping = after;
    while out.len() < limit {
        let Some((id, snap)) = walk.next(objects)? else {
            if let Some(after) = skipping {
                return Err(HistoryError::UnknownSnapshot(after.to_hex()));
            }
            break;
        };
        if let Some(after) = skipping {
            if id == after {
                skipping = None;
            }
            continue;
        }
        let (change, compared_with) = match path {
            None => (None, None),
            Some(path) => {
                // Against the first parent; if that one was thinned, against the nearest
                // kept snapshot before; a thinned snapshot itself is left out (its change
                // shows in the next kept one).
                let tree = snap.tree;
                let found = thinned::against_kept(objects, &snap, |o, base| {
                    Ok(o.change(tree, base.map(|b| b.1), path)?
                        .map(|c| (c, base.map(|b| b.0))))
                })?;
                match found.flatten() {
                    Some((change, base)) => (
                        Some(change),
                        base.filter(|b| Some(b) != snap.parents.first()),
                    ),
                    None => continue,
                }
            }
        };
        let mut entry = LogEntry::of(id, snap, change);
        entry.compared_with = compared_with;
        out.push(entry);
    }
    thinned::mark_kept(objects, &mut out)?;
    Ok(out)
}

impl LogEntry {
    fn of(snapshot: ObjectId, snap: Snapshot, change: Option<FileChange>) -> LogEntry {
        LogEntry {
            snapshot,
            time_ns: snap.time_ns,
            device_id: snap.device_id,
            device_name: snap.device_name,
            parents: snap.parents,
            tree: snap.tree,
            change,
            kept: true,
            compared_with: None,
        }
    }
}

#[cfg(test)]
#[path = "history/at_tests.rs"]
mod at_tests;
#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
#[cfg(test)]
#[path = "history/thinned_tests.rs"]
mod thinned_tests;
