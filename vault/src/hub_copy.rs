//! Copying a vault's history from one hub to another (`syncd hub set`): every snapshot
//! reachable from the old hub's head, through all its parents, with their trees and files
//! (a blob, or a large file's chunk list, groups and chunks: [`files`]), so that `syncd log`, `show --at` and `restore --at` keep working on the new hub.
//!
//! Only the [`Hub`] trait is used: the old hub is only read (`get`), never written; the new
//! hub is asked what it lacks (`missing`) and given it (`put`) in batches of about
//! [`BATCH_BYTES`]. Every object read is checked against its id. Objects are put children
//! first (blobs and chunks, then a large file's groups and top list, then trees, then
//! snapshots, oldest first), so a hub that holds an object
//! also holds everything below it even when a copy is interrupted: the walk may then stop at
//! any object the new hub already holds, which is how a second device following the first to
//! a new hub copies only what is left.
//!
//! An object the old hub cannot give (damaged or missing there) is taken from this device when
//! it has a copy: its store (`.vault/objects`, trees and snapshots) or a file of the vault
//! whose content has that id ([`LocalCopies`]). What neither has is reported by id and by what
//! needed it ([`CopyError::Incomplete`]), and then no tree or snapshot is put, so the new hub
//! never holds an incomplete history. Moving the new hub's head is the caller's business.

use std::collections::{HashMap, HashSet};

use crate::apply::BATCH_BYTES;
use crate::hub::{Hub, HubError};
use crate::id::ObjectId;
use crate::object::{EntryKind, Kind, Object, ObjectError, Snapshot, Tree};
use crate::progress::{Amount, Phase, Progress};

mod files;
mod local;

pub use local::LocalCopies;

/// Most ids in one `get` or `missing` request.
const IDS_PER_REQUEST: usize = 1024;

/// Why a history could not be copied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    #[error("cannot read the history from the old hub: {0}")]
    From(#[source] HubError),
    #[error("cannot copy the history to the new hub: {0}")]
    To(#[source] HubError),
    #[error(
        "the old hub `{hub}` answered {got} object(s) for {asked} asked; it is damaged or not a Vault Sync hub"
    )]
    Miscount {
        hub: String,
        asked: usize,
        got: usize,
    },
    #[error("the old hub `{hub}` holds a damaged {what} {id}: {source}")]
    Malformed {
        hub: String,
        what: &'static str,
        id: ObjectId,
        #[source]
        source: Box<ObjectError>,
    },
    /// Objects neither the old hub nor this device can give: the history cannot be copied whole.
    #[error(
        "the history on the old hub `{hub}` cannot be copied whole: {} object(s) are damaged or missing there and this device has no copy: {}",
        .missing.len(), list(.missing)
    )]
    Incomplete {
        hub: String,
        missing: Vec<Unavailable>,
    },
}

/// An object that could not be had, and what needed it, for [`CopyError::Incomplete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub id: ObjectId,
    pub kind: Kind,
    /// A path that holds it (a file or folder), when known.
    pub path: Option<String>,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            Kind::Blob => "file",
            Kind::Chunks => "large file's chunk list",
            Kind::Tree => "folder",
            Kind::Snapshot => "snapshot",
        };
        match &self.path {
            Some(p) if p.is_empty() => write!(f, "{what} {} (the vault's top folder)", self.id),
            Some(p) => write!(f, "{what} {} (`{p}`)", self.id),
            None => write!(f, "{what} {}", self.id),
        }
    }
}

fn list(missing: &[Unavailable]) -> String {
    const SHOWN: usize = 20;
    let mut text: Vec<String> = missing.iter().take(SHOWN).map(|u| u.to_string()).collect();
    if missing.len() > SHOWN {
        text.push(format!("and {} more", missing.len() - SHOWN));
    }
    text.join(", ")
}

/// What a copy did, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// Snapshots the new hub lacked and now holds.
    pub snapshots: u64,
    /// Objects (blobs, trees, snapshots) put on the new hub.
    pub objects: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Of those, objects the old hub could not give, taken from this device instead.
    pub from_this_device: u64,
}

/// Copy to `to` every object reachable from `head` on `from` that `to` lacks (see the module
/// documentation). `to`'s head is not moved.
pub fn copy_history(
    from: &dyn Hub,
    to: &dyn Hub,
    head: ObjectId,
    local: &LocalCopies,
    progress: &dyn Progress,
) -> Result<CopyReport, CopyError> {
    let mut copy = Copy {
        from,
        to,
        local,
        report: CopyReport::default(),
        unavailable: Vec::new(),
    };
    // Snapshots, through their parents, until the new hub holds one.
    let mut snapshots: Vec<Object> = Vec::new();
    let mut roots: Vec<(ObjectId, String)> = Vec::new();
    let mut seen = HashSet::from([head]);
    let mut frontier = vec![head];
    while !frontier.is_empty() {
        let need = copy.lacking(&frontier)?;
        let wanted: Vec<(ObjectId, Option<String>)> = need.iter().map(|id| (*id, None)).collect();
        let mut next = Vec::new();
        for object in copy.fetch(&wanted, Kind::Snapshot)? {
            let id = object.id();
            let snap =
                Snapshot::decode(&object.bytes).map_err(|e| copy.malformed("snapshot", id, e))?;
            roots.push((snap.tree, String::new()));
            next.extend(snap.parents.iter().copied().filter(|p| seen.insert(*p)));
            snapshots.push(object);
        }
        frontier = next;
    }
    // Their trees, level by level, down to the blobs.
    let mut trees: Vec<Object> = Vec::new();
    let mut blobs: Vec<(ObjectId, u64, String)> = Vec::new();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    let mut level: Vec<(ObjectId, String)> = roots
        .into_iter()
        .filter(|(id, _)| seen.insert(*id))
        .collect();
    while !level.is_empty() {
        let ids: Vec<ObjectId> = level.iter().map(|(id, _)| *id).collect();
        let need: HashSet<ObjectId> = copy.lacking(&ids)?.into_iter().collect();
        let wanted: Vec<(ObjectId, Option<String>)> = level
            .iter()
            .filter(|(id, _)| need.contains(id))
            .map(|(id, path)| (*id, Some(path.clone())))
            .collect();
        let paths: HashMap<ObjectId, String> = level.into_iter().collect();
        let mut next = Vec::new();
        for object in copy.fetch(&wanted, Kind::Tree)? {
            let id = object.id();
            let tree = Tree::decode(&object.bytes).map_err(|e| copy.malformed("tree", id, e))?;
            let folder = paths.get(&id).cloned().unwrap_or_default();
            for (name, entry) in &tree.entries {
                let path = if folder.is_empty() {
                    name.clone()
                } else {
                    format!("{folder}/{name}")
                };
                match entry {
                    EntryKind::Dir(sub) if seen.insert(*sub) => next.push((*sub, path)),
                    EntryKind::File(meta) if seen.insert(meta.id) => {
                        blobs.push((meta.id, meta.size, path));
                    }
                    _ => {}
                }
            }
            trees.push(object);
        }
        level = next;
    }
    // The files the new hub lacks: blobs, and large files with their lists and chunks.
    let ids: Vec<ObjectId> = blobs.iter().map(|(id, ..)| *id).collect();
    let need: HashSet<ObjectId> = copy.lacking(&ids)?.into_iter().collect();
    blobs.retain(|(id, ..)| need.contains(id));
    let (early, chunked) = copy.file_tops(blobs)?;
    let pending = copy.chunked_pending(&chunked)?;
    let total = trees
        .iter()
        .chain(&snapshots)
        .fold(files::plus(pending.total, early), |t, o| {
            files::plus(t, Amount::new(1, o.bytes.len() as u64))
        });
    progress.begin(Phase::Uploading, Some(total));
    progress.advance(Phase::Uploading, early);
    copy.put_chunked(chunked, pending, progress)?;
    if !copy.unavailable.is_empty() {
        return Err(CopyError::Incomplete {
            hub: from.describe(),
            missing: copy.unavailable,
        });
    }
    // Children before parents: the deepest trees were found last, the oldest snapshots too.
    copy.put_bounded(trees.into_iter().rev(), progress)?;
    copy.report.snapshots = snapshots.len() as u64;
    copy.put_bounded(snapshots.into_iter().rev(), progress)?;
    progress.end(Phase::Uploading);
    Ok(copy.report)
}

/// How many snapshots [`history_contains`] reads before deciding `id` is not in the history.
const MAX_WALK: usize = 100_000;

/// Whether `id` is `head` or one of its ancestors on `hub` (snapshots read level by level,
/// each checked against its id). Asks `missing` first: a hub that lacks `id` cannot have it
/// in its history.
pub fn history_contains(hub: &dyn Hub, head: ObjectId, id: ObjectId) -> Result<bool, HubError> {
    if head == id {
        return Ok(true);
    }
    if !hub.missing(&[id])?.is_empty() {
        return Ok(false);
    }
    let mut seen = HashSet::from([head]);
    let mut level = vec![head];
    while !level.is_empty() && seen.len() <= MAX_WALK {
        let mut next = Vec::new();
        for chunk in level.chunks(IDS_PER_REQUEST) {
            let got = hub.get(chunk)?;
            for (want, object) in chunk.iter().zip(&got) {
                let actual = ObjectId::of(&object.bytes);
                if actual != *want {
                    return Err(HubError::Corrupt {
                        hub: hub.describe(),
                        detail: format!("snapshot {want} has the bytes of {actual}"),
                    });
                }
                for parent in Snapshot::decode(&object.bytes)?.parents {
                    if parent == id {
                        return Ok(true);
                    }
                    if seen.insert(parent) {
                        next.push(parent);
                    }
                }
            }
        }
        level = next;
    }
    Ok(false)
}

struct Copy<'a> {
    from: &'a dyn Hub,
    to: &'a dyn Hub,
    local: &'a LocalCopies,
    report: CopyReport,
    unavailable: Vec<Unavailable>,
}

impl Copy<'_> {
    /// Which of `ids` the new hub lacks.
    fn lacking(&self, ids: &[ObjectId]) -> Result<Vec<ObjectId>, CopyError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IDS_PER_REQUEST) {
            out.extend(self.to.missing(chunk).map_err(CopyError::To)?);
        }
        Ok(out)
    }

    fn malformed(&self, what: &'static str, id: ObjectId, source: ObjectError) -> CopyError {
        CopyError::Malformed {
            hub: self.from.describe(),
            what,
            id,
            source: Box::new(source),
        }
    }

    /// The objects `wanted` (id, and the path that needs it) from the old hub, each checked
    /// against its id; those it cannot give from this device; those neither has are noted in
    /// `unavailable` and left out.
    fn fetch(
        &mut self,
        wanted: &[(ObjectId, Option<String>)],
        kind: Kind,
    ) -> Result<Vec<Object>, CopyError> {
        self.fetch_as(wanted, Some(kind))
    }

    /// [`Copy::fetch`]; with `kind` `None` (a file's id: a blob or a chunk list), each object
    /// keeps the kind the hub stored it as, and a chunk list must decode as one.
    fn fetch_as(
        &mut self,
        wanted: &[(ObjectId, Option<String>)],
        kind: Option<Kind>,
    ) -> Result<Vec<Object>, CopyError> {
        let mut out = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(IDS_PER_REQUEST) {
            let mut ask: Vec<ObjectId> = chunk.iter().map(|(id, _)| *id).collect();
            let mut cannot: HashSet<ObjectId> = HashSet::new();
            // The hub names what it lacks or holds damaged: ask again without those.
            let got = loop {
                if ask.is_empty() {
                    break Vec::new();
                }
                match self.from.get(&ask) {
                    Ok(got) => break got,
                    Err(HubError::Missing { ids, .. } | HubError::Damaged { ids, .. })
                        if !ids.is_empty() && ids.iter().all(|id| ask.contains(id)) =>
                    {
                        cannot.extend(ids.iter().copied());
                        ask.retain(|id| !cannot.contains(id));
                    }
                    Err(e) => return Err(CopyError::From(e)),
                }
            };
            if got.len() != ask.len() {
                return Err(CopyError::Miscount {
                    hub: self.from.describe(),
                    asked: ask.len(),
                    got: got.len(),
                });
            }
            let mut good: HashMap<ObjectId, Object> = HashMap::new();
            for (id, object) in ask.iter().zip(got) {
                let ok = ObjectId::of(&object.bytes) == *id
                    && match kind {
                        Some(_) => true,
                        None => crate::content::is_file_kind(object.kind),
                    };
                if ok {
                    let kind = kind.unwrap_or(object.kind);
                    good.insert(*id, Object { kind, ..object });
                } else {
                    cannot.insert(*id);
                }
            }
            for (id, path) in chunk {
                if let Some(o) = good.remove(id) {
                    out.push(o);
                } else if let Some(o) =
                    self.local
                        .get(*id, kind.unwrap_or(Kind::Blob), path.as_deref())
                {
                    self.report.from_this_device += 1;
                    out.push(o);
                } else if cannot.contains(id) {
                    cannot.remove(id);
                    self.unavailable.push(Unavailable {
                        id: *id,
                        kind: kind.unwrap_or(Kind::Blob),
                        path: path.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    fn put(&mut self, objects: Vec<Object>, progress: &dyn Progress) -> Result<(), CopyError> {
        let done = self.put_quiet(objects)?;
        if done.items > 0 {
            progress.advance(Phase::Uploading, done);
        }
        Ok(())
    }

    /// Put `objects` and count them in the report; returns what was put, for the progress.
    fn put_quiet(&mut self, objects: Vec<Object>) -> Result<Amount, CopyError> {
        if objects.is_empty() {
            return Ok(Amount::default());
        }
        self.to.put(&objects).map_err(CopyError::To)?;
        let bytes = objects.iter().map(|o| o.bytes.len() as u64).sum::<u64>();
        self.report.objects += objects.len() as u64;
        self.report.bytes += bytes;
        Ok(Amount::new(objects.len() as u64, bytes))
    }

    /// Put `objects` in batches of about [`BATCH_BYTES`], in the order given.
    fn put_bounded(
        &mut self,
        objects: impl Iterator<Item = Object>,
        progress: &dyn Progress,
    ) -> Result<(), CopyError> {
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        for object in objects {
            bytes += object.bytes.len() as u64;
            batch.push(object);
            if bytes >= BATCH_BYTES {
                self.put(std::mem::take(&mut batch), progress)?;
                bytes = 0;
            }
        }
        self.put(batch, progress)
    }
}

#[cfg(test)]
#[path = "hub_copy_tests.rs"]
mod tests;
