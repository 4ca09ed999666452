//! The stat cache's table in memory: every path in one string buffer, the entries in one
//! vector, and a hash table of entry numbers.
//!
//! Every round loads the whole cache and looks up every file of the vault in it. Kept as a map
//! of owned paths, loading 20,000 entries meant 20,000 allocations and took about 5 ms, most of
//! an idle round's user time after the walk; this layout loads with three allocations.

use hashbrown::HashTable;
use std::hash::BuildHasher;

use super::Entry;

/// One entry and where its path lies in the buffer.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    /// A vault path is at most 4096 bytes (`VaultPath`): a `u32` keeps a slot at 96 bytes.
    len: u32,
    entry: Entry,
    /// False once removed (the path's bytes stay in the buffer until the table is rebuilt).
    live: bool,
}

#[derive(Clone)]
pub(super) struct Table {
    names: String,
    slots: Vec<Slot>,
    /// Indexes into `slots` of the live entries, hashed by path.
    index: HashTable<usize>,
    live: usize,
    hasher: foldhash::fast::RandomState,
}

fn name_of<'a>(names: &'a str, slot: &Slot) -> &'a str {
    &names[slot.start..slot.start + slot.len as usize]
}

impl Table {
    /// An empty table with room for `entries` entries whose paths take `bytes` bytes.
    pub fn with_capacity(entries: usize, bytes: usize) -> Table {
        Table {
            names: String::with_capacity(bytes),
            slots: Vec::with_capacity(entries),
            index: HashTable::with_capacity(entries),
            live: 0,
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    /// Make room for `entries` more entries whose paths take `bytes` more bytes, so a table
    /// filled one entry at a time (a first scan, a download's written files) grows once
    /// instead of doubling: a doubling holds the old and the new vector at once, and leaves
    /// up to half of the new one unused. Exactly that much room: a table loaded from its file
    /// is full, and the 200 files a round writes took its slots (96 bytes each) from 9.6 to
    /// 19.2 MB at 100,000 files when a plain `reserve` doubled them (a large block grows in
    /// place, `mremap`, without a second copy).
    pub fn reserve(&mut self, entries: usize, bytes: usize) {
        self.names.reserve_exact(bytes);
        self.slots.reserve_exact(entries);
        let Table {
            names,
            slots,
            index,
            hasher,
            ..
        } = self;
        index.reserve(entries, |&i| hasher.hash_one(name_of(names, &slots[i])));
    }

    fn find(&self, path: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(path);
        self.index
            .find(hash, |&i| name_of(&self.names, &self.slots[i]) == path)
            .copied()
    }

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.find(path).map(|i| &self.slots[i].entry)
    }

    /// [`Table::get`], trying slot `hint` first, and the slot number found. Slots loaded from
    /// the file are in path order, and a scan visits a folder's files in that order too, so the
    /// entry after the last one found is usually the next one asked for: comparing it costs
    /// one read of memory that is already being streamed, where a hash probe costs three
    /// random ones (the control bytes, the bucket, the slot), which made the probe the largest
    /// single cost of an idle round.
    pub fn get_near(&self, path: &str, hint: usize) -> Option<(usize, &Entry)> {
        if let Some(slot) = self.slots.get(hint)
            && slot.live
            && name_of(&self.names, slot) == path
        {
            return Some((hint, &slot.entry));
        }
        self.find(path).map(|i| (i, &self.slots[i].entry))
    }

    /// The live entry in slot `at`, with its path.
    pub fn at(&self, at: usize) -> Option<(&str, &Entry)> {
        self.slots
            .get(at)
            .filter(|s| s.live)
            .map(|s| (name_of(&self.names, s), &s.entry))
    }

    /// Add or replace the entry of `path`.
    pub fn insert(&mut self, path: &str, entry: Entry) {
        if let Some(i) = self.find(path) {
            self.slots[i].entry = entry;
            return;
        }
        self.insert_new(path, entry);
    }

    /// Add the entry of `path`, which the table does not hold (a scan's paths are unique).
    pub fn insert_new(&mut self, path: &str, entry: Entry) {
        debug_assert!(self.find(path).is_none(), "{path} is already in the table");
        let Table {
            names,
            slots,
            index,
            live,
            hasher,
        } = self;
        let start = names.len();
        names.push_str(path);
        slots.push(Slot {
            start,
            len: u32::try_from(path.len()).expect("a vault path is at most 4096 bytes"),
            entry,
            live: true,
        });
        *live += 1;
        let hash = hasher.hash_one(path);
        index.insert_unique(hash, slots.len() - 1, |&i| {
            hasher.hash_one(name_of(names, &slots[i]))
        });
    }

    pub fn remove(&mut self, path: &str) -> Option<Entry> {
        let hash = self.hasher.hash_one(path);
        let Table {
            names,
            slots,
            index,
            live,
            ..
        } = self;
        let found = index
            .find_entry(hash, |&i| name_of(names, &slots[i]) == path)
            .ok()?;
        let (i, _) = found.remove();
        slots[i].live = false;
        *live -= 1;
        Some(slots[i].entry)
    }

    pub fn len(&self) -> usize {
        self.live
    }

    /// The live entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.slots
            .iter()
            .filter(|s| s.live)
            .map(|s| (name_of(&self.names, s), &s.entry))
    }

    /// The live entries in increasing byte order of path (the file's order).
    pub fn sorted(&self) -> Vec<(&str, &Entry)> {
        let mut all: Vec<(&str, &Entry)> = self.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }
}

impl PartialEq for Table {
    fn eq(&self, other: &Table) -> bool {
        self.len() == other.len() && self.iter().all(|(p, e)| other.get(p) == Some(e))
    }
}

impl Eq for Table {}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.sorted()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filestat::FileStat;
    use crate::id::ObjectId;

    fn entry(n: u64) -> Entry {
        Entry {
            stat: FileStat {
                size: n,
                mtime_ns: 1,
                ctime_ns: 2,
                ino: n,
                executable: false,
            },
            id: ObjectId::of(&n.to_le_bytes()),
            written: false,
        }
    }

    #[test]
    fn insert_replace_remove_and_grow() {
        let mut t = Table::with_capacity(0, 0);
        for n in 0..1000u64 {
            t.insert(&format!("dir/{n}.md"), entry(n));
        }
        assert_eq!(t.len(), 1000);
        t.insert("dir/7.md", entry(7000));
        assert_eq!(t.len(), 1000, "replacing does not add");
        assert_eq!(t.get("dir/7.md"), Some(&entry(7000)));
        assert_eq!(t.remove("dir/8.md"), Some(entry(8)));
        assert_eq!(t.remove("dir/8.md"), None);
        assert_eq!(t.get("dir/8.md"), None);
        assert_eq!(t.len(), 999);
        t.insert("dir/8.md", entry(80));
        assert_eq!(t.get("dir/8.md"), Some(&entry(80)));
        assert_eq!(t.iter().count(), 1000);
        let sorted = t.sorted();
        assert!(sorted.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(t.get("dir/1000.md"), None);
    }

    #[test]
    fn a_full_table_grows_by_what_is_reserved_not_by_doubling() {
        let mut t = Table::with_capacity(1000, 12 * 1000);
        for n in 0..1000u64 {
            t.insert(&format!("dir/{n:04}.md"), entry(n));
        }
        t.reserve(3, 3 * 12);
        assert_eq!(t.slots.capacity(), 1003);
        assert!(t.names.capacity() < 13 * 1000, "{}", t.names.capacity());
        for n in 0..3u64 {
            t.insert(&format!("new/{n:04}.md"), entry(n));
        }
        assert_eq!(t.len(), 1003);
        assert_eq!(t.get("new/0002.md"), Some(&entry(2)));
    }

    #[test]
    fn a_hint_is_only_a_hint() {
        let mut t = Table::with_capacity(0, 0);
        for name in ["a", "b", "c"] {
            t.insert(name, entry(name.len() as u64));
        }
        assert_eq!(t.get_near("b", 1).map(|(i, _)| i), Some(1), "right hint");
        assert_eq!(t.get_near("c", 0).map(|(i, _)| i), Some(2), "wrong hint");
        assert_eq!(
            t.get_near("c", 99).map(|(i, _)| i),
            Some(2),
            "hint past the end"
        );
        assert_eq!(t.get_near("d", 2), None);
        t.remove("b");
        assert_eq!(
            t.get_near("b", 1),
            None,
            "a removed slot is not found by its hint"
        );
    }

    #[test]
    fn equality_ignores_order_and_removed_entries() {
        let mut a = Table::with_capacity(0, 0);
        let mut b = Table::with_capacity(0, 0);
        a.insert("x", entry(1));
        a.insert("y", entry(2));
        b.insert("gone", entry(3));
        b.insert("y", entry(2));
        b.insert("x", entry(1));
        assert_ne!(a, b);
        b.remove("gone");
        assert_eq!(a, b);
        b.insert("x", entry(9));
        assert_ne!(a, b);
    }
}
