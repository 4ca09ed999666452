//! Reading and changing a vault on its hub, without a folder: what the server's web view
//! does when it shows a snapshot, ticks a task or restores a revision. A change is published
//! as a snapshot of its own (by a device such as `web`), whose parent is the head the change
//! was made against, so devices pull it like any other device's change and the history
//! keeps every version it replaced.
//!
//! The head moves only by compare-and-swap from the head the caller read: when another
//! device moved it in between, nothing is published ([`WriteError::Moved`]) and the caller
//! shows the current state rather than overwriting a change it has not seen.

use std::collections::HashMap;

use crate::hub::{CasOutcome, Hub, HubError};
use crate::id::ObjectId;
use crate::object::{FileMeta, FlatTree, Kind, Object, ObjectError, Snapshot, Tree};
use crate::paths::VaultPath;

/// Most ids in one `get`.
const IDS_PER_GET: usize = 1024;

/// Why a snapshot could not be read or a change published. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("the vault's {what} {id} is damaged: {source}")]
    Malformed {
        what: &'static str,
        id: ObjectId,
        #[source]
        source: ObjectError,
    },
    /// The head is no longer the one the change was made against.
    #[error("the vault changed since this page was shown; nothing was written")]
    Moved { actual: Option<ObjectId> },
    /// A file read into memory (a note to render, a diff) is larger than its reader takes.
    #[error("file {id} holds more than {max} bytes, too many to read into memory here")]
    TooLarge { id: ObjectId, max: u64 },
    /// The change would put a file where a folder is, or under a file.
    #[error("`{path}` cannot be written: {reason}")]
    Blocked {
        path: VaultPath,
        reason: &'static str,
    },
}

impl From<ObjectError> for WriteError {
    fn from(source: ObjectError) -> WriteError {
        WriteError::Malformed {
            what: "object",
            id: ObjectId::of(&[]),
            source,
        }
    }
}

/// Who publishes a change, as it appears in the snapshot (and so in `syncd log` and in the
/// names of revisions).
#[derive(Debug, Clone)]
pub struct Author {
    pub device_id: String,
    pub device_name: String,
}

/// One path's new content; `None` removes the file.
#[derive(Debug, Clone)]
pub struct Edit {
    pub path: VaultPath,
    pub content: Option<Vec<u8>>,
}

/// `hub.get(ids)`, refused unless every id came back.
fn get_every(hub: &dyn Hub, ids: &[ObjectId]) -> Result<Vec<Object>, WriteError> {
    let objects = hub.get(ids)?;
    if objects.len() != ids.len() {
        return Err(HubError::Missing {
            ids: ids.to_vec(),
            hub: hub.describe(),
        }
        .into());
    }
    Ok(objects)
}

/// Fetch `ids` from the hub, each checked against its id and `kind`, in requests of at most
/// [`IDS_PER_GET`].
pub fn fetch(hub: &dyn Hub, ids: &[ObjectId], kind: Kind) -> Result<Vec<Vec<u8>>, WriteError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_GET) {
        let objects = get_every(hub, chunk)?;
        for (id, o) in chunk.iter().zip(objects) {
            crate::object::verify(*id, o.kind, kind, &o.bytes).map_err(|source| {
                WriteError::Malformed {
                    what: kind_name(kind),
                    id: *id,
                    source,
                }
            })?;
            out.push(o.bytes);
        }
    }
    Ok(out)
}

/// The bytes of files `ids` (in order), each checked: a blob as it is, a large file's chunk
/// list read chunk by chunk ([`crate::content::write_content`]). For readers that need a
/// file in memory by nature (a note to render or index); a file of more than `max` bytes is
/// refused ([`WriteError::TooLarge`]) before it is read whole, so callers that hold many
/// should leave large files out by their size first.
pub fn fetch_files(hub: &dyn Hub, ids: &[ObjectId], max: u64) -> Result<Vec<Vec<u8>>, WriteError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_GET) {
        let objects = get_every(hub, chunk)?;
        for (id, o) in chunk.iter().zip(objects) {
            if o.kind == Kind::Chunks {
                out.push(read_file(hub, *id, max)?);
                continue;
            }
            crate::object::verify(*id, o.kind, Kind::Blob, &o.bytes).map_err(|source| {
                WriteError::Malformed {
                    what: "file",
                    id: *id,
                    source,
                }
            })?;
            if o.bytes.len() as u64 > max {
                return Err(WriteError::TooLarge { id: *id, max });
            }
            out.push(o.bytes);
        }
    }
    Ok(out)
}

/// The bytes of file `id` (a blob or a chunk list), at most `max` of them.
pub fn read_file(hub: &dyn Hub, id: ObjectId, max: u64) -> Result<Vec<u8>, WriteError> {
    let mut out = Capped {
        bytes: Vec::new(),
        max,
    };
    match crate::content::write_content(&mut |ids| hub.get(ids), id, &mut out) {
        Ok(_) => Ok(out.bytes),
        Err(crate::content::ReadError::Source(e)) => Err(e.into()),
        Err(crate::content::ReadError::Write(_)) => Err(WriteError::TooLarge { id, max }),
        Err(crate::content::ReadError::Object(source)) => Err(WriteError::Malformed {
            what: "file",
            id,
            source,
        }),
        Err(other) => Err(WriteError::Malformed {
            what: "file",
            id,
            source: ObjectError::Malformed {
                what: "file",
                line: 0,
                reason: other.to_string(),
            },
        }),
    }
}

/// A `Vec` that refuses to grow past `max` bytes.
struct Capped {
    bytes: Vec<u8>,
    max: u64,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.max {
            return Err(std::io::Error::other("over the limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Blob => "file",
        Kind::Chunks => "chunk list",
        Kind::Tree => "tree",
        Kind::Snapshot => "snapshot",
    }
}

/// The snapshot `id`.
pub fn snapshot(hub: &dyn Hub, id: ObjectId) -> Result<Snapshot, WriteError> {
    let bytes = fetch(hub, &[id], Kind::Snapshot)?.remove(0);
    Snapshot::decode(&bytes).map_err(|source| WriteError::Malformed {
        what: "snapshot",
        id,
        source,
    })
}

/// Every file of the tree `root`, its subtrees fetched a level at a time.
pub fn files(hub: &dyn Hub, root: ObjectId) -> Result<FlatTree, WriteError> {
    let mut trees: HashMap<ObjectId, Tree> = HashMap::new();
    let mut level = vec![root];
    while !level.is_empty() {
        level.retain(|id| !trees.contains_key(id));
        level.sort();
        level.dedup();
        let mut next = Vec::new();
        for (id, bytes) in level.iter().zip(fetch(hub, &level, Kind::Tree)?) {
            let tree = Tree::decode(&bytes).map_err(|source| WriteError::Malformed {
                what: "tree",
                id: *id,
                source,
            })?;
            next.extend(tree.entries.values().filter_map(|e| match e {
                crate::object::EntryKind::Dir(d) => Some(*d),
                crate::object::EntryKind::File(_) => None,
            }));
            trees.insert(*id, tree);
        }
        level = next;
    }
    // A tree is read once however many folders hold it (two folders alike are one object),
    // so the walk takes a copy each time it reaches one.
    crate::object::flatten(root, &mut |id| {
        trees
            .get(&id)
            .cloned()
            .ok_or(WriteError::Hub(HubError::Missing {
                ids: vec![id],
                hub: hub.describe(),
            }))
    })
}

/// The files of the tree `new_root` from `old`, the files of the tree `old_root`, and what
/// changed: only the subtrees whose id changed are fetched, a level of them per request (see
/// [`crate::object::flatten_since`]), so a snapshot that edits a few notes of a large vault
/// costs a few tree reads.
pub fn files_since(
    hub: &dyn Hub,
    old_root: ObjectId,
    old: &FlatTree,
    new_root: ObjectId,
) -> Result<(FlatTree, crate::object::FlatChanges), WriteError> {
    crate::object::flatten_since(old_root, old, new_root, &mut |ids| {
        let fetched = fetch(hub, ids, Kind::Tree)?;
        ids.iter()
            .zip(fetched)
            .map(|(&id, bytes)| {
                Tree::decode(&bytes).map_err(|source| WriteError::Malformed {
                    what: "tree",
                    id,
                    source,
                })
            })
            .collect()
    })
}

/// Publish `edits` on top of `head` (whose files are `files`) as a snapshot by `author` at
/// `time_ns`; a written file gets `time_ns` as its modification time. Returns the new head.
///
/// The blobs, trees and snapshot are stored first; the head then moves only if it is still
/// `head` ([`WriteError::Moved`] otherwise, and the stored objects are unreferenced).
pub fn publish(
    hub: &dyn Hub,
    head: Option<ObjectId>,
    files: &FlatTree,
    edits: &[Edit],
    author: &Author,
    time_ns: i64,
) -> Result<ObjectId, WriteError> {
    let merged = apply_edits(files, edits, time_ns)?;
    let (root, mut objects) = crate::object::build_trees(&merged);
    // A file's objects: one blob, or (from CHUNKED_FROM on) its chunks and lists, children
    // first; the id in the tree is the same content id every device's scan computes.
    let blobs = edits
        .iter()
        .filter_map(|e| e.content.as_ref())
        .flat_map(|bytes| crate::content::objects_of(bytes).1);
    let mut all: Vec<Object> = blobs.collect();
    all.append(&mut objects);
    let snapshot = Snapshot {
        tree: root,
        parents: head.into_iter().collect(),
        device_id: author.device_id.clone(),
        device_name: author.device_name.clone(),
        time_ns,
    }
    .to_object();
    let new = snapshot.id();
    all.push(snapshot);
    let ids: Vec<ObjectId> = all.iter().map(Object::id).collect();
    let missing: std::collections::HashSet<ObjectId> = hub.missing(&ids)?.into_iter().collect();
    let mut seen = std::collections::HashSet::new();
    all.retain(|o| {
        let id = o.id();
        missing.contains(&id) && seen.insert(id)
    });
    if !all.is_empty() {
        hub.put(&all)?;
    }
    match hub.cas_head(head, new)? {
        CasOutcome::Updated => Ok(new),
        CasOutcome::Conflict { actual } => Err(WriteError::Moved { actual }),
    }
}

/// `files` with `edits` applied (pure): a removed path must exist; a written path must not be
/// a folder or lie under a file.
pub fn apply_edits(files: &FlatTree, edits: &[Edit], time_ns: i64) -> Result<FlatTree, WriteError> {
    let mut merged = files.clone();
    for edit in edits {
        match &edit.content {
            None => {
                if merged.remove(&edit.path).is_none() {
                    return Err(WriteError::Blocked {
                        path: edit.path.clone(),
                        reason: "there is no such file",
                    });
                }
            }
            Some(bytes) => {
                if let Some(reason) = clash(&merged, &edit.path) {
                    return Err(WriteError::Blocked {
                        path: edit.path.clone(),
                        reason,
                    });
                }
                let executable = merged.get(&edit.path).is_some_and(|m| m.executable);
                merged.insert(
                    edit.path.clone(),
                    FileMeta {
                        id: crate::content::content_id(&bytes[..], bytes.len() as u64)
                            .expect("reading memory cannot fail")
                            .0,
                        size: bytes.len() as u64,
                        mtime_ns: time_ns,
                        executable,
                    },
                );
            }
        }
    }
    Ok(merged)
}

/// Why a file cannot be written at `path` among `files` (pure): it is a folder (a file lies
/// under it), or a file is where one of its folders would be. `None`: it can.
pub fn clash(files: &FlatTree, path: &VaultPath) -> Option<&'static str> {
    let mut folder = path.parent();
    while let Some(f) = folder {
        if files.contains_key(&f) {
            return Some("a file is where its folder would be");
        }
        folder = f.parent();
    }
    let below = format!("{}/", path.as_str());
    // Paths sort by their bytes, so all those starting with this one's text follow it in
    // one run.
    let is_folder = files
        .range(path.clone()..)
        .take_while(|(p, _)| p.as_str().starts_with(path.as_str()))
        .any(|(p, _)| p.as_str().starts_with(&below));
    is_folder.then_some("it is a folder")
}

/// The modification time of a version the web view writes at `now_ns` over `replaced`: now,
/// but never before the version it replaces. A device whose clock ran ahead saved that one
/// "later", and a write dated before it would look to the devices like an older version put
/// back (docs/sync.md), which they keep aside instead of taking.
pub fn write_time(now_ns: i64, replaced: Option<&FileMeta>) -> i64 {
    replaced.map_or(now_ns, |m| now_ns.max(m.mtime_ns.saturating_add(1)))
}

#[cfg(test)]
#[path = "hub_write_tests.rs"]
mod tests;
