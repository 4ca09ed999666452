//! Durable file writes: temp file in the same folder, fsync, rename, fsync the folder
//! (as restic's local backend saves files), so a crash leaves either the old or the new file.

use std::ffi::{CStr, CString, OsStr};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::filestat::{FileStat, Found};
use crate::vfs;
use crate::vfs::{self as fs, File, FsDir, OpenHow, OpenOptions, RenameHow};

/// Prefix and suffix of the temporary files this crate creates; scans ignore them.
pub const TEMP_PREFIX: &str = ".vault-tmp-";

/// A random lowercase-hex token, for temp names and device ids.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    vfs::fill_random(&mut buf);
    hex::encode(buf)
}

/// Whether `name` has exactly the form of the temp files [`temp_path_for`] makes, so that
/// cleaning up never touches a user's file that merely starts the same way.
pub fn is_own_temp_name(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX).is_some_and(|rest| {
        rest.len() == 16
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A fresh temp path in the same folder as `target`.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let dir = target.parent().unwrap_or(Path::new("."));
    dir.join(format!("{TEMP_PREFIX}{}", random_hex(8)))
}

/// Flush a folder's entry list to disk, so a rename inside it survives a crash.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    // Opening a folder read-only and calling fsync is the POSIX way; filesystems that do not
    // support it answer EINVAL, and there is nothing better to do there.
    vfs::sync_dir(dir)
}

/// How many written bytes [`WriteBehind`] lets pile up before it hands them to the disk.
const WRITE_BEHIND: u64 = 8 << 20;

/// A sequential writer to a file that starts the disk writing while it goes: every
/// [`WRITE_BEHIND`] bytes it asks the kernel to write back the piece just written and waits
/// for the one before (`sync_file_range`). Without it a large file's bytes sit in the page
/// cache until the final fsync, which then waits for all of them while nothing else runs; with
/// it the disk works while the caller fetches and checks the next piece, the fsync finds
/// little left, and dirty memory stays at two pieces. Only a hint: errors are ignored (the
/// fsync that follows reports real ones), and elsewhere than Linux it only counts.
pub struct WriteBehind<F: std::borrow::Borrow<File>> {
    file: F,
    /// Where the first byte written through this writer landed.
    base: u64,
    written: u64,
    /// Bytes handed to writeback, and bytes waited for.
    started: u64,
    waited: u64,
}

impl<F: std::borrow::Borrow<File>> WriteBehind<F> {
    /// Writes continue from `file`'s current position (`file`: a `File` or a reference).
    pub fn new(file: F) -> WriteBehind<F> {
        use std::io::Seek;
        let mut handle: &File = file.borrow();
        let base = handle.stream_position().unwrap_or(0);
        WriteBehind {
            file,
            base,
            written: 0,
            started: 0,
            waited: 0,
        }
    }

    fn hand_over(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(os) = self.file.borrow().os() {
            let fd = os.as_raw_fd();
            let off = |n: u64| (self.base + n) as libc::off64_t;
            // SAFETY: plain syscalls on a file descriptor `self.file` keeps open; no memory
            // is passed.
            unsafe {
                libc::sync_file_range(
                    fd,
                    off(self.started),
                    (self.written - self.started) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
                if self.started > self.waited {
                    libc::sync_file_range(
                        fd,
                        off(self.waited),
                        (self.started - self.waited) as libc::off64_t,
                        libc::SYNC_FILE_RANGE_WAIT_BEFORE
                            | libc::SYNC_FILE_RANGE_WRITE
                            | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                    );
                }
            }
        }
        self.waited = self.started;
        self.started = self.written;
    }
}

impl<F: std::borrow::Borrow<File>> Write for WriteBehind<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.borrow().write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= WRITE_BEHIND {
            self.hand_over();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A temp file that is removed on drop unless it was committed by [`TempFile::commit`].
pub struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    /// Create a temp file beside `target`.
    pub fn beside(target: &Path) -> io::Result<TempFile> {
        Self::beside_with_mode(target, 0o666)
    }

    /// [`TempFile::beside`] with permission bits (before the umask): a secret is created
    /// owner-only rather than narrowed after it was readable.
    pub fn beside_with_mode(target: &Path, mode: u32) -> io::Result<TempFile> {
        let path = temp_path_for(target);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)?;
        Ok(TempFile {
            path,
            file: Some(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("temp file used after commit")
    }

    /// fsync the data and close the file, ready to be renamed; returns its path. The file is
    /// still removed on drop until [`TempFile::commit`] or [`TempFile::keep`] is called.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        Ok(())
    }

    /// Close the file without syncing it; the caller makes it durable another way (see
    /// [`sync_filesystem`]) before renaming it with [`TempFile::rename_unsynced`].
    pub fn close(&mut self) {
        self.file = None;
    }

    /// Rename over `target` without any fsync: the data must already be durable, and the
    /// caller fsyncs the folder afterwards.
    pub fn rename_unsynced(mut self, target: &Path) -> io::Result<()> {
        self.file = None;
        fs::rename(&self.path, target)?;
        self.path = PathBuf::new();
        Ok(())
    }

    /// Put the file at `target` only if nothing is there ([`rename_no_replace_unsynced`]).
    /// `Ok(false)`: something was; the temp file is still removed on drop.
    pub fn place_unsynced(mut self, target: &Path) -> io::Result<bool> {
        self.file = None;
        if rename_no_replace_unsynced(&self.path, target)? {
            self.path = PathBuf::new();
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// fsync, then put the file at `target` in place of the file there only if `expected`
    /// accepts that file once it is out of the way ([`Dir::replace_if`]: no save that lands on
    /// `target` meanwhile is overwritten), then fsync the folder. Unless [`Replaced::Done`],
    /// the temp file is still removed on drop.
    pub fn replace_if(
        &mut self,
        target: &Path,
        expected: &dyn Fn(&Dir, &CStr) -> io::Result<bool>,
    ) -> io::Result<Replaced> {
        self.sync()?;
        let folder = target.parent().unwrap_or(Path::new("."));
        let dir = Dir::open(folder)?;
        let c_name = |p: &Path| {
            p.file_name()
                .and_then(|n| CString::new(n.as_bytes()).ok())
                .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))
        };
        if self.path.parent() != Some(folder) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a temp file replaces a file in its own folder only",
            ));
        }
        let replaced = dir.replace_if(&c_name(&self.path)?, &c_name(target)?, expected)?;
        if replaced == Replaced::Done {
            self.path = PathBuf::new();
            fsync_dir(folder)?;
        }
        Ok(replaced)
    }

    /// fsync, rename over `target`, fsync the folder.
    pub fn commit(mut self, target: &Path) -> io::Result<()> {
        self.sync()?;
        fs::rename(&self.path, target)?;
        self.path = PathBuf::new();
        if let Some(dir) = target.parent() {
            fsync_dir(dir)?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Write `bytes` to `target` atomically and durably.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = TempFile::beside(target)?;
    tmp.file().write_all(bytes)?;
    tmp.commit(target)
}

/// [`write_atomic`] for a secret: the file is readable by its owner only, from its creation.
pub fn write_private(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = TempFile::beside_with_mode(target, 0o600)?;
    tmp.file().write_all(bytes)?;
    tmp.commit(target)
}

/// Replace `target` atomically (readers see the old or the new bytes, never a mix) but without
/// waiting for the disk: for records that are only informative, where losing the latest
/// version in a crash costs nothing (an fsync can take tens of milliseconds on a busy disk).
pub fn write_replace(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = TempFile::beside(target)?;
    tmp.file().write_all(bytes)?;
    tmp.rename_unsynced(target)
}

/// Attach the path to an I/O error, for messages that say which file failed.
#[derive(Debug, thiserror::Error)]
#[error("{action} `{path}`: {source}")]
pub struct PathIoError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// `result.map_err(io_at("reading", path))`.
pub fn io_at<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> PathIoError + 'a {
    move |source| PathIoError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Put `from` at `to` unless something already exists at `to`: then `Ok(false)`, and `from` is
/// left as it was. Never replaces a file, so no edit that lands at `to` meanwhile can be lost:
/// `link(2)` refuses an existing target atomically, then `from` is unlinked. On filesystems
/// without hard links (FAT, some network mounts) it falls back to check-then-rename, which has
/// a short race. Both folders are fsynced.
pub fn rename_no_replace(from: &Path, to: &Path) -> io::Result<bool> {
    if !rename_no_replace_unsynced(from, to)? {
        return Ok(false);
    }
    let (from_dir, to_dir) = (from.parent(), to.parent());
    if let Some(dir) = to_dir {
        fsync_dir(dir)?;
    }
    if let Some(dir) = from_dir.filter(|d| Some(*d) != to_dir) {
        fsync_dir(dir)?;
    }
    Ok(true)
}

/// [`rename_no_replace`] without the folder fsyncs, for callers that sync each folder once
/// after many renames.
pub fn rename_no_replace_unsynced(from: &Path, to: &Path) -> io::Result<bool> {
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from)?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) if links_unsupported(&e) => {
            match fs::symlink_metadata(to) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
                Ok(_) => return Ok(false),
            }
            fs::rename(from, to)?;
        }
        Err(e) => return Err(e),
    }
    Ok(true)
}

/// Make every file written so far on the filesystem holding `path` durable: `syncfs(2)` on
/// Linux (one call instead of one fsync per file: a download of 20,000 notes would otherwise
/// wait for 20,000 flushes), `sync(2)` elsewhere.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    vfs::sync_fs(path)
}

/// Whether a `link(2)` error means the filesystem has no hard links (rather than a real failure).
pub fn links_unsupported(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
    )
}

/// The flags every folder is opened with by [`Dir`].
const DIR_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A name as the simulated machines take it.
fn os_name(name: &CStr) -> &OsStr {
    OsStr::from_bytes(name.to_bytes())
}

/// A folder held open, to act on the names inside it with the `*at` calls. Nothing is looked up
/// from the vault root again for each file, and no name is ever followed if it is a symlink:
/// a folder swapped for a link after it was opened cannot lead a write outside the vault.
pub struct Dir(DirInner);

enum DirInner {
    Os(OwnedFd),
    /// A folder on a simulated machine ([`crate::vfs`]).
    Sim(Arc<dyn FsDir>),
}

impl std::fmt::Debug for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            DirInner::Os(fd) => f.debug_tuple("Dir").field(fd).finish(),
            DirInner::Sim(_) => f.write_str("Dir(simulated)"),
        }
    }
}

impl Dir {
    /// Open the folder at `path`, following symlinks (the vault root may be one: the user
    /// chose it).
    pub fn open(path: &Path) -> io::Result<Dir> {
        if let Some((fs, rel)) = vfs::machine_for(path) {
            return Ok(Dir(DirInner::Sim(fs.open_dir(&rel)?)));
        }
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `c` is a NUL-terminated string that outlives the call.
        let fd = cvt(unsafe { libc::open(c.as_ptr(), DIR_FLAGS) })?;
        // SAFETY: `fd` was just opened and is owned by nobody else.
        Ok(Dir(DirInner::Os(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Open the folder `name` inside this one. A symlink fails (`ENOTDIR` on Linux, `ELOOP`
    /// elsewhere), so does anything else that is not a folder (`ENOTDIR`), a missing name with
    /// `NotFound`.
    pub fn open_child(&self, name: &CStr) -> io::Result<Dir> {
        let fd = match &self.0 {
            DirInner::Os(fd) => fd.as_raw_fd(),
            DirInner::Sim(d) => return Ok(Dir(DirInner::Sim(d.open_dir(os_name(name), false)?))),
        };
        let flags = DIR_FLAGS | libc::O_NOFOLLOW | libc::O_NONBLOCK;
        // SAFETY: valid fd and NUL-terminated name for the duration of the call.
        let fd = cvt(unsafe { libc::openat(fd, name.as_ptr(), flags) })?;
        // SAFETY: `fd` was just opened and is owned by nobody else.
        Ok(Dir(DirInner::Os(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Create the folder `name` here (mode 0777 before the umask, as `fs::create_dir`).
    pub fn create_dir(&self, name: &CStr) -> io::Result<()> {
        match &self.0 {
            // SAFETY: valid fd and NUL-terminated name for the duration of the call.
            DirInner::Os(fd) => {
                cvt(unsafe { libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o777) }).map(drop)
            }
            DirInner::Sim(d) => d.create_dir(os_name(name), 0o777),
        }
    }

    /// What is at `name` (never following a symlink) and its permission bits.
    pub fn stat(&self, name: &CStr) -> io::Result<(Found, u32)> {
        let fd = match &self.0 {
            DirInner::Os(fd) => fd.as_raw_fd(),
            DirInner::Sim(d) => {
                return match d.stat(os_name(name), false) {
                    Ok(m) => Ok((Found::of(&m), m.mode)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((Found::Absent, 0)),
                    Err(e) => Err(e),
                };
            }
        };
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: valid fd, NUL-terminated name and a buffer of the right type.
        let r = unsafe {
            libc::fstatat(
                fd,
                name.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if let Err(e) = cvt(r) {
            return match e.kind() {
                io::ErrorKind::NotFound => Ok((Found::Absent, 0)),
                _ => Err(e),
            };
        }
        // SAFETY: fstatat succeeded, so it filled `st`.
        let st = unsafe { st.assume_init() };
        let found = match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Found::File(file_stat(&st)),
            libc::S_IFDIR => Found::Dir,
            _ => Found::Other,
        };
        Ok((found, permission_bits(&st)))
    }

    /// Open `name` here for reading, never through a symlink (`ELOOP`), never waiting on a
    /// pipe (`O_NONBLOCK`).
    pub fn open_read(&self, name: &CStr) -> io::Result<File> {
        let fd = match &self.0 {
            DirInner::Os(fd) => fd.as_raw_fd(),
            DirInner::Sim(d) => {
                let how = OpenHow {
                    read: true,
                    no_follow: true,
                    ..OpenHow::default()
                };
                return Ok(File::simulated(d.open(os_name(name), &how)?, false));
            }
        };
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: valid fd and NUL-terminated name for the duration of the call.
        let fd = cvt(unsafe { libc::openat(fd, name.as_ptr(), flags) })?;
        // SAFETY: `fd` was just opened and is owned by nobody else.
        Ok(File::from(unsafe { std::fs::File::from_raw_fd(fd) }))
    }

    /// Create a new temp file here (see [`is_own_temp_name`]), mode 0666 before the umask.
    pub fn create_temp(&self) -> io::Result<(CString, File)> {
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let mut tries = 0;
        loop {
            let name = next_temp_name();
            let made = match &self.0 {
                // SAFETY: valid fd and NUL-terminated name for the duration of the call.
                DirInner::Os(fd) => cvt(unsafe {
                    libc::openat(fd.as_raw_fd(), name.as_ptr(), flags, 0o666 as libc::c_uint)
                })
                // SAFETY: `fd` was just opened and is owned by nobody else.
                .map(|fd| File::from(unsafe { std::fs::File::from_raw_fd(fd) })),
                DirInner::Sim(d) => {
                    let how = OpenHow {
                        write: true,
                        create_new: true,
                        no_follow: true,
                        mode: 0o666,
                        ..OpenHow::default()
                    };
                    d.open(os_name(&name), &how)
                        .map(|f| File::simulated(f, false))
                }
            };
            match made {
                Ok(file) => return Ok((name, file)),
                // A leftover of an interrupted run, or another process's: take the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// `link(2)` `from` to `to`, both in this folder: fails with `AlreadyExists` instead of
    /// replacing anything at `to`.
    pub fn link(&self, from: &CStr, to: &CStr) -> io::Result<()> {
        self.link_into(from, self, to)
    }

    /// `link(2)` `from` in this folder to `to` in folder `into`: fails with `AlreadyExists`
    /// instead of replacing anything, with `EXDEV` across filesystems.
    pub fn link_into(&self, from: &CStr, into: &Dir, to: &CStr) -> io::Result<()> {
        match (&self.0, &into.0) {
            (DirInner::Os(a), DirInner::Os(b)) => {
                let (a, b) = (a.as_raw_fd(), b.as_raw_fd());
                // SAFETY: valid fds and NUL-terminated names for the duration of the call.
                cvt(unsafe { libc::linkat(a, from.as_ptr(), b, to.as_ptr(), 0) }).map(drop)
            }
            (DirInner::Sim(a), DirInner::Sim(b)) => a.link(os_name(from), b.as_ref(), os_name(to)),
            _ => Err(io::Error::from_raw_os_error(libc::EXDEV)),
        }
    }

    /// `rename(2)` `from` over `to`, both in this folder.
    pub fn rename(&self, from: &CStr, to: &CStr) -> io::Result<()> {
        match &self.0 {
            DirInner::Os(fd) => {
                let fd = fd.as_raw_fd();
                // SAFETY: valid fd and NUL-terminated names for the duration of the call.
                cvt(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) }).map(drop)
            }
            DirInner::Sim(d) => {
                d.rename(os_name(from), d.as_ref(), os_name(to), RenameHow::Replace)
            }
        }
    }

    /// Remove the file (not folder) `name`.
    pub fn remove_file(&self, name: &CStr) -> io::Result<()> {
        match &self.0 {
            // SAFETY: valid fd and NUL-terminated name for the duration of the call.
            DirInner::Os(fd) => {
                cvt(unsafe { libc::unlinkat(fd.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
            }
            DirInner::Sim(d) => d.remove_file(os_name(name)),
        }
    }

    /// The folder's own descriptor, `None` on a simulated machine.
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        match &self.0 {
            DirInner::Os(fd) => Some(fd.as_raw_fd()),
            DirInner::Sim(_) => None,
        }
    }

    /// Swap the names `a` and `b` on a simulated machine; `None` on the operating system.
    fn exchange_simulated(&self, a: &CStr, b: &CStr) -> Option<io::Result<()>> {
        match &self.0 {
            DirInner::Os(_) => None,
            DirInner::Sim(d) => {
                Some(d.rename(os_name(a), d.as_ref(), os_name(b), RenameHow::Exchange))
            }
        }
    }
}

#[allow(clippy::useless_conversion)] // mode_t is u16 on some platforms
fn permission_bits(st: &libc::stat) -> u32 {
    u32::from(st.st_mode) & 0o7777
}

/// The [`FileStat`] of a raw `stat`, the same fields [`FileStat::from_metadata`] reads.
#[allow(clippy::unnecessary_cast)] // the field types differ between platforms
fn file_stat(st: &libc::stat) -> FileStat {
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
    FileStat {
        size: st.st_size as u64,
        mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        ino: st.st_ino as u64,
        executable: st.st_mode as u32 & 0o111 != 0,
    }
}

/// A fresh temp file name of the form [`is_own_temp_name`] accepts: a random start per process,
/// then counting up, so creating a temp file costs no call to the random source.
pub fn next_temp_name() -> CString {
    static BASE: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = *BASE.get_or_init(|| {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("the operating system's random source failed");
        u64::from_le_bytes(b)
    });
    let n = if vfs::random_is_simulated() {
        // A simulation's names come from its seed, so a run replays exactly.
        let mut b = [0u8; 8];
        vfs::fill_random(&mut b);
        u64::from_le_bytes(b)
    } else {
        base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
    };
    // One allocation of the exact size (the NUL included): downloads make these on every
    // core, and each trip to the allocator may wait for the other threads.
    let mut name = Vec::with_capacity(TEMP_PREFIX.len() + 16 + 1);
    name.extend_from_slice(TEMP_PREFIX.as_bytes());
    // Writing into a Vec cannot fail, and the room is there.
    let _ = write!(name, "{n:016x}");
    // Hex digits and the prefix hold no NUL.
    CString::new(name).unwrap_or_default()
}

/// How many fsyncs [`fsync_dirs`] and [`fsync_files`] keep waiting at once.
const PARALLEL_SYNCS: usize = 16;

/// How many folders [`fsync_dirs`] holds open at once (well under the usual limit of 1024
/// descriptors).
const DIR_SYNC_CHUNK: usize = 256;

/// [`fsync_dir`] every folder in `dirs`, several at once. Each waits for the disk (a few
/// milliseconds each on the development machine, one after another: 1-2 s for a download of
/// 400 folders), but waits that overlap share the device's flushes: about 50 ms for all 400.
/// On failure, the first failing folder in `dirs` order and its error.
pub fn fsync_dirs(dirs: &[PathBuf]) -> Result<(), (usize, io::Error)> {
    if dirs.first().is_some_and(|d| vfs::is_simulated(d)) {
        // A simulated machine does one thing at a time.
        for (i, dir) in dirs.iter().enumerate() {
            fsync_dir(dir).map_err(|e| (i, e))?;
        }
        return Ok(());
    }
    for (n, chunk) in dirs.chunks(DIR_SYNC_CHUNK).enumerate() {
        let base = n * DIR_SYNC_CHUNK;
        // Opened here, so the helper threads allocate nothing: with a per-thread allocator,
        // each thread that allocates would keep its own arena resident.
        let mut open = Vec::with_capacity(chunk.len());
        for (i, dir) in chunk.iter().enumerate() {
            open.push(File::open(dir).map_err(|e| (base + i, e))?);
        }
        let handles: Vec<&File> = open.iter().collect();
        // `EINVAL`: a filesystem that cannot fsync folders (see [`fsync_dir`]).
        let sync = |f: &File| match f.sync_all() {
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
            other => other,
        };
        sync_all_parallel(&handles, sync).map_err(|(i, e)| (base + i, e))?;
    }
    Ok(())
}

/// fsync each of `files` (data and metadata), several at once: see [`fsync_dirs`]. On failure,
/// the index of the first failing file and its error.
pub fn fsync_files(files: &[&File]) -> Result<(), (usize, io::Error)> {
    sync_all_parallel(files, File::sync_all)
}

/// `sync` each of `files` (open files or folders), up to [`PARALLEL_SYNCS`] at a time; the
/// first failure in order. The helper threads allocate nothing.
fn sync_all_parallel(
    files: &[&File],
    sync: impl Fn(&File) -> io::Result<()> + Sync,
) -> Result<(), (usize, io::Error)> {
    if files.len() <= 1 || files.iter().any(|f| f.os().is_none()) {
        // One file, or a simulated machine, which does one thing at a time.
        for (i, f) in files.iter().enumerate() {
            sync(f).map_err(|e| (i, e))?;
        }
        return Ok(());
    }
    if files.len() <= 1 {
        return match files.first() {
            Some(f) => sync(f).map_err(|e| (0, e)),
            None => Ok(()),
        };
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut first: Option<(usize, io::Error)> = None;
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(f) = files.get(i) else { break };
            if let Err(e) = sync(f)
                && first.is_none()
            {
                first = Some((i, e));
            }
        }
        first
    };
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..PARALLEL_SYNCS.min(files.len()))
            .map(|_| s.spawn(work))
            .collect();
        let mut first: Option<(usize, io::Error)> = None;
        for t in threads {
            match t.join() {
                Ok(Some(f)) if first.as_ref().is_none_or(|g| f.0 < g.0) => first = Some(f),
                Ok(_) => {}
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        first.map_or(Ok(()), Err)
    })
}

mod background;
mod replace;
pub use background::write_in_background;
pub use replace::Replaced;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "a temp file was left behind");
    }

    #[test]
    fn dropped_temp_file_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        let tmp_path = {
            let mut t = TempFile::beside(&p).unwrap();
            t.file().write_all(b"partial").unwrap();
            t.path().to_path_buf()
        };
        assert!(!tmp_path.exists());
        assert!(!p.exists());
    }

    #[test]
    fn a_temp_file_replaces_only_the_expected_file_and_is_removed_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("note.md");
        fs::write(&p, b"read by the task edit").unwrap();
        let holds = |want: &'static [u8]| {
            move |d: &Dir, at: &CStr| -> io::Result<bool> {
                let mut got = Vec::new();
                io::Read::read_to_end(&mut d.open_read(at)?, &mut got)?;
                Ok(got == want)
            }
        };
        // The note changed after it was read: refused, nothing left behind.
        let mut t = TempFile::beside(&p).unwrap();
        t.file().write_all(b"task done").unwrap();
        let r = t.replace_if(&p, &holds(b"read earlier")).unwrap();
        assert_eq!(r, Replaced::Changed { kept: None });
        drop(t);
        assert_eq!(fs::read(&p).unwrap(), b"read by the task edit");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        // Unchanged: replaced.
        let mut t = TempFile::beside(&p).unwrap();
        t.file().write_all(b"task done").unwrap();
        let r = t.replace_if(&p, &holds(b"read by the task edit")).unwrap();
        assert_eq!(r, Replaced::Done);
        drop(t);
        assert_eq!(fs::read(&p).unwrap(), b"task done");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn temp_names_are_own_temp_names_and_never_repeat() {
        let names: Vec<String> = (0..1000)
            .map(|_| next_temp_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| is_own_temp_name(n)), "{:?}", names[0]);
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        // The prefix, then the counter as 16 hex digits (other tests count up meanwhile).
        let counter = |n: &str| {
            let hex = n.strip_prefix(TEMP_PREFIX).unwrap();
            assert_eq!(hex.len(), 16, "{n}");
            assert!(
                hex.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
            u64::from_str_radix(hex, 16).unwrap()
        };
        assert_ne!(counter(&names[1]), counter(&names[0]));
    }

    #[test]
    fn a_dir_never_follows_a_symlinked_folder_and_places_without_replacing() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), dir.path().join("link")).unwrap();
        fs::write(dir.path().join("file"), b"x").unwrap();
        let top = Dir::open(dir.path()).unwrap();
        let err = top.open_child(c"link").unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{err}"
        );
        let err = top.open_child(c"file").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTDIR));
        assert_eq!(top.stat(c"link").unwrap().0, Found::Other);
        assert_eq!(top.stat(c"gone").unwrap().0, Found::Absent);

        top.create_dir(c"sub").unwrap();
        let sub = top.open_child(c"sub").unwrap();
        let (name, mut f) = sub.create_temp().unwrap();
        f.write_all(b"new").unwrap();
        fs::write(dir.path().join("sub/taken"), b"the user's").unwrap();
        let err = sub.link(&name, c"taken").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        sub.link(&name, c"free").unwrap();
        sub.remove_file(&name).unwrap();
        assert_eq!(
            fs::read(dir.path().join("sub/taken")).unwrap(),
            b"the user's"
        );
        assert_eq!(fs::read(dir.path().join("sub/free")).unwrap(), b"new");
        let Found::File(st) = sub.stat(c"free").unwrap().0 else {
            panic!("a file")
        };
        let md = fs::symlink_metadata(dir.path().join("sub/free")).unwrap();
        assert_eq!(
            st,
            FileStat::from_metadata(&md),
            "the same stat as the scan's"
        );
    }

    #[test]
    fn fsync_dirs_syncs_many_and_names_the_first_that_fails() {
        let dir = tempfile::tempdir().unwrap();
        let mut dirs: Vec<PathBuf> = (0..40)
            .map(|i| {
                let d = dir.path().join(format!("d{i}"));
                fs::create_dir(&d).unwrap();
                d
            })
            .collect();
        fsync_dirs(&dirs).unwrap();
        dirs.insert(30, dir.path().join("missing"));
        dirs.push(dir.path().join("missing too"));
        let (at, err) = fsync_dirs(&dirs).unwrap_err();
        assert_eq!((at, err.kind()), (30, io::ErrorKind::NotFound));
    }
}
