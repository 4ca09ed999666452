//! What a file looked like on disk, for change detection and "did it change under us?" checks.

use std::io;
use std::path::Path;

use crate::vfs::{self, Kind, Metadata};

/// The stat fields that change whenever a file's content may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub executable: bool,
}

/// What sits at a path, without following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Absent,
    File(FileStat),
    Dir,
    /// A symlink, socket, device or other thing sync never reads or replaces.
    Other,
}

/// What a [`FileStat`] can be read from: this crate's [`Metadata`], or the standard
/// library's (tests compare the two).
pub trait StatSource {
    fn file_stat(&self) -> FileStat;
}

impl StatSource for Metadata {
    fn file_stat(&self) -> FileStat {
        Metadata::file_stat(self)
    }
}

impl StatSource for std::fs::Metadata {
    fn file_stat(&self) -> FileStat {
        Metadata::from_std(self).file_stat()
    }
}

impl FileStat {
    pub fn from_metadata(m: &impl StatSource) -> FileStat {
        m.file_stat()
    }
}

impl Found {
    /// What `m` (an `lstat`) describes.
    pub fn of(m: &Metadata) -> Found {
        match m.kind {
            Kind::File => Found::File(m.file_stat()),
            Kind::Dir => Found::Dir,
            Kind::Symlink | Kind::Other => Found::Other,
        }
    }
}

impl FileStat {
    /// Whether `self` and `other` describe the same, unmodified file: the same inode, size,
    /// modification time and exec bit. Leaves out the ctime, which a rename or link of the
    /// file changes on most filesystems (so a file moved aside can still be recognised).
    pub fn same_file(&self, other: &FileStat) -> bool {
        self.ino == other.ino
            && self.size == other.size
            && self.mtime_ns == other.mtime_ns
            && self.executable == other.executable
    }

    /// From a raw `stat` (the scan's `fstatat`). The field types differ between
    /// architectures, hence the casts.
    #[allow(clippy::unnecessary_cast)]
    pub fn from_stat(st: &rustix::fs::Stat) -> FileStat {
        FileStat {
            size: st.st_size as u64,
            mtime_ns: (st.st_mtime as i64)
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_mtime_nsec as i64),
            ctime_ns: (st.st_ctime as i64)
                .saturating_mul(1_000_000_000)
                .saturating_add(st.st_ctime_nsec as i64),
            ino: st.st_ino as u64,
            executable: st.st_mode & 0o111 != 0,
        }
    }
}

/// `lstat` a path: never follows a symlink, so a link cannot lead sync outside the vault.
pub fn probe(path: &Path) -> io::Result<Found> {
    match vfs::symlink_metadata(path) {
        Ok(m) => Ok(Found::of(&m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Found::Absent),
        Err(e) => Err(e),
    }
}
