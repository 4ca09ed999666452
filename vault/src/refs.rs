//! Ref files: a small file holding one object id (`<64 hex digits>\n`), such as a hub's
//! `refs/head` or a device's `base`, with an atomic compare-and-swap that holds across
//! processes.
//!
//! The lock is a file `<ref>.lock` created with `O_EXCL` (`create_new`), as git locks refs:
//! unlike `flock`, exclusive creation works on network folders (SMB, NFS) and sync services.
//! The new value is written to a temp file and renamed over the ref, so a reader without the
//! lock sees the old or the new id, never a mix. A lock left behind by a crashed writer is
//! broken, with a warning, once it is older than [`STALE_LOCK_AGE`], or at once when it names
//! a process on this machine that no longer exists (a killed `syncd`: the next round should
//! not wait a minute for it).

use crate::vfs::{self as fs, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fsutil::{PathIoError, io_at, random_hex, write_atomic};
use crate::hub::CasOutcome;
use crate::id::ObjectId;

/// How long `compare_and_swap` waits for another writer's lock before giving up.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);
/// A lock file older than this is assumed to belong to a crashed writer (a swap takes
/// milliseconds).
pub const STALE_LOCK_AGE: Duration = Duration::from_secs(60);

/// Why reading or updating a ref failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    #[error("{0}; check that the folder exists, is reachable and that this user may write to it")]
    Io(#[from] PathIoError),
    #[error(
        "ref `{path}` does not hold an object id (found {found:?}); restore it from a backup, or delete it to start the history again"
    )]
    Garbage { path: PathBuf, found: String },
    #[error(
        "ref `{path}` stayed locked by another writer for {waited:?} (lock `{lock}`, held by {holder}); retry, and if no sync is running delete the lock file"
    )]
    Locked {
        path: PathBuf,
        lock: PathBuf,
        waited: Duration,
        holder: String,
    },
}

/// A file holding one object id.
#[derive(Debug, Clone)]
pub struct RefFile {
    path: PathBuf,
}

impl RefFile {
    /// A ref at `path`; nothing is read or created until used.
    pub fn new(path: impl Into<PathBuf>) -> RefFile {
        RefFile { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file guarding writers: `<path>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_os_string();
        name.push(".lock");
        PathBuf::from(name)
    }

    /// The id the ref holds, or `None` if the file does not exist.
    pub fn read(&self) -> Result<Option<ObjectId>, RefError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at("reading ref", &self.path)(e).into()),
        };
        let garbage = || RefError::Garbage {
            path: self.path.clone(),
            found: String::from_utf8_lossy(&bytes[..bytes.len().min(80)]).into_owned(),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| garbage())?;
        let hex = text.strip_suffix('\n').ok_or_else(garbage)?;
        hex.parse().map(Some).map_err(|_| garbage())
    }

    /// Set the ref unconditionally (atomic and durable). Prefer [`RefFile::compare_and_swap`]
    /// wherever another writer may exist.
    pub fn write(&self, id: ObjectId) -> Result<(), RefError> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(io_at("creating folder of ref", dir))?;
        }
        write_atomic(&self.path, format!("{id}\n").as_bytes())
            .map_err(io_at("writing ref", &self.path))?;
        Ok(())
    }

    /// Set the ref to `new` only if it still holds `old` (`None`: the file does not exist).
    /// Safe against other threads and processes that use the same protocol.
    pub fn compare_and_swap(
        &self,
        old: Option<ObjectId>,
        new: ObjectId,
    ) -> Result<CasOutcome, RefError> {
        let lock = self.lock()?;
        let actual = self.read()?;
        if actual != old {
            return Ok(CasOutcome::Conflict { actual });
        }
        // If the lock was broken while we were paused (a laptop lid closed for over a minute),
        // another writer may have moved the ref: do not overwrite its update.
        lock.check_still_ours()?;
        self.write(new)?;
        drop(lock);
        Ok(CasOutcome::Updated)
    }

    /// Hold `<path>.lock` (waiting as [`RefFile::compare_and_swap`] does) for work that must
    /// not interleave with a move of the ref: a hub's gc sweeps under it after reading head
    /// again, and the folder hub checks a new head's objects under it, so a snapshot checked
    /// complete cannot lose an object to a gc before it becomes head. Released on drop.
    pub fn hold(&self) -> Result<HeldRef<'_>, RefError> {
        Ok(HeldRef {
            file: self,
            guard: self.lock()?,
        })
    }

    /// Take `<path>.lock`, waiting up to [`LOCK_WAIT`] and breaking a stale lock.
    fn lock(&self) -> Result<LockGuard, RefError> {
        let lock_path = self.lock_path();
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(io_at("creating folder of ref", dir))?;
        }
        let token = random_hex(16);
        // By the clock of the machine holding the ref: a simulated one waits in its own time.
        let start = crate::vfs::Stopwatch::at(&lock_path);
        let mut pause = Duration::from_millis(1);
        loop {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock_path)
            {
                Ok(mut f) => {
                    // The token proves ownership at release; the pid is for other writers'
                    // messages.
                    let guard = LockGuard {
                        ref_path: self.path.clone(),
                        path: lock_path,
                        token,
                    };
                    write!(
                        f,
                        "{}\npid {}\nhost {}\n",
                        guard.token,
                        std::process::id(),
                        host_name()
                    )
                    .map_err(io_at("writing lock", &guard.path))?;
                    return Ok(guard);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_at("creating lock", &lock_path)(e).into()),
            }
            if break_if_stale(&lock_path)? {
                continue;
            }
            if start.elapsed() >= LOCK_WAIT {
                return Err(RefError::Locked {
                    path: self.path.clone(),
                    holder: describe_holder(&lock_path),
                    lock: lock_path,
                    waited: start.elapsed(),
                });
            }
            // Jitter so writers that collided do not collide again in lockstep.
            let jitter = Duration::from_micros(u64::from(random_byte()) * 4);
            start.sleep(pause + jitter);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// A ref whose lock this process holds (see [`RefFile::hold`]).
pub struct HeldRef<'a> {
    file: &'a RefFile,
    guard: LockGuard,
}

impl HeldRef<'_> {
    /// The ref's value now (no one else can move it while the lock is held).
    pub fn read(&self) -> Result<Option<ObjectId>, RefError> {
        self.file.read()
    }

    /// Set the ref to `new` if it holds `old`, as [`RefFile::compare_and_swap`], under the
    /// lock already held; the lock is released.
    pub fn compare_and_swap(
        self,
        old: Option<ObjectId>,
        new: ObjectId,
    ) -> Result<CasOutcome, RefError> {
        let actual = self.file.read()?;
        if actual != old {
            return Ok(CasOutcome::Conflict { actual });
        }
        self.guard.check_still_ours()?;
        self.file.write(new)?;
        drop(self.guard);
        Ok(CasOutcome::Updated)
    }

    /// Whether the lock still carries our token (it was not broken as stale meanwhile).
    pub fn still_ours(&self) -> Result<(), RefError> {
        self.guard.check_still_ours()
    }
}

/// Holds `<ref>.lock`; removes it on drop if it is still ours.
struct LockGuard {
    ref_path: PathBuf,
    path: PathBuf,
    token: String,
}

impl LockGuard {
    fn check_still_ours(&self) -> Result<(), RefError> {
        if lock_token(&self.path).as_deref() == Some(self.token.as_str()) {
            return Ok(());
        }
        Err(RefError::Locked {
            path: self.ref_path.clone(),
            lock: self.path.clone(),
            waited: Duration::ZERO,
            holder: "another writer that broke our lock as stale".into(),
        })
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Never remove a lock another writer took after breaking ours.
        if lock_token(&self.path).as_deref() == Some(self.token.as_str()) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn lock_token(lock: &Path) -> Option<String> {
    let text = fs::read_to_string(lock).ok()?;
    text.lines().next().map(str::to_string)
}

fn describe_holder(lock: &Path) -> String {
    match fs::read_to_string(lock) {
        Ok(t) => t.lines().nth(1).unwrap_or("an unknown writer").to_string(),
        Err(_) => "a writer that has just finished".to_string(),
    }
}

fn random_byte() -> u8 {
    let mut b = [0u8; 1];
    // Jitter only: a failing random source just means no jitter.
    crate::vfs::fill_random(&mut b);
    b[0]
}

/// This machine's name, as locks record it (empty if it cannot be read).
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for `buf.len()` bytes for the duration of the call.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Whether the lock file's text names a process on this machine that no longer exists. A
/// lock from another machine (a hub on a shared drive), or without a pid, is never judged
/// this way; a pid reused by another process only means waiting for the age rule.
fn holder_is_gone(text: &str) -> bool {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::to_string)
    };
    let (Some(pid), Some(host)) = (field("pid"), field("host")) else {
        return false;
    };
    let Ok(pid) = pid.parse::<libc::pid_t>() else {
        return false;
    };
    if host.is_empty() || host != host_name() || pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
    !alive
}

/// Why a lock may be broken, judged from its file: its age, or its holder being gone.
pub fn staleness(lock: &Path) -> Option<String> {
    let modified = fs::metadata(lock).ok()?.modified().ok()?;
    let age = crate::vfs::now_at(lock)
        .duration_since(modified)
        .unwrap_or_default();
    if age > STALE_LOCK_AGE {
        return Some(format!("{} s old", age.as_secs()));
    }
    let text = fs::read_to_string(lock).ok()?;
    holder_is_gone(&text).then(|| "its process no longer exists".to_string())
}

/// If the lock at `lock` is stale ([`staleness`]), move it aside and return true.
///
/// The lock is renamed to a unique name first and judged again on the renamed file (the same
/// token, still stale): if two writers raced to break the same stale lock and one of them took
/// a fresh lock in between, the fresh lock is put back (by hard link, which fails if a new
/// lock exists).
pub fn break_if_stale(lock: &Path) -> Result<bool, RefError> {
    if staleness(lock).is_none() {
        return Ok(false);
    }
    let token = lock_token(lock);
    let mut aside = lock.as_os_str().to_os_string();
    aside.push(format!(".stale-{}", random_hex(6)));
    let aside = PathBuf::from(aside);
    match fs::rename(lock, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(io_at("breaking stale lock", lock)(e).into()),
    }
    match staleness(&aside) {
        Some(why) if lock_token(&aside) == token => {
            tracing::warn!(
                lock = %lock.display(),
                why = %why,
                holder = %describe_holder(&aside),
                "broke a stale lock left by a writer that seems to have crashed"
            );
        }
        _ => {
            let _ = fs::hard_link(&aside, lock);
        }
    }
    let _ = fs::remove_file(&aside);
    Ok(true)
}

#[cfg(test)]
#[path = "refs_tests.rs"]
mod tests;
