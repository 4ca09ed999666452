//! The filesystem and clock at the edges of the vault code.
//!
//! Everything this crate reads or writes on a disk, and every "what time is it" that ends up in
//! a snapshot, a revision name or a racy-timestamp check, goes through this module. On a real
//! machine it is the operating system, with no indirection worth measuring (one relaxed atomic
//! load per call). A simulated machine (the `vault-sim` crate: a filesystem with coarse
//! timestamps, lost fsyncs, vanishing mounts, case-insensitive names, and its own clock)
//! implements [`Fs`] and is attached under a root path with [`attach`]: every path below that
//! root is then served by the simulation, every other path still by the operating system. The
//! sync code runs unmodified either way: it only ever names paths, folders it holds open
//! ([`crate::fsutil::Dir`]) and files it holds open ([`File`]).
//!
//! The model is POSIX as Linux gives it, because that is what the sync code's guarantees are
//! argued against: a folder held open is an inode (a folder swapped for a symlink meanwhile does
//! not redirect it), `rename` replaces atomically, `link` refuses an existing name, and nothing
//! written is durable until an fsync of the file (its bytes) and of its folder (its name).

mod file;
mod path_ops;

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

pub use file::{File, OpenOptions};
pub use path_ops::*;

use crate::filestat::FileStat;

/// What kind of thing a name is, never following a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A socket, pipe or device: sync never reads or replaces one.
    Other,
}

/// What `stat` says about a file, folder or link: the fields the vault code reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub kind: Kind,
    pub len: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    /// The filesystem it is on: a mount point is where this changes.
    pub dev: u64,
    /// The permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

impl Metadata {
    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
    pub fn is_symlink(&self) -> bool {
        self.kind == Kind::Symlink
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// As `std::fs::Metadata::file_type`.
    pub fn file_type(&self) -> FileType {
        FileType(self.kind)
    }
    /// As `std::fs::Metadata::permissions`.
    pub fn permissions(&self) -> Permissions {
        Permissions(self.mode)
    }
    pub fn ino(&self) -> u64 {
        self.ino
    }
    pub fn dev(&self) -> u64 {
        self.dev
    }
    /// The permission bits (only: no file type bits).
    pub fn mode(&self) -> u32 {
        self.mode
    }
    /// The modification time as a [`SystemTime`] (never an error: every filesystem here has
    /// one; a `Result` as in `std::fs::Metadata::modified`).
    pub fn modified(&self) -> io::Result<SystemTime> {
        Ok(from_ns(self.mtime_ns))
    }
    /// The fields change detection compares.
    pub fn file_stat(&self) -> FileStat {
        FileStat {
            size: self.len,
            mtime_ns: self.mtime_ns,
            ctime_ns: self.ctime_ns,
            ino: self.ino,
            executable: self.mode & 0o111 != 0,
        }
    }

    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    pub fn from_std(m: &std::fs::Metadata) -> Metadata {
        use std::os::unix::fs::MetadataExt;
        let ft = m.file_type();
        Metadata {
            kind: if ft.is_file() {
                Kind::File
            } else if ft.is_dir() {
                Kind::Dir
            } else if ft.is_symlink() {
                Kind::Symlink
            } else {
                Kind::Other
            },
            len: m.size(),
            mtime_ns: m
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            ctime_ns: m
                .ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.ctime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
            mode: m.mode() & 0o7777,
        }
    }
}

/// [`Metadata::permissions`]: the permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions(u32);

impl Permissions {
    pub fn from_mode(mode: u32) -> Permissions {
        Permissions(mode & 0o7777)
    }
    pub fn mode(&self) -> u32 {
        self.0
    }
    pub fn set_mode(&mut self, mode: u32) {
        self.0 = mode & 0o7777;
    }
    /// No write bit at all.
    pub fn readonly(&self) -> bool {
        self.0 & 0o222 == 0
    }
}

/// A time in nanoseconds since the Unix epoch as a [`SystemTime`].
pub fn from_ns(ns: i64) -> SystemTime {
    if ns >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}

/// A [`SystemTime`] in nanoseconds since the Unix epoch (saturating).
pub fn to_ns(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// How [`FsDir::open`] opens a file: the `open(2)` flags the vault code uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenHow {
    pub read: bool,
    pub write: bool,
    pub append: bool,
    pub truncate: bool,
    pub create: bool,
    pub create_new: bool,
    /// Fail (`ELOOP`) rather than follow a symlink at the last component.
    pub no_follow: bool,
    /// Permission bits of a created file, before the umask.
    pub mode: u32,
}

/// How [`FsDir::rename`] treats an existing target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenameHow {
    /// `rename(2)`: the target, if any, is replaced atomically.
    Replace,
    /// `renameat2(RENAME_NOREPLACE)`: fails with `AlreadyExists` if the target exists.
    NoReplace,
    /// `renameat2(RENAME_EXCHANGE)`: both names must exist; they swap atomically.
    Exchange,
}

/// A simulated machine: its filesystem and its clock. Implemented by `vault-sim`; attached
/// under a root with [`attach`]. Paths handed to it are relative to that root.
pub trait Fs: Send + Sync {
    /// This machine's clock, in nanoseconds since the Unix epoch.
    fn now_ns(&self) -> i64;
    /// Open the folder at `path` (relative to the machine's root; empty for the root),
    /// following symlinks on the way, as `open(path, O_DIRECTORY)`.
    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn FsDir>>;
    /// Wait `d` on this machine: a simulation lets its time pass instead.
    fn sleep(&self, d: Duration);
    /// `syncfs(2)`: everything written so far on the filesystem holding `path` is durable.
    fn sync_fs(&self, path: &Path) -> io::Result<()>;
}

/// A folder held open (an inode, not a path): the `*at` calls relative to it. A name is one
/// path component; `.` and `..` are refused.
pub trait FsDir: Send + Sync {
    /// For [`FsDir::link`] and [`FsDir::rename`] across folders: the same machine's folder.
    fn as_any(&self) -> &dyn std::any::Any;
    /// `fstat` of the folder itself.
    fn metadata(&self) -> io::Result<Metadata>;
    /// `fstatat`; `follow`: whether a symlink at `name` is followed.
    fn stat(&self, name: &OsStr, follow: bool) -> io::Result<Metadata>;
    /// The names in this folder (not `.` and `..`) and what they are, in the filesystem's order.
    fn list(&self) -> io::Result<Vec<(OsString, Kind)>>;
    /// `openat(name, O_DIRECTORY)`; `follow`: whether a symlink at `name` is followed.
    fn open_dir(&self, name: &OsStr, follow: bool) -> io::Result<Arc<dyn FsDir>>;
    fn open(&self, name: &OsStr, how: &OpenHow) -> io::Result<Box<dyn FsFile>>;
    fn create_dir(&self, name: &OsStr, mode: u32) -> io::Result<()>;
    fn remove_dir(&self, name: &OsStr) -> io::Result<()>;
    fn remove_file(&self, name: &OsStr) -> io::Result<()>;
    fn rename(&self, from: &OsStr, into: &dyn FsDir, to: &OsStr, how: RenameHow) -> io::Result<()>;
    /// `linkat`: fails with `AlreadyExists` instead of replacing anything at `to`.
    fn link(&self, from: &OsStr, into: &dyn FsDir, to: &OsStr) -> io::Result<()>;
    fn symlink(&self, name: &OsStr, target: &Path) -> io::Result<()>;
    fn read_link(&self, name: &OsStr) -> io::Result<PathBuf>;
    /// `fchmodat` (follows a symlink, as chmod does).
    fn set_mode(&self, name: &OsStr, mode: u32) -> io::Result<()>;
    /// `utimensat`; `None` leaves a time as it is.
    fn set_times(
        &self,
        name: &OsStr,
        atime_ns: Option<i64>,
        mtime_ns: Option<i64>,
        follow: bool,
    ) -> io::Result<()>;
    /// `fsync` of the folder: its entries (created, renamed, removed names) are durable.
    fn sync(&self) -> io::Result<()>;
}

/// A file held open.
pub trait FsFile: Send + Sync {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    fn metadata(&self) -> io::Result<Metadata>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Bytes and metadata durable.
    fn sync_all(&self) -> io::Result<()>;
    /// Bytes durable.
    fn sync_data(&self) -> io::Result<()>;
    fn set_mode(&self, mode: u32) -> io::Result<()>;
    fn set_times(&self, atime_ns: Option<i64>, mtime_ns: Option<i64>) -> io::Result<()>;
    /// An exclusive advisory lock (`flock(LOCK_EX | LOCK_NB)`): `Ok(false)` if another open
    /// file description holds one. Released when the file is closed.
    fn try_lock(&self) -> io::Result<bool>;
    /// Another handle on the same open file (as `dup`); the lock, if any, stays with this one.
    fn try_clone(&self) -> io::Result<Box<dyn FsFile>>;
}

/// The machines attached, with the root each serves. Few (one per simulated device and hub),
/// searched linearly.
static MACHINES: RwLock<Vec<(PathBuf, Arc<dyn Fs>)>> = RwLock::new(Vec::new());
/// Whether any machine is attached: the operating system's path costs this one load.
static ANY_ATTACHED: AtomicBool = AtomicBool::new(false);

/// Serve every path below `root` (absolute, not existing on the real machine; e.g.
/// `/vault-sim/7/phone`) by `fs`, until the returned guard is dropped.
pub fn attach(root: PathBuf, fs: Arc<dyn Fs>) -> Attached {
    let mut machines = MACHINES.write().unwrap_or_else(|e| e.into_inner());
    machines.push((root.clone(), fs));
    ANY_ATTACHED.store(true, Ordering::Release);
    Attached { root }
}

/// A simulated machine attached by [`attach`]; detached on drop.
#[must_use = "the machine is detached when this is dropped"]
pub struct Attached {
    root: PathBuf,
}

impl Attached {
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let mut machines = MACHINES.write().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = machines.iter().position(|(r, _)| *r == self.root) {
            machines.remove(at);
        }
        ANY_ATTACHED.store(!machines.is_empty(), Ordering::Release);
    }
}

/// The simulated machine serving `path`, and `path` relative to its root; `None` for the
/// operating system.
pub(crate) fn machine_for(path: &Path) -> Option<(Arc<dyn Fs>, PathBuf)> {
    if !ANY_ATTACHED.load(Ordering::Acquire) {
        return None;
    }
    let machines = MACHINES.read().unwrap_or_else(|e| e.into_inner());
    machines.iter().find_map(|(root, fs)| {
        path.strip_prefix(root)
            .ok()
            .map(|rel| (Arc::clone(fs), rel.to_path_buf()))
    })
}

/// The time now on the machine that holds `path` (a vault's root, a hub's folder): what a file
/// written there now would be stamped with.
pub fn now_at(path: &Path) -> SystemTime {
    match machine_for(path) {
        Some((fs, _)) => from_ns(fs.now_ns()),
        None => SystemTime::now(),
    }
}

/// Time spent waiting for something on the machine holding a path: the operating system's
/// monotonic clock and sleep, or a simulated machine's time, which a wait lets pass.
pub struct Stopwatch {
    at: PathBuf,
    started: std::time::Instant,
    started_ns: i64,
}

impl Stopwatch {
    pub fn at(path: &Path) -> Stopwatch {
        Stopwatch {
            at: path.to_path_buf(),
            started: std::time::Instant::now(),
            started_ns: now_ns_at(path),
        }
    }

    pub fn elapsed(&self) -> Duration {
        match machine_for(&self.at) {
            Some((fs, _)) => {
                Duration::from_nanos(fs.now_ns().saturating_sub(self.started_ns).max(0) as u64)
            }
            None => self.started.elapsed(),
        }
    }

    pub fn sleep(&self, d: Duration) {
        match machine_for(&self.at) {
            Some((fs, _)) => fs.sleep(d),
            None => std::thread::sleep(d),
        }
    }
}

/// [`now_at`] in nanoseconds since the Unix epoch.
pub fn now_ns_at(path: &Path) -> i64 {
    match machine_for(path) {
        Some((fs, _)) => fs.now_ns(),
        None => to_ns(SystemTime::now()),
    }
}

/// A deterministic source of random bytes, installed by a simulation so that a run replays
/// exactly (temp names, device ids, lock tokens); `None`: the operating system's.
type RandomSource = Box<dyn FnMut(&mut [u8]) + Send>;
static RANDOM: std::sync::Mutex<Option<RandomSource>> = std::sync::Mutex::new(None);
/// Whether [`RANDOM`] holds a source: the operating system's path costs this one load.
static RANDOM_SET: AtomicBool = AtomicBool::new(false);

/// Fill `buf` with random bytes: the operating system's, or the source a simulation installed
/// with [`set_random_source`].
pub fn fill_random(buf: &mut [u8]) {
    if RANDOM_SET.load(Ordering::Acquire) {
        let mut source = RANDOM.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fill) = source.as_mut() {
            fill(buf);
            return;
        }
    }
    getrandom::fill(buf).expect("the operating system's random source failed");
}

/// Replace the random source of this process (a simulation's seeded one), or restore the
/// operating system's with `None`.
pub fn set_random_source(source: Option<RandomSource>) {
    let mut slot = RANDOM.lock().unwrap_or_else(|e| e.into_inner());
    RANDOM_SET.store(source.is_some(), Ordering::Release);
    *slot = source;
}

/// Whether a simulation's random source is installed.
pub(crate) fn random_is_simulated() -> bool {
    RANDOM_SET.load(Ordering::Acquire)
}

#[cfg(test)]
mod tests;
