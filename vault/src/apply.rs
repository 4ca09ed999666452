//! Writing a reconcile plan to the vault folder without ever losing a user's bytes.
//!
//! The plan was made from a scan; the user may have edited the folder since. So every action
//! first re-checks its path against the scan (`expect` + the scanned [`FileStat`]) and, if the
//! file changed, is skipped and left for the next round instead of overwriting anything. The
//! rules, in the spirit of restic's atomic saves and gitoxide's "apply only if the ref is still
//! what we saw":
//!
//! - Writes go to a temp file in the target's folder (data, mode, mtime), flushed to disk (one
//!   `syncfs` for a batch, an fsync each for a handful of files), the target is re-checked just
//!   before the rename, and the folder is fsynced after it (once per run of writes, after its
//!   last rename). A crash leaves the old or the new file, never a mix. New files are put in
//!   place with `link(2)`, which fails instead of replacing a file that appeared meanwhile. An
//!   overwrite never renames over the file it checked: [`crate::fsutil::Dir::replace_if`]
//!   takes the old file out of the way first (an exchange with the new one on Linux, a rename
//!   aside elsewhere) and checks it again there, where no save can reach it; a save that landed
//!   in between is put back (a plain check-then-rename lost such a save, seen by the
//!   multi-device property test under load).
//! - Moves never replace: `link(from, to)` then unlink `from`.
//! - Deletes move the file aside first and only unlink it if the moved file is still the one
//!   scanned; otherwise it is put back.
//! - Folders on the way are never followed if they are symlinks or files: a link in the vault
//!   must not lead a write outside it (writes open each folder without following links and
//!   act by name inside it). `.vault/` cannot be addressed at all ([`VaultPath`]).
//! - Blobs are fetched in batches of about half [`BATCH_BYTES`], the next batch while the
//!   current one is written (`apply/writes.rs`), and each is re-hashed before anything of its
//!   batch is written.
//!
//! - A re-check trusts an unchanged stat only when the stat cannot hide a change: on a
//!   filesystem with coarse timestamps (one second on ext3 or ext4 with 128-byte inodes, two on
//!   FAT) a same-size save within the tick of the scanned one keeps the stat. So a file whose
//!   scanned stat is racy against the scan's start ([`crate::statcache::is_racy`]) is read
//!   again and must still hash to the id the plan expects ([`Scanned::still_holds`]); every
//!   other file costs one `stat`, as before.
//!
//! - A touch re-reads the file after setting its times before its stat may go into the stat
//!   cache: a same-size save in place just before would otherwise carry the old time and pass
//!   for the touched file for good.
//!
//! What remains: a writer that opened a file before apply took it out of the way and writes
//! through that descriptor after the check (microseconds); no name protects an open file.

use crate::vfs::File;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use crate::filestat::{FileStat, Found};
use crate::hub::Hub;
use crate::id::ObjectId;
use crate::object::{FileMeta, Kind};
use crate::paths::VaultPath;
use crate::progress::{Amount, NoProgress, Phase, Progress};
use crate::reconcile::Action;
use crate::scan::{Scan, hash_open_file};
use crate::statcache::{PathMap, is_racy};

/// About how many bytes of file content (by `meta.size`) one upload pack holds, and one hub
/// request of a staging download asks for (apply itself fetches half as much at a time, see
/// `FETCH_BYTES`). Small enough that a round's peak memory stays well under 100 MiB (the
/// allocator keeps freed batches), large enough that a batch is one request and one pack for
/// hundreds of notes. A file larger than this is a batch of its own.
pub const BATCH_BYTES: u64 = 8 << 20;

/// Why a skipped action was skipped when the file changed under us.
pub const CHANGED: &str = "changed since the scan; left for the next round";

/// The error a [`BlobSource`] may return; kept open so hubs and local stores can both be sources.
pub type FetchError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Where file contents come from (the hub, or the local object store).
pub trait BlobSource {
    /// The bytes of each blob in `ids`, in the same order. Sources should verify what they
    /// return; [`apply_actions`] re-checks every blob against its id anyway.
    fn fetch(&mut self, ids: &[ObjectId]) -> Result<Vec<Vec<u8>>, FetchError>;

    /// Write the content `id` of a large file (`size` bytes, at least [`STREAM_FROM`]: chunks
    /// or, from an older version, one blob) to `out`, a new empty file, without holding it
    /// whole. Sources must check every piece against its id as they go
    /// ([`crate::content::write_content`] does): apply checks only the length, as reading a
    /// large file again to hash it would double the cost of a download. The default fetches
    /// the content whole through [`BlobSource::fetch`] and checks it (for small sources).
    fn write_to(&mut self, id: ObjectId, size: u64, out: &mut File) -> Result<(), FetchError> {
        let _ = size;
        let bytes = self
            .fetch(&[id])?
            .pop()
            .ok_or("the source sent nothing for a file")?;
        if !content_matches(id, &bytes) {
            return Err(format!("the bytes sent for {id} are not that content").into());
        }
        io::Write::write_all(out, &bytes)?;
        Ok(())
    }
}

/// Files of at least this size are written to their temp file as their content streams in
/// ([`BlobSource::write_to`]), never held in memory: every file whose id may be a chunk list.
pub const STREAM_FROM: u64 = crate::content::CHUNKED_FROM;

/// Whether `bytes` are the content `id` names: as one blob, or (from
/// [`crate::content::CHUNKED_FROM`] bytes on) as chunks.
pub fn content_matches(id: ObjectId, bytes: &[u8]) -> bool {
    ObjectId::of(bytes) == id
        || (bytes.len() as u64 >= crate::content::CHUNKED_FROM
            && crate::content::content_id(bytes, bytes.len() as u64).is_ok_and(|(c, _)| c == id))
}

/// A [`Hub`] as a blob source: one `get` per batch, each object checked to be the blob asked for.
pub struct HubBlobs<'a, H: ?Sized>(pub &'a H);

impl<H: Hub + ?Sized> BlobSource for HubBlobs<'_, H> {
    fn fetch(&mut self, ids: &[ObjectId]) -> Result<Vec<Vec<u8>>, FetchError> {
        let objects = self.0.get(ids)?;
        if objects.len() != ids.len() {
            return Err(format!("asked for {} objects, got {}", ids.len(), objects.len()).into());
        }
        let mut out = Vec::with_capacity(ids.len());
        for (id, object) in ids.iter().zip(objects) {
            crate::object::verify(*id, object.kind, Kind::Blob, &object.bytes)?;
            out.push(object.bytes);
        }
        Ok(out)
    }
}

/// What [`apply_actions`] did. On error the same report comes with the error
/// ([`ApplyError::partial`]): actions done before the failure stay done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// In action order. A move gives two entries: `from` (now absent) and `to`.
    pub done: Vec<Done>,
    pub skipped: Vec<Skipped>,
    pub files_written: usize,
    pub bytes_written: u64,
    pub files_deleted: usize,
    pub files_moved: usize,
}

/// A path the plan changed, and what it holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub path: VaultPath,
    /// The file's stat now, when it is certainly the file apply put there (same inode, size,
    /// mtime, mode); `None` for a deleted path, or when that could not be confirmed (the caller
    /// then rehashes instead of trusting the cache).
    pub stat: Option<FileStat>,
    /// The blob now at `path`; `None` when the path is now absent.
    pub id: Option<ObjectId>,
}

/// An action that was not applied, and why. Nothing was changed at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: VaultPath,
    pub reason: String,
    /// What kind of obstacle: whether starting over can help.
    pub kind: SkipKind,
    /// What stands in the way in the folder: `path` itself, or a folder on the way to it (a
    /// file or a link where a folder is needed).
    pub at: VaultPath,
}

impl Skipped {
    /// The file at `path` changed since the scan.
    pub fn changed(path: &VaultPath, reason: String) -> Skipped {
        Skipped {
            path: path.clone(),
            reason,
            kind: SkipKind::Changed,
            at: path.clone(),
        }
    }

    /// `kind` (at `path` itself), with the reason that kind gives.
    pub fn because(path: &VaultPath, kind: SkipKind) -> Skipped {
        Skipped {
            path: path.clone(),
            reason: kind.reason().to_string(),
            kind,
            at: path.clone(),
        }
    }
}

/// Why an action was skipped. Only [`SkipKind::Changed`] can go away by itself (the next
/// scan sees the edit); the others stay until the user changes something, so a round that
/// starts over because of them would only meet them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// The file changed since the scan (an edit, a file that appeared or vanished).
    Changed,
    /// A folder stands where the plan puts a file.
    FolderInTheWay,
    /// A file stands where the plan needs a folder.
    FileInTheWay,
    /// A symbolic link (or a socket, pipe, device) stands at the path or on the way to it;
    /// links are never followed or replaced.
    LinkInTheWay,
    /// The scan could not read the file here, so apply cannot tell whether replacing or
    /// removing it would lose an edit.
    Unreadable,
    /// The system refused to write here (permissions, an immutable file or folder).
    PermissionDenied,
    /// The hub holds only damaged copies of this file's bytes (never from apply: the round
    /// leaves such a write out before apply, see `sync/round/damaged.rs`).
    HubDamaged,
}

impl SkipKind {
    /// Whether starting the round over cannot help (see the type's docs).
    pub fn is_permanent(self) -> bool {
        self != SkipKind::Changed
    }

    /// A short reason for logs (the round tells the user more, with what to do).
    pub fn reason(self) -> &'static str {
        match self {
            SkipKind::Changed => CHANGED,
            SkipKind::FolderInTheWay => "a folder is where a file is to go",
            SkipKind::FileInTheWay => "a file is where a folder is needed",
            SkipKind::LinkInTheWay => "a symbolic link or special file is in the way",
            SkipKind::Unreadable => "the file here could not be read",
            SkipKind::PermissionDenied => "permission denied",
            SkipKind::HubDamaged => "the hub's copy is damaged",
        }
    }

    /// What stands at a path where the plan expects `expect` (`None`: nothing) and the folder
    /// has `found`, given what the scan saw: `None` when it is what the plan expects. With
    /// `read` (the last check before an overwrite), a stat that could hide a same-tick change
    /// since the scan is not trusted: the file must still hash to the expected id (see
    /// [`Scanned::still_holds`]).
    pub(crate) fn of(
        path: &VaultPath,
        expect: Option<&FileMeta>,
        found: Found,
        scanned: Scanned<'_>,
        read: Option<&dyn Fn() -> io::Result<File>>,
    ) -> Option<SkipKind> {
        match (expect, found) {
            (None, Found::Absent) => None,
            (Some(m), Found::File(st)) if scanned.stat(path) == Some(&st) && st.size == m.size => {
                match read {
                    Some(read) if !scanned.still_holds(path, &st, m, read) => {
                        Some(SkipKind::Changed)
                    }
                    _ => None,
                }
            }
            // Where the scan saw no file. (Where it saw one, a folder or link there now is an
            // edit made since: the next attempt sees it.)
            (None, Found::Dir) => Some(SkipKind::FolderInTheWay),
            (None, Found::Other) => Some(SkipKind::LinkInTheWay),
            // The plan knows a file here that the scan has no stat of: the scan could not
            // read it (its entry came from base).
            (Some(_), Found::File(_)) if scanned.stat(path).is_none() => Some(SkipKind::Unreadable),
            _ => Some(SkipKind::Changed),
        }
    }
}

/// Whether an I/O error means the system refuses this user the write.
pub(crate) fn is_denied(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied
        || matches!(
            e.raw_os_error(),
            Some(libc::EPERM | libc::EACCES | libc::EROFS)
        )
}

/// Why applying a plan stopped. Each variant carries the report of what was done before.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    #[error(
        "could not fetch {count} file(s) from the hub (the first is `{first}`): {source}; files already written are kept and the next sync continues from there"
    )]
    Fetch {
        first: VaultPath,
        count: usize,
        #[source]
        source: FetchError,
        partial: Box<ApplyReport>,
    },
    #[error(
        "the blob source returned {got} blob(s) for {asked} requested (the first is `{first}`); nothing of this batch was written; the hub or its client is faulty"
    )]
    SourceMiscount {
        first: VaultPath,
        asked: usize,
        got: usize,
        partial: Box<ApplyReport>,
    },
    #[error(
        "refused to write `{path}`: the bytes received hash to {actual}, but should have been {expected}; nothing of this batch was written; the hub holds damaged data or cannot be trusted, check it before syncing again"
    )]
    WrongBytes {
        path: VaultPath,
        expected: ObjectId,
        actual: ObjectId,
        partial: Box<ApplyReport>,
    },
    #[error("{action} `{}` failed: {source}; check permissions and free disk space, then sync again (files already written are kept)", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
        partial: Box<ApplyReport>,
    },
}

impl ApplyError {
    /// What was done before the error.
    pub fn partial(&self) -> &ApplyReport {
        match self {
            ApplyError::Fetch { partial, .. }
            | ApplyError::SourceMiscount { partial, .. }
            | ApplyError::WrongBytes { partial, .. }
            | ApplyError::Io { partial, .. } => partial,
        }
    }

    /// Whether running the sync again later may succeed without anyone fixing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, ApplyError::Fetch { .. } | ApplyError::Io { .. })
    }

    fn with_partial(mut self, report: ApplyReport) -> Self {
        match &mut self {
            ApplyError::Fetch { partial, .. }
            | ApplyError::SourceMiscount { partial, .. }
            | ApplyError::WrongBytes { partial, .. }
            | ApplyError::Io { partial, .. } => **partial = report,
        }
        self
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ApplyError + 'a {
    move |source| ApplyError::Io {
        action,
        path: path.to_path_buf(),
        source,
        partial: Box::default(),
    }
}

/// What the scan that produced a plan saw of the folder: the stat every file had when its id
/// was taken, and when the scan started (every id was taken after that).
#[derive(Debug, Clone, Copy)]
pub struct Scanned<'a> {
    pub stats: &'a PathMap<FileStat>,
    pub started_at_ns: i64,
}

impl<'a> Scanned<'a> {
    pub fn new(stats: &'a PathMap<FileStat>, started_at_ns: i64) -> Scanned<'a> {
        Scanned {
            stats,
            started_at_ns,
        }
    }

    /// What `scan` saw.
    pub fn of(scan: &'a Scan) -> Scanned<'a> {
        Scanned::new(scan.stats(), scan.started_at_ns)
    }

    /// The stat the scan saw at `path`.
    fn stat(&self, path: &VaultPath) -> Option<&'a FileStat> {
        self.stats.get(path)
    }

    /// Whether `now` (the stat of the file at `path` now) proves it is the file the scan saw,
    /// holding blob `expect.id`: the very stat the scan took, and, when that stat could hide a
    /// same-tick change since the scan read the file (it is racy against the scan's start), the
    /// bytes `read` returns still hash to the id. `read` is called only then; a file that
    /// cannot be read counts as changed (the action is left for the next round).
    fn still_holds(
        &self,
        path: &VaultPath,
        now: &FileStat,
        expect: &FileMeta,
        read: impl FnOnce() -> io::Result<File>,
    ) -> bool {
        if self.stat(path) != Some(now) || now.size != expect.size {
            return false;
        }
        if !is_racy(now, self.started_at_ns) {
            return true;
        }
        let held = read().and_then(|file| hash_open_file(file).map(|(id, _)| id));
        tracing::debug!(%path, same = matches!(&held, Ok(id) if *id == expect.id),
            "apply: stat could hide a same-tick change, hashed again");
        matches!(held, Ok(id) if id == expect.id)
    }
}

/// Apply `actions` in order to the vault folder at `root`. `scanned` holds the stat of every
/// file as the scan that produced the plan saw it; an action whose file no longer matches it is
/// skipped (see [`ApplyReport::skipped`]), never forced.
pub fn apply_actions(
    root: &Path,
    actions: &[Action],
    scanned: Scanned<'_>,
    source: &mut dyn BlobSource,
) -> Result<ApplyReport, ApplyError> {
    apply_actions_reporting(root, actions, scanned, source, &NoProgress)
}

/// [`apply_actions`], telling `progress` of each action handled ([`Phase::Applying`]: one
/// item per action, done or skipped, with the size of a written file as its bytes). The caller
/// begins and ends the phase.
pub fn apply_actions_reporting(
    root: &Path,
    actions: &[Action],
    scanned: Scanned<'_>,
    source: &mut dyn BlobSource,
    progress: &dyn Progress,
) -> Result<ApplyReport, ApplyError> {
    apply_inner(
        root,
        actions,
        scanned,
        source,
        FETCH_BYTES,
        &|_, _| Ok(()),
        progress,
    )
}

/// About how many bytes one [`BlobSource::fetch`] of [`apply_actions`] asks for. Half of
/// [`BATCH_BYTES`], because writing overlaps fetching: the blobs of two batches are held at
/// once (one being written, the next being fetched), as much as one batch of `BATCH_BYTES`
/// was when they took turns, so peak memory is unchanged. (Smaller batches mean more flushes
/// of the filesystem; at 2, 4 and 8 MiB the download took the same time within the noise of
/// the development machine.)
const FETCH_BYTES: u64 = BATCH_BYTES / 2;

/// [`apply_actions`] with another fetch size, so tests need few bytes for many batches.
#[cfg(test)]
fn apply_batched(
    root: &Path,
    actions: &[Action],
    scanned: Scanned<'_>,
    source: &mut dyn BlobSource,
    batch_bytes: u64,
) -> Result<ApplyReport, ApplyError> {
    apply_with(root, actions, scanned, source, batch_bytes, &|_, _| Ok(()))
}

/// [`apply_batched`] with a test's [`writes::Hook`].
#[cfg(test)]
fn apply_with(
    root: &Path,
    actions: &[Action],
    scanned: Scanned<'_>,
    source: &mut dyn BlobSource,
    batch_bytes: u64,
    hook: writes::Hook<'_>,
) -> Result<ApplyReport, ApplyError> {
    apply_inner(
        root,
        actions,
        scanned,
        source,
        batch_bytes,
        hook,
        &NoProgress,
    )
}

fn apply_inner(
    root: &Path,
    actions: &[Action],
    scanned: Scanned<'_>,
    source: &mut dyn BlobSource,
    batch_bytes: u64,
    hook: writes::Hook<'_>,
    progress: &dyn Progress,
) -> Result<ApplyReport, ApplyError> {
    // Writes report themselves as the finisher records them; the other actions below.
    let mut ap = applier::Applier {
        root,
        scanned,
        hook,
        report: ApplyReport::default(),
    };
    let mut i = 0;
    while i < actions.len() {
        let result = match &actions[i] {
            Action::Write { .. } => {
                // Writes are consecutive in a plan; the whole run goes through one pipeline.
                let run = actions[i..]
                    .iter()
                    .position(|a| !matches!(a, Action::Write { .. }))
                    .map_or(actions.len(), |n| i + n);
                let r = writes::write_run(
                    root,
                    scanned,
                    &mut ap.report,
                    &actions[i..run],
                    source,
                    batch_bytes,
                    hook,
                    progress,
                );
                i = run;
                r
            }
            Action::Delete { path, expect } => {
                i += 1;
                ap.delete(path, expect)
            }
            Action::Move { from, to, expect } => {
                i += 1;
                let r = ap.rename(from, to, expect);
                if r.is_ok() && to.as_str().starts_with(".revisions/") {
                    crate::crash_hook::point("revision-kept");
                }
                r
            }
            Action::Touch { path, meta, expect } => {
                i += 1;
                ap.touch(path, meta, expect)
            }
        };
        if let Err(e) = result {
            return Err(e.with_partial(ap.report));
        }
        if !matches!(actions[i - 1], Action::Write { .. }) {
            progress.advance(Phase::Applying, Amount::new(1, 0));
        }
    }
    Ok(ap.report)
}

/// The folder of `path`, as a slice of it (`None`: the vault's top).
fn folder_of(path: &VaultPath) -> Option<&str> {
    path.as_str().rfind('/').map(|n| &path.as_str()[..n])
}

fn is_empty_blob(meta: &FileMeta) -> bool {
    meta.size == 0 && meta.id == ObjectId::of(b"")
}

/// At most this many folders per batch: each is held open until the batch is renamed, and a
/// vault with a folder per note must not run out of file descriptors (often 1024).
const MAX_FOLDERS_PER_BATCH: usize = 128;

/// The blobs one fetch asks for: the writes `start..end` of a run of writes.
struct BatchPlan<'a> {
    ids: Vec<ObjectId>,
    /// Large files ([`STREAM_FROM`]), written to spool files as they arrive: (id, size).
    streams: Vec<(ObjectId, u64)>,
    first_path: HashMap<ObjectId, &'a VaultPath>,
    end: usize,
    /// Their size by the plan's `meta.size`.
    bytes: u64,
    /// What of it is held in memory (all but the streams).
    held: u64,
}

/// The batch of the writes from `run[start]` on: up to about `batch_bytes` of distinct blobs
/// (a larger file is a batch of its own) in at most [`MAX_FOLDERS_PER_BATCH`] folders.
fn plan_batch(run: &[Action], start: usize, batch_bytes: u64) -> BatchPlan<'_> {
    let mut plan = BatchPlan {
        ids: Vec::new(),
        streams: Vec::new(),
        first_path: HashMap::new(),
        end: run.len(),
        bytes: 0,
        held: 0,
    };
    let mut folders: HashSet<Option<&str>> = HashSet::new();
    for (i, action) in run.iter().enumerate().skip(start) {
        let Action::Write { path, meta, .. } = action else {
            continue;
        };
        let folder = folder_of(path);
        if i > start && !folders.contains(&folder) && folders.len() >= MAX_FOLDERS_PER_BATCH {
            plan.end = i;
            break;
        }
        folders.insert(folder);
        if is_empty_blob(meta) {
            continue;
        }
        if plan.first_path.contains_key(&meta.id) {
            // A spool file serves one write: a second copy of a large file waits for the next
            // batch (and streams again).
            if meta.size >= STREAM_FROM {
                plan.end = i;
                break;
            }
            continue;
        }
        if !plan.first_path.is_empty() && plan.bytes.saturating_add(meta.size) > batch_bytes {
            plan.end = i;
            break;
        }
        plan.bytes = plan.bytes.saturating_add(meta.size);
        plan.first_path.insert(meta.id, path);
        if meta.size >= STREAM_FROM {
            plan.streams.push((meta.id, meta.size));
        } else {
            plan.held = plan.held.saturating_add(meta.size);
            plan.ids.push(meta.id);
        }
    }
    plan
}

/// Fetch the blobs of `plan`, each checked against its id: the whole batch before any of it is
/// used, so a lying source gets nothing of it written.
fn fetch_batch(
    plan: &BatchPlan<'_>,
    source: &mut dyn BlobSource,
) -> Result<HashMap<ObjectId, Vec<u8>>, ApplyError> {
    let BatchPlan {
        ids, first_path, ..
    } = plan;
    let Some(first) = ids.first().map(|id| first_path[id].clone()) else {
        return Ok(HashMap::new());
    };
    let fetched = source.fetch(ids).map_err(|source| ApplyError::Fetch {
        first: first.clone(),
        count: ids.len(),
        source,
        partial: Box::default(),
    })?;
    if fetched.len() != ids.len() {
        return Err(ApplyError::SourceMiscount {
            first,
            asked: ids.len(),
            got: fetched.len(),
            partial: Box::default(),
        });
    }
    for (id, bytes) in ids.iter().zip(&fetched) {
        let actual = ObjectId::of(bytes);
        if actual != *id && !content_matches(*id, bytes) {
            return Err(ApplyError::WrongBytes {
                path: first_path[id].clone(),
                expected: *id,
                actual,
                partial: Box::default(),
            });
        }
    }
    Ok(ids.iter().copied().zip(fetched).collect())
}

/// `mode` with the executable bits set (wherever it is readable, at least for the owner) or
/// cleared.
fn with_exec(mode: u32, executable: bool) -> u32 {
    if executable {
        mode | ((mode & 0o444) >> 2) | 0o100
    } else {
        mode & !0o111
    }
}

mod applier;
mod writes;

#[cfg(test)]
mod tests;

/// A time in nanoseconds as `filetime` takes it (tests set times with it).
#[cfg(test)]
fn filetime_of(ns: i64) -> filetime::FileTime {
    const NS: i64 = 1_000_000_000;
    // rem_euclid is in 0..NS, so it fits in u32.
    filetime::FileTime::from_unix_time(ns.div_euclid(NS), ns.rem_euclid(NS) as u32)
}
