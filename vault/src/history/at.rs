//! What `--at SNAPSHOT|TIME` names: one snapshot reachable from the hub's head, and what a
//! path was in it. A path that was not there gets an error naming the nearest snapshots that
//! hold it, so the user can pick one without reading the whole log.

use crate::hub::Hub;
use crate::local::LocalVault;
use crate::object::FileMeta;
use crate::paths::VaultPath;

use super::objects::{Node, Objects, Walk};
use super::{FileChange, HistoryError, LogEntry};

/// Shortest snapshot prefix taken: fewer digits would match by chance in any real history.
pub const MIN_PREFIX: usize = 4;

/// A point in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// The snapshot whose id starts with these hex digits (lowercase, at least `MIN_PREFIX` = 4).
    Snapshot(String),
    /// The newest snapshot made at or before this time (ns since the Unix epoch).
    Time(i64),
}

impl At {
    /// `text` as a snapshot name, if it is one: at least `MIN_PREFIX` (4) hex digits.
    pub fn snapshot(text: &str) -> Option<At> {
        let ok =
            (MIN_PREFIX..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit());
        ok.then(|| At::Snapshot(text.to_ascii_lowercase()))
    }
}

/// One version of one file in the history.
#[derive(Debug, Clone)]
pub struct Version {
    /// The snapshot it was taken from.
    pub snapshot: LogEntry,
    pub path: VaultPath,
    pub meta: FileMeta,
    /// Its bytes, checked against `meta.id`.
    pub bytes: Vec<u8>,
}

/// `2026-11-23 12:35:14Z`, as `syncd log` prints times.
pub(crate) fn utc(ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%d %H:%M:%SZ")
        .to_string()
}

/// The snapshot `at` names.
pub fn snapshot_at(vault: &LocalVault, hub: &dyn Hub, at: &At) -> Result<LogEntry, HistoryError> {
    resolve(&mut Objects::new(vault, hub)?, at)
}

/// The version of the file `path` in the snapshot `at` names, its bytes in memory: for small
/// files (a note, a test); [`show_to`] streams any file.
pub fn show(
    vault: &LocalVault,
    hub: &dyn Hub,
    path: &VaultPath,
    at: &At,
) -> Result<Version, HistoryError> {
    let mut bytes = Vec::new();
    let shown = show_to(vault, hub, path, at, &mut bytes)?;
    Ok(Version {
        snapshot: shown.snapshot,
        path: shown.path,
        meta: shown.meta,
        bytes,
    })
}

/// Which version [`show_to`] wrote.
#[derive(Debug, Clone)]
pub struct Shown {
    pub snapshot: LogEntry,
    pub path: VaultPath,
    pub meta: FileMeta,
}

/// Write the bytes of the file `path` in the snapshot `at` names to `out`, a large file chunk
/// by chunk (bounded memory), every object checked. Nothing is written when the path is not a
/// file there; a failure part-way leaves `out` with a prefix (the caller says so).
pub fn show_to(
    vault: &LocalVault,
    hub: &dyn Hub,
    path: &VaultPath,
    at: &At,
    out: &mut dyn std::io::Write,
) -> Result<Shown, HistoryError> {
    let mut objects = Objects::new(vault, hub)?;
    let snapshot = resolve(&mut objects, at)?;
    match node(&mut objects, &snapshot, path)? {
        Node::Dir(_) => Err(HistoryError::IsAFolder {
            path: path.clone(),
            snapshot: snapshot.snapshot.short(),
        }),
        Node::File(meta) => {
            objects.write_file(meta.id, out)?;
            Ok(Shown {
                snapshot,
                path: path.clone(),
                meta,
            })
        }
    }
}

/// The snapshot `at` names, found by walking back from the hub's head;
/// [`HistoryError::Thinned`] when the hub no longer holds its files.
pub(crate) fn resolve(objects: &mut Objects, at: &At) -> Result<LogEntry, HistoryError> {
    let found = resolve_any(objects, at)?;
    super::thinned::ensure_kept(objects, &found)?;
    Ok(found)
}

/// The snapshot `at` names, kept or thinned.
fn resolve_any(objects: &mut Objects, at: &At) -> Result<LogEntry, HistoryError> {
    let head = objects.hub.head()?.ok_or(HistoryError::NoHistory)?;
    let mut walk = Walk::new(objects, Some(head))?;
    match at {
        At::Time(t) => {
            // The walk is newest first, so the first snapshot at or before `t` is the answer.
            let mut oldest = None;
            while let Some((id, snap)) = walk.next(objects)? {
                if snap.time_ns <= *t {
                    return Ok(LogEntry::of(id, snap, None));
                }
                oldest = Some((id, snap.time_ns));
            }
            let (oldest, oldest_time) = oldest.ok_or(HistoryError::NoHistory)?;
            Err(HistoryError::TooEarly {
                time: utc(*t),
                oldest: oldest.short(),
                oldest_time: utc(oldest_time),
            })
        }
        At::Snapshot(prefix) => {
            if At::snapshot(prefix).is_none() {
                return Err(HistoryError::BadSnapshotName(prefix.clone()));
            }
            let prefix = prefix.to_ascii_lowercase();
            let mut found = Vec::new();
            while let Some((id, snap)) = walk.next(objects)? {
                if id.to_hex().starts_with(&prefix) {
                    found.push(LogEntry::of(id, snap, None));
                }
            }
            match found.len() {
                0 => Err(HistoryError::UnknownSnapshot(prefix)),
                1 => Ok(found.remove(0)),
                count => Err(HistoryError::AmbiguousSnapshot {
                    prefix,
                    count,
                    examples: found
                        .iter()
                        .take(3)
                        .map(|e| e.snapshot.to_hex()[..16].to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
            }
        }
    }
}

/// What `path` is in `snapshot`, or an error naming the nearest snapshots that hold it.
pub(crate) fn node(
    objects: &mut Objects,
    snapshot: &LogEntry,
    path: &VaultPath,
) -> Result<Node, HistoryError> {
    if let Some(node) = objects.node_at(Some(snapshot.tree), path)? {
        return Ok(node);
    }
    Err(HistoryError::NotThere(not_there(objects, snapshot, path)?))
}

/// Why `path` is not in `snapshot`, and where it is: the last version before and the first
/// after, from the snapshots that added or changed it.
fn not_there(
    objects: &mut Objects,
    snapshot: &LogEntry,
    path: &VaultPath,
) -> Result<String, HistoryError> {
    let head = objects.hub.head()?;
    let mut walk = Walk::new(objects, head)?;
    let (mut before, mut after) = (None, None);
    while let Some((id, snap)) = walk.next(objects)? {
        if before.is_some() {
            break;
        }
        let old = match snap.parents.first() {
            Some(p) => Some(objects.snapshot(*p)?.tree),
            None => None,
        };
        if let Some(FileChange::Added { .. } | FileChange::Modified { .. }) =
            objects.change(snap.tree, old, path)?
        {
            if snap.time_ns <= snapshot.time_ns {
                before = Some((id, snap.time_ns));
            } else {
                after = Some((id, snap.time_ns));
            }
        }
    }
    let mut text = format!(
        "`{path}` is not in snapshot {} ({})",
        snapshot.snapshot.short(),
        utc(snapshot.time_ns)
    );
    let found: Vec<String> = [
        (before, "the last version before"),
        (after, "the next after"),
    ]
    .into_iter()
    .filter_map(|(s, what)| s.map(|(id, t)| format!("{} ({}, {what})", id.short(), utc(t))))
    .collect();
    if found.is_empty() {
        text.push_str(
            ", nor is a file at that path in any snapshot on the hub: check the name (paths are relative to the vault folder, as `syncd log --deleted` prints them)",
        );
    } else {
        text.push_str(&format!(
            "; it is in {}. `syncd log {path}` lists every snapshot that changed it",
            found.join(" and ")
        ));
    }
    Ok(text)
}
