//! The writes of a plan (runs of consecutive `Write` actions), in three overlapping stages:
//!
//! 1. the calling thread fetches a batch of blobs and checks every one against its id (the
//!    source is not `Send`, so it stays here);
//! 2. a preparer thread writes the batch's temp files, several files at once (rayon): each
//!    folder is opened once per batch and every file is handled by name inside it;
//! 3. a finisher thread flushes the batch (one `syncfs`, or an fsync per file for a handful),
//!    then re-checks and renames each file in action order, and records the outcome.
//!
//! So while batch k is flushed and renamed, batch k+1 is written and batch k+2 fetched: the
//! disk's flush, the kernel's file creation and the hub's reads no longer wait for each other
//! (the round's download was one thread waiting on each in turn). Folders are fsynced once per
//! run, all at once, after the last rename ([`fsutil::fsync_dirs`]): one after another they
//! were most of the download's time (800 fsyncs of 1-3 ms each). Only two batches of blobs
//! are held at once (see [`write_run`]), so peak memory is that of one large file, as before.
//! Together: the download of 20,000 notes on the 2-core development machine went from 1.8-2.0 s
//! to 1.1-1.3 s (`rsync -a`: 0.8-1.4 s on the same data at the same moments).
//!
//! What the report says is what the sequential order would have said: the finisher records
//! each batch's outcomes in action order, and the first error in action order stops the run.
//! Stages that ran ahead of an error only made temp files (removed) and maybe empty folders.

use std::collections::{BTreeSet, HashMap};
use std::ffi::CString;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{channel, sync_channel};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::{
    ApplyError, ApplyReport, BlobSource, CHANGED, Scanned, SkipKind, Skipped, fetch_batch,
    folder_of, io_err, is_denied, is_empty_blob, plan_batch, with_exec,
};
use crate::filestat::Found;
use crate::fsutil::{self, Dir};
use crate::id::ObjectId;
use crate::object::FileMeta;
use crate::paths::VaultPath;
use crate::progress::Progress;
use crate::reconcile::Action;

/// Batches of at most this many writes fsync each file; larger ones flush the filesystem once.
const FSYNC_EACH_MAX: usize = 8;

/// Where a test may step in: just before a file's temp file is created, just before its last
/// re-check, and (for an overwrite) between that re-check and the replace, where a user's save
/// races the round; for a touch, between its check of the open file and the change of its
/// times. An error returned there is the error of that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Point {
    BeforeTemp,
    BeforePlace,
    Replacing,
    Touching,
}

/// Called at each [`Point`] for each file; [`super::apply_actions`] passes one that does nothing.
/// Tests use it to edit the folder, or fail, at a precise point of a running pipeline.
pub(super) type Hook<'h> = &'h (dyn Fn(Point, &VaultPath) -> std::io::Result<()> + Sync);

/// A folder of the vault by its path (`None`: the top), a slice of a file's [`VaultPath`].
type Folder<'a> = Option<&'a str>;

fn folder_path(root: &Path, folder: Folder<'_>) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(folder.into_iter().flat_map(|f| f.split('/')));
    p
}

/// What the stages share.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    root: &'a Path,
    scanned: Scanned<'a>,
    hook: Hook<'a>,
    progress: &'a dyn Progress,
}

/// A fetched batch: the writes `start..end` of the run and their checked blobs.
struct Fetched {
    start: usize,
    end: usize,
    blobs: HashMap<ObjectId, Vec<u8>>,
    /// Large files, already in spool files; each taken by the one write that uses it.
    spools: std::sync::Mutex<HashMap<ObjectId, spool::Spool>>,
    /// The bytes of `blobs` (held in memory).
    bytes: u64,
}

/// A batch after its temp files were written.
struct Prepared<'a> {
    /// In action order; ends where `error` happened.
    outcomes: Vec<Outcome<'a>>,
    error: Option<ApplyError>,
    /// A handful of files: each is fsynced (their [`Ready::file`] is open) instead of the
    /// whole filesystem being flushed.
    fsync_each: bool,
    /// Folders that got a new sub-folder (their entry list must reach the disk too).
    grown: BTreeSet<Folder<'a>>,
}

enum Outcome<'a> {
    Skipped(Skipped),
    Ready(Ready<'a>),
}

/// A complete temp file beside its target, waiting to be renamed into place.
struct Ready<'a> {
    path: &'a VaultPath,
    meta: &'a FileMeta,
    expect: Option<&'a FileMeta>,
    name: CString,
    tmp: DirTemp,
    /// Still open when the batch fsyncs each file.
    file: Option<crate::vfs::File>,
    ino: u64,
    len: u64,
}

impl Ready<'_> {
    fn tmp_path(&self, root: &Path) -> PathBuf {
        temp_path(root, self.path, &self.tmp.name)
    }
}

/// Where the temp file `name` beside `path` is, for messages.
fn temp_path(root: &Path, path: &VaultPath, name: &std::ffi::CStr) -> PathBuf {
    let full = path.to_fs_path(root);
    let name = std::ffi::OsStr::from_bytes(name.to_bytes());
    full.parent().unwrap_or(root).join(name)
}

/// A temp file inside an open folder, removed on drop unless [`DirTemp::placed`].
struct DirTemp {
    dir: Arc<Dir>,
    name: CString,
    live: bool,
}

impl DirTemp {
    fn placed(mut self) {
        self.live = false;
    }
}

impl Drop for DirTemp {
    fn drop(&mut self) {
        if self.live {
            let _ = self.dir.remove_file(&self.name);
        }
    }
}

/// Apply the writes `run` (all `Action::Write`), adding what was done to `report`; each
/// write handled (placed or skipped) is reported to `progress` as it is recorded.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_run(
    root: &Path,
    scanned: Scanned<'_>,
    report: &mut ApplyReport,
    run: &[Action],
    source: &mut dyn BlobSource,
    batch_bytes: u64,
    hook: Hook<'_>,
    progress: &dyn Progress,
) -> Result<(), ApplyError> {
    let ctx = Ctx {
        root,
        scanned,
        hook,
        progress,
    };
    let top = Arc::new(Dir::open(root).map_err(io_err("opening the vault folder", root))?);
    // A simulated machine does one thing at a time, so that a run replays exactly: one batch,
    // whose stages then follow each other.
    let batch_bytes = if crate::vfs::is_simulated(root) {
        u64::MAX / 4
    } else {
        batch_bytes
    };
    // No more than two ordinary batches of blobs (or one file larger than that) are held at
    // once, so peak memory stays that of the largest file, as when one batch was written at a
    // time. The preparer hands each batch's blobs back, so they are freed on the thread that
    // allocated them (a per-thread allocator reuses them at once).
    let limit = batch_bytes.saturating_mul(2);
    let started = Instant::now();
    let mut fetching = Duration::ZERO;
    let mut batches = 0usize;
    let (fin, preparing) = std::thread::scope(|s| {
        // Rendezvous channels: a stage runs at most one batch ahead of the next.
        let (to_prepare, prepare_rx) = sync_channel::<Result<Fetched, ApplyError>>(0);
        let (to_finish, finish_rx) = sync_channel::<Prepared<'_>>(0);
        let (give_back, returned) = channel::<Fetched>();
        let top = &top;
        let preparer = s.spawn(move || {
            let mut preparing = Duration::ZERO;
            for fetched in prepare_rx {
                let prepared = match fetched {
                    Ok(f) => {
                        let t = Instant::now();
                        let p = prepare(ctx, top, run, &f);
                        preparing += t.elapsed();
                        let _ = give_back.send(f);
                        p
                    }
                    Err(e) => Prepared {
                        outcomes: Vec::new(),
                        error: Some(e),
                        fsync_each: true,
                        grown: BTreeSet::new(),
                    },
                };
                let stop = prepared.error.is_some();
                if to_finish.send(prepared).is_err() || stop {
                    break;
                }
            }
            preparing
        });
        let writes = run.len();
        let finisher = s.spawn(move || finish::finish_all(ctx, finish_rx, writes));
        let mut held = 0u64;
        let mut start = 0;
        'fetch: while start < run.len() {
            let plan = plan_batch(run, start, batch_bytes);
            while let Ok(done) = returned.try_recv() {
                held -= done.bytes;
            }
            while held > 0 && held.saturating_add(plan.held) > limit {
                match returned.recv() {
                    Ok(done) => held -= done.bytes,
                    // The preparer stopped: an error is on its way to the finisher.
                    Err(_) => break 'fetch,
                }
            }
            let (end, bytes) = (plan.end, plan.held);
            let t = Instant::now();
            let msg = fetch_batch(&plan, source).and_then(|blobs| {
                let spools = spool::fetch_streams(&plan, top, root, source)?;
                Ok(Fetched {
                    start,
                    end,
                    blobs,
                    spools: std::sync::Mutex::new(spools),
                    bytes,
                })
            });
            fetching += t.elapsed();
            batches += 1;
            let failed = msg.is_err();
            if to_prepare.send(msg).is_err() || failed {
                break;
            }
            held += bytes;
            start = end;
        }
        drop(to_prepare);
        let preparing = preparer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        drop(returned);
        let fin = finisher
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (fin, preparing)
    });
    let finish::Finished {
        report: done,
        dirs,
        error,
        flushes,
        flushing,
        placing,
    } = fin;
    // Moved, not copied, when it is the first run (a first download's list is 10 MiB at
    // 100,000 files, and a copy would briefly hold it twice).
    if report.done.is_empty() {
        report.done = done.done;
    } else {
        report.done.extend(done.done);
    }
    report.skipped.extend(done.skipped);
    report.files_written += done.files_written;
    report.bytes_written += done.bytes_written;
    // Every rename of the run reaches the disk here, even when the run stopped half-way.
    let mut dirs: Vec<PathBuf> = dirs.into_iter().map(|f| folder_path(root, f)).collect();
    dirs.sort();
    let t = Instant::now();
    let synced = fsutil::fsync_dirs(&dirs);
    // Where the time went, stage by stage (the stages overlap): for tuning.
    tracing::debug!(
        files = run.len(),
        batches,
        flushes,
        folders = dirs.len(),
        total = ?started.elapsed(),
        fetching = ?fetching,
        preparing = ?preparing,
        flushing = ?flushing,
        placing = ?placing,
        syncing_folders = ?t.elapsed(),
        "apply: writes"
    );
    synced.map_err(|(i, e)| io_err("syncing folder", &dirs[i])(e))?;
    match error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Why a folder on the way to a file cannot be used.
#[derive(Clone)]
enum Refusal {
    Gone(String),
    /// Not a folder a moment ago, a folder now.
    Swapped(String),
    File(String),
    Link(String),
    /// This user may not enter or change the folder.
    Denied(String),
}

impl Refusal {
    fn skipped(&self, path: &VaultPath) -> Skipped {
        let (kind, rel, reason) = match self {
            Refusal::Gone(rel) => (
                SkipKind::Changed,
                rel,
                format!("{CHANGED} (folder `{rel}` is gone)"),
            ),
            Refusal::Swapped(rel) => (
                SkipKind::Changed,
                rel,
                format!("{CHANGED} (folder `{rel}` was replaced)"),
            ),
            Refusal::File(rel) => (
                SkipKind::FileInTheWay,
                rel,
                format!("`{rel}` is a file where a folder is needed"),
            ),
            Refusal::Denied(rel) => (
                SkipKind::PermissionDenied,
                rel,
                format!("folder `{rel}`: permission denied"),
            ),
            Refusal::Link(rel) => (
                SkipKind::LinkInTheWay,
                rel,
                format!("`{rel}` is a symbolic link or special file, never written through"),
            ),
        };
        Skipped {
            path: path.clone(),
            reason,
            kind,
            at: VaultPath::new(rel).unwrap_or_else(|_| path.clone()),
        }
    }
}

type Resolved = Result<Arc<Dir>, Refusal>;

fn c_name(name: &str, full: impl FnOnce() -> PathBuf) -> Result<CString, ApplyError> {
    // A VaultPath never holds a NUL; this is for the type system.
    CString::new(name).map_err(|e| io_err("naming", &full())(std::io::Error::other(e)))
}

/// Open the folder `parent` (`None`: the vault's top), creating missing folders and refusing
/// symlinks and files on the way. Records in `grown` each folder that got a new sub-folder.
fn open_folder<'a>(
    ctx: Ctx<'_>,
    top: &Arc<Dir>,
    parent: Folder<'a>,
    grown: &mut BTreeSet<Folder<'a>>,
) -> Result<Resolved, ApplyError> {
    let Some(parent) = parent else {
        return Ok(Ok(Arc::clone(top)));
    };
    let mut dir: Option<Dir> = None;
    let mut full = ctx.root.to_path_buf();
    let mut here: Folder<'a> = None;
    let mut end = 0;
    for comp in parent.split('/') {
        full.push(comp);
        end += if end == 0 { comp.len() } else { comp.len() + 1 };
        let rel = &parent[..end];
        let name = c_name(comp, || full.clone())?;
        let at: &Dir = dir.as_ref().unwrap_or(top);
        let next = match at.open_child(&name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match at.create_dir(&name) {
                    Ok(()) => {
                        grown.insert(here);
                    }
                    // Someone made it meanwhile: look again at what it is.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) if is_denied(&e) => return Ok(Err(Refusal::Denied(rel.to_string()))),
                    Err(e) => return Err(io_err("creating folder", &full)(e)),
                }
                at.open_child(&name)
            }
            other => other,
        };
        match next {
            Ok(d) => dir = Some(d),
            Err(e)
                if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR))
                    || e.kind() == std::io::ErrorKind::NotFound =>
            {
                let (found, _) = at.stat(&name).map_err(io_err("checking", &full))?;
                let rel = rel.to_string();
                return Ok(Err(match found {
                    Found::Absent => Refusal::Gone(rel),
                    Found::File(_) => Refusal::File(rel),
                    // A folder now: it was swapped meanwhile; leave it for the next round.
                    Found::Dir => Refusal::Swapped(rel),
                    Found::Other => Refusal::Link(rel),
                }));
            }
            // A folder this user may not enter (a folder made unreadable is also what the
            // scan could not read): this path waits for the user.
            Err(e) if is_denied(&e) => return Ok(Err(Refusal::Denied(rel.to_string()))),
            Err(e) => return Err(io_err("checking", &full)(e)),
        }
        here = Some(rel);
    }
    Ok(Ok(dir.map_or_else(|| Arc::clone(top), Arc::new)))
}

/// Write the temp files of one batch. Folders are opened in action order on this thread (so
/// a folder is created once, and a failure stops at the right action), then the files are
/// written on all cores.
fn prepare<'a>(ctx: Ctx<'_>, top: &Arc<Dir>, run: &'a [Action], f: &Fetched) -> Prepared<'a> {
    let mut grown = BTreeSet::new();
    let mut folders: HashMap<Folder<'a>, Resolved> = HashMap::new();
    let mut jobs: Vec<(&'a VaultPath, &'a FileMeta, Option<&'a FileMeta>, Resolved)> = Vec::new();
    let mut error = None;
    for action in &run[f.start..f.end] {
        let Action::Write { path, meta, expect } = action else {
            continue;
        };
        let key = folder_of(path);
        let resolved = match folders.get(&key) {
            Some(r) => r.clone(),
            None => match open_folder(ctx, top, key, &mut grown) {
                Ok(r) => {
                    folders.insert(key, r.clone());
                    r
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            },
        };
        jobs.push((path, meta, expect.as_ref(), resolved));
    }
    let fsync_each = jobs.len() <= FSYNC_EACH_MAX;
    let blobs = &f.blobs;
    let spools = &f.spools;
    let results: Vec<Result<Outcome<'a>, ApplyError>> = jobs
        .into_par_iter()
        .map(|(path, meta, expect, resolved)| {
            let dir = match resolved {
                Ok(dir) => dir,
                Err(refusal) => return Ok(Outcome::Skipped(refusal.skipped(path))),
            };
            let spooled = || {
                spools
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&meta.id)
            };
            let bytes = if is_empty_blob(meta) {
                Content::Bytes(&[][..])
            } else if let Some(b) = blobs.get(&meta.id) {
                Content::Bytes(b.as_slice())
            } else if let Some(spool) = spooled() {
                Content::Spool(spool)
            } else {
                // Unreachable by construction of the batch; skipping is the safe answer.
                let reason = "its content was not fetched (internal error)".to_string();
                return Ok(Outcome::Skipped(Skipped::changed(path, reason)));
            };
            write_temp(ctx, dir, path, meta, expect, bytes, fsync_each)
        })
        .collect();
    let mut outcomes = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                // The first failure in action order; later temp files are dropped (removed).
                error = Some(e);
                break;
            }
        }
    }
    Prepared {
        outcomes,
        error,
        fsync_each,
        grown,
    }
}

/// `None` if the name holds what the plan expects: nothing (`expect` is `None`), or the very
/// file the scan saw (its stat, and the size the plan knows); else what is in the way. By stat
/// only: an overwrite checks the file again, its bytes too when its stat could hide a same-tick
/// change, once [`fsutil::Dir::replace_if`] has taken it out of the way.
fn in_the_way(
    ctx: Ctx<'_>,
    path: &VaultPath,
    expect: Option<&FileMeta>,
    found: Found,
) -> Option<Skipped> {
    SkipKind::of(path, expect, found, ctx.scanned, None).map(|kind| Skipped::because(path, kind))
}

/// What a temp file is made of: bytes at hand, or a large file's spool file.
enum Content<'b> {
    Bytes(&'b [u8]),
    Spool(spool::Spool),
}

/// Everything of one write up to the rename: a temp file beside the target with the bytes,
/// mode and mtime; closed unless `keep_open` (for an fsync by the finisher).
fn write_temp<'a>(
    ctx: Ctx<'_>,
    dir: Arc<Dir>,
    path: &'a VaultPath,
    meta: &'a FileMeta,
    expect: Option<&'a FileMeta>,
    content: Content<'_>,
    keep_open: bool,
) -> Result<Outcome<'a>, ApplyError> {
    let full = || path.to_fs_path(ctx.root);
    let name = c_name(path.file_name(), full)?;
    // Early check, so a skipped write costs no temp file.
    let (found, current_mode) = dir
        .stat(&name)
        .map_err(|e| io_err("checking", &full())(e))?;
    if let Some(skipped) = in_the_way(ctx, path, expect, found) {
        return Ok(Outcome::Skipped(skipped));
    }
    (ctx.hook)(Point::BeforeTemp, path)
        .map_err(|e| io_err("creating a temp file for", &full())(e))?;
    let made = match content {
        Content::Bytes(bytes) => dir.create_temp().and_then(|(name, mut file)| {
            if let Err(e) = file.write_all(bytes) {
                let _ = dir.remove_file(&name);
                return Err(e);
            }
            Ok((name, file))
        }),
        Content::Spool(spool) => spool::adopt(spool, &dir),
    };
    let (tmp_name, file) = match made {
        Ok(made) => made,
        // A folder this user may not write to: this path waits for the user, the rest goes on.
        Err(e) if is_denied(&e) => {
            let skipped = Skipped::because(path, SkipKind::PermissionDenied);
            return Ok(Outcome::Skipped(skipped));
        }
        Err(e) => return Err(io_err("creating a temp file for", &full())(e)),
    };
    let tmp = DirTemp {
        dir,
        name: tmp_name,
        live: true,
    };
    let tmp_path = || temp_path(ctx.root, path, &tmp.name);
    let md = file
        .metadata()
        .map_err(|e| io_err("reading", &tmp_path())(e))?;
    // An overwrite keeps the permissions the user gave the file (say 0600), new files get the
    // umask's (as created); only the executable bit comes from the plan.
    let base = if expect.is_some() {
        current_mode
    } else {
        md.mode()
    };
    let mode = with_exec(base & 0o777, meta.executable);
    if mode != md.mode() & 0o777 {
        file.set_permissions(crate::vfs::Permissions::from_mode(mode))
            .map_err(|e| io_err("setting the mode of", &tmp_path())(e))?;
    }
    file.set_modified_ns(meta.mtime_ns)
        .map_err(|e| io_err("setting the modification time of", &tmp_path())(e))?;
    Ok(Outcome::Ready(Ready {
        path,
        meta,
        expect,
        name,
        tmp,
        file: keep_open.then_some(file),
        ino: md.ino(),
        len: md.len(),
    }))
}

mod finish;
mod spool;

#[cfg(test)]
mod tests;
