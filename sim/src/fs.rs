//! A simulated machine's disk and clock, behind `vault::vfs::Fs`: the filesystem the sync code
//! runs on in the simulation.
//!
//! It has what real filesystems have and the sync code must survive: timestamps of a chosen
//! granularity (ns, 1 s, 2 s), inodes that renames keep, symlinks, permission bits enforced as
//! for an ordinary user, case-insensitive and normalising names, mounts that vanish, a capacity
//! (disk full), files that grow while they are read, and fsyncs that are the only thing a crash
//! respects ([`disk`]). Every call counts as one step of the machine; the simulator may arm a
//! crash at any step ([`SimFs::crash_after`]): the machine then dies in the middle of whatever
//! the code was doing ([`Crashed`]), and [`SimFs::restart`] keeps only what a real disk would.

mod disk;
mod handles;
mod names;
pub mod state;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use vault::vfs::{Fs, FsDir, Kind, Metadata};

use disk::Disk;
use handles::SimDir;
pub use names::Names;
use state::{Effect, Ino, Inode, Node, ROOT, State};

/// The payload of the panic that stops a machine's code at its crash point; the simulator
/// catches it. Nothing the code does after it (unwinding, `Drop`s) reaches the disk.
#[derive(Debug, Clone, Copy)]
pub struct Crashed;

/// How a simulated filesystem behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsConfig {
    /// Timestamps are multiples of this (1 for ext4, 1 s for ext3 or a 128-byte-inode ext4,
    /// 2 s for FAT).
    pub granularity_ns: i64,
    pub names: Names,
    /// Bytes of file data the disk holds at most; a write beyond fails with `ENOSPC`.
    pub capacity: u64,
}

impl Default for FsConfig {
    fn default() -> FsConfig {
        FsConfig {
            granularity_ns: 1,
            names: Names::Exact,
            capacity: u64::MAX,
        }
    }
}

/// The clock of the simulated world, in nanoseconds since the Unix epoch; every machine reads
/// it through its own skew. It advances only when the simulation says so (each filesystem call
/// takes [`STEP_NS`]), so a run is the same every time.
#[derive(Debug)]
pub struct WorldClock(AtomicI64);

/// How long one filesystem call takes in simulated time.
pub const STEP_NS: i64 = 20_000;

impl WorldClock {
    pub fn new(start_ns: i64) -> Arc<WorldClock> {
        Arc::new(WorldClock(AtomicI64::new(start_ns)))
    }
    pub fn now_ns(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
    pub fn advance(&self, ns: i64) {
        self.0.fetch_add(ns, Ordering::Relaxed);
    }
}

/// A simulated machine's filesystem and clock.
#[derive(Clone)]
pub struct SimFs(pub(crate) Arc<Shared>);

pub(crate) struct Shared {
    machine: Mutex<Machine>,
    clock: Arc<WorldClock>,
    config: FsConfig,
}

pub(crate) struct Machine {
    disk: Disk,
    skew_ns: i64,
    /// Incremented by every restart: handles of an earlier life fail.
    life: u64,
    /// Calls left before the armed crash.
    crash_in: Option<u64>,
    /// The armed crash stops the disk, not the code: calls fail with `EIO` from then on (a
    /// hub's disk, seen by a device over the network).
    quiet: bool,
    dead: bool,
    calls: u64,
    /// Files that another program appends to each time they are read: how many more times.
    growing: BTreeMap<Ino, u32>,
    /// Exclusive locks: inode -> the handle holding it.
    locks: BTreeMap<Ino, u64>,
    next_handle: u64,
    next_dev: u64,
    /// Mounts that were taken away, by mount point, to be put back.
    unmounted: BTreeMap<Ino, Ino>,
    names: Names,
    /// Bytes of file data the disk holds at most (starts as the config's; a user frees space).
    capacity: u64,
}

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl SimFs {
    pub fn new(config: FsConfig, clock: Arc<WorldClock>, skew_ns: i64) -> SimFs {
        let now = clock.now_ns() + skew_ns;
        SimFs(Arc::new(Shared {
            machine: Mutex::new(Machine {
                disk: Disk::new(State::new(stamp(now, config.granularity_ns))),
                skew_ns,
                life: 0,
                crash_in: None,
                quiet: false,
                dead: false,
                calls: 0,
                growing: BTreeMap::new(),
                locks: BTreeMap::new(),
                next_handle: 1,
                next_dev: 2,
                unmounted: BTreeMap::new(),
                names: config.names,
                capacity: config.capacity,
            }),
            clock,
            config,
        }))
    }

    pub fn config(&self) -> FsConfig {
        self.0.config
    }

    /// Die at the `calls`-th filesystem call from now (0: the next one).
    pub fn crash_after(&self, calls: u64) {
        let mut m = self.0.lock();
        m.crash_in = Some(calls);
        m.quiet = false;
    }

    /// The disk stops at the `calls`-th call from now: that call and every later one fail
    /// with `EIO` until [`SimFs::restart`] (the code using it goes on, seeing errors).
    pub fn fail_after(&self, calls: u64) {
        let mut m = self.0.lock();
        m.crash_in = Some(calls);
        m.quiet = true;
    }

    /// Disarm a crash that has not happened.
    pub fn disarm(&self) {
        self.0.lock().crash_in = None;
    }

    /// Whether the machine died at its crash point and awaits [`SimFs::restart`].
    pub fn is_dead(&self) -> bool {
        self.0.lock().dead
    }

    /// Filesystem calls made so far.
    pub fn calls(&self) -> u64 {
        self.0.lock().calls
    }

    /// Changes not yet durable.
    pub fn pending(&self) -> usize {
        self.0.lock().disk.pending()
    }

    /// Power comes back after a crash (or the machine is cut off now): the disk keeps what was
    /// durable and the first `keep` of the other changes in order; open files and locks are
    /// gone.
    pub fn restart(&self, keep: usize) {
        let mut m = self.0.lock();
        m.disk.crash(keep);
        m.life += 1;
        m.dead = false;
        m.crash_in = None;
        m.locks.clear();
        m.growing.clear();
    }

    pub fn set_skew(&self, skew_ns: i64) {
        self.0.lock().skew_ns = skew_ns;
    }

    /// Have another program append to the file at `path` the next `times` times it is read.
    pub fn grow_when_read(&self, path: &Path, times: u32) -> io::Result<()> {
        let mut m = self.0.lock();
        let ino = m.resolve(path, true)?;
        m.growing.insert(ino, times);
        Ok(())
    }

    /// Let the disk hold `bytes` of file data (the user freed space, or a fuller disk).
    pub fn set_capacity(&self, bytes: u64) {
        self.0.lock().capacity = bytes;
    }

    /// Bytes of file data the disk holds now.
    pub fn used(&self) -> u64 {
        self.0.lock().used()
    }

    /// Mount a new, empty filesystem on the folder at `path` (a drive plugged in).
    pub fn mount(&self, path: &Path) -> io::Result<()> {
        let now = self.0.stamp_now();
        let mut m = self.0.lock();
        let at = m.resolve(path, true)?;
        let (ino, dev) = (m.disk.current().next_ino(), m.next_dev);
        m.next_dev += 1;
        m.disk.tamper(Effect::Create {
            ino,
            inode: Inode::dir(0o755, now, dev),
        });
        m.disk.tamper(Effect::Mount {
            at,
            root: Some(ino),
        });
        Ok(())
    }

    /// Take away the filesystem mounted at `path` (the drive unplugged, the network share
    /// gone): the empty folder below shows again.
    pub fn unmount(&self, path: &Path) -> io::Result<()> {
        let mut m = self.0.lock();
        let at = m.resolve_mount_point(path)?;
        if let Some(root) = m.disk.current().get(at).and_then(|i| i.mounted) {
            m.unmounted.insert(at, root);
            m.disk.tamper(Effect::Mount { at, root: None });
        }
        Ok(())
    }

    /// Put back a filesystem taken away by [`SimFs::unmount`].
    pub fn remount(&self, path: &Path) -> io::Result<()> {
        let mut m = self.0.lock();
        let at = m.resolve_mount_point(path)?;
        if let Some(root) = m.unmounted.remove(&at) {
            m.disk.tamper(Effect::Mount {
                at,
                root: Some(root),
            });
        }
        Ok(())
    }

    /// Flip one bit of the file at `path` on the disk itself (bit rot); `None` if it is empty.
    pub fn flip_bit(&self, path: &Path, bit: u64) -> io::Result<Option<u64>> {
        let mut m = self.0.lock();
        let ino = m.resolve(path, false)?;
        let Some(Inode {
            node: Node::File(data),
            ..
        }) = m.disk.current().get(ino)
        else {
            return Err(err(libc::EISDIR));
        };
        if data.is_empty() {
            return Ok(None);
        }
        let at = (bit / 8) % data.len() as u64;
        let byte = data[at as usize] ^ (1 << (bit % 8));
        m.disk.tamper(Effect::Write {
            ino,
            offset: at,
            bytes: vec![byte],
        });
        Ok(Some(at))
    }

    /// Every file below `path` (relative paths, not following symlinks, not entering other
    /// filesystems' mounts only if `whole` is false) with its bytes, as the machine sees them now;
    /// counts as no call.
    pub fn files_under(&self, path: &Path) -> io::Result<BTreeMap<PathBuf, Vec<u8>>> {
        let m = self.0.lock();
        let start = m.resolve(path, true)?;
        let mut out = BTreeMap::new();
        let mut todo = vec![(PathBuf::new(), start)];
        while let Some((rel, ino)) = todo.pop() {
            let ino = m.enter(ino);
            match m.disk.current().get(ino).map(|i| &i.node) {
                Some(Node::Dir(entries)) => {
                    for (name, child) in entries.values() {
                        todo.push((rel.join(name), *child));
                    }
                }
                Some(Node::File(data)) => {
                    out.insert(rel, data.clone());
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The whole disk as the machine sees it now, for comparing two runs.
    pub fn state(&self) -> State {
        self.0.lock().disk.current().clone()
    }
}

/// `now` rounded down to the filesystem's timestamp granularity.
fn stamp(now: i64, granularity: i64) -> i64 {
    now - now.rem_euclid(granularity.max(1))
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A timestamp for something written now on this machine.
    pub(crate) fn stamp_now(&self) -> i64 {
        let skew = self.lock().skew_ns;
        stamp(self.clock.now_ns() + skew, self.config.granularity_ns)
    }

    /// Start one filesystem call made by the machine's code (through a handle of life `life`,
    /// if any): the simulated time it takes passes, a crash armed for it happens.
    pub(crate) fn call(&self, life: Option<u64>) -> io::Result<MutexGuard<'_, Machine>> {
        self.clock.advance(STEP_NS);
        let mut m = self.lock();
        if m.dead || life.is_some_and(|l| l != m.life) {
            return Err(err(libc::EIO));
        }
        m.calls += 1;
        match m.crash_in {
            Some(0) => {
                m.dead = true;
                m.crash_in = None;
                if m.quiet {
                    return Err(err(libc::EIO));
                }
                drop(m);
                std::panic::panic_any(Crashed);
            }
            Some(n) => m.crash_in = Some(n - 1),
            None => {}
        }
        Ok(m)
    }
}

impl Machine {
    pub(crate) fn disk(&self) -> &Disk {
        &self.disk
    }

    pub(crate) fn disk_mut(&mut self) -> &mut Disk {
        &mut self.disk
    }

    pub(crate) fn inode(&self, ino: Ino) -> io::Result<&Inode> {
        self.disk
            .current()
            .get(ino)
            .ok_or_else(|| err(libc::ENOENT))
    }

    /// The folder a lookup in `ino` actually enters: the root of what is mounted there.
    pub(crate) fn enter(&self, ino: Ino) -> Ino {
        let mut at = ino;
        while let Some(root) = self.disk.current().get(at).and_then(|i| i.mounted) {
            at = root;
        }
        at
    }

    /// The entry `name` in folder `dir` (already entered): its inode. Needs search permission.
    pub(crate) fn lookup(&self, names: Names, dir: Ino, name: &OsStr) -> io::Result<Option<Ino>> {
        let inode = self.inode(dir)?;
        let Node::Dir(entries) = &inode.node else {
            return Err(err(libc::ENOTDIR));
        };
        if inode.mode & 0o100 == 0 {
            return Err(err(libc::EACCES));
        }
        Ok(entries.get(&names.key(name)).map(|e| e.1))
    }

    /// Resolve a path relative to the root, following symlinks on the way (and at the end if
    /// `follow`); mounts entered.
    pub(crate) fn resolve(&self, path: &Path, follow: bool) -> io::Result<Ino> {
        self.resolve_from(ROOT, path, follow, 0)
    }

    pub(crate) fn resolve_from(
        &self,
        start: Ino,
        path: &Path,
        follow: bool,
        depth: u32,
    ) -> io::Result<Ino> {
        if depth > 40 {
            return Err(err(libc::ELOOP));
        }
        let names = self.names();
        // The folders walked through, for `..`.
        let mut trail = vec![self.enter(start)];
        let comps: Vec<Component<'_>> = path.components().collect();
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let here = *trail.last().unwrap_or(&ROOT);
            match comp {
                Component::RootDir => trail = vec![self.enter(ROOT)],
                Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    if trail.len() > 1 {
                        trail.pop();
                    }
                }
                Component::Normal(name) => {
                    let ino = self
                        .lookup(names, here, name)?
                        .ok_or_else(|| err(libc::ENOENT))?;
                    let next = match &self.inode(ino)?.node {
                        Node::Symlink(target) if !last || follow => {
                            self.resolve_from(here, target, true, depth + 1)?
                        }
                        _ => ino,
                    };
                    if !last {
                        if !matches!(self.inode(self.enter(next))?.node, Node::Dir(_)) {
                            return Err(err(libc::ENOTDIR));
                        }
                        trail.push(self.enter(next));
                    } else {
                        trail.push(next);
                    }
                }
            }
        }
        Ok(*trail.last().unwrap_or(&ROOT))
    }

    /// The mount point at `path` itself (not what is mounted on it).
    fn resolve_mount_point(&self, path: &Path) -> io::Result<Ino> {
        let parent = path.parent().unwrap_or(Path::new(""));
        let name = path.file_name().ok_or_else(|| err(libc::EINVAL))?;
        let dir = self.enter(self.resolve(parent, true)?);
        self.lookup(self.names(), dir, name)?
            .ok_or_else(|| err(libc::ENOENT))
    }

    pub(crate) fn names(&self) -> Names {
        self.names
    }

    pub(crate) fn metadata(&self, ino: Ino) -> io::Result<Metadata> {
        let inode = self.inode(ino)?;
        let (kind, len) = match &inode.node {
            Node::File(data) => (Kind::File, data.len() as u64),
            Node::Dir(entries) => (Kind::Dir, entries.len() as u64),
            Node::Symlink(target) => (Kind::Symlink, target.as_os_str().len() as u64),
        };
        Ok(Metadata {
            kind,
            len,
            mtime_ns: inode.mtime_ns,
            ctime_ns: inode.ctime_ns,
            ino,
            dev: inode.dev,
            mode: inode.mode,
        })
    }

    /// Bytes of file data on the disk now.
    pub(crate) fn used(&self) -> u64 {
        self.disk
            .current()
            .inodes
            .values()
            .map(|i| match &i.node {
                Node::File(d) => d.len() as u64,
                _ => 0,
            })
            .sum()
    }

    pub(crate) fn new_handle(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }

    pub(crate) fn life(&self) -> u64 {
        self.life
    }

    pub(crate) fn growing(&mut self) -> &mut BTreeMap<Ino, u32> {
        &mut self.growing
    }

    pub(crate) fn locks(&mut self) -> &mut BTreeMap<Ino, u64> {
        &mut self.locks
    }
}

impl Fs for SimFs {
    fn now_ns(&self) -> i64 {
        let skew = self.0.lock().skew_ns;
        self.0.clock.now_ns() + skew
    }

    fn open_dir(&self, path: &Path) -> io::Result<Arc<dyn FsDir>> {
        let m = self.0.call(None)?;
        let ino = m.enter(m.resolve(path, true)?);
        if !matches!(m.inode(ino)?.node, Node::Dir(_)) {
            return Err(err(libc::ENOTDIR));
        }
        let life = m.life();
        drop(m);
        Ok(Arc::new(SimDir::new(Arc::clone(&self.0), ino, life)))
    }

    fn sleep(&self, d: std::time::Duration) {
        self.0
            .clock
            .advance(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    }

    fn sync_fs(&self, _path: &Path) -> io::Result<()> {
        let mut m = self.0.call(None)?;
        m.disk_mut().sync_all();
        Ok(())
    }
}

/// The set of inodes reachable from the root (for tests of the model).
pub fn reachable(state: &State) -> BTreeSet<Ino> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![ROOT];
    while let Some(ino) = todo.pop() {
        if !seen.insert(ino) {
            continue;
        }
        if let Some(inode) = state.get(ino) {
            todo.extend(inode.mounted);
            if let Node::Dir(entries) = &inode.node {
                todo.extend(entries.values().map(|e| e.1));
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests;
