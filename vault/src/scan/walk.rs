//! The directory walk of a scan: every folder is listed with `getdents` into a reused buffer
//! and its files are stat'ed relative to the open folder (`fstatat`), so no path is resolved
//! from the vault root again and nothing is allocated per entry but the file's [`VaultPath`].
//! Folders are walked in parallel on all cores; results come back in path order, so warnings
//! are deterministic.
//!
//! Measured on a 20,000-note vault (2 cores, warm cache): the walk with `crate::vfs::read_dir`
//! (an `OsString`, a `DirEntry` with its own `CString` and a `PathBuf` per entry) spent about
//! as much time in the allocator as in the kernel; this one spends almost all of it in the
//! kernel.

use std::cell::RefCell;
use std::ffi::{CStr, OsStr};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RawDir};

use crate::filestat::FileStat;
use crate::fsutil::is_own_temp_name;
use crate::ignore_rules::IgnoreRules;
use crate::paths::{PathError, VaultPath};
use crate::statcache::{Entry, StatCache};
use crate::vfs::{self, FsDir, Kind};

use super::ScanScope;

/// A regular file the walk found, with the stat taken while listing (or why it could not be).
pub(super) struct Candidate<'c> {
    pub path: CandidatePath<'c>,
    /// `Ok(None)`: it stopped being a regular file or vanished between listing and stat.
    pub stat: io::Result<Option<FileStat>>,
    /// The stat cache's entry for the path, looked up once, here.
    pub cached: Option<&'c Entry>,
}

/// Where a candidate's path lives. A file where the stat cache expected it borrows the
/// cache's text: the walk's threads share syncd's one malloc arena, and an allocation for
/// every file made them take turns on its lock (about 4,000 context switches, a third of the
/// wall time of an idle round at 100,000 notes). The scan makes the paths once the walk is
/// done, on one thread.
pub(super) enum CandidatePath<'c> {
    Cached(&'c str),
    Own(VaultPath),
}

impl CandidatePath<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            CandidatePath::Cached(p) => p,
            CandidatePath::Own(p) => p.as_str(),
        }
    }

    fn file_name(&self) -> &str {
        let p = self.as_str();
        p.rsplit('/').next().unwrap_or(p)
    }

    pub fn into_path(self) -> VaultPath {
        match self {
            // Checked when the cache was loaded.
            CandidatePath::Cached(p) => VaultPath::from_checked(p),
            CandidatePath::Own(p) => p,
        }
    }
}

/// What the walk found, in path order.
#[derive(Default)]
pub(super) struct Walked<'c> {
    /// One chunk per folder (in walk order), so that joining the results of sub-folders moves
    /// vectors, not every candidate at every level.
    pub files: Vec<Vec<Candidate<'c>>>,
    pub warnings: Vec<String>,
    pub unreadable: Vec<VaultPath>,
    pub temp_files: Vec<PathBuf>,
    /// Folders on another filesystem than the folder holding them (a drive or share mounted
    /// inside the vault).
    pub mounts: Vec<VaultPath>,
}

impl<'c> Walked<'c> {
    fn append(&mut self, mut other: Walked<'c>) {
        self.files.append(&mut other.files);
        self.warnings.append(&mut other.warnings);
        self.unreadable.append(&mut other.unreadable);
        self.temp_files.append(&mut other.temp_files);
        self.mounts.append(&mut other.mounts);
    }
}

/// The flags every folder of the vault is opened with: never through a symlink (one swapped
/// in after the listing must not lead the scan outside the vault).
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// A folder held open by the walk: a descriptor, or a folder of a simulated machine
/// ([`crate::vfs`]).
enum Folder {
    Os(OwnedFd),
    Sim(Arc<dyn FsDir>),
}

impl Folder {
    /// Open the vault's root, which may be a symlink: the user chose it.
    fn open_root(root: &Path) -> io::Result<Folder> {
        if let Some((fs, rel)) = vfs::machine_for(root) {
            return Ok(Folder::Sim(fs.open_dir(&rel)?));
        }
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Folder::Os(fd))
    }

    /// Open the folder `name` in this one, never through a symlink.
    fn open_child(&self, name: &CStr) -> io::Result<Folder> {
        match self {
            Folder::Os(fd) => Ok(Folder::Os(rustix::fs::openat(
                fd,
                name,
                dir_flags(),
                Mode::empty(),
            )?)),
            Folder::Sim(d) => Ok(Folder::Sim(
                d.open_dir(OsStr::from_bytes(name.to_bytes()), false)?,
            )),
        }
    }

    /// The filesystem the folder is on (`None` if it cannot be told).
    fn device(&self) -> Option<u64> {
        match self {
            Folder::Os(fd) => rustix::fs::fstat(fd).ok().map(|st| st.st_dev),
            Folder::Sim(d) => d.metadata().ok().map(|m| m.dev),
        }
    }

    /// `fstatat(name, AT_SYMLINK_NOFOLLOW)`: what the entry is and its stat; `None` if it is
    /// gone.
    fn stat_at(&self, name: &CStr) -> io::Result<Option<(FileType, FileStat)>> {
        match self {
            Folder::Os(fd) => match rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Ok(Some((
                    FileType::from_raw_mode(st.st_mode),
                    FileStat::from_stat(&st),
                ))),
                Err(e) if e == rustix::io::Errno::NOENT => Ok(None),
                Err(e) => Err(e.into()),
            },
            Folder::Sim(d) => match d.stat(OsStr::from_bytes(name.to_bytes()), false) {
                Ok(m) => Ok(Some((file_type_of(m.kind), m.file_stat()))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
}

/// A simulated machine's kind of entry as `getdents` reports it.
fn file_type_of(kind: Kind) -> FileType {
    match kind {
        Kind::File => FileType::RegularFile,
        Kind::Dir => FileType::Directory,
        Kind::Symlink => FileType::Symlink,
        Kind::Other => FileType::Fifo,
    }
}

/// Walk the vault folder `root`. Errors listing the root are returned; errors below it become
/// warnings and `unreadable` paths.
pub(super) fn walk<'c>(
    root: &Path,
    rules: &IgnoreRules,
    cache: &'c StatCache,
) -> io::Result<Walked<'c>> {
    let fd = Folder::open_root(root)?;
    let listing = list(&fd)?;
    let ctx = Context::new(root, rules, cache);
    let dev = fd.device();
    Ok(walk_listed(&fd, dev, listing, None, &ctx, None))
}

/// Walk only what `scope` says changed: each folder to list, entering only the sub-folders
/// that changed themselves (walked whole). Errors opening the root are returned; a listed
/// folder that is gone holds nothing, one that cannot be read is a warning and unreadable.
pub(super) fn walk_scoped<'c>(
    root: &Path,
    rules: &IgnoreRules,
    cache: &'c StatCache,
    scope: &ScanScope,
) -> io::Result<Walked<'c>> {
    let root_fd = Folder::open_root(root)?;
    let ctx = Context::new(root, rules, cache);
    let mut out = Walked::default();
    for folder in scope.folders_to_list() {
        let path = if folder.is_empty() {
            None
        } else {
            // Folders the watcher named came from the file system; one inside an ignored
            // folder holds nothing that syncs.
            let p = VaultPath::from_checked(folder);
            if rules.is_ignored(&p, true) {
                continue;
            }
            Some(p)
        };
        let opened = match &path {
            None => list(&root_fd).map(|l| (l, None)),
            Some(p) => open_below(&root_fd, p).and_then(|fd| Ok((list(&fd)?, Some(fd)))),
        };
        match opened {
            Ok((listing, fd)) => {
                let fd = fd.as_ref().unwrap_or(&root_fd);
                let dev = fd.device();
                out.append(walk_listed(
                    fd,
                    dev,
                    listing,
                    path.as_ref(),
                    &ctx,
                    Some(scope),
                ));
            }
            Err(e) if is_gone(&e) => {}
            Err(e) => {
                let path = path.expect("the root was opened above");
                out.warnings
                    .push(format!("skipped `{path}`: {e}; check its permissions"));
                out.unreadable.push(path);
            }
        }
    }
    Ok(out)
}

/// Open the folder `path` below the root one component at a time, never through a symlink.
fn open_below(root: &Folder, path: &VaultPath) -> io::Result<Folder> {
    let mut fd: Option<Folder> = None;
    for comp in path.components() {
        let at = fd.as_ref().unwrap_or(root);
        let name = std::ffi::CString::new(comp)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        fd = Some(at.open_child(&name)?);
    }
    fd.ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
}

/// Errors that mean "no folder there any more" (removed, or replaced by a file or a symlink).
fn is_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
        || matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP))
}

/// What every folder's walk needs.
struct Context<'a, 'c> {
    root: &'a Path,
    rules: &'a IgnoreRules,
    cache: &'c StatCache,
    /// The cache's paths were kept by these very rules, so a file found in the cache is not
    /// ignored and need not be matched again.
    names_trusted: bool,
    /// Sub-folders are walked on all cores ([`walks_in_parallel`]).
    parallel: bool,
}

impl<'a, 'c> Context<'a, 'c> {
    fn new(root: &'a Path, rules: &'a IgnoreRules, cache: &'c StatCache) -> Context<'a, 'c> {
        Context {
            root,
            rules,
            cache,
            names_trusted: cache.rules() == Some(rules.fingerprint()),
            // A simulated machine does one thing at a time, so a run replays exactly.
            parallel: walks_in_parallel(cache) && !vfs::is_simulated(root),
        }
    }
}

/// From how many files (as the stat cache knows the vault) a walk lists sub-folders on all
/// cores. Below, it stays on the calling thread: a small vault's idle round is a few
/// milliseconds, of which starting and waking rayon's threads took as much as the walk.
const PARALLEL_WALK_FROM: usize = 2_000;

/// Whether a vault whose stat cache is `cache` is walked on all cores. An empty cache (a
/// first scan, or one rebuilt) says nothing of the vault's size: that walk is parallel.
fn walks_in_parallel(cache: &StatCache) -> bool {
    cache.is_empty() || cache.len() >= PARALLEL_WALK_FROM
}

/// The entries of one folder: names back to back (each followed by its NUL, so it can be
/// handed to `fstatat` as is) and, per entry, where its name is and what type `getdents`
/// reported. Sorted by name bytes.
struct Listing {
    names: Vec<u8>,
    entries: Vec<(usize, usize, FileType)>,
}

impl Listing {
    /// The name of entry `i`, without and with its NUL.
    fn name(&self, i: usize) -> (&[u8], &CStr) {
        let (start, len, _) = self.entries[i];
        let with_nul = &self.names[start..=start + len];
        let c = CStr::from_bytes_with_nul(with_nul).unwrap_or(c"");
        (&with_nul[..len], c)
    }
}

/// List the folder open as `fd`.
fn list(fd: &Folder) -> io::Result<Listing> {
    let fd = match fd {
        Folder::Os(fd) => fd,
        Folder::Sim(d) => {
            let mut listing = Listing {
                names: Vec::new(),
                entries: Vec::new(),
            };
            let mut found = d.list()?;
            found.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (name, kind) in found {
                let name = name.as_bytes();
                listing
                    .entries
                    .push((listing.names.len(), name.len(), file_type_of(kind)));
                listing.names.extend_from_slice(name);
                listing.names.push(0);
            }
            return Ok(listing);
        }
    };
    // The `getdents` buffer and the growing lists are one set per thread, reused for every
    // folder; a listing then costs two allocations of its exact size (see [`CandidatePath`]
    // for why the walk's threads keep away from the allocator).
    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
            buffer: vec![MaybeUninit::uninit(); 32 * 1024],
            listing: Listing { names: Vec::new(), entries: Vec::new() },
        });
    }
    SCRATCH.with_borrow_mut(|scratch| {
        let Scratch { buffer, listing } = scratch;
        listing.names.clear();
        listing.entries.clear();
        let mut dir = RawDir::new(fd.as_fd(), &mut buffer[..]);
        while let Some(entry) = dir.next() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            listing
                .entries
                .push((listing.names.len(), name.len(), entry.file_type()));
            listing.names.extend_from_slice(name);
            listing.names.push(0);
        }
        let names = &listing.names;
        listing
            .entries
            .sort_unstable_by(|a, b| names[a.0..a.0 + a.1].cmp(&names[b.0..b.0 + b.1]));
        let out = Listing {
            names: listing.names.clone(),
            entries: listing.entries.clone(),
        };
        // A huge folder's lists are not kept for the life of the thread (an agent's).
        if listing.names.capacity() > KEPT_NAMES {
            *listing = Listing {
                names: Vec::new(),
                entries: Vec::new(),
            };
        }
        Ok(out)
    })
}

/// The most bytes of names [`list`] keeps in a thread's scratch for the next folder (a folder
/// of about 4,000 files).
const KEPT_NAMES: usize = 256 << 10;

/// What [`list`] reuses on each thread.
struct Scratch {
    buffer: Vec<MaybeUninit<u8>>,
    listing: Listing,
}

/// One entry worth keeping.
enum Keep<'c> {
    File(Candidate<'c>),
    /// A folder to enter, and the index of its name in the listing.
    Dir(VaultPath, usize),
}

/// Classify the entries of the folder `fd` (at `path`, the root when `None`, on the
/// filesystem `dev`) and walk its sub-folders in parallel: all of them, or with a `scope` only
/// those that changed.
fn walk_listed<'c>(
    fd: &Folder,
    dev: Option<u64>,
    listing: Listing,
    path: Option<&VaultPath>,
    ctx: &Context<'_, 'c>,
    scope: Option<&ScanScope>,
) -> Walked<'c> {
    let mut out = Walked::default();
    // Sized once: grown by doubling, the vectors of a 100,000-file vault's folders held up to
    // twice the room their candidates need until the scan was done with them.
    let mut files = Vec::with_capacity(listing.entries.len());
    let mut dirs = Vec::new();
    let mut hint = usize::MAX;
    for i in 0..listing.entries.len() {
        match classify(fd, &listing, i, path, ctx, &mut hint, &mut out) {
            Some(Keep::File(c)) => files.push(c),
            Some(Keep::Dir(p, i)) if scope.is_none_or(|s| s.is_changed(&p)) => dirs.push((p, i)),
            Some(Keep::Dir(..)) => {}
            None => {}
        }
    }
    // Path order: a sub-folder's files sort where its name followed by `/` sorts among the
    // folder's names (`a-b.md` < `a/x.md` < `a0.md`).
    dirs.sort_by(|(a, _), (b, _)| {
        let (a, b) = (a.file_name().as_bytes(), b.file_name().as_bytes());
        a.iter().chain(b"/").cmp(b.iter().chain(b"/"))
    });
    let child = |(p, i): &(VaultPath, usize)| walk_child(fd, dev, &listing, *i, p, ctx);
    let below: Vec<Walked<'c>> = if ctx.parallel {
        dirs.par_iter().map(child).collect()
    } else {
        dirs.iter().map(child).collect()
    };
    // The files after each sub-folder, split off from the last sub-folder back, so each file
    // moves once.
    let mut after = Vec::with_capacity(dirs.len());
    for (dir, _) in dirs.iter().rev() {
        let dir = dir.file_name().as_bytes();
        let at = files.partition_point(|c: &Candidate<'_>| {
            name_before_folder(c.path.file_name().as_bytes(), dir)
        });
        after.push(files.split_off(at));
    }
    out.files.push(files);
    for (w, files) in below.into_iter().zip(after.into_iter().rev()) {
        out.append(w);
        if !files.is_empty() {
            out.files.push(files);
        }
    }
    out
}

/// Whether the file name `name` sorts before every path in the sub-folder `dir` of the same
/// folder, that is before `dir/`.
fn name_before_folder(name: &[u8], dir: &[u8]) -> bool {
    name.iter().lt(dir.iter().chain(b"/"))
}

/// Open and walk the sub-folder `path` (entry `i` of the listing of `parent`, which is on the
/// filesystem `parent_dev`). One `fstat` per folder tells a mount point (another `st_dev`):
/// the round remembers those, so a drive that is later unmounted is not taken for deleted
/// notes. (A bind mount of the same filesystem is not told apart.)
fn walk_child<'c>(
    parent: &Folder,
    parent_dev: Option<u64>,
    listing: &Listing,
    i: usize,
    path: &VaultPath,
    ctx: &Context<'_, 'c>,
) -> Walked<'c> {
    let (_, name) = listing.name(i);
    let opened = parent.open_child(name).and_then(|fd| Ok((list(&fd)?, fd)));
    match opened {
        Ok((sub, fd)) => {
            let dev = fd.device();
            let mut out = walk_listed(&fd, dev, sub, Some(path), ctx, None);
            if dev.is_some() && parent_dev.is_some() && dev != parent_dev {
                out.mounts.push(path.clone());
            }
            out
        }
        // Gone, or replaced by a file or a symlink since the listing: nothing to walk.
        Err(e) if is_gone(&e) => Walked::default(),
        Err(e) => Walked {
            warnings: vec![format!("skipped `{path}`: {e}; check its permissions")],
            unreadable: vec![path.clone()],
            ..Walked::default()
        },
    }
}

/// Decide what entry `i` of the folder `fd` is: a file to examine, a folder to enter, or
/// something to skip (with a warning where the user can act).
fn classify<'c>(
    fd: &Folder,
    listing: &Listing,
    i: usize,
    parent: Option<&VaultPath>,
    ctx: &Context<'_, 'c>,
    hint: &mut usize,
    out: &mut Walked<'c>,
) -> Option<Keep<'c>> {
    let (bytes, cname) = listing.name(i);
    if listing.entries[i].2 == FileType::RegularFile
        && let Some((known, entry)) = ctx.cache.entry_at(*hint)
        && is_child(known, parent, bytes)
    {
        // The file the cache expects next: its path was checked when the cache was loaded,
        // so the name need not be checked again.
        *hint += 1;
        return keep_file(
            fd,
            cname,
            CandidatePath::Cached(known),
            None,
            Some(entry),
            ctx,
            out,
        );
    }
    let shown = || {
        let name = String::from_utf8_lossy(bytes);
        match parent {
            Some(p) => format!("{p}/{name}"),
            None => name.into_owned(),
        }
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        out.warnings.push(format!(
            "skipped `{}`: {}; rename it to sync it",
            shown(),
            PathError::NotUtf8(OsStr::from_bytes(bytes).to_os_string())
        ));
        return None;
    };
    let path = match parent {
        None => VaultPath::new(text),
        Some(p) => p.join(text),
    };
    let path = match path {
        Ok(p) => p,
        // `.vault/` is the agent's own state: skipped without a word.
        Err(PathError::StateDir(_)) if parent.is_none() => return None,
        // Below the top, another vault's state (its config, its server token): never synced.
        Err(PathError::StateDir(_)) => {
            out.warnings.push(format!(
                "skipped `{}`: another vault's private state never syncs; a vault inside this one syncs its notes twice, so move it out of this vault",
                shown()
            ));
            return None;
        }
        Err(err) => {
            out.warnings.push(format!(
                "skipped `{}`: {err}; rename it to sync it",
                shown()
            ));
            return None;
        }
    };
    // `getdents` knows the type on every common filesystem; where it does not, ask.
    let mut stat = None;
    let file_type = match listing.entries[i].2 {
        FileType::Unknown => match fd.stat_at(cname) {
            Ok(Some((t, st))) => {
                stat = Some((t, st));
                t
            }
            Ok(None) => return None,
            Err(e) => {
                out.warnings
                    .push(format!("skipped `{path}`: {e}; check its permissions"));
                out.unreadable.push(path);
                return None;
            }
        },
        t => t,
    };
    let is_dir = file_type == FileType::Directory;
    let cached = match file_type {
        FileType::RegularFile => {
            ctx.cache
                .entry_near(path.as_str(), *hint)
                .map(|(found, entry)| {
                    *hint = found + 1;
                    entry
                })
        }
        _ => None,
    };
    if file_type == FileType::RegularFile {
        return keep_file(fd, cname, CandidatePath::Own(path), stat, cached, ctx, out);
    }
    // Ignored folders are never entered, so the ancestors are known to be kept.
    if ctx.rules.is_ignored_below_kept_folders(&path, is_dir) {
        return None;
    }
    match file_type {
        FileType::Directory => Some(Keep::Dir(path, i)),
        FileType::Symlink => {
            out.warnings.push(format!(
                "skipped `{path}`: it is a symbolic link, and links are not followed or synced; \
                 replace it with the file or folder it points to to sync that"
            ));
            None
        }
        _ => {
            tracing::debug!(%path, "skipping a socket, pipe or device");
            None
        }
    }
}

/// Whether `known` is the path of the entry `name` of the folder `parent`.
fn is_child(known: &str, parent: Option<&VaultPath>, name: &[u8]) -> bool {
    let known = known.as_bytes();
    match parent {
        None => known == name,
        Some(p) => {
            let p = p.as_str().as_bytes();
            known.len() == p.len() + 1 + name.len()
                && known.ends_with(name)
                && known[p.len()] == b'/'
                && known.starts_with(p)
        }
    }
}

/// The regular file `path` (`name` in the folder `fd`), unless the ignore rules skip it: stat
/// it (if the listing did not already) and keep it as a candidate.
fn keep_file<'c>(
    fd: &Folder,
    name: &CStr,
    mut path: CandidatePath<'c>,
    stat: Option<(FileType, FileStat)>,
    cached: Option<&'c Entry>,
    ctx: &Context<'_, 'c>,
    out: &mut Walked<'c>,
) -> Option<Keep<'c>> {
    if !(cached.is_some() && ctx.names_trusted) {
        let own = path.into_path();
        // Ignored folders are never entered, so the ancestors are known to be kept.
        if ctx.rules.is_ignored_below_kept_folders(&own, false) {
            if is_own_temp_name(own.file_name()) {
                out.temp_files.push(own.to_fs_path(ctx.root));
            }
            return None;
        }
        path = CandidatePath::Own(own);
    }
    let st = match stat {
        Some(st) => Ok(Some(st)),
        None => fd.stat_at(name),
    };
    let stat = st.map(|found| match found {
        Some((FileType::RegularFile, st)) => Some(st),
        _ => None,
    });
    Some(Keep::File(Candidate { path, stat, cached }))
}
