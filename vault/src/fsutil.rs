//! Durable file writes: temp file in the same folder, fsync, rename, fsync the folder
//! (as restic's local backend saves files), so a crash leaves either the old or the new file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Prefix and suffix of the temporary files this crate creates; scans ignore them.
pub const TEMP_PREFIX: &str = ".vault-tmp-";

/// A random lowercase-hex token, for temp names and device ids.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
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
    match File::open(dir)?.sync_all() {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
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
        let path = temp_path_for(target);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
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
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let dir = File::open(path)?;
        // SAFETY: `dir` is an open file descriptor for the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
        Ok(())
    }
}

/// Whether a `link(2)` error means the filesystem has no hard links (rather than a real failure).
pub fn links_unsupported(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
    )
}

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
}
