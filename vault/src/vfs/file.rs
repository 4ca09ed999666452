//! [`File`] and [`OpenOptions`]: `std::fs`'s, or a simulated machine's.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{FsFile, Metadata, OpenHow, machine_for};

/// An open file, on the operating system or on a simulated machine ([`super::attach`]).
pub struct File(Inner);

enum Inner {
    Os(std::fs::File),
    Sim {
        file: Box<dyn FsFile>,
        /// The cursor of `Read`/`Write`/`Seek`, shared by `&File` as the kernel's is.
        pos: AtomicU64,
        append: bool,
    },
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Os(file) => file.fmt(f),
            Inner::Sim { pos, .. } => {
                write!(f, "File(simulated, at {})", pos.load(Ordering::Relaxed))
            }
        }
    }
}

impl From<std::fs::File> for File {
    fn from(file: std::fs::File) -> File {
        File(Inner::Os(file))
    }
}

impl File {
    /// Open for reading.
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path)
    }

    /// Open for writing, created or truncated.
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    }

    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    pub(crate) fn simulated(file: Box<dyn FsFile>, append: bool) -> File {
        File(Inner::Sim {
            file,
            pos: AtomicU64::new(0),
            append,
        })
    }

    /// The operating system's file, for hints that only it has (`fadvise`, `sync_file_range`,
    /// mapping); `None` on a simulated machine, where they mean nothing.
    pub fn os(&self) -> Option<&std::fs::File> {
        match &self.0 {
            Inner::Os(file) => Some(file),
            Inner::Sim { .. } => None,
        }
    }

    pub fn metadata(&self) -> io::Result<Metadata> {
        match &self.0 {
            Inner::Os(file) => file.metadata().map(|m| Metadata::from_std(&m)),
            Inner::Sim { file, .. } => file.metadata(),
        }
    }

    pub fn sync_all(&self) -> io::Result<()> {
        match &self.0 {
            Inner::Os(file) => file.sync_all(),
            Inner::Sim { file, .. } => file.sync_all(),
        }
    }

    pub fn sync_data(&self) -> io::Result<()> {
        match &self.0 {
            Inner::Os(file) => file.sync_data(),
            Inner::Sim { file, .. } => file.sync_data(),
        }
    }

    pub fn set_len(&self, len: u64) -> io::Result<()> {
        match &self.0 {
            Inner::Os(file) => file.set_len(len),
            Inner::Sim { file, .. } => file.set_len(len),
        }
    }

    /// `fchmod`: the permission bits.
    pub fn set_mode(&self, mode: u32) -> io::Result<()> {
        match &self.0 {
            Inner::Os(file) => {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(mode))
            }
            Inner::Sim { file, .. } => file.set_mode(mode),
        }
    }

    /// `futimens`: the modification time in nanoseconds since the Unix epoch (the access time
    /// is left alone).
    pub fn set_modified_ns(&self, mtime_ns: i64) -> io::Result<()> {
        match &self.0 {
            Inner::Os(file) => file.set_modified(super::from_ns(mtime_ns)),
            Inner::Sim { file, .. } => file.set_times(None, Some(mtime_ns)),
        }
    }

    /// An exclusive advisory lock without waiting, as `std::fs::File::try_lock`.
    pub fn try_lock(&self) -> Result<(), std::fs::TryLockError> {
        match &self.0 {
            Inner::Os(file) => file.try_lock(),
            Inner::Sim { file, .. } => match file.try_lock() {
                Ok(true) => Ok(()),
                Ok(false) => Err(std::fs::TryLockError::WouldBlock),
                Err(e) => Err(std::fs::TryLockError::Error(e)),
            },
        }
    }

    /// An exclusive advisory lock, waiting for it, as `std::fs::File::lock`. A simulated
    /// machine runs one thing at a time, so a lock held there by another handle would never be
    /// let go while this one waits: that fails at once with `WouldBlock` instead.
    pub fn lock(&self) -> io::Result<()> {
        match &self.0 {
            Inner::Os(file) => file.lock(),
            Inner::Sim { file, .. } => match file.try_lock()? {
                true => Ok(()),
                false => Err(io::ErrorKind::WouldBlock.into()),
            },
        }
    }

    /// An exclusive advisory lock without waiting: `Ok(false)` if another holder has one.
    pub fn try_lock_exclusive(&self) -> io::Result<bool> {
        match self.try_lock() {
            Ok(()) => Ok(true),
            Err(std::fs::TryLockError::WouldBlock) => Ok(false),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Another handle on the same open file, at the same position.
    pub fn try_clone(&self) -> io::Result<File> {
        match &self.0 {
            Inner::Os(file) => file.try_clone().map(File::from),
            Inner::Sim { file, pos, append } => Ok(File(Inner::Sim {
                file: file.try_clone()?,
                pos: AtomicU64::new(pos.load(Ordering::Relaxed)),
                append: *append,
            })),
        }
    }

    /// `fchmod`, as `std::fs::File::set_permissions`.
    pub fn set_permissions(&self, perm: super::Permissions) -> io::Result<()> {
        self.set_mode(perm.mode())
    }

    /// `futimens` of the modification time, as `std::fs::File::set_modified`.
    pub fn set_modified(&self, time: std::time::SystemTime) -> io::Result<()> {
        self.set_modified_ns(super::to_ns(time))
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match &self.0 {
            Inner::Os(file) => std::os::unix::fs::FileExt::read_at(file, buf, offset),
            Inner::Sim { file, .. } => file.read_at(buf, offset),
        }
    }

    pub fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        if let Inner::Os(file) = &self.0 {
            return std::os::unix::fs::FileExt::read_exact_at(file, buf, offset);
        }
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        match &self.0 {
            Inner::Os(file) => std::os::unix::fs::FileExt::write_at(file, buf, offset),
            Inner::Sim { file, .. } => file.write_at(buf, offset),
        }
    }

    pub fn write_all_at(&self, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write_at(buf, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn sim_read(file: &dyn FsFile, pos: &AtomicU64, buf: &mut [u8]) -> io::Result<usize> {
        let at = pos.load(Ordering::Relaxed);
        let n = file.read_at(buf, at)?;
        pos.store(at + n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn sim_write(
        file: &dyn FsFile,
        pos: &AtomicU64,
        append: bool,
        buf: &[u8],
    ) -> io::Result<usize> {
        let at = if append {
            file.metadata()?.len
        } else {
            pos.load(Ordering::Relaxed)
        };
        let n = file.write_at(buf, at)?;
        pos.store(at + n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn sim_seek(file: &dyn FsFile, pos: &AtomicU64, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(n) => {
                pos.store(n, Ordering::Relaxed);
                return Ok(n);
            }
            SeekFrom::Current(d) => (pos.load(Ordering::Relaxed), d),
            SeekFrom::End(d) => (file.metadata()?.len, d),
        };
        let n = base
            .0
            .checked_add_signed(base.1)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        pos.store(n, Ordering::Relaxed);
        Ok(n)
    }
}

impl Read for &File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.0 {
            Inner::Os(file) => (&*file).read(buf),
            Inner::Sim { file, pos, .. } => File::sim_read(file.as_ref(), pos, buf),
        }
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for &File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.0 {
            Inner::Os(file) => (&*file).write(buf),
            Inner::Sim { file, pos, append } => File::sim_write(file.as_ref(), pos, *append, buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for File {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for &File {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match &self.0 {
            Inner::Os(file) => (&*file).seek(to),
            Inner::Sim { file, pos, .. } => File::sim_seek(file.as_ref(), pos, to),
        }
    }
}

impl Seek for File {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        (&*self).seek(to)
    }
}

/// `std::fs::OpenOptions` for [`File`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    how: OpenHow,
    non_block: bool,
    /// Other `open(2)` flags, for the operating system only.
    flags: i32,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    pub fn new() -> OpenOptions {
        OpenOptions {
            how: OpenHow {
                mode: 0o666,
                ..OpenHow::default()
            },
            non_block: false,
            flags: 0,
        }
    }
    pub fn read(&mut self, on: bool) -> &mut Self {
        self.how.read = on;
        self
    }
    pub fn write(&mut self, on: bool) -> &mut Self {
        self.how.write = on;
        self
    }
    pub fn append(&mut self, on: bool) -> &mut Self {
        self.how.append = on;
        self
    }
    pub fn truncate(&mut self, on: bool) -> &mut Self {
        self.how.truncate = on;
        self
    }
    pub fn create(&mut self, on: bool) -> &mut Self {
        self.how.create = on;
        self
    }
    pub fn create_new(&mut self, on: bool) -> &mut Self {
        self.how.create_new = on;
        self
    }
    /// Permission bits of a created file, before the umask.
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.how.mode = mode;
        self
    }
    /// `O_NOFOLLOW`: a symlink at the path fails the open instead of being followed.
    pub fn no_follow(&mut self, on: bool) -> &mut Self {
        self.how.no_follow = on;
        self
    }
    /// `O_NONBLOCK`: opening a pipe never waits for a writer (no meaning when simulated).
    pub fn non_block(&mut self, on: bool) -> &mut Self {
        self.non_block = on;
        self
    }

    /// As `std::os::unix::fs::OpenOptionsExt::custom_flags`: `O_NOFOLLOW` and `O_NONBLOCK`
    /// mean what [`OpenOptions::no_follow`] and [`OpenOptions::non_block`] do; other flags only
    /// reach the operating system.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.how.no_follow = flags & libc::O_NOFOLLOW != 0;
        self.non_block = flags & libc::O_NONBLOCK != 0;
        self.flags = flags & !(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        self
    }

    pub fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        if let Some((fs, rel)) = machine_for(path) {
            let (dir, name) = super::path_ops::parent_and_name(fs.as_ref(), &rel)?;
            return Ok(File::simulated(
                dir.open(&name, &self.how)?,
                self.how.append,
            ));
        }
        use std::os::unix::fs::OpenOptionsExt;
        let mut flags = libc::O_CLOEXEC | self.flags;
        if self.how.no_follow {
            flags |= libc::O_NOFOLLOW;
        }
        if self.non_block {
            flags |= libc::O_NONBLOCK;
        }
        std::fs::OpenOptions::new()
            .read(self.how.read)
            .write(self.how.write)
            .append(self.how.append)
            .truncate(self.how.truncate)
            .create(self.how.create)
            .create_new(self.how.create_new)
            .mode(self.how.mode)
            .custom_flags(flags)
            .open(path)
            .map(File::from)
    }
}
