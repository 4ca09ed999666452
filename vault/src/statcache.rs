//! The stat cache ("index"): for every file of the last scan, its stat and blob id, so the next
//! scan hashes only files whose stat changed (design invariant 5: quiet when idle).
//!
//! It lives in `<vault>/.vault/index` and is only an optimisation: a missing, damaged or foreign
//! file gives an empty cache and a warning, never an error, because the worst it can cost is one
//! rehash of the vault.
//!
//! # Racy entries
//!
//! Filesystem timestamps are coarse (a tick of a few milliseconds, one second on ext3, ext4
//! with 128-byte inodes and many SMB/NFS mounts, two seconds on FAT), so a file written twice
//! within one tick, with the same size, keeps its stat. As in git ("racy git"), an entry is
//! trusted only if the file's last change lies more than [`RACY_MARGIN_NS`] before the cache's
//! *horizon*: a time no later than the moment its stats were taken. Unlike git, which uses the
//! time the index was written, the horizon is the start of the scan that produced the entries
//! ([`StatCache::update_from_scan`]): a scan of a large vault may take seconds, and a file
//! stat'ed early in it and changed again within the same tick would look clean against a later
//! save time. A racy entry is simply rehashed on the next scan, which then records it with a
//! later horizon.
//!
//! "The last change" is not the timestamp itself but the end of the tick it stands for: a
//! filesystem with one-second timestamps stamps a write at 10.7 s as 10.0 s, and another write
//! at 10.9 s gets the same stamp. So a timestamp `t` is taken as the interval
//! `[t, t + tick_ns(t))` (see [`tick_ns`]), the tick inferred from the value alone: a whole
//! multiple of two seconds is taken as FAT's two-second tick, of one second as a one-second
//! tick, of 10 ms as 10 ms, and so on down to a nanosecond. This needs no state and is right
//! per file, also under a folder mounted from another filesystem inside the vault, where a
//! per-vault probe (as git and Mercurial do it) would be wrong. On a fine-grained filesystem
//! a value that happens to be round costs at most one extra rehash of a file changed within a
//! few seconds of a scan: a round timestamp is only mistaken for a coarse one, never the other
//! way round. The check is [`is_racy`]; apply uses it too, to decide which of its "did the
//! file change since the scan?" checks must read the file instead of trusting its stat.
//!
//! Files that sync itself wrote are the exception (flag bit 1, "written"): apply sets their
//! modification time to the tree's, usually long past, and records their stat right after the
//! rename. Any later write by someone else moves the modification time to the present (or,
//! within the same tick, keeps it: so the tick counts here too), so for them the rule looks at
//! the modification time alone; otherwise the round after every download would hash every
//! downloaded file again, just because its ctime is recent.
//!
//! # Ignore rules
//!
//! The cache also records the fingerprint of the ignore rules its scan used
//! ([`IgnoreRules::fingerprint`](crate::ignore_rules::IgnoreRules::fingerprint)). Every path
//! in it was kept by those rules, so a scan under the same rules skips matching the paths it
//! finds in the cache: the glob matching was the largest part of an idle round's user time.
//!
//! # Format (version 5), all integers little-endian
//!
//! ```text
//! magic       8 bytes  "VSYNCIDX"
//! version     u32      5 (versions 1-4 are still read: no `rules` before 4, no `tree` before
//!                      3, no flag bit 1 in 1; see "Content ids" for what 5 changed)
//! horizon_ns  i64      stats were taken no earlier than this (ns since the Unix epoch)
//! tree        32 bytes the root tree id of exactly these entries, or all zero if unknown
//!                      (so a round that finds every file unchanged need not rebuild the trees)
//! rules       32 bytes the fingerprint of the ignore rules of the scan, or all zero if unknown
//! count       u64      number of entries
//! entries     count times, in increasing byte order of path:
//!   path_len  u16, then path_len bytes of UTF-8 (a valid VaultPath)
//!   size u64, mtime_ns i64, ctime_ns i64, ino u64,
//!   flags u8 (bit 0: executable, bit 1: written by sync), id 32 bytes
//! checksum    32 bytes  blake3 of every byte before it
//! ```
//!
//! `fixtures/format/statcache-v5.bin` freezes this format, `statcache-v4.bin` to
//! `statcache-v1.bin` the previous ones (see the golden tests below).
//!
//! # Content ids (version 5)
//!
//! Version 5 has the layout of version 4; what changed is what `id` means. Since large files
//! are chunked (docs/format.md, "Large files"), a file of at least
//! [`CHUNKED_FROM`](crate::content::CHUNKED_FROM) bytes is named by its chunk list's id, where
//! older versions named it by the blake3 of its bytes. An entry an older version cached for
//! such a file carries the old id, and trusting it would keep this device publishing the old
//! id forever while every other device computes the new one. So a cache of version 1-4 is read
//! without its entries of large files (they are hashed again, once, by the next scan), and
//! without its tree when it lost any. Entries of small files keep their ids: for them the two
//! definitions agree.

use std::io;
use std::path::{Path, PathBuf};

use crate::filestat::FileStat;
use crate::fsutil::TempFile;
use crate::id::ObjectId;
use crate::object::{FileMeta, FlatTree};
use crate::paths::VaultPath;
use crate::scan::Scan;

mod table;

/// How far before the horizon a file's last change must lie for its entry to be trusted.
pub const RACY_MARGIN_NS: i64 = 100_000_000;

/// The longest timestamp tick assumed: FAT's two seconds.
const MAX_TICK_NS: i64 = 2_000_000_000;

/// The tick of the clock that could have stamped timestamp `t` (ns since the Unix epoch),
/// inferred conservatively from the value alone: two seconds for a whole multiple of two
/// seconds (FAT), else the largest power of ten (1 s, 100 ms, ... 1 ns) that divides it. A
/// coarse filesystem only ever produces such round values; on a fine one a round value is
/// rare and only makes the entry racy a little longer (see the module docs).
pub fn tick_ns(t: i64) -> i64 {
    if t % MAX_TICK_NS == 0 {
        return MAX_TICK_NS;
    }
    let mut tick = 1_000_000_000;
    while tick > 1 && t % tick != 0 {
        tick /= 10;
    }
    tick
}

/// The end of the tick timestamp `t` stands for: the change it records happened before this.
fn tick_end(t: i64) -> i64 {
    t.saturating_add(tick_ns(t))
}

/// Whether a file with `stat` may have changed again, after `since_ns`, without its stat
/// changing: its last change (the end of the tick of `max(mtime, ctime)`) does not lie more
/// than [`RACY_MARGIN_NS`] before `since_ns`. A file's bytes read after `since_ns` and its
/// stat taken then prove nothing about later writes when this is true.
pub fn is_racy(stat: &FileStat, since_ns: i64) -> bool {
    tick_end(stat.mtime_ns).max(tick_end(stat.ctime_ns)) > since_ns.saturating_sub(RACY_MARGIN_NS)
}

/// [`is_racy`] for a file sync itself wrote, with the tree's modification time, and stat'ed
/// after the rename: only its modification time counts, since only a later write moves it
/// (or keeps it, within its tick), while the ctime is always the recent rename's.
pub fn is_racy_written(stat: &FileStat, since_ns: i64) -> bool {
    tick_end(stat.mtime_ns) > since_ns.saturating_sub(RACY_MARGIN_NS)
}

const MAGIC: &[u8; 8] = b"VSYNCIDX";
const VERSION: u32 = 5;
/// Caches before this version name large files by the old whole-blob id (see the module docs).
const CONTENT_IDS_FROM: u32 = 5;
const FLAG_EXECUTABLE: u8 = 1;
const FLAG_WRITTEN: u8 = 2;
const HEADER_LEN: usize = 8 + 4 + 8 + 8;
const ENTRY_FIXED_LEN: usize = 8 + 8 + 8 + 8 + 1 + 32;
const CHECKSUM_LEN: usize = 32;

/// The stat cache could not be written.
#[derive(Debug, thiserror::Error)]
#[error(
    "writing the stat cache `{path}`: {source}; check that the folder exists and is writable \
     (sync still works without it, but rehashes every file)"
)]
pub struct StatCacheError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// One file's entry: the stat it had when its bytes hashed to `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    stat: FileStat,
    id: ObjectId,
    /// Sync wrote this file itself and took `stat` right after the rename; see the module docs.
    written: bool,
}

impl Entry {
    /// The stat the file had when its bytes hashed to the entry's id.
    pub fn stat(&self) -> &FileStat {
        &self.stat
    }

    /// Whether sync wrote the file itself and its stat is still the one taken after the rename
    /// (only the modification time then counts for the racy rule).
    pub fn written(&self) -> bool {
        self.written
    }

    /// What a tree records of the file.
    fn meta(&self) -> FileMeta {
        FileMeta::of(&self.stat, self.id)
    }
}

/// Map from path to the stat and blob id it had when last hashed.
///
/// Kept in a [`table::Table`] (one buffer of paths, a hash index): every scan looks up every
/// file, and one hash probe costs a fraction of the ~15 string comparisons of a search in a
/// sorted 20,000-entry map. Order matters only in the file, so [`StatCache::save`] sorts.
#[derive(Debug, Clone)]
pub struct StatCache {
    entries: table::Table,
    /// Changes (to a number no other cache in this process ever had) whenever the entries
    /// change, so [`StatCache::update_from_scan`] can tell a scan made against exactly these
    /// entries, whose cache hits need no copying.
    generation: u64,
    /// Every stat in `entries` was taken at or after this time (ns since the Unix epoch).
    horizon_ns: i64,
    /// The root tree of `entries` taken as a flat tree, when the caller said so; cleared by
    /// every change to the entries.
    tree: Option<ObjectId>,
    /// The fingerprint of the ignore rules that kept every path of `entries`, if known.
    rules: Option<ObjectId>,
    /// The checksum of the file the cache was loaded from or saved to, while the entries
    /// are unchanged since: such a cache can be let go and loaded again ([`StatCache::let_go`]).
    file_sum: Option<[u8; 32]>,
}

/// What is left of a cache let go while a round does not need it ([`StatCache::let_go`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LetGo {
    generation: u64,
    file_sum: [u8; 32],
}

/// A hash map keyed by vault path, with a fast hasher (paths are not secret, and a vault
/// cannot hold enough files for collisions to matter).
pub type PathMap<V> = std::collections::HashMap<VaultPath, V, foldhash::fast::RandomState>;

impl PartialEq for StatCache {
    fn eq(&self, other: &StatCache) -> bool {
        self.entries == other.entries
            && self.horizon_ns == other.horizon_ns
            && self.tree == other.tree
            && self.rules == other.rules
    }
}

impl Eq for StatCache {}

/// A number no cache in this process had before.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Default for StatCache {
    fn default() -> Self {
        StatCache::new()
    }
}

impl StatCache {
    /// An empty cache. Its horizon is now (by this machine's clock: a cache of a simulated
    /// machine's folder comes from [`StatCache::load`]), so stats inserted from here on may be
    /// trusted.
    pub fn new() -> StatCache {
        StatCache::with_horizon(now_ns())
    }

    fn with_horizon(horizon_ns: i64) -> StatCache {
        StatCache {
            entries: table::Table::with_capacity(0, 0),
            generation: next_generation(),
            horizon_ns,
            tree: None,
            rules: None,
            file_sum: None,
        }
    }

    /// Read the cache at `path`. A missing file gives an empty cache; an unreadable, damaged or
    /// foreign file gives an empty cache and a warning to show the user. Never fails.
    pub fn load(path: &Path) -> (StatCache, Option<String>) {
        match map_or_read(path) {
            Ok(bytes) => match StatCache::decode_releasing(&bytes, &|upto| bytes.release(upto)) {
                Ok(cache) => (
                    StatCache {
                        file_sum: bytes.last_chunk::<CHECKSUM_LEN>().copied(),
                        ..cache
                    },
                    None,
                ),
                Err(reason) => (
                    StatCache::with_horizon(crate::vfs::now_ns_at(path)),
                    Some(format!(
                        "stat cache `{}` is unusable ({reason}); every file will be hashed once \
                         to rebuild it",
                        path.display()
                    )),
                ),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                (StatCache::with_horizon(crate::vfs::now_ns_at(path)), None)
            }
            Err(e) => (
                StatCache::with_horizon(crate::vfs::now_ns_at(path)),
                Some(format!(
                    "cannot read stat cache `{}` ({e}); every file will be hashed; check the \
                     file's permissions",
                    path.display()
                )),
            ),
        }
    }

    /// Write the cache to `path` atomically (temp file, rename) but without waiting for the
    /// disk. A crash may leave the previous cache, or a damaged one: the damaged one is
    /// refused by its checksum (a rehash), and the previous one is harmless, since every entry
    /// was true when taken and a file changed since has another stat. An fsync of a 2 MiB file
    /// on every round would cost more than the rest of an edit's round.
    pub fn save(&mut self, path: &Path) -> Result<(), StatCacheError> {
        let write = || {
            let mut tmp = TempFile::beside(path)?;
            let sum = self.encode_to(tmp.file())?;
            tmp.rename_unsynced(path)?;
            Ok(sum)
        };
        let sum = write().map_err(|source| StatCacheError {
            path: path.to_path_buf(),
            source,
        })?;
        self.file_sum = Some(sum);
        Ok(())
    }

    /// Let the entries go (the cache is left empty), when the file it was last loaded from
    /// or saved to holds exactly them: [`StatCache::load_again`] then gives them back, and a
    /// scan made against them is still recognised as made against the cache loaded again.
    /// `None`: the file is not this cache, which is kept as it is.
    pub fn let_go(&mut self) -> Option<LetGo> {
        let file_sum = self.file_sum?;
        let let_go = LetGo {
            generation: self.generation,
            file_sum,
        };
        *self = StatCache::new();
        Some(let_go)
    }

    /// Load the cache let go as `was` from `path`. When the file still holds what it held
    /// then (its checksum says so), the cache is that cache, generation included.
    pub fn load_again(path: &Path, was: LetGo) -> (StatCache, Option<String>) {
        let (mut cache, warning) = StatCache::load(path);
        if cache.file_sum == Some(was.file_sum) {
            cache.generation = was.generation;
        }
        (cache, warning)
    }

    /// The blob id of `path` if `stat` is exactly the cached stat and the entry is not racy;
    /// `None` means "hash the file".
    pub fn lookup(&self, path: &VaultPath, stat: &FileStat) -> Option<ObjectId> {
        self.trusted(self.entry(path.as_str())?, stat)
    }

    /// The entry of `path`, whatever its stat (see [`StatCache::trusted`]).
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// [`StatCache::entry`], looking at position `hint` first (see
    /// [`table::Table::get_near`]); returns where the entry was found, the next call's hint.
    pub fn entry_near(&self, path: &str, hint: usize) -> Option<(usize, &Entry)> {
        self.entries.get_near(path, hint)
    }

    /// The live entry at position `at` and its path (a walk's guess at the next file, see
    /// [`table::Table::get_near`]).
    pub fn entry_at(&self, at: usize) -> Option<(&str, &Entry)> {
        self.entries.at(at)
    }

    /// `entry`'s blob id if the file now has exactly its stat and the entry is not racy.
    pub fn trusted(&self, entry: &Entry, stat: &FileStat) -> Option<ObjectId> {
        if entry.stat != *stat {
            return None;
        }
        let racy = if entry.written {
            is_racy_written(stat, self.horizon_ns)
        } else {
            is_racy(stat, self.horizon_ns)
        };
        let trusted = !racy;
        trusted.then_some(entry.id)
    }

    /// The entries as a flat tree (path -> id, size, modification time, mode): when the cache
    /// knows its tree is base's, this is base's flat tree, without reading a single tree.
    pub fn flat(&self) -> FlatTree {
        self.flat_sharing(std::iter::empty())
    }

    /// [`StatCache::flat`], taking each path that `known` (in path order) also holds from
    /// there, a shared copy, instead of a new string: a round's scan found nearly every path
    /// the cache holds, and making them again cost 7 MiB at 100,000 files.
    pub fn flat_sharing<'p>(&self, known: impl Iterator<Item = &'p VaultPath>) -> FlatTree {
        let mut known = known.peekable();
        self.entries
            .sorted()
            .into_iter()
            .map(|(path, e)| {
                while known.next_if(|k| k.as_str() < path).is_some() {}
                let path = match known.peek() {
                    Some(k) if k.as_str() == path => VaultPath::clone(k),
                    _ => VaultPath::from_checked(path),
                };
                (path, e.meta())
            })
            .collect()
    }

    /// How many files `scan` found with a different id, size, modification time or mode than
    /// the cache holds, plus cached files it did not find (0: the scan describes exactly the
    /// cache's flat tree). The scan's cache hits are equal by construction, so only the files
    /// it examined are looked up.
    pub fn changes_in(&self, scan: &Scan) -> usize {
        let mut matched = scan.hits();
        let mut changed = 0;
        for (path, stat, id) in scan.examined() {
            match self.entries.get(path.as_str()) {
                Some(e) if e.id == *id && e.meta() == FileMeta::of(stat, *id) => matched += 1,
                Some(_) => {
                    matched += 1;
                    changed += 1;
                }
                None => changed += 1,
            }
        }
        changed + self.len().saturating_sub(matched)
    }

    /// The fingerprint of the ignore rules that kept every cached path, if known.
    pub fn rules(&self) -> Option<ObjectId> {
        self.rules
    }

    /// Record that `path` with `stat` holds blob `id`. `stat` must have been taken after the
    /// cache's horizon (after it was created, loaded or last updated from a scan), with the
    /// file's bytes hashed in between; an older stat could let a stale id be trusted.
    pub fn insert(&mut self, path: VaultPath, stat: FileStat, id: ObjectId) {
        self.record(&path, stat, id, false);
    }

    /// Record a file this process has just written with blob `id` (its bytes verified before
    /// the write) and `stat` taken after the final rename. See the `written` field.
    pub fn insert_written(&mut self, path: VaultPath, stat: FileStat, id: ObjectId) {
        self.record(&path, stat, id, true);
    }

    fn record(&mut self, path: &VaultPath, stat: FileStat, id: ObjectId, written: bool) {
        self.changed();
        let entry = Entry { stat, id, written };
        self.entries.insert(path.as_str(), entry);
    }

    /// Make room for `entries` more entries whose paths take `bytes` bytes (see
    /// [`table::Table::reserve`]).
    pub fn reserve(&mut self, entries: usize, bytes: usize) {
        self.entries.reserve(entries, bytes);
    }

    pub fn remove(&mut self, path: &VaultPath) -> Option<(FileStat, ObjectId)> {
        self.changed();
        self.entries.remove(path.as_str()).map(|e| (e.stat, e.id))
    }

    /// The stat and id recorded for `path`, racy or not.
    pub fn get(&self, path: &VaultPath) -> Option<(FileStat, ObjectId)> {
        self.entries.get(path.as_str()).map(|e| (e.stat, e.id))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Every entry with its path, in no particular order (for a scan that trusts the entries
    /// outside what changed, see [`crate::scan::ScanScope`]).
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries.iter()
    }

    /// Every entry (path, stat, id), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FileStat, &ObjectId)> {
        self.entries.iter().map(|(p, e)| (p, &e.stat, &e.id))
    }

    /// The entries changed: the tree is no longer known, and scans made before are not of
    /// these entries.
    fn changed(&mut self) {
        self.file_sum = None;
        self.tree = None;
        self.generation = next_generation();
    }

    /// What a scan made against this cache records, so that [`StatCache::update_from_scan`]
    /// recognises it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Replace the whole content with the files of `scan`, and move the horizon to the scan's
    /// start (every stat in it was taken after that). When the scan was made against exactly
    /// these entries, its cache hits are these entries already: only the files it examined
    /// are written and the files it did not find removed, instead of rebuilding the table.
    pub fn update_from_scan(&mut self, scan: &Scan) {
        if scan.cache_generation == Some(self.generation) {
            self.update_in_place(scan);
        } else {
            self.rebuild_from(scan);
        }
        self.changed();
        self.horizon_ns = scan.started_at_ns;
        self.rules = scan.rules;
    }

    fn update_in_place(&mut self, scan: &Scan) {
        let mut present = scan.hits();
        // At least this many paths are new (all of them, for a first scan).
        let new = scan.len().saturating_sub(self.entries.len());
        if new > 0 {
            let bytes: usize = scan.examined().map(|(p, _, _)| p.as_str().len()).sum();
            self.entries.reserve(new, bytes);
        }
        for (path, stat, id) in scan.examined() {
            let old = self.entries.get(path.as_str());
            if old.is_some() {
                present += 1;
            }
            // Still the file sync wrote only if the scan found the very stat recorded after
            // the write, and its bytes still hash to what sync wrote: a scan also examines an
            // entry whose stat is unchanged but racy, and that alone must not turn the recent
            // ctime of sync's own rename into a reason to read the file again next round (as
            // in `rebuild_from`).
            let written = old.is_some_and(|e| e.written && e.stat == *stat && e.id == *id);
            let entry = Entry {
                stat: *stat,
                id: *id,
                written,
            };
            self.entries.insert(path.as_str(), entry);
        }
        if present < self.entries.len() {
            let found: std::collections::HashSet<&str> =
                scan.entries().map(|(p, _, _)| p.as_str()).collect();
            let gone: Vec<String> = self
                .entries
                .iter()
                .filter(|(p, _)| !found.contains(p))
                .map(|(p, _)| p.to_string())
                .collect();
            for p in gone {
                self.entries.remove(&p);
            }
        }
    }

    fn rebuild_from(&mut self, scan: &Scan) {
        let bytes = scan.entries().map(|(p, _, _)| p.as_str().len()).sum();
        let mut entries = table::Table::with_capacity(scan.len(), bytes);
        for (path, stat, id) in scan.entries() {
            // Still written by sync only if the scan found the very stat recorded after the
            // write.
            let written = self
                .entries
                .get(path.as_str())
                .is_some_and(|e| e.written && e.stat == *stat && e.id == *id);
            entries.insert_new(
                path.as_str(),
                Entry {
                    stat: *stat,
                    id: *id,
                    written,
                },
            );
        }
        self.entries = entries;
    }

    /// The root tree id of the entries (as a flat tree of path -> id, size, mtime, mode), if
    /// recorded with [`StatCache::set_tree`] since the entries last changed.
    pub fn tree(&self) -> Option<ObjectId> {
        self.tree
    }

    /// Record that `tree` is the root tree of exactly the current entries. The caller must have
    /// built it from them (or from the scan they were updated from).
    pub fn set_tree(&mut self, tree: ObjectId) {
        if self.tree != Some(tree) {
            self.file_sum = None;
        }
        self.tree = Some(tree);
    }

    /// The time after which every cached stat was taken (ns since the Unix epoch).
    pub fn horizon_ns(&self) -> i64 {
        self.horizon_ns
    }

    #[cfg(test)]
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out).expect("writing to memory");
        out
    }

    /// Write the encoded cache to `w` as it is encoded, without holding the whole encoding
    /// (13 MiB at 100,000 files) in memory.
    /// Returns the checksum the encoding ends with.
    fn encode_to(&self, w: &mut impl io::Write) -> io::Result<[u8; 32]> {
        let mut out = Summed {
            inner: w,
            buf: Vec::with_capacity(SUMMED_BUF),
            sum: blake3::Hasher::new(),
        };
        out.put(MAGIC)?;
        out.put(&VERSION.to_le_bytes())?;
        out.put(&self.horizon_ns.to_le_bytes())?;
        out.put(self.tree.as_ref().map_or(&[0u8; 32], |t| t.as_bytes()))?;
        out.put(self.rules.as_ref().map_or(&[0u8; 32], |t| t.as_bytes()))?;
        out.put(&(self.entries.len() as u64).to_le_bytes())?;
        let mut entry = Vec::with_capacity(2 + u16::MAX as usize + ENTRY_FIXED_LEN);
        for (path, e) in self.entries.sorted() {
            let (stat, id) = (&e.stat, &e.id);
            let p = path.as_bytes();
            // VaultPath caps paths at 4096 bytes, so the length always fits in a u16.
            let len = u16::try_from(p.len()).unwrap_or(u16::MAX);
            entry.clear();
            entry.extend_from_slice(&len.to_le_bytes());
            entry.extend_from_slice(&p[..usize::from(len)]);
            entry.extend_from_slice(&stat.size.to_le_bytes());
            entry.extend_from_slice(&stat.mtime_ns.to_le_bytes());
            entry.extend_from_slice(&stat.ctime_ns.to_le_bytes());
            entry.extend_from_slice(&stat.ino.to_le_bytes());
            let mut flags = if stat.executable { FLAG_EXECUTABLE } else { 0 };
            if e.written {
                flags |= FLAG_WRITTEN;
            }
            entry.push(flags);
            entry.extend_from_slice(id.as_bytes());
            out.put(&entry)?;
        }
        out.finish()
    }

    /// Decode a cache file; the error says what is wrong, for the warning.
    #[cfg(test)]
    fn decode(bytes: &[u8]) -> Result<StatCache, String> {
        StatCache::decode_releasing(bytes, &|_| {})
    }

    /// [`StatCache::decode`], calling `release(n)` as it goes: the first `n` bytes will not
    /// be read again (a mapped file's pages can go, see [`Bytes::release`]).
    fn decode_releasing(bytes: &[u8], release: &dyn Fn(usize)) -> Result<StatCache, String> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err("not a Vault Sync stat cache: wrong magic bytes".into());
        }
        if bytes.len() < HEADER_LEN + CHECKSUM_LEN {
            return Err(format!("truncated: only {} bytes", bytes.len()));
        }
        let mut r = Reader {
            bytes: &bytes[..bytes.len() - CHECKSUM_LEN],
            pos: 8,
        };
        let version = u32::from_le_bytes(r.array()?);
        if !(1..=VERSION).contains(&version) {
            return Err(format!(
                "format version {version}, this program reads version {VERSION}"
            ));
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        let mut hasher = blake3::Hasher::new();
        for (i, piece) in body.chunks(RELEASE_EVERY).enumerate() {
            hasher.update(piece);
            release((i + 1) * RELEASE_EVERY);
        }
        if hasher.finalize().as_bytes() != sum {
            return Err("checksum mismatch: the file is truncated or damaged".into());
        }
        let horizon_ns = i64::from_le_bytes(r.array()?);
        let tree = if version >= 3 {
            Some(ObjectId(r.array()?)).filter(|t| t.as_bytes() != &[0u8; 32])
        } else {
            None
        };
        let rules = if version >= 4 {
            Some(ObjectId(r.array()?)).filter(|t| t.as_bytes() != &[0u8; 32])
        } else {
            None
        };
        let count = u64::from_le_bytes(r.array()?);
        let mut cache = StatCache::with_horizon(horizon_ns);
        // Bounded by the file's size, whatever the count claims.
        let room = usize::try_from(count)
            .unwrap_or(0)
            .min(bytes.len() / ENTRY_FIXED_LEN);
        cache.entries =
            table::Table::with_capacity(room, bytes.len().saturating_sub(room * ENTRY_FIXED_LEN));
        let mut last: Option<&[u8]> = None;
        let mut dropped = false;
        let mut next_release = RELEASE_EVERY;
        for i in 0..count {
            if r.pos >= next_release {
                // The previous path may lie before this point: read again, it comes back
                // from the file.
                release(r.pos);
                next_release = r.pos + RELEASE_EVERY;
            }
            let len = u16::from_le_bytes(r.array()?);
            let raw = r.take(usize::from(len))?;
            // Only what this path adds to the folders it shares with the previous (valid)
            // one is checked: most of a path is its folder, the same as its neighbour's.
            let from = match last {
                None => 0,
                Some(l) => {
                    let common = common_prefix_len(l, raw);
                    let increasing =
                        common < raw.len() && (common == l.len() || l[common] < raw[common]);
                    if !increasing {
                        return Err(format!("entry {i}: paths not in increasing order"));
                    }
                    l[..common]
                        .iter()
                        .rposition(|&b| b == b'/')
                        .map_or(0, |s| s + 1)
                }
            };
            let added = &raw[from..];
            if !added.is_ascii() && std::str::from_utf8(added).is_err() {
                return Err(format!("entry {i}: path not UTF-8"));
            }
            // SAFETY: `raw[..from]` is the previous path's first `from` bytes, which are UTF-8
            // and end with `/`, a character boundary; the rest was checked just above.
            let text = unsafe { std::str::from_utf8_unchecked(raw) };
            VaultPath::check_extension(text, from).map_err(|e| format!("entry {i}: {e}"))?;
            last = Some(raw);
            let stat = FileStat {
                size: u64::from_le_bytes(r.array()?),
                mtime_ns: i64::from_le_bytes(r.array()?),
                ctime_ns: i64::from_le_bytes(r.array()?),
                ino: u64::from_le_bytes(r.array()?),
                executable: false,
            };
            let flags = r.array::<1>()?[0];
            let known = if version < 2 {
                FLAG_EXECUTABLE
            } else {
                FLAG_EXECUTABLE | FLAG_WRITTEN
            };
            if flags & !known != 0 {
                return Err(format!("entry {i}: unknown flags {flags:#x}"));
            }
            let stat = FileStat {
                executable: flags & FLAG_EXECUTABLE != 0,
                ..stat
            };
            let id = ObjectId(r.array()?);
            if version < CONTENT_IDS_FROM && stat.size >= crate::content::CHUNKED_FROM {
                dropped = true;
                continue;
            }
            // Paths are strictly increasing (checked above), so each is new.
            cache.entries.insert_new(
                text,
                Entry {
                    stat,
                    id,
                    written: flags & FLAG_WRITTEN != 0,
                },
            );
        }
        if r.pos != r.bytes.len() {
            return Err(format!(
                "{} unexpected bytes after the entries",
                r.bytes.len() - r.pos
            ));
        }
        // The tree was of every entry, the dropped ones included.
        cache.tree = tree.filter(|_| !dropped);
        cache.rules = rules;
        Ok(cache)
    }
}

/// How much [`Summed`] gathers before it hashes and writes: enough for blake3 to hash many
/// chunks at once, as it does with a whole buffer.
const SUMMED_BUF: usize = 256 * 1024;

/// A buffered writer that hashes what it writes, for the checksum at the end of the file.
struct Summed<'w, W: io::Write> {
    inner: &'w mut W,
    buf: Vec<u8>,
    sum: blake3::Hasher,
}

impl<W: io::Write> Summed<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.buf.len() + bytes.len() > SUMMED_BUF {
            self.flush_buf()?;
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        self.sum.update(&self.buf);
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Write what is left and the checksum of everything, which it returns.
    fn finish(mut self) -> io::Result<[u8; 32]> {
        self.flush_buf()?;
        let sum = *self.sum.finalize().as_bytes();
        self.inner.write_all(&sum)?;
        self.inner.flush()?;
        Ok(sum)
    }
}

/// The bytes of the file at `path`: mapped (a 20,000-file cache is 2.3 MiB, and copying it into
/// fresh memory cost a millisecond of page faults on every round), or read where that fails.
fn map_or_read(path: &Path) -> io::Result<Bytes> {
    let file = crate::vfs::File::open(path)?;
    if file.metadata()?.is_empty() {
        return Ok(Bytes::Read(Vec::new()));
    }
    // SAFETY: the cache is only ever replaced by renaming a new file over it, never changed
    // in place, so the mapped file keeps its bytes while mapped. Someone truncating it by
    // hand while a round reads it would crash that round (SIGBUS), as with git's index;
    // the cache is rebuilt by the next round, and no vault file is touched meanwhile.
    let Some(os) = file.os() else {
        return crate::vfs::read(path).map(Bytes::Read);
    };
    match unsafe { memmap2::MmapOptions::new().map(os) } {
        Ok(map) => Ok(Bytes::Mapped(map)),
        Err(_) => crate::vfs::read(path).map(Bytes::Read),
    }
}

enum Bytes {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

/// How far decoding goes between two [`Bytes::release`] calls.
const RELEASE_EVERY: usize = 1 << 20;

impl Bytes {
    /// Let the pages of the first `upto` bytes of a mapped file go: read once, they would
    /// otherwise stay resident until the map is dropped, beside the table built from them
    /// (11 MiB at 100,000 files). Read again, they come back from the file.
    fn release(&self, upto: usize) {
        if let Bytes::Mapped(map) = self {
            let page = 4096;
            let len = upto.min(map.len()) / page * page;
            if len > 0 {
                // SAFETY: the map is private and read-only, and the file is never changed
                // in place (see `map_or_read`): pages dropped here read back the same bytes.
                let _ = unsafe {
                    map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, len)
                };
            }
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(map) => map,
            Bytes::Read(bytes) => bytes,
        }
    }
}

/// How many leading bytes `a` and `b` share, eight at a time.
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_ne_bytes(a[i..i + 8].try_into().unwrap_or_default());
        let y = u64::from_ne_bytes(b[i..i + 8].try_into().unwrap_or_default());
        if x != y {
            break;
        }
        i += 8;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Bounds-checked reading of the cache file: running out of bytes is an error, never a panic.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// Nanoseconds since the Unix epoch, by the system clock.
pub fn now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        // A clock before 1970: nothing is trusted against such a horizon anyway.
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;
    const T0: i64 = 1_700_000_000 * SECOND;

    fn stat(size: u64, mtime_ns: i64) -> FileStat {
        FileStat {
            size,
            mtime_ns,
            ctime_ns: mtime_ns,
            ino: 42,
            executable: false,
        }
    }

    fn path(p: &str) -> VaultPath {
        VaultPath::new(p).unwrap()
    }

    /// A cache whose horizon is `T0`, holding entries from well before it.
    fn sample() -> StatCache {
        let mut c = StatCache::with_horizon(T0);
        c.insert(
            path("a.md"),
            stat(3, T0 - 10 * SECOND),
            ObjectId::of(b"aaa"),
        );
        let mut x = stat(5, T0 - 20 * SECOND);
        x.executable = true;
        x.ino = u64::MAX;
        x.ctime_ns = T0 - 5 * SECOND;
        c.insert(path("dir/run.sh"), x, ObjectId::of(b"#!/sh"));
        c.insert(path("ünïcode/ノート.md"), stat(0, -7), ObjectId::of(b""));
        c
    }

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut cache = sample();
        cache.save(&p).unwrap();
        let (back, warning) = StatCache::load(&p);
        assert_eq!(warning, None);
        assert_eq!(back, cache);
    }

    #[test]
    fn missing_file_is_empty_without_warning() {
        let dir = tempfile::tempdir().unwrap();
        let (c, warning) = StatCache::load(&dir.path().join("index"));
        assert!(c.is_empty());
        assert_eq!(warning, None);
    }

    #[test]
    fn damaged_files_give_empty_cache_and_warning() {
        let good = sample().encode();
        let mut flipped = good.clone();
        flipped[HEADER_LEN + 4] ^= 1;
        let mut future = good.clone();
        future[8] = 6;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty file", vec![]),
            ("foreign file", b"hello world, not an index at all".to_vec()),
            ("truncated in the header", good[..10].to_vec()),
            ("truncated in the entries", good[..good.len() / 2].to_vec()),
            (
                "missing checksum",
                good[..good.len() - CHECKSUM_LEN].to_vec(),
            ),
            ("one bit flipped", flipped),
            ("future version", future),
            ("trailing garbage", [good.as_slice(), b"xx"].concat()),
        ];
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        for (what, bytes) in cases {
            std::fs::write(&p, &bytes).unwrap();
            let (c, warning) = StatCache::load(&p);
            assert!(c.is_empty(), "{what}: cache not empty");
            let w = warning.unwrap_or_else(|| panic!("{what}: no warning"));
            assert!(
                w.contains("index"),
                "{what}: warning does not name the file: {w}"
            );
        }
    }

    #[test]
    fn decode_survives_lying_counts_with_valid_checksum() {
        // A hostile or buggy writer: a huge count and odd lengths, but a correct checksum.
        let mut body = Vec::new();
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&VERSION.to_le_bytes());
        body.extend_from_slice(&T0.to_le_bytes());
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        body.extend_from_slice(&u16::MAX.to_le_bytes());
        body.extend_from_slice(b"../etc/passwd");
        let sum = *blake3::hash(&body).as_bytes();
        body.extend_from_slice(&sum);
        assert!(StatCache::decode(&body).is_err());
    }

    #[test]
    fn decode_checks_every_path_even_past_a_shared_folder() {
        // Checksums right, paths wrong: each list must be refused as a whole.
        let encode = |paths: &[&[u8]]| {
            let mut body = Vec::new();
            body.extend_from_slice(MAGIC);
            body.extend_from_slice(&VERSION.to_le_bytes());
            body.extend_from_slice(&T0.to_le_bytes());
            body.extend_from_slice(&[0u8; 64]);
            body.extend_from_slice(&(paths.len() as u64).to_le_bytes());
            for p in paths {
                body.extend_from_slice(&(p.len() as u16).to_le_bytes());
                body.extend_from_slice(p);
                body.extend_from_slice(&[0u8; 33]);
                body.extend_from_slice(ObjectId::of(p).as_bytes());
            }
            let sum = *blake3::hash(&body).as_bytes();
            body.extend_from_slice(&sum);
            body
        };
        let good: &[&[u8]] = &[
            b"notes/a.md",
            "notes/b\u{e9}.md".as_bytes(),
            b"notes/c/d.md",
        ];
        assert_eq!(StatCache::decode(&encode(good)).unwrap().len(), 3);
        let bad: &[&[&[u8]]] = &[
            &[b"notes/a.md", b"notes/b/../../x"],
            &[b"notes/a.md", b"notes/b/"],
            &[b"notes/a.md", b"notes/b\x01.md"],
            &[b"notes/a.md", b"notes/b\\c"],
            &[b"notes/a.md", b"notes/\xc2\x85.md"],
            &[b"notes/a.md", b"notes/\xff.md"],
            &[b"notes/a.md", b"notes/a.md"],
            &[b"notes/b.md", b"notes/a.md"],
            &[b"notes/a.md", b"notes"],
            &[b".vault/x"],
            &[b".Vault/x"],
            &[b"-", b".vault"],
        ];
        for paths in bad {
            assert!(
                StatCache::decode(&encode(paths)).is_err(),
                "accepted {:?}",
                paths
                    .iter()
                    .map(|p| String::from_utf8_lossy(p))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn exact_stat_is_trusted() {
        let c = sample();
        let s = c.get(&path("a.md")).unwrap().0;
        assert_eq!(c.lookup(&path("a.md"), &s), Some(ObjectId::of(b"aaa")));
    }

    #[test]
    fn stat_mismatch_is_not_trusted() {
        let c = sample();
        let p = path("a.md");
        let s = c.get(&p).unwrap().0;
        type Change = (&'static str, fn(&mut FileStat));
        let changes: [Change; 5] = [
            ("size", |s| s.size += 1),
            ("mtime", |s| s.mtime_ns += 1),
            ("ctime", |s| s.ctime_ns += 1),
            ("inode", |s| s.ino += 1),
            ("executable", |s| s.executable = !s.executable),
        ];
        for (what, change) in changes {
            let mut other = s;
            change(&mut other);
            assert_eq!(c.lookup(&p, &other), None, "a different {what} was trusted");
        }
        assert_eq!(c.lookup(&path("unknown.md"), &s), None);
    }

    #[test]
    fn racy_entries_are_not_trusted() {
        let mut c = StatCache::with_horizon(T0);
        let cases = [
            (
                "mtime just inside the margin",
                stat(1, T0 - RACY_MARGIN_NS),
                false,
            ),
            ("mtime at the horizon", stat(1, T0), false),
            ("mtime after the horizon", stat(1, T0 + SECOND), false),
            (
                "mtime just outside the margin",
                stat(1, T0 - RACY_MARGIN_NS - 1),
                true,
            ),
            (
                "old mtime but recent ctime",
                FileStat {
                    ctime_ns: T0 - 1,
                    ..stat(1, T0 - 100 * SECOND)
                },
                false,
            ),
        ];
        for (what, s, trusted) in cases {
            c.insert(path("f.md"), s, ObjectId::of(b"f"));
            assert_eq!(c.lookup(&path("f.md"), &s).is_some(), trusted, "{what}");
        }
    }

    #[test]
    fn timestamp_ticks_are_inferred_conservatively_from_the_value() {
        const MS: i64 = 1_000_000;
        let cases = [
            ("a whole even second: FAT's two seconds", T0, 2 * SECOND),
            ("a whole odd second", T0 + SECOND, SECOND),
            ("a tenth of a second", T0 + 300 * MS, 100 * MS),
            ("exFAT's 10 ms", T0 + 70 * MS, 10 * MS),
            ("a millisecond", T0 + 7 * MS, MS),
            ("a microsecond", T0 + 123_456_000, 1_000),
            ("NTFS's 100 ns", T0 + 123_456_700, 100),
            ("a nanosecond", T0 + 123_456_789, 1),
            ("the epoch", 0, 2 * SECOND),
            ("before the epoch", -7, 1),
            ("a whole second before the epoch", -SECOND, SECOND),
        ];
        for (what, t, tick) in cases {
            assert_eq!(tick_ns(t), tick, "{what}");
        }
    }

    #[test]
    fn whole_second_stats_are_racy_until_their_tick_is_over() {
        // Saved at 1.7 s on a one-second filesystem (stamped 1.0 s), scanned at 1.8 s: a save
        // at 1.9 s would keep the stat, so the entry is racy until 2.0 s plus the margin.
        let saved = T0 + SECOND;
        let id = ObjectId::of(b"first");
        for (horizon, trusted) in [
            (saved + 800_000_000, false),
            (saved + SECOND, false),
            (saved + SECOND + RACY_MARGIN_NS - 1, false),
            (saved + SECOND + RACY_MARGIN_NS, true),
        ] {
            let mut c = StatCache::with_horizon(horizon);
            c.insert(path("f.md"), stat(5, saved), id);
            assert_eq!(
                c.lookup(&path("f.md"), &stat(5, saved)).is_some(),
                trusted,
                "horizon {} ms after the save",
                (horizon - saved) / 1_000_000
            );
            assert_eq!(is_racy(&stat(5, saved), horizon), !trusted);
        }
        // FAT: an even second stands for two.
        let fat = stat(5, T0);
        assert!(is_racy(&fat, T0 + SECOND + 500_000_000));
        assert!(!is_racy(&fat, T0 + 2 * SECOND + RACY_MARGIN_NS));
        // A whole-second ctime alone is enough to be racy.
        let ctime_only = FileStat {
            ctime_ns: saved,
            ..stat(5, T0 - 100 * SECOND + 1)
        };
        assert!(is_racy(&ctime_only, saved + 800_000_000));
    }

    #[test]
    fn written_entries_with_a_whole_second_mtime_are_racy_within_their_tick() {
        // Sync wrote the file at 1.2 s with the tree's mtime 1.0 s (whole seconds): a user's
        // save at 1.9 s on a one-second filesystem keeps that mtime.
        let mut st = stat(3, T0 + SECOND);
        st.ctime_ns = T0 + SECOND;
        let id = ObjectId::of(b"aaa");
        let mut c = StatCache::with_horizon(T0 + SECOND + 800_000_000);
        c.insert_written(path("w.md"), st, id);
        assert_eq!(c.lookup(&path("w.md"), &st), None);
        let mut c = StatCache::with_horizon(T0 + 2 * SECOND + RACY_MARGIN_NS);
        c.insert_written(path("w.md"), st, id);
        assert_eq!(c.lookup(&path("w.md"), &st), Some(id));
    }

    #[test]
    fn remove() {
        let mut c = sample();
        assert!(c.remove(&path("a.md")).is_some());
        assert!(c.remove(&path("a.md")).is_none());
        assert!(c.remove(&path("ünïcode/ノート.md")).is_some());
        let left: Vec<_> = c.iter().map(|(p, _, _)| p.to_string()).collect();
        assert_eq!(left, ["dir/run.sh"]);
    }

    fn golden_path(version: u32) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("../fixtures/format/statcache-v{version}.bin"))
    }

    /// The sample with one entry marked as written by sync (version 2 can say so).
    fn sample_v2() -> StatCache {
        let mut c = sample();
        let (stat, id) = c.get(&path("a.md")).unwrap();
        c.insert_written(path("a.md"), stat, id);
        c
    }

    /// The version 2 sample with a tree id (version 3 can say so).
    fn sample_v3() -> StatCache {
        let mut c = sample_v2();
        c.set_tree(ObjectId::of(b"a tree"));
        c
    }

    /// The version 3 sample with an ignore-rules fingerprint (version 4 can say so).
    fn sample_v4() -> StatCache {
        let mut c = sample_v3();
        c.rules = Some(ObjectId::of(b"some rules"));
        c
    }

    /// Writes the golden fixture. Run once, on purpose, when the format version changes:
    /// `cargo test -p vault --lib write_statcache_golden -- --ignored`.
    #[test]
    #[ignore = "writes fixtures/format/statcache-v5.bin"]
    fn write_statcache_golden() {
        std::fs::write(golden_path(VERSION), sample_v4().encode()).unwrap();
    }

    #[test]
    fn format_is_frozen() {
        let golden = std::fs::read(golden_path(5)).expect("fixtures/format/statcache-v5.bin");
        assert_eq!(sample_v4().encode(), golden, "stat cache encoding changed");
        assert_eq!(StatCache::decode(&golden), Ok(sample_v4()));
        // Version 4 (the same layout) is still read; its sample has no large file.
        let v4 = std::fs::read(golden_path(4)).expect("fixtures/format/statcache-v4.bin");
        assert_eq!(StatCache::decode(&v4), Ok(sample_v4()));
        // Versions 3, 2 and 1 are still read.
        let v3 = std::fs::read(golden_path(3)).expect("fixtures/format/statcache-v3.bin");
        assert_eq!(StatCache::decode(&v3), Ok(sample_v3()));
        let v2 = std::fs::read(golden_path(2)).expect("fixtures/format/statcache-v2.bin");
        assert_eq!(StatCache::decode(&v2), Ok(sample_v2()));
        // Version 1 files are still read.
        let v1 = std::fs::read(golden_path(1)).expect("fixtures/format/statcache-v1.bin");
        assert_eq!(StatCache::decode(&v1), Ok(sample()));
    }

    /// A cache written by a version before content ids (4) loses its entries of large files
    /// (whole-blob ids) and its tree; small files keep theirs; version 5 keeps everything.
    #[test]
    fn an_older_cache_forgets_the_ids_of_large_files() {
        let mut c = sample_v4();
        let big = stat(crate::content::CHUNKED_FROM, T0 - 10 * SECOND);
        c.insert(path("big.bin"), big, ObjectId::of(b"the old whole-blob id"));
        let now = c.encode();
        assert_eq!(StatCache::decode(&now), Ok(c.clone()));
        let mut old = now[..now.len() - CHECKSUM_LEN].to_vec();
        old[8..12].copy_from_slice(&4u32.to_le_bytes());
        let sum = *blake3::hash(&old).as_bytes();
        old.extend_from_slice(&sum);
        let read = StatCache::decode(&old).unwrap();
        assert_eq!(read.get(&path("big.bin")), None);
        assert_eq!(read.tree, None, "the tree was of the dropped entry too");
        assert_eq!(read.get(&path("a.md")), c.get(&path("a.md")));
        assert_eq!(read.rules, c.rules);
    }

    #[test]
    fn written_entries_trust_an_old_mtime_despite_a_recent_ctime() {
        let mut c = StatCache::with_horizon(T0);
        let mut st = stat(3, T0 - 3600 * SECOND);
        st.ctime_ns = T0 - SECOND / 100; // renamed into place just before the horizon
        let id = ObjectId::of(b"aaa");
        c.insert(path("w.md"), st, id);
        assert_eq!(c.lookup(&path("w.md"), &st), None, "a plain entry is racy");
        c.insert_written(path("w.md"), st, id);
        assert_eq!(c.lookup(&path("w.md"), &st), Some(id));
        // Survives a save and load.
        let back = StatCache::decode(&c.encode()).unwrap();
        assert_eq!(back.lookup(&path("w.md"), &st), Some(id));
        // A recent modification time is racy even for a written file.
        let mut fresh = st;
        fresh.mtime_ns = T0 - SECOND / 100;
        c.insert_written(path("w.md"), fresh, id);
        assert_eq!(c.lookup(&path("w.md"), &fresh), None);
    }

    #[test]
    fn a_cache_let_go_comes_back_from_its_file_as_the_same_cache() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        // Never saved: no file holds it, so it must be kept.
        let mut cache = sample();
        assert_eq!(cache.let_go(), None);
        assert_eq!(cache, sample());
        cache.save(&p).unwrap();
        let kept = cache.clone();
        let was = cache.let_go().unwrap();
        assert!(cache.is_empty());
        let (back, warning) = StatCache::load_again(&p, was);
        assert_eq!(warning, None);
        assert_eq!(back, kept);
        assert_eq!(
            back.generation(),
            kept.generation(),
            "a scan made against the cache let go counts as made against this one"
        );
        // Loaded plainly, and changed since: its file no longer holds it.
        let (mut loaded, _) = StatCache::load(&p);
        loaded.remove(&path("a.md"));
        assert_eq!(loaded.let_go(), None);
        let (mut loaded, _) = StatCache::load(&p);
        loaded.set_tree(ObjectId::of(b"another tree"));
        assert_eq!(loaded.let_go(), None);
    }

    #[test]
    fn a_cache_whose_file_was_replaced_meanwhile_comes_back_as_the_file_says_and_new() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        let mut cache = sample();
        cache.save(&p).unwrap();
        let generation = cache.generation();
        let was = cache.let_go().unwrap();
        let mut other = sample();
        other.remove(&path("a.md"));
        other.save(&p).unwrap();
        let (back, warning) = StatCache::load_again(&p, was);
        assert_eq!(warning, None);
        assert_eq!(back, other);
        assert_ne!(
            back.generation(),
            generation,
            "a scan made against the cache let go must not be taken as made against this one"
        );
    }

    #[test]
    fn a_large_cache_loads_whole_while_the_pages_read_are_let_go() {
        let mut c = StatCache::with_horizon(T0);
        for i in 0..30_000u64 {
            let p = format!(
                "folder {:02}/a note with a long name, number {i:06}.md",
                i % 37
            );
            c.insert(
                path(&p),
                stat(i, T0 - SECOND),
                ObjectId::of(&i.to_le_bytes()),
            );
        }
        let bytes = c.encode();
        assert!(bytes.len() > 3 * RELEASE_EVERY, "{} bytes", bytes.len());
        let released = std::cell::RefCell::new(Vec::new());
        let back =
            StatCache::decode_releasing(&bytes, &|upto| released.borrow_mut().push(upto)).unwrap();
        assert_eq!(back, c);
        let released = released.into_inner();
        assert!(
            released.len() >= 2 * (bytes.len() / RELEASE_EVERY),
            "{released:?}"
        );
        assert!(released.iter().all(|&n| n <= bytes.len() + RELEASE_EVERY));
        // Through a mapped file, whose pages really go.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index");
        c.save(&p).unwrap();
        let (loaded, warning) = StatCache::load(&p);
        assert_eq!(warning, None);
        assert_eq!(loaded, c);
        assert_eq!(loaded.len(), 30_000);
    }
}
