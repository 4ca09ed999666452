//! The mark of a gc: every object a kept root reaches.
//!
//! Roots: the head, and every object of a pack younger than the grace period (a writer stores
//! its packs before it moves head). From the head, every snapshot reachable through parents is
//! kept (its object); the trees of the snapshots retention keeps ([`crate::retention::kept`];
//! all of them by default), and of every young snapshot, are walked: subtrees, files, and for a
//! file whose id names a chunk list, its groups and chunks. Kinds come from the pack headers,
//! so a blob's bytes are never read to learn what it is; only snapshots, trees and chunk lists
//! are read (each re-hashed against its id). An object a root names that the hub lacks is
//! counted, not an error (gc removes nothing because of it); a tree or list that cannot be
//! read or decoded stops the gc, since what it names could not be kept.

use std::collections::HashSet;

use super::GcError;
use crate::content::{ChunkList, Level};
use crate::id::ObjectId;
use crate::object::{EntryKind, Kind, Snapshot, Tree};
use crate::retention::{self, Policy, SnapshotInfo};
use crate::store::{PackStore, StoreError};

/// What the mark found.
pub struct Mark {
    store: PackStore,
    pub live: HashSet<ObjectId>,
    /// Snapshots walked (their parents followed), and their facts for retention.
    seen_snapshots: HashSet<ObjectId>,
    pub snapshots: Vec<SnapshotInfo>,
    trees_done: HashSet<ObjectId>,
    /// Ids a root reaches that the hub does not hold.
    pub missing: usize,
}

impl Mark {
    pub fn new(store: PackStore) -> Mark {
        Mark {
            store,
            live: HashSet::new(),
            seen_snapshots: HashSet::new(),
            snapshots: Vec::new(),
            trees_done: HashSet::new(),
            missing: 0,
        }
    }

    /// The store the mark reads (its index: the packs it has listed).
    pub fn store(&self) -> &PackStore {
        &self.store
    }

    /// List the packs again (before marking what packs written since hold).
    pub fn refresh(&mut self) -> Result<(), GcError> {
        Ok(self.store.refresh()?)
    }

    fn read(&self, id: ObjectId) -> Result<Option<Vec<u8>>, GcError> {
        match self.store.read(id) {
            Ok(o) => Ok(Some(o.bytes)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(GcError::Store(e)),
        }
    }

    /// Every snapshot reachable from `roots` through parents, that this mark has not walked
    /// yet (their objects marked live); returns the ones newly found.
    pub fn snapshots_from(&mut self, roots: &[ObjectId]) -> Result<Vec<ObjectId>, GcError> {
        let mut found = Vec::new();
        let mut stack: Vec<ObjectId> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if !self.seen_snapshots.insert(id) {
                continue;
            }
            let Some(bytes) = self.read(id)? else {
                self.missing += 1;
                continue;
            };
            let snap = Snapshot::decode(&bytes).map_err(|e| GcError::Invalid {
                id,
                detail: e.to_string(),
            })?;
            self.live.insert(id);
            stack.extend(snap.parents.iter().copied());
            self.snapshots.push(SnapshotInfo {
                id,
                time_ns: snap.time_ns,
                parents: snap.parents,
            });
            found.push(id);
        }
        Ok(found)
    }

    /// Mark the tree of each snapshot in `snapshots` (already walked by
    /// [`Mark::snapshots_from`]).
    pub fn trees_of(&mut self, snapshots: &HashSet<ObjectId>) -> Result<(), GcError> {
        let roots: Vec<ObjectId> = snapshots.iter().copied().collect();
        for id in roots {
            let Some(bytes) = self.read(id)? else {
                continue;
            };
            let snap = Snapshot::decode(&bytes).map_err(|e| GcError::Invalid {
                id,
                detail: e.to_string(),
            })?;
            self.tree(snap.tree)?;
        }
        Ok(())
    }

    /// The mark of a whole hub: from `head` (retention applied) and from `young` (the objects
    /// of the packs inside the grace period).
    pub fn from_roots(
        &mut self,
        head: Option<ObjectId>,
        young: &[ObjectId],
        policy: &Policy,
        now_ns: i64,
    ) -> Result<(), GcError> {
        if let Some(head) = head {
            self.snapshots_from(&[head])?;
            let kept = retention::kept(&self.snapshots, head, policy, now_ns);
            self.trees_of(&kept)?;
        }
        self.young(young)
    }

    /// Mark the objects of young packs and everything they reach (a young snapshot's parents'
    /// objects and its own tree; trees; chunk lists).
    pub fn young(&mut self, ids: &[ObjectId]) -> Result<(), GcError> {
        let mut snapshots = Vec::new();
        for &id in ids {
            match self.store.kind_of(id) {
                Some(Kind::Snapshot) => snapshots.push(id),
                Some(Kind::Tree) => self.tree(id)?,
                Some(Kind::Chunks) => self.file(id)?,
                Some(Kind::Blob) | None => {
                    self.live.insert(id);
                }
            }
        }
        let new = self.snapshots_from(&snapshots)?;
        let mut trees: HashSet<ObjectId> = snapshots.into_iter().collect();
        // A young snapshot's parents found only through it are kept whole too: it is about
        // to become head, and retention has not judged them.
        trees.extend(new);
        self.trees_of(&trees)
    }

    /// Mark a tree and everything under it.
    pub fn tree(&mut self, root: ObjectId) -> Result<(), GcError> {
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if !self.trees_done.insert(id) {
                continue;
            }
            let Some(bytes) = self.read(id)? else {
                self.missing += 1;
                continue;
            };
            self.live.insert(id);
            let tree = Tree::decode(&bytes).map_err(|e| GcError::Invalid {
                id,
                detail: e.to_string(),
            })?;
            for entry in tree.entries.values() {
                match entry {
                    EntryKind::Dir(sub) => stack.push(*sub),
                    EntryKind::File(meta) => self.file(meta.id)?,
                }
            }
        }
        Ok(())
    }

    /// Mark a file's content: a blob, or a chunk list with its groups and chunks.
    fn file(&mut self, id: ObjectId) -> Result<(), GcError> {
        if !self.live.insert(id) {
            return Ok(());
        }
        match self.store.kind_of(id) {
            None => self.missing += 1,
            Some(Kind::Chunks) => self.list(id, true)?,
            Some(_) => {}
        }
        Ok(())
    }

    /// Mark what a chunk list names; a top list's groups are lists too (two levels at most).
    fn list(&mut self, id: ObjectId, top: bool) -> Result<(), GcError> {
        let Some(bytes) = self.read(id)? else {
            self.missing += 1;
            return Ok(());
        };
        let list = ChunkList::decode(&bytes).map_err(|e| GcError::Invalid {
            id,
            detail: e.to_string(),
        })?;
        for piece in &list.pieces {
            let fresh = self.live.insert(piece.id);
            if !self.store.contains(piece.id) {
                self.missing += 1;
            } else if fresh
                && top
                && list.level == Level::Groups
                && self.store.kind_of(piece.id) == Some(Kind::Chunks)
            {
                self.list(piece.id, false)?;
            }
        }
        Ok(())
    }
}
