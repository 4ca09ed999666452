//! Folders and files held open on a simulated machine: the calls the sync code makes.

use std::any::Any;
use std::ffi::{OsStr, OsString};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vault::vfs::{FsDir, FsFile, Kind, Metadata, OpenHow, RenameHow};

use super::state::{Effect, Ino, Inode, Node};
use super::{Machine, Shared, err, stamp};

/// The permission bits a new file or folder gets: what was asked, less the usual umask.
const UMASK: u32 = 0o022;

pub(crate) struct SimDir {
    fs: Arc<Shared>,
    ino: Ino,
    life: u64,
}

impl SimDir {
    pub(crate) fn new(fs: Arc<Shared>, ino: Ino, life: u64) -> SimDir {
        SimDir { fs, ino, life }
    }

    fn call(&self) -> io::Result<std::sync::MutexGuard<'_, Machine>> {
        self.fs.call(Some(self.life))
    }

    fn now(&self, m: &Machine) -> i64 {
        stamp(
            self.fs.clock.now_ns() + m.skew_ns,
            self.fs.config.granularity_ns,
        )
    }

    /// The entry `name` here, or `ENOENT`.
    fn child(&self, m: &Machine, name: &OsStr) -> io::Result<Ino> {
        check_name(name)?;
        m.lookup(m.names(), self.ino, name)?
            .ok_or_else(|| err(libc::ENOENT))
    }

    /// `child`, following a symlink there.
    fn child_followed(&self, m: &Machine, name: &OsStr) -> io::Result<Ino> {
        let ino = self.child(m, name)?;
        match &m.inode(ino)?.node {
            Node::Symlink(target) => m.resolve_from(self.ino, target, true, 1),
            _ => Ok(ino),
        }
    }

    /// May names be created or removed here?
    fn writable(&self, m: &Machine) -> io::Result<()> {
        if m.inode(self.ino)?.mode & 0o300 != 0o300 {
            return Err(err(libc::EACCES));
        }
        Ok(())
    }

    /// The attributes of a folder whose entries just changed.
    fn touched(&self, m: &Machine, dir: Ino, now: i64) -> io::Result<Effect> {
        let inode = m.inode(dir)?;
        Ok(Effect::Attr {
            ino: dir,
            mode: inode.mode,
            mtime_ns: now,
            ctime_ns: now,
        })
    }

    fn other<'a>(&self, into: &'a dyn FsDir) -> io::Result<&'a SimDir> {
        match into.as_any().downcast_ref::<SimDir>() {
            Some(d) if Arc::ptr_eq(&d.fs, &self.fs) => Ok(d),
            _ => Err(err(libc::EXDEV)),
        }
    }

    /// Remove the entry `name` here (the caller checked what it is).
    fn unlink(&self, m: &mut Machine, name: &OsStr) -> io::Result<()> {
        self.writable(m)?;
        let now = self.now(m);
        let effects = vec![
            Effect::Entry {
                dir: self.ino,
                key: m.names().key(name),
                entry: None,
            },
            self.touched(m, self.ino, now)?,
        ];
        m.disk_mut().record(effects, vec![], vec![self.ino]);
        Ok(())
    }

    /// Create `name` here as `inode` (the caller checked it is free).
    fn create(&self, m: &mut Machine, name: &OsStr, inode: Inode) -> io::Result<Ino> {
        self.writable(m)?;
        let ino = m.disk().current().next_ino();
        let now = self.now(m);
        let names = m.names();
        let effects = vec![
            Effect::Create { ino, inode },
            Effect::Entry {
                dir: self.ino,
                key: names.key(name),
                entry: Some((names.stored(name), ino)),
            },
            self.touched(m, self.ino, now)?,
        ];
        m.disk_mut().record(effects, vec![ino], vec![self.ino]);
        Ok(ino)
    }
}

/// A name is one path component.
fn check_name(name: &OsStr) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.as_encoded_bytes().contains(&b'/') {
        return Err(err(libc::EINVAL));
    }
    Ok(())
}

impl FsDir for SimDir {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn metadata(&self) -> io::Result<Metadata> {
        self.call()?.metadata(self.ino)
    }

    fn stat(&self, name: &OsStr, follow: bool) -> io::Result<Metadata> {
        let m = self.call()?;
        let ino = if follow {
            self.child_followed(&m, name)?
        } else {
            self.child(&m, name)?
        };
        let mut meta = m.metadata(ino)?;
        if meta.kind == Kind::Dir {
            // A mount point shows the root of what is mounted on it.
            let entered = m.enter(ino);
            if entered != ino {
                meta = m.metadata(entered)?;
            }
        }
        Ok(meta)
    }

    fn list(&self) -> io::Result<Vec<(OsString, Kind)>> {
        let m = self.call()?;
        let inode = m.inode(self.ino)?;
        if inode.mode & 0o400 == 0 {
            return Err(err(libc::EACCES));
        }
        let Node::Dir(entries) = &inode.node else {
            return Err(err(libc::ENOTDIR));
        };
        entries
            .values()
            .map(|(name, ino)| Ok((name.clone(), m.metadata(*ino)?.kind)))
            .collect()
    }

    fn open_dir(&self, name: &OsStr, follow: bool) -> io::Result<Arc<dyn FsDir>> {
        let m = self.call()?;
        let ino = if follow {
            self.child_followed(&m, name)?
        } else {
            self.child(&m, name)?
        };
        let ino = m.enter(ino);
        if !matches!(m.inode(ino)?.node, Node::Dir(_)) {
            return Err(err(libc::ENOTDIR));
        }
        if m.inode(ino)?.mode & 0o400 == 0 {
            return Err(err(libc::EACCES));
        }
        Ok(Arc::new(SimDir::new(Arc::clone(&self.fs), ino, self.life)))
    }

    fn open(&self, name: &OsStr, how: &OpenHow) -> io::Result<Box<dyn FsFile>> {
        let mut m = self.call()?;
        check_name(name)?;
        let found = m.lookup(m.names(), self.ino, name)?;
        let ino = match found {
            Some(_) if how.create_new => return Err(err(libc::EEXIST)),
            Some(ino) => {
                let ino = match &m.inode(ino)?.node {
                    Node::Symlink(_) if how.no_follow => return Err(err(libc::ELOOP)),
                    Node::Symlink(_) => self.child_followed(&m, name)?,
                    _ => ino,
                };
                let inode = m.inode(ino)?;
                match inode.node {
                    Node::Dir(_) if how.write => return Err(err(libc::EISDIR)),
                    Node::Dir(_) => return Err(err(libc::EISDIR)),
                    _ => {}
                }
                if (how.read && inode.mode & 0o400 == 0) || (how.write && inode.mode & 0o200 == 0) {
                    return Err(err(libc::EACCES));
                }
                if how.truncate && how.write {
                    let now = self.now(&m);
                    let mode = inode.mode;
                    m.disk_mut().record(
                        vec![
                            Effect::SetLen { ino, len: 0 },
                            Effect::Attr {
                                ino,
                                mode,
                                mtime_ns: now,
                                ctime_ns: now,
                            },
                        ],
                        vec![ino],
                        vec![],
                    );
                }
                ino
            }
            None if how.create || how.create_new => {
                let now = self.now(&m);
                let dev = m.inode(self.ino)?.dev;
                self.create(
                    &mut m,
                    name,
                    Inode::file(how.mode & !UMASK & 0o7777, now, dev),
                )?
            }
            None => return Err(err(libc::ENOENT)),
        };
        let handle = m.new_handle();
        Ok(Box::new(SimFile {
            fs: Arc::clone(&self.fs),
            ino,
            life: self.life,
            handle,
            read: how.read,
            write: how.write || how.append,
        }))
    }

    fn create_dir(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let mut m = self.call()?;
        check_name(name)?;
        if m.lookup(m.names(), self.ino, name)?.is_some() {
            return Err(err(libc::EEXIST));
        }
        let now = self.now(&m);
        let dev = m.inode(self.ino)?.dev;
        self.create(&mut m, name, Inode::dir(mode & !UMASK & 0o7777, now, dev))?;
        Ok(())
    }

    fn remove_dir(&self, name: &OsStr) -> io::Result<()> {
        let mut m = self.call()?;
        let ino = self.child(&m, name)?;
        match &m.inode(ino)?.node {
            Node::Dir(entries) if !entries.is_empty() => return Err(err(libc::ENOTEMPTY)),
            Node::Dir(_) => {}
            _ => return Err(err(libc::ENOTDIR)),
        }
        if m.inode(ino)?.mounted.is_some() {
            return Err(err(libc::EBUSY));
        }
        self.unlink(&mut m, name)
    }

    fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        let mut m = self.call()?;
        let ino = self.child(&m, name)?;
        if matches!(m.inode(ino)?.node, Node::Dir(_)) {
            return Err(err(libc::EISDIR));
        }
        self.unlink(&mut m, name)
    }

    fn rename(&self, from: &OsStr, into: &dyn FsDir, to: &OsStr, how: RenameHow) -> io::Result<()> {
        let into = self.other(into)?;
        let mut m = self.call()?;
        check_name(to)?;
        let names = m.names();
        let moving = self.child(&m, from)?;
        let (src_dev, dst_dev) = (m.inode(self.ino)?.dev, m.inode(into.ino)?.dev);
        if src_dev != dst_dev {
            return Err(err(libc::EXDEV));
        }
        self.writable(&m)?;
        into.writable(&m)?;
        let (from_key, to_key) = (names.key(from), names.key(to));
        let same_name = self.ino == into.ino && from_key == to_key;
        let target = if same_name {
            None
        } else {
            m.lookup(names, into.ino, to)?
        };
        if target == Some(moving) && how != RenameHow::Exchange {
            // Two names of one file: POSIX leaves both in place.
            return Ok(());
        }
        let moving_is_dir = matches!(m.inode(moving)?.node, Node::Dir(_));
        match (how, target) {
            (RenameHow::NoReplace, Some(_)) => return Err(err(libc::EEXIST)),
            (RenameHow::Exchange, None) if !same_name => return Err(err(libc::ENOENT)),
            (RenameHow::Replace, Some(t)) => match (&m.inode(t)?.node, moving_is_dir) {
                (Node::Dir(_), false) => return Err(err(libc::EISDIR)),
                (Node::Dir(e), true) if !e.is_empty() => return Err(err(libc::ENOTEMPTY)),
                (Node::Dir(_), true) => {}
                (_, true) => return Err(err(libc::ENOTDIR)),
                _ => {}
            },
            _ => {}
        }
        let now = self.now(&m);
        let ctime = |m: &Machine, ino: Ino| -> io::Result<Effect> {
            let i = m.inode(ino)?;
            Ok(Effect::Attr {
                ino,
                mode: i.mode,
                mtime_ns: i.mtime_ns,
                ctime_ns: now,
            })
        };
        let mut effects = Vec::new();
        if same_name {
            // A case-only rename on a case-insensitive filesystem: the same entry, a new name.
            effects.push(Effect::Entry {
                dir: self.ino,
                key: from_key,
                entry: Some((names.stored(to), moving)),
            });
        } else {
            let swapped = match (how, target) {
                (RenameHow::Exchange, Some(t)) => Some(t),
                _ => None,
            };
            effects.push(Effect::Entry {
                dir: self.ino,
                key: from_key,
                entry: swapped.map(|t| (names.stored(from), t)),
            });
            effects.push(Effect::Entry {
                dir: into.ino,
                key: to_key,
                entry: Some((names.stored(to), moving)),
            });
            if let Some(t) = swapped {
                effects.push(ctime(&m, t)?);
            }
        }
        effects.push(ctime(&m, moving)?);
        effects.push(self.touched(&m, self.ino, now)?);
        if into.ino != self.ino {
            effects.push(self.touched(&m, into.ino, now)?);
        }
        m.disk_mut()
            .record(effects, vec![], vec![self.ino, into.ino]);
        Ok(())
    }

    fn link(&self, from: &OsStr, into: &dyn FsDir, to: &OsStr) -> io::Result<()> {
        let into = self.other(into)?;
        let mut m = self.call()?;
        check_name(to)?;
        let ino = self.child(&m, from)?;
        if matches!(m.inode(ino)?.node, Node::Dir(_)) {
            return Err(err(libc::EPERM));
        }
        if m.inode(self.ino)?.dev != m.inode(into.ino)?.dev {
            return Err(err(libc::EXDEV));
        }
        if m.lookup(m.names(), into.ino, to)?.is_some() {
            return Err(err(libc::EEXIST));
        }
        into.writable(&m)?;
        let now = self.now(&m);
        let names = m.names();
        let i = m.inode(ino)?;
        let effects = vec![
            Effect::Entry {
                dir: into.ino,
                key: names.key(to),
                entry: Some((names.stored(to), ino)),
            },
            Effect::Attr {
                ino,
                mode: i.mode,
                mtime_ns: i.mtime_ns,
                ctime_ns: now,
            },
            self.touched(&m, into.ino, now)?,
        ];
        m.disk_mut().record(effects, vec![], vec![into.ino]);
        Ok(())
    }

    fn symlink(&self, name: &OsStr, target: &Path) -> io::Result<()> {
        let mut m = self.call()?;
        check_name(name)?;
        if m.lookup(m.names(), self.ino, name)?.is_some() {
            return Err(err(libc::EEXIST));
        }
        let now = self.now(&m);
        let dev = m.inode(self.ino)?.dev;
        let inode = Inode {
            node: Node::Symlink(target.to_path_buf()),
            mode: 0o777,
            mtime_ns: now,
            ctime_ns: now,
            dev,
            mounted: None,
        };
        self.create(&mut m, name, inode)?;
        Ok(())
    }

    fn read_link(&self, name: &OsStr) -> io::Result<PathBuf> {
        let m = self.call()?;
        match &m.inode(self.child(&m, name)?)?.node {
            Node::Symlink(target) => Ok(target.clone()),
            _ => Err(err(libc::EINVAL)),
        }
    }

    fn set_mode(&self, name: &OsStr, mode: u32) -> io::Result<()> {
        let mut m = self.call()?;
        let ino = self.child_followed(&m, name)?;
        let now = self.now(&m);
        set_attr(&mut m, ino, Some(mode & 0o7777), None, now)
    }

    fn set_times(
        &self,
        name: &OsStr,
        _atime_ns: Option<i64>,
        mtime_ns: Option<i64>,
        follow: bool,
    ) -> io::Result<()> {
        let mut m = self.call()?;
        let ino = if follow {
            self.child_followed(&m, name)?
        } else {
            self.child(&m, name)?
        };
        // A time set by a tool is stored as given, rounded to what the filesystem keeps.
        let mtime = mtime_ns.map(|t| stamp(t, self.fs.config.granularity_ns));
        let now = self.now(&m);
        set_attr(&mut m, ino, None, mtime, now)
    }

    fn sync(&self) -> io::Result<()> {
        let mut m = self.call()?;
        let ino = self.ino;
        m.disk_mut().sync_dir(ino);
        Ok(())
    }
}

/// Change an inode's mode and/or modification time; its ctime becomes `now`.
fn set_attr(
    m: &mut Machine,
    ino: Ino,
    mode: Option<u32>,
    mtime_ns: Option<i64>,
    now: i64,
) -> io::Result<()> {
    let i = m.inode(ino)?;
    let effect = Effect::Attr {
        ino,
        mode: mode.unwrap_or(i.mode),
        mtime_ns: mtime_ns.unwrap_or(i.mtime_ns),
        ctime_ns: now,
    };
    m.disk_mut().record(vec![effect], vec![ino], vec![]);
    Ok(())
}

pub(crate) struct SimFile {
    fs: Arc<Shared>,
    ino: Ino,
    life: u64,
    handle: u64,
    read: bool,
    write: bool,
}

impl SimFile {
    fn call(&self) -> io::Result<std::sync::MutexGuard<'_, Machine>> {
        self.fs.call(Some(self.life))
    }

    fn now(&self, m: &Machine) -> i64 {
        stamp(
            self.fs.clock.now_ns() + m.skew_ns,
            self.fs.config.granularity_ns,
        )
    }

    /// Write `bytes` at `offset` as one change, the file's times moved to now.
    fn put(&self, m: &mut Machine, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let len = match &m.inode(self.ino)?.node {
            Node::File(data) => data.len() as u64,
            _ => return Err(err(libc::EISDIR)),
        };
        let grows = (offset + bytes.len() as u64).saturating_sub(len);
        if m.used().saturating_add(grows) > m.capacity {
            return Err(err(libc::ENOSPC));
        }
        let now = self.now(m);
        let mode = m.inode(self.ino)?.mode;
        m.disk_mut().record(
            vec![
                Effect::Write {
                    ino: self.ino,
                    offset,
                    bytes: bytes.to_vec(),
                },
                Effect::Attr {
                    ino: self.ino,
                    mode,
                    mtime_ns: now,
                    ctime_ns: now,
                },
            ],
            vec![self.ino],
            vec![],
        );
        Ok(())
    }
}

impl FsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut m = self.call()?;
        if !self.read {
            return Err(err(libc::EBADF));
        }
        let n = match &m.inode(self.ino)?.node {
            Node::File(data) => {
                let start = (offset as usize).min(data.len());
                let n = buf.len().min(data.len() - start);
                buf[..n].copy_from_slice(&data[start..start + n]);
                n
            }
            _ => return Err(err(libc::EISDIR)),
        };
        // Another program appending while this one reads (a log, a note being typed into).
        if let Some(times) = m.growing().get_mut(&self.ino) {
            *times -= 1;
            if *times == 0 {
                m.growing().remove(&self.ino);
            }
            let len = m.metadata(self.ino)?.len;
            self.put(&mut m, len, b"\nmore typed while it was read")?;
            // That program saved its text (a crash later is not sync's to answer for).
            m.disk_mut().sync_file(self.ino);
        }
        Ok(n)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let mut m = self.call()?;
        if !self.write {
            return Err(err(libc::EBADF));
        }
        self.put(&mut m, offset, buf)?;
        Ok(buf.len())
    }

    fn metadata(&self) -> io::Result<Metadata> {
        self.call()?.metadata(self.ino)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut m = self.call()?;
        if !self.write {
            return Err(err(libc::EINVAL));
        }
        let now = self.now(&m);
        let mode = m.inode(self.ino)?.mode;
        m.disk_mut().record(
            vec![
                Effect::SetLen { ino: self.ino, len },
                Effect::Attr {
                    ino: self.ino,
                    mode,
                    mtime_ns: now,
                    ctime_ns: now,
                },
            ],
            vec![self.ino],
            vec![],
        );
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        let mut m = self.call()?;
        m.disk_mut().sync_file(self.ino);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        self.sync_all()
    }

    fn set_mode(&self, mode: u32) -> io::Result<()> {
        let mut m = self.call()?;
        let now = self.now(&m);
        set_attr(&mut m, self.ino, Some(mode & 0o7777), None, now)
    }

    fn set_times(&self, _atime_ns: Option<i64>, mtime_ns: Option<i64>) -> io::Result<()> {
        let mut m = self.call()?;
        let now = self.now(&m);
        let mtime = mtime_ns.map(|t| stamp(t, self.fs.config.granularity_ns));
        set_attr(&mut m, self.ino, None, mtime, now)
    }

    fn try_clone(&self) -> io::Result<Box<dyn FsFile>> {
        Ok(Box::new(self.duplicate()?))
    }

    fn try_lock(&self) -> io::Result<bool> {
        let mut m = self.call()?;
        let handle = self.handle;
        match m.locks().get(&self.ino) {
            Some(h) if *h != handle => Ok(false),
            _ => {
                m.locks().insert(self.ino, handle);
                Ok(true)
            }
        }
    }
}

impl SimFile {
    fn duplicate(&self) -> io::Result<SimFile> {
        let mut m = self.call()?;
        Ok(SimFile {
            fs: Arc::clone(&self.fs),
            ino: self.ino,
            life: self.life,
            handle: m.new_handle(),
            read: self.read,
            write: self.write,
        })
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        // Closing is not a call that can crash or fail; the lock goes with the file.
        let mut m = self.fs.lock();
        if m.life() == self.life && m.locks().get(&self.ino) == Some(&self.handle) {
            m.locks().remove(&self.ino);
        }
    }
}
