//! Scan: walk the vault folder and describe every file that syncs, hashing only what changed.
//!
//! The walk is sequential and sorted (so results and warnings are deterministic); the per-file
//! work (stat, cache lookup, hashing) runs on all cores with rayon. Nothing odd in the folder is
//! an error: symlinks, sockets, devices, names that cannot be synced, unreadable files and files
//! that vanish mid-scan are skipped (with a warning where the user can do something about it).
//! Only an unreadable vault folder fails the scan.
//!
//! Consistency: a file is stat'ed before and after it is hashed; if the stat moved, it is
//! hashed again (up to [`MAX_HASH_TRIES`] times), so every recorded `(stat, id)` pair describes
//! one version of the file. A change within the same timestamp tick that the second stat cannot
//! see is caught by the stat cache's racy check on the next scan.
//!
//! Hashing reads files through `crate::content` (a small file into one buffer, a large one
//! through the FastCDC chunker's window, hashing each chunk). Measured on the
//! 2-core dev machine, warm page cache: 5,000 files of 2-22 KB take ~25 ms this way (mmap: ~75
//! ms, as mapping costs more than reading small files); one 50 MiB file takes ~15 ms (mmap with
//! rayon: ~6.5 ms). mmap is not used even for big files: if another program truncates a mapped
//! file while it is hashed, the process gets SIGBUS and dies, and a sync agent must survive
//! editors rewriting attachments under it.

use crate::statcache::PathMap;
use crate::vfs::{File, OpenOptions};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use crate::content::chunker::{ChunkRef, ContentPlan, Layout};
use crate::content::{ChunkSink, NoSink};
use crate::filestat::FileStat;
use crate::id::ObjectId;
use crate::ignore_rules::IgnoreRules;
use crate::object::{FileMeta, FlatTree};
use crate::paths::VaultPath;
use crate::progress::{Amount, NoProgress, Phase, Progress};
use crate::statcache::StatCache;

/// How often a file that keeps changing while it is hashed is tried before it is left for the
/// next scan.
pub const MAX_HASH_TRIES: usize = 4;

/// Files to hash (how many, how many bytes) below which a scan reads them on its own thread.
const HASHED_HERE_BELOW: (u64, u64) = (16, 4 << 20);

/// How to scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Trust the stat cache for files whose stat is unchanged. `false` hashes every file (used
    /// by repair, when the cache itself is suspect).
    pub use_cache: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions { use_cache: true }
    }
}

/// What a scan did; true counts, for status output and for the "quiet when idle" tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanCounters {
    /// Regular files recorded in [`Scan::files`].
    pub files_scanned: u64,
    /// Files read to hash them (a file hashed again because it changed meanwhile counts twice).
    pub files_hashed: u64,
    /// Bytes read to hash them.
    pub bytes_hashed: u64,
    /// Files whose id came from the stat cache (their stat was exactly the cached one).
    pub cache_hits: u64,
}

/// The state of a vault folder as found by [`scan`].
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Every file that syncs: its path, the stat it had when its id was taken, and its blob id,
    /// in the walk's order.
    entries: Vec<ScanEntry>,
    /// Whether `entries` are in path order (see [`Scan::sort_by_path`]).
    sorted: bool,
    /// [`Scan::files`] and [`Scan::stats`], built on first use: a round that finds nothing
    /// changed needs neither.
    files: OnceLock<FlatTree>,
    stats: OnceLock<PathMap<FileStat>>,
    pub counters: ScanCounters,
    /// Things the user may want to fix (a symlink, a name that cannot sync, a permission).
    pub warnings: Vec<String>,
    /// Files and folders that exist and sync but could not be read this time (permission, or a
    /// file that kept changing). Their absence from `files` is not a deletion: sync must keep
    /// what it knew about them (and everything under such a folder).
    pub unreadable: Vec<VaultPath>,
    /// When the scan started (ns since the Unix epoch); every stat was taken after it.
    pub started_at_ns: i64,
    /// Temp files of this crate (`.vault-tmp-` and 16 hex digits) found in the vault: left by
    /// an interrupted write. Sync removes them while it holds the vault lock.
    pub temp_files: Vec<PathBuf>,
    /// The fingerprint of the ignore rules the scan applied (the stat cache keeps it).
    pub rules: Option<ObjectId>,
    /// Folders the walk found on another filesystem than the folder holding them: mount
    /// points of drives or shares inside the vault (only among the folders it listed).
    pub mounts: Vec<VaultPath>,
    /// The generation of the stat cache whose entries gave the cache hits, if any.
    pub cache_generation: Option<u64>,
    /// Where the chunks of each large file hashed by this scan lie, by the file's id: an
    /// upload reads those pieces as they are (checking each against its id) instead of
    /// cutting the file again. At most [`MAX_PLANNED_CHUNKS`] chunks in all.
    pub chunk_plans: HashMap<ObjectId, Arc<[ChunkRef]>>,
}

/// The most chunk positions a scan keeps (48 bytes each: 12 MiB, the chunks of about 64 GiB of
/// large files); files beyond it are cut again when uploaded.
pub const MAX_PLANNED_CHUNKS: usize = 256 << 10;

impl Scan {
    /// Every file that syncs, with its blob id.
    pub fn files(&self) -> &FlatTree {
        self.files.get_or_init(|| {
            self.entries
                .iter()
                .map(|e| (e.path.clone(), FileMeta::of(&e.stat, e.id)))
                .collect()
        })
    }

    /// Drop [`Scan::files`] if it was built (it is built again if asked for): a caller done
    /// with it frees its memory while keeping the scan.
    pub fn forget_files(&mut self) {
        self.files.take();
    }

    /// [`Scan::files`] if something asked for it already (then it is cheaper to compare with
    /// than the entries, which may first need sorting).
    pub fn files_if_built(&self) -> Option<&FlatTree> {
        self.files.get()
    }

    /// The stat each file in [`Scan::files`] had when its id was taken (for the stat cache and
    /// for "did it change since the scan?" checks before overwriting).
    pub fn stats(&self) -> &PathMap<FileStat> {
        self.stats.get_or_init(|| {
            self.entries
                .iter()
                .map(|e| (e.path.clone(), e.stat))
                .collect()
        })
    }

    /// [`Scan::stats`] of `paths` only (those the scan found): what apply checks its actions
    /// against, without a map of every file (7.5 MiB at 100,000 files) for the few paths a
    /// round changes.
    pub fn stats_of<'p>(
        &self,
        paths: impl IntoIterator<Item = &'p VaultPath>,
    ) -> PathMap<FileStat> {
        let mut wanted: PathMap<Option<FileStat>> = PathMap::default();
        for path in paths {
            wanted.insert(path.clone(), None);
        }
        if let Some(all) = self.stats.get() {
            return wanted
                .into_keys()
                .filter_map(|p| all.get(&p).map(|st| (p, *st)))
                .collect();
        }
        for e in &self.entries {
            if let Some(slot) = wanted.get_mut(&e.path) {
                *slot = Some(e.stat);
            }
        }
        wanted
            .into_iter()
            .filter_map(|(p, st)| st.map(|st| (p, st)))
            .collect()
    }

    /// How many files were cache hits: exactly the stat the stat cache holds, so the cached
    /// id.
    pub fn hits(&self) -> usize {
        self.counters.cache_hits as usize
    }

    /// The files that were not cache hits (hashed, or found in the cache with another stat).
    pub fn examined(&self) -> impl Iterator<Item = (&VaultPath, &FileStat, &ObjectId)> {
        self.entries
            .iter()
            .filter(|e| !e.hit)
            .map(|e| (&e.path, &e.stat, &e.id))
    }

    /// Every file with its stat and id: in path order after [`Scan::sort_by_path`], else in no
    /// particular order. Cheaper than [`Scan::files`].
    pub fn entries(&self) -> impl ExactSizeIterator<Item = (&VaultPath, &FileStat, &ObjectId)> {
        self.entries.iter().map(|e| (&e.path, &e.stat, &e.id))
    }

    /// Put the entries in path order, once: a round that compares the scan with a flat tree
    /// and saves it as the stat cache (which is kept sorted) needs them sorted, and the walk's
    /// order is nearly so already, which makes the sort cheap. A quiet round never pays it.
    ///
    /// A full scan's walk is in path order, but the files it had to examine come after the
    /// cache hits: two sorted runs, which a stable sort merges in one pass.
    pub fn sort_by_path(&mut self) {
        if !self.sorted {
            self.entries.sort_by(|a, b| a.path.cmp(&b.path));
            self.sorted = true;
        }
    }

    /// Record each file found at the first path of a pair of `renames` under the second (the
    /// spelling the vault knows a name by, where the filesystem lists another:
    /// [`crate::paths::respellings`]), when a lookup of that spelling finds the very file on
    /// disk (the filesystem takes both for one name; where it does not, the two are distinct
    /// files and stay so). Says how many were respelled.
    pub fn respell(&mut self, root: &Path, renames: &[(VaultPath, VaultPath)]) -> usize {
        let mut done = 0;
        for (found, known) in renames {
            let Some(entry) = self.entries.iter_mut().find(|e| e.path == *found) else {
                continue;
            };
            let same = matches!(
                crate::filestat::probe(&known.to_fs_path(root)),
                Ok(crate::filestat::Found::File(st)) if st.ino == entry.stat.ino
            );
            if same {
                entry.path = known.clone();
                done += 1;
            }
        }
        if done > 0 {
            self.files.take();
            self.stats.take();
            self.sorted = false;
        }
        done
    }

    /// Whether [`Scan::entries`] come in path order.
    pub fn is_sorted(&self) -> bool {
        self.sorted
    }

    /// How many files the scan recorded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One file of a scan.
#[derive(Debug, Clone)]
struct ScanEntry {
    path: VaultPath,
    /// The stat it had when its id was taken.
    stat: FileStat,
    id: ObjectId,
    /// The id came from the stat cache (the stat was exactly the cached one).
    hit: bool,
}

/// The scan could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    #[error(
        "cannot read the vault folder `{path}`: {source}; check that it exists and that this \
         user may read it"
    )]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the vault path `{path}` is not a folder; point the vault at a folder")]
    NotAFolder { path: PathBuf },
}

/// Walk the vault at `root` and describe every file that syncs. See the module docs for what is
/// skipped and why.
pub fn scan(
    root: &Path,
    rules: &IgnoreRules,
    cache: &StatCache,
    opts: ScanOptions,
) -> Result<Scan, ScanError> {
    scan_reporting(root, rules, cache, opts, &NoProgress, &NoSink)
}

/// [`scan`], telling `progress` what it hashes: once the walk has found the files the stat
/// cache cannot vouch for, [`Phase::Scanning`] begins with their count and bytes, and each
/// file hashed advances it (from the hashing threads). The caller ends the phase.
///
/// The chunks of large files the stat cache has never seen (new paths) are handed to `sink`
/// as they are cut ([`crate::content::sink`]), so a round can upload them during the scan.
pub fn scan_reporting(
    root: &Path,
    rules: &IgnoreRules,
    cache: &StatCache,
    opts: ScanOptions,
    progress: &dyn Progress,
    sink: &dyn ChunkSink,
) -> Result<Scan, ScanError> {
    let started_at_ns = crate::vfs::now_ns_at(root);
    let root_meta = crate::vfs::metadata(root).map_err(|source| ScanError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    if !root_meta.is_dir() {
        return Err(ScanError::NotAFolder {
            path: root.to_path_buf(),
        });
    }
    let out = Scan {
        started_at_ns,
        rules: Some(rules.fingerprint()),
        cache_generation: opts.use_cache.then(|| cache.generation()),
        ..Scan::default()
    };
    let walked = walk::walk(root, rules, cache).map_err(|source| ScanError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    let hooks = Hooks { progress, sink };
    let mut out = finish(out, walked, Vec::new(), root, cache, opts, hooks);
    // The walk gives the files in path order, and `finish` keeps the cache hits and the
    // files it examined in that order, one run after the other: with only one run the
    // entries are sorted already.
    out.sorted =
        out.counters.cache_hits == 0 || out.counters.cache_hits == out.counters.files_scanned;
    Ok(out)
}

/// [`scan`] limited to what `scope` says changed since the stat cache last described the
/// whole folder: the folders holding changed paths are listed again and changed folders
/// walked whole; every other cached file is taken as it is, without a `stat` (those the cache
/// cannot vouch for yet, changed too close to its last scan, are stat'ed and hashed as in a
/// full scan). The caller must know that the cache was complete (see [`ScanScope`]).
pub fn scan_scoped(
    root: &Path,
    rules: &IgnoreRules,
    cache: &StatCache,
    scope: &ScanScope,
    progress: &dyn Progress,
    sink: &dyn ChunkSink,
) -> Result<Scan, ScanError> {
    let started_at_ns = crate::vfs::now_ns_at(root);
    let out = Scan {
        started_at_ns,
        rules: Some(rules.fingerprint()),
        cache_generation: Some(cache.generation()),
        ..Scan::default()
    };
    let walked =
        walk::walk_scoped(root, rules, cache, scope).map_err(|source| ScanError::Root {
            path: root.to_path_buf(),
            source,
        })?;
    let mut outside = Vec::new();
    for (path, entry) in cache.entries() {
        if !scope.covers(path) {
            let path = VaultPath::from_checked(path);
            let stat = match cache.trusted(entry, entry.stat()) {
                // Not racy: as good as a stat that found it unchanged.
                Some(_) => Ok(Some(*entry.stat())),
                None => lstat_file(&path.to_fs_path(root)),
            };
            outside.push(walk::Candidate {
                path: walk::CandidatePath::Own(path),
                stat,
                cached: Some(entry),
            });
        }
    }
    Ok(finish(
        out,
        walked,
        outside,
        root,
        cache,
        ScanOptions::default(),
        Hooks { progress, sink },
    ))
}

/// Who hears of a scan's work as it goes: its progress, and the chunks of new large files.
#[derive(Clone, Copy)]
struct Hooks<'a> {
    progress: &'a dyn Progress,
    sink: &'a dyn ChunkSink,
}

/// The part of a scan after the walk: cache hits are done, the other candidates are examined
/// in parallel.
fn finish<'c>(
    mut out: Scan,
    walked: walk::Walked<'c>,
    more: Vec<walk::Candidate<'c>>,
    root: &Path,
    cache: &'c StatCache,
    opts: ScanOptions,
    Hooks { progress, sink }: Hooks<'_>,
) -> Scan {
    out.warnings = walked.warnings;
    out.unreadable = walked.unreadable;
    out.temp_files = walked.temp_files;
    out.mounts = walked.mounts;
    out.mounts.sort();
    // Files whose stat is exactly the cached one (almost all of them, in a round that follows
    // another) are done; only the others are examined, in parallel.
    let total = walked.files.iter().map(Vec::len).sum::<usize>() + more.len();
    out.entries.reserve(total);
    let mut rest = Vec::new();
    for c in walked.files.into_iter().flatten().chain(more) {
        let hit = match (&c.stat, c.cached) {
            (Ok(Some(stat)), Some(entry)) if opts.use_cache => {
                cache.trusted(entry, stat).map(|id| (*stat, id))
            }
            _ => None,
        };
        match hit {
            Some((stat, id)) => out.entries.push(ScanEntry {
                path: c.path.into_path(),
                stat,
                id,
                hit: true,
            }),
            None => rest.push(c),
        }
    }
    out.counters.cache_hits = out.entries.len() as u64;
    out.counters.files_scanned = out.entries.len() as u64;
    let to_hash = rest.iter().fold(Amount::default(), |t, c| {
        let size = c.stat.as_ref().ok().and_then(|s| s.map(|s| s.size));
        Amount::new(t.items + 1, t.bytes + size.unwrap_or(0))
    });
    progress.begin(Phase::Scanning, Some(to_hash));
    let examine_one = |c: &walk::Candidate<'_>| {
        let outcome = examine(c, root, sink);
        progress.advance(Phase::Scanning, Amount::new(1, outcome.bytes));
        outcome
    };
    // A few small files (an edit or two) are read here: waking every core costs more.
    let results: Vec<Outcome> =
        if to_hash.items < HASHED_HERE_BELOW.0 && to_hash.bytes < HASHED_HERE_BELOW.1 {
            rest.iter().map(examine_one).collect()
        } else {
            rest.par_iter().map(examine_one).collect()
        };
    let mut planned = 0;
    for (outcome, c) in results.into_iter().zip(rest) {
        out.counters.files_hashed += outcome.reads;
        out.counters.bytes_hashed += outcome.bytes;
        match outcome.result {
            Found::File(stat, id, chunks) => {
                if let Some(chunks) = chunks
                    && planned + chunks.len() <= MAX_PLANNED_CHUNKS
                {
                    planned += chunks.len();
                    out.chunk_plans.insert(id, chunks.into());
                }
                out.entries.push(ScanEntry {
                    path: c.path.into_path(),
                    stat,
                    id,
                    hit: false,
                });
                out.counters.files_scanned += 1;
            }
            Found::Gone => {}
            Found::Unreadable(warning) => {
                out.warnings.push(warning);
                out.unreadable.push(c.path.into_path());
            }
        }
    }
    out
}

/// What examining one file found.
enum Found {
    /// Its stat, id and, for a large file, where its chunks lie.
    File(FileStat, ObjectId, Option<Vec<ChunkRef>>),
    /// Removed, or no longer a regular file, since the walk listed it.
    Gone,
    /// Exists but could not be read consistently; the warning says why.
    Unreadable(String),
}

struct Outcome {
    result: Found,
    reads: u64,
    bytes: u64,
}

/// Hash one file that was not a cache hit (with the stat the walk took) until stat and content
/// agree. A large file at a path the cache has never seen is handed to `sink` as it is cut (a
/// changed one is not: most of its chunks are on the hub already, and its upload sends only
/// the others).
fn examine(c: &walk::Candidate<'_>, root: &Path, sink: &dyn ChunkSink) -> Outcome {
    let sink = if c.cached.is_none() { sink } else { &NoSink };
    let path = c.path.as_str();
    let mut out = Outcome {
        result: Found::Gone,
        reads: 0,
        bytes: 0,
    };
    let unreadable = |e: &io::Error| {
        Found::Unreadable(format!(
            "skipped `{path}` this time: cannot read it ({e}); check its permissions"
        ))
    };
    let mut before = match &c.stat {
        Ok(Some(stat)) => *stat,
        Ok(None) => return out,
        Err(e) => {
            out.result = unreadable(e);
            return out;
        }
    };
    let abs = crate::paths::fs_path(root, path);
    let abs = abs.as_path();
    for _ in 0..MAX_HASH_TRIES {
        let hashed = open_regular(abs).and_then(|(file, _)| plan_file(file, sink));
        let (id, bytes, chunks) = match hashed {
            Ok(plan) => {
                let chunks = match plan.layout {
                    Layout::Chunked { chunks, .. } => Some(chunks),
                    Layout::Blob => None,
                };
                (plan.id, plan.size, chunks)
            }
            Err(e) if is_gone(&e) => return out,
            Err(e) => {
                out.result = unreadable(&e);
                return out;
            }
        };
        out.reads += 1;
        out.bytes += bytes;
        let after = match lstat_file(abs) {
            Ok(Some(stat)) => stat,
            Ok(None) => return out,
            Err(e) => {
                out.result = unreadable(&e);
                return out;
            }
        };
        if after == before && bytes == after.size {
            out.result = Found::File(after, id, chunks);
            return out;
        }
        before = after;
    }
    out.result = Found::Unreadable(format!(
        "skipped `{path}` this time: it kept changing while it was hashed ({MAX_HASH_TRIES} \
         tries); it will be synced once it is quiet"
    ));
    out
}

/// The stat of a regular file, `None` if the path is gone or is no longer a regular file.
fn lstat_file(abs: &Path) -> io::Result<Option<FileStat>> {
    match crate::vfs::symlink_metadata(abs) {
        Ok(m) if m.file_type().is_file() => Ok(Some(FileStat::from_metadata(&m))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Errors that mean "the file went away or was replaced by something we do not read".
fn is_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || e.raw_os_error() == Some(libc::ELOOP)
        || e.kind() == io::ErrorKind::InvalidInput
}

/// Open `path` for reading only if it is a regular file: a symlink is refused (`O_NOFOLLOW`,
/// so a link swapped in after the walk cannot lead outside the vault) and a pipe or device is
/// neither waited on (`O_NONBLOCK`) nor read.
fn open_regular(path: &Path) -> io::Result<(File, crate::vfs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a regular file", path.display()),
        ));
    }
    Ok((file, meta))
}

/// The file's content id (`crate::content`: blake3 of a small file, of its chunk list for a
/// large one), read once in bounded memory.
fn hash_reader(file: File) -> io::Result<(ObjectId, u64)> {
    plan_file(file, &NoSink).map(|plan| (plan.id, plan.size))
}

/// [`hash_reader`], keeping where a large file's chunks lie, and handing them to `sink`.
fn plan_file(file: File, sink: &dyn ChunkSink) -> io::Result<ContentPlan> {
    let size_hint = file.metadata().map(|m| m.len()).unwrap_or(0);
    crate::content::plan_file_handing_on(&file, size_hint, sink)
}

/// The blob id of the bytes of the open regular file `file` (read from where its offset is)
/// and the number of bytes read. The caller opened it without following links.
pub fn hash_open_file(file: File) -> io::Result<(ObjectId, u64)> {
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    hash_reader(file)
}

/// The blob id of the regular file at `path` and the number of bytes read. Symlinks, pipes and
/// devices are refused (`InvalidInput`, or the OS's "too many links" for a symlink), so callers
/// can hash paths inside a vault without following anything out of it.
pub fn hash_file(path: &Path) -> io::Result<(ObjectId, u64)> {
    let (file, _) = open_regular(path)?;
    hash_reader(file)
}

mod scope;
mod walk;

pub use scope::ScanScope;

#[cfg(test)]
mod tests;
