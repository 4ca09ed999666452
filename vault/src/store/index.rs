//! The store's index: which pack, and which entry of its header, holds each object. The ids
//! are in the headers already, so the table keeps only those two numbers per object and
//! reads an id through them when it compares or rehashes.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::{Entry, Pack, Slot};
use crate::id::ObjectId;

#[derive(Debug, Default)]
pub(super) struct Index {
    table: HashTable<Slot>,
    /// Random per process: pack headers come from files another device wrote (a hub
    /// folder), and must not be able to choose ids that collide in this table.
    hasher: foldhash::fast::RandomState,
}

/// The header entry `slot` points at. The index only holds slots of loaded packs.
pub(super) fn entry_at(packs: &[Option<Pack>], slot: Slot) -> &Entry {
    let pack = packs[slot.pack as usize]
        .as_ref()
        .expect("the index points only into loaded packs");
    &pack.entries[slot.entry as usize]
}

impl Index {
    pub fn get(&self, packs: &[Option<Pack>], id: ObjectId) -> Option<Slot> {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |&s| entry_at(packs, s).id == id)
            .copied()
    }

    /// Index the header of the pack in slot `pack`; an object already indexed keeps its place
    /// (the first pack listing it).
    pub fn add_pack(&mut self, packs: &[Option<Pack>], pack: usize) {
        let Some(loaded) = &packs[pack] else {
            return;
        };
        let Index { table, hasher } = self;
        let rehash = |s: &Slot| hasher.hash_one(entry_at(packs, *s).id);
        table.reserve(loaded.entries.len(), rehash);
        for (i, e) in loaded.entries.iter().enumerate() {
            let hash = hasher.hash_one(e.id);
            let slot = super::slot_of(pack, i);
            if table
                .find(hash, |&s| entry_at(packs, s).id == e.id)
                .is_none()
            {
                table.insert_unique(hash, slot, rehash);
            }
        }
    }

    /// Point the object that `slot` holds at that copy, indexed or not.
    pub fn point_at(&mut self, packs: &[Option<Pack>], slot: Slot) {
        let id = entry_at(packs, slot).id;
        let Index { table, hasher } = self;
        let hash = hasher.hash_one(id);
        match table.find_mut(hash, |&s| entry_at(packs, s).id == id) {
            Some(found) => *found = slot,
            None => {
                table.insert_unique(hash, slot, |s| hasher.hash_one(entry_at(packs, *s).id));
            }
        }
    }

    pub fn clear(&mut self) {
        self.table.clear();
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn slots(&self) -> impl Iterator<Item = Slot> + '_ {
        self.table.iter().copied()
    }
}
