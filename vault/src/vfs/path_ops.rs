//! `std::fs`'s path functions, served by the operating system or by the simulated machine
//! under whose root the path lies ([`super::attach`]).

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::{File, Fs, FsDir, Kind, Metadata, OpenOptions, RenameHow, machine_for};

/// The folder holding `rel` (opened, following links on the way) and `rel`'s last name.
pub(crate) fn parent_and_name(fs: &dyn Fs, rel: &Path) -> io::Result<(Arc<dyn FsDir>, OsString)> {
    let mut comps = rel.components();
    let name = match comps.next_back() {
        Some(Component::Normal(n)) => n.to_os_string(),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` does not name a file", rel.display()),
            ));
        }
    };
    Ok((fs.open_dir(comps.as_path())?, name))
}

/// Run `sim` on the simulated machine's folder and name for `path`, or `os` on the real one.
fn at<T>(
    path: &Path,
    sim: impl FnOnce(&dyn FsDir, &OsStr) -> io::Result<T>,
    os: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    match machine_for(path) {
        Some((fs, rel)) => {
            let (dir, name) = parent_and_name(fs.as_ref(), &rel)?;
            sim(dir.as_ref(), &name)
        }
        None => os(),
    }
}

/// `stat`, following symlinks.
pub fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat(path.as_ref(), true)
}

/// `lstat`: a symlink is described, not followed.
pub fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat(path.as_ref(), false)
}

/// [`metadata`] (`follow`) or [`symlink_metadata`]; a simulated machine's root is its own folder.
fn stat(path: &Path, follow: bool) -> io::Result<Metadata> {
    if let Some((fs, rel)) = machine_for(path)
        && rel.as_os_str().is_empty()
    {
        return fs.open_dir(&rel)?.metadata();
    }
    at(
        path,
        |dir, name| dir.stat(name, follow),
        || {
            let m = if follow {
                std::fs::metadata(path)
            } else {
                std::fs::symlink_metadata(path)
            };
            m.map(|m| Metadata::from_std(&m))
        },
    )
}

/// Whether something is at `path` (following symlinks); errors other than "not found" are errors.
pub fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    match metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// [`try_exists`], an error counted as absent (as `Path::exists`).
pub fn exists(path: impl AsRef<Path>) -> bool {
    try_exists(path).unwrap_or(false)
}

pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    if machine_for(path).is_none() {
        return std::fs::read(path);
    }
    let mut file = File::open(path)?;
    let mut bytes = Vec::with_capacity(file.metadata()?.len as usize);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Create or truncate `path` and write `bytes` (not atomic, not durable: see
/// [`crate::fsutil::write_atomic`]).
pub fn write(path: impl AsRef<Path>, bytes: impl AsRef<[u8]>) -> io::Result<()> {
    let path = path.as_ref();
    if machine_for(path).is_none() {
        return std::fs::write(path, bytes);
    }
    File::create(path)?.write_all(bytes.as_ref())
}

pub fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    at(
        path,
        |dir, name| dir.create_dir(name, 0o777),
        || std::fs::create_dir(path),
    )
}

/// Create `path` and every missing folder above it.
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    if machine_for(path).is_none() {
        return std::fs::create_dir_all(path);
    }
    match metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(io::Error::from(io::ErrorKind::AlreadyExists)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    match create_dir(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && metadata(path)?.is_dir() => Ok(()),
        other => other,
    }
}

pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    at(
        path,
        |dir, name| dir.remove_file(name),
        || std::fs::remove_file(path),
    )
}

pub fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    at(
        path,
        |dir, name| dir.remove_dir(name),
        || std::fs::remove_dir(path),
    )
}

/// Remove `path` and everything below it, never following a symlink.
pub fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    if machine_for(path).is_none() {
        return std::fs::remove_dir_all(path);
    }
    for entry in read_dir(path)? {
        let entry = entry?;
        if entry.kind() == Kind::Dir {
            remove_dir_all(entry.path())?;
        } else {
            remove_file(entry.path())?;
        }
    }
    remove_dir(path)
}

/// `rename(2)`: `to` is replaced atomically if it exists.
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    rename_how(from.as_ref(), to.as_ref(), RenameHow::Replace)
}

fn rename_how(from: &Path, to: &Path, how: RenameHow) -> io::Result<()> {
    match (machine_for(from), machine_for(to)) {
        (None, None) if how == RenameHow::Replace => std::fs::rename(from, to),
        (Some((fs, a)), Some((_, b))) => {
            let (from_dir, from_name) = parent_and_name(fs.as_ref(), &a)?;
            let (to_dir, to_name) = parent_and_name(fs.as_ref(), &b)?;
            from_dir.rename(&from_name, to_dir.as_ref(), &to_name, how)
        }
        (None, None) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "only a simulated machine renames by path without replacing",
        )),
        _ => Err(io::Error::from(io::ErrorKind::CrossesDevices)),
    }
}

/// `link(2)`: fails with `AlreadyExists` instead of replacing anything at `to`.
pub fn hard_link(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    match (machine_for(from), machine_for(to)) {
        (None, None) => std::fs::hard_link(from, to),
        (Some((fs, a)), Some((_, b))) => {
            let (from_dir, from_name) = parent_and_name(fs.as_ref(), &a)?;
            let (to_dir, to_name) = parent_and_name(fs.as_ref(), &b)?;
            from_dir.link(&from_name, to_dir.as_ref(), &to_name)
        }
        _ => Err(io::Error::from(io::ErrorKind::CrossesDevices)),
    }
}

pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (target, link) = (target.as_ref(), link.as_ref());
    at(
        link,
        |dir, name| dir.symlink(name, target),
        || std::os::unix::fs::symlink(target, link),
    )
}

pub fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref();
    at(
        path,
        |dir, name| dir.read_link(name),
        || std::fs::read_link(path),
    )
}

/// `chmod`: the permission bits.
pub fn set_mode(path: impl AsRef<Path>, mode: u32) -> io::Result<()> {
    let path = path.as_ref();
    at(
        path,
        |dir, name| dir.set_mode(name, mode),
        || {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        },
    )
}

/// `chmod`, as `std::fs::set_permissions`.
pub fn set_permissions(path: impl AsRef<Path>, perm: super::Permissions) -> io::Result<()> {
    set_mode(path, perm.mode())
}

/// The modification time of `path` (following a symlink), in nanoseconds since the Unix epoch.
pub fn set_modified_ns(path: impl AsRef<Path>, mtime_ns: i64) -> io::Result<()> {
    let path = path.as_ref();
    at(
        path,
        |dir, name| dir.set_times(name, None, Some(mtime_ns), true),
        || {
            let file = std::fs::OpenOptions::new().write(true).open(path)?;
            file.set_modified(super::from_ns(mtime_ns))
        },
    )
}

/// What [`read_dir`] yields.
#[derive(Debug, Clone)]
pub struct DirEntry {
    path: PathBuf,
    kind: Kind,
}

impl DirEntry {
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }
    pub fn file_name(&self) -> OsString {
        self.path
            .file_name()
            .map(OsStr::to_os_string)
            .unwrap_or_default()
    }
    /// What the entry is, never following a symlink.
    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn file_type(&self) -> io::Result<FileType> {
        Ok(FileType(self.kind))
    }
    /// `lstat` of the entry.
    pub fn metadata(&self) -> io::Result<Metadata> {
        symlink_metadata(&self.path)
    }
}

/// [`DirEntry::file_type`], as `std::fs::FileType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType(pub(crate) Kind);

impl FileType {
    pub fn is_file(&self) -> bool {
        self.0 == Kind::File
    }
    pub fn is_dir(&self) -> bool {
        self.0 == Kind::Dir
    }
    pub fn is_symlink(&self) -> bool {
        self.0 == Kind::Symlink
    }
}

/// The entries of a folder, as `std::fs::read_dir` gives them.
pub struct ReadDir(ReadDirInner);

enum ReadDirInner {
    Os(std::fs::ReadDir),
    Sim(PathBuf, std::vec::IntoIter<(OsString, Kind)>),
}

impl Iterator for ReadDir {
    type Item = io::Result<DirEntry>;
    fn next(&mut self) -> Option<io::Result<DirEntry>> {
        match &mut self.0 {
            ReadDirInner::Os(entries) => Some(entries.next()?.and_then(|e| {
                let ft = e.file_type()?;
                let kind = if ft.is_file() {
                    Kind::File
                } else if ft.is_dir() {
                    Kind::Dir
                } else if ft.is_symlink() {
                    Kind::Symlink
                } else {
                    Kind::Other
                };
                Ok(DirEntry {
                    path: e.path(),
                    kind,
                })
            })),
            ReadDirInner::Sim(dir, names) => {
                let (name, kind) = names.next()?;
                Some(Ok(DirEntry {
                    path: dir.join(name),
                    kind,
                }))
            }
        }
    }
}

pub fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref();
    match machine_for(path) {
        Some((fs, rel)) => {
            let names = fs.open_dir(&rel)?.list()?;
            Ok(ReadDir(ReadDirInner::Sim(
                path.to_path_buf(),
                names.into_iter(),
            )))
        }
        None => std::fs::read_dir(path).map(|r| ReadDir(ReadDirInner::Os(r))),
    }
}

/// fsync a folder: the names created, renamed or removed in it are durable. Filesystems that
/// cannot (`EINVAL`) are taken as having nothing better to offer.
pub fn sync_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    if let Some((fs, rel)) = machine_for(path) {
        return fs.open_dir(&rel)?.sync();
    }
    match std::fs::File::open(path)?.sync_all() {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

/// `syncfs(2)` on the filesystem holding `path` (`sync(2)` where there is none).
pub fn sync_fs(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    if let Some((fs, rel)) = machine_for(path) {
        return fs.sync_fs(&rel);
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open(path)?;
        // SAFETY: `dir` is an open file descriptor for the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        Ok(())
    }
}

/// The absolute form of `path` with symlinks resolved, as `std::fs::canonicalize`. A simulated
/// machine's paths are taken as they are written (its roots hold no links), once `path` is
/// found there.
pub fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref();
    if machine_for(path).is_none() {
        return std::fs::canonicalize(path);
    }
    metadata(path)?;
    Ok(path
        .components()
        .filter(|c| *c != Component::CurDir)
        .collect())
}

/// Whether `path` is a folder (following symlinks), as `Path::is_dir`.
pub fn is_dir(path: impl AsRef<Path>) -> bool {
    metadata(path).is_ok_and(|m| m.is_dir())
}

/// Whether `path` is a file (following symlinks), as `Path::is_file`.
pub fn is_file(path: impl AsRef<Path>) -> bool {
    metadata(path).is_ok_and(|m| m.is_file())
}

/// Whether `path` lies on a simulated machine (hints such as `fadvise` are skipped there).
pub fn is_simulated(path: &Path) -> bool {
    machine_for(path).is_some()
}

/// `OpenOptions::new()`, as `std::fs::File::options()`.
pub fn options() -> OpenOptions {
    OpenOptions::new()
}
