//! The part of the folder hub's walk that goes below a file's id: a large file's chunk list,
//! its groups and its chunks (docs/format.md, "Large files").
//!
//! The pack index says which kind each id was stored as, so a blob is never read just to
//! learn it is one; only lists (small) are read, re-hashed and decoded. A hub that holds a
//! file's list but not all its chunks does not hold the file: the head never moves to it.

use std::collections::{BTreeMap, HashSet};

use crate::content::{ChunkList, Level};
use crate::hub::{Hub, HubError};
use crate::id::ObjectId;
use crate::object::{Kind, ObjectError, Snapshot};
use crate::paths::VaultPath;
use crate::store::{PackReader, PackStore, StoreError};

use super::{FolderHub, WalkError, invalid};

/// What a walk below one file id found, added to the walk's own lists.
pub(super) struct Below<'w> {
    /// Ids already visited in this walk (files, lists and chunks share it: a chunk two files
    /// hold is looked at once).
    pub seen: &'w mut HashSet<ObjectId>,
    pub missing: &'w mut Vec<ObjectId>,
    /// `Some` in a full check: a list whose copies are all damaged is listed here (what it
    /// names cannot be walked) instead of failing the walk.
    pub damaged: Option<&'w mut Vec<ObjectId>>,
    /// Told of every blob (a whole file or a chunk) found present, for re-hashing.
    pub present: &'w mut dyn FnMut(ObjectId),
}

impl FolderHub {
    /// For each file of `snapshot` that holds one of `ids` (a whole file, or a list or chunk
    /// of a large one), which of them it holds: how a verification names the files a missing
    /// or damaged id belongs to. Lists are read from this hub (the index says which ids are
    /// lists); a list that cannot be read places nothing.
    pub fn files_holding(
        &self,
        snapshot: ObjectId,
        ids: &[ObjectId],
    ) -> Result<BTreeMap<VaultPath, Vec<ObjectId>>, HubError> {
        let snap = Snapshot::decode(&self.get(&[snapshot])?.remove(0).bytes)?;
        let files = crate::hub_write::files(self, snap.tree).map_err(|e| match e {
            crate::hub_write::WriteError::Hub(h) => h,
            other => HubError::Corrupt {
                hub: self.describe(),
                detail: other.to_string(),
            },
        })?;
        let store = self.lock_store();
        let mut reader = store.reader();
        let mut read_list = |id: ObjectId| -> Option<ChunkList> {
            (store.kind_of(id) == Some(Kind::Chunks))
                .then(|| reader.read(id).ok())
                .flatten()
                .and_then(|o| ChunkList::decode(&o.bytes).ok())
        };
        Ok(crate::content::owners::files_holding(
            &files,
            ids,
            &mut |_, meta| {
                let top = read_list(meta.id)?;
                let mut out = Vec::new();
                match top.level {
                    Level::Chunks => out.extend(top.pieces.iter().map(|p| p.id)),
                    Level::Groups => {
                        for group in &top.pieces {
                            out.push(group.id);
                            if let Some(list) = read_list(group.id) {
                                out.extend(list.pieces.iter().map(|p| p.id));
                            }
                        }
                    }
                }
                Some(out)
            },
        ))
    }

    /// Visit file `id` (not yet seen): a blob is present or missing by the index; a chunk list
    /// is read and decoded, and so are its groups; every chunk must be present.
    pub(super) fn walk_file(
        &self,
        store: &PackStore,
        reader: &mut PackReader<'_>,
        id: ObjectId,
        below: &mut Below<'_>,
    ) -> Result<(), WalkError> {
        match store.kind_of(id) {
            None => below.missing.push(id),
            Some(Kind::Chunks) => {
                let Some(top) = self.read_list(reader, id, below)? else {
                    return Ok(());
                };
                match top.level {
                    Level::Chunks => self.walk_chunks(store, &top, below),
                    Level::Groups => {
                        for group in &top.pieces {
                            if !below.seen.insert(group.id) {
                                continue;
                            }
                            if !store.contains(group.id) {
                                below.missing.push(group.id);
                                continue;
                            }
                            let Some(list) = self.read_list(reader, group.id, below)? else {
                                continue;
                            };
                            if list.level != Level::Chunks {
                                return Err(bad_list(group.id, "a group names groups"));
                            }
                            if list.len() != group.len {
                                return Err(bad_list(
                                    group.id,
                                    "its chunks' lengths do not add up to what the top list says",
                                ));
                            }
                            self.walk_chunks(store, &list, below);
                        }
                    }
                }
            }
            // A blob, or an object whose bytes happen to encode a tree or snapshot (the same
            // id: whoever stored it first chose the label; its bytes are the file's).
            Some(_) => (below.present)(id),
        }
        Ok(())
    }

    fn walk_chunks(&self, store: &PackStore, list: &ChunkList, below: &mut Below<'_>) {
        for chunk in &list.pieces {
            if below.seen.insert(chunk.id) {
                if store.contains(chunk.id) {
                    (below.present)(chunk.id);
                } else {
                    below.missing.push(chunk.id);
                }
            }
        }
    }

    /// List `id`, re-hashed and decoded; `None` when it is missing or (in a full check)
    /// damaged, which is then noted.
    fn read_list(
        &self,
        reader: &mut PackReader<'_>,
        id: ObjectId,
        below: &mut Below<'_>,
    ) -> Result<Option<ChunkList>, WalkError> {
        match reader.read(id) {
            Ok(o) => ChunkList::decode(&o.bytes)
                .map(Some)
                .map_err(|e| invalid(id, "chunk list", e)),
            Err(StoreError::NotFound { .. } | StoreError::PackGone { .. }) => {
                below.missing.push(id);
                Ok(None)
            }
            Err(StoreError::Corrupt { .. }) if below.damaged.is_some() => {
                below.damaged.iter_mut().for_each(|d| d.push(id));
                Ok(None)
            }
            Err(e) => Err(WalkError::Hub(self.store_err(e))),
        }
    }
}

fn bad_list(id: ObjectId, reason: &str) -> WalkError {
    let e = ObjectError::Malformed {
        what: "chunk list",
        line: 0,
        reason: reason.to_string(),
    };
    invalid(id, "chunk list", e)
}

#[cfg(test)]
mod tests;
