//! The finisher stage of [`super::write_run`]: flush, last re-check, rename, record.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::{Ctx, Folder, Outcome, Point, Prepared, Ready, in_the_way, temp_path};
use crate::apply::{
    ApplyError, ApplyReport, CHANGED, Done, SkipKind, Skipped, folder_of, io_err, is_denied,
};
use crate::filestat::Found;
use crate::fsutil::{self, Replaced};
use crate::paths::VaultPath;
use crate::progress::{Amount, Phase};

/// What the finisher did.
#[derive(Default)]
pub(super) struct Finished<'a> {
    pub(super) report: ApplyReport,
    /// Folders whose entries changed: fsynced at the end of the run.
    pub(super) dirs: HashSet<Folder<'a>>,
    pub(super) error: Option<ApplyError>,
    /// How often and how long the filesystem was flushed, and the time spent renaming.
    pub(super) flushes: usize,
    pub(super) flushing: Duration,
    pub(super) placing: Duration,
}

/// Record, flush and rename the prepared batches in order, until the channel closes or a step
/// fails. Batches that are ready together share one flush of the filesystem.
/// `writes`: how many writes the run has, each recorded once (reserved up front: grown by
/// doubling, a first download's list would take a third more than it needs).
pub(super) fn finish_all<'a>(
    ctx: Ctx<'_>,
    rx: Receiver<Prepared<'a>>,
    writes: usize,
) -> Finished<'a> {
    let mut fin = Finished::default();
    fin.report.done.reserve_exact(writes);
    while let Ok(first) = rx.recv() {
        let mut batches = vec![first];
        while batches.last().is_some_and(|b| b.error.is_none())
            && let Ok(more) = rx.try_recv()
        {
            batches.push(more);
        }
        if let Err(e) = finish_batches(ctx, batches, &mut fin) {
            fin.error = Some(e);
            break;
        }
    }
    fin
}

fn skip(fin: &mut Finished<'_>, path: &VaultPath, reason: String) {
    skip_for(fin, Skipped::changed(path, reason));
}

fn skip_for(fin: &mut Finished<'_>, skipped: Skipped) {
    tracing::info!(path = %skipped.path, reason = %skipped.reason, "apply: skipped");
    fin.report.skipped.push(skipped);
}

/// The batches in order, each as if alone: its skips from preparing, then (once its temp files
/// are on disk) its renames; the first error stops. The filesystem is flushed once, just before
/// the first rename that needs it, and that covers every batch at hand (all were written).
fn finish_batches<'a>(
    ctx: Ctx<'_>,
    batches: Vec<Prepared<'a>>,
    fin: &mut Finished<'a>,
) -> Result<(), ApplyError> {
    let mut flushed = false;
    for batch in batches {
        fin.dirs.extend(batch.grown);
        let mut outcomes = batch.outcomes;
        let mut error = batch.error;
        let t = Instant::now();
        let fsynced = if batch.fsync_each {
            fsync_ready(ctx, &outcomes)
        } else {
            Ok(())
        };
        fin.flushing += t.elapsed();
        if let Err((at, e)) = fsynced {
            // As if this file's fsync had failed while preparing: what came before it counts.
            outcomes.truncate(at);
            error = Some(e);
        }
        let mut ready = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            match outcome {
                Outcome::Skipped(skipped) => {
                    skip_for(fin, skipped);
                    ctx.progress.advance(Phase::Applying, Amount::new(1, 0));
                }
                Outcome::Ready(r) => ready.push(r),
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        if ready.is_empty() {
            continue;
        }
        if !batch.fsync_each && !flushed {
            let t = Instant::now();
            fsutil::sync_filesystem(ctx.root)
                .map_err(io_err("flushing the files written under", ctx.root))?;
            fin.flushing += t.elapsed();
            fin.flushes += 1;
            flushed = true;
        }
        let t = Instant::now();
        for r in ready {
            let len = r.len;
            place(ctx, r, fin)?;
            ctx.progress.advance(Phase::Applying, Amount::new(1, len));
        }
        fin.placing += t.elapsed();
    }
    Ok(())
}

/// fsync the open temp files of a small batch, all at once. On failure, the index of the first
/// failing file's outcome and the error.
fn fsync_ready(ctx: Ctx<'_>, outcomes: &[Outcome<'_>]) -> Result<(), (usize, ApplyError)> {
    let files: Vec<(usize, &crate::vfs::File)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(i, o)| match o {
            Outcome::Ready(r) => r.file.as_ref().map(|f| (i, f)),
            Outcome::Skipped(..) => None,
        })
        .collect();
    let handles: Vec<&crate::vfs::File> = files.iter().map(|(_, f)| *f).collect();
    fsutil::fsync_files(&handles).map_err(|(n, e)| {
        let at = files[n].0;
        let path = match &outcomes[at] {
            Outcome::Ready(r) => r.tmp_path(ctx.root),
            Outcome::Skipped(skipped) => skipped.path.to_fs_path(ctx.root),
        };
        (at, io_err("syncing", &path)(e))
    })
}

/// The re-check that matters (as late as possible) and the rename: in place of the scanned
/// file for an overwrite, only if the file taken out of the way is still that file
/// ([`fsutil::Dir::replace_if`]), with `link(2)` for a new file, which fails instead of
/// replacing a file that appeared meanwhile.
fn place<'a>(ctx: Ctx<'_>, mut r: Ready<'a>, fin: &mut Finished<'a>) -> Result<(), ApplyError> {
    drop(r.file.take());
    let full = || r.path.to_fs_path(ctx.root);
    let action = if r.expect.is_some() {
        "replacing"
    } else {
        "putting in place"
    };
    (ctx.hook)(Point::BeforePlace, r.path).map_err(|e| io_err(action, &full())(e))?;
    // Fsynced at the end of the run whatever happens next: a rename that succeeds but is
    // followed by an error must reach the disk too.
    fin.dirs.insert(folder_of(r.path));
    let dir = Arc::clone(&r.tmp.dir);
    if r.expect.is_some() {
        let (found, _) = dir
            .stat(&r.name)
            .map_err(|e| io_err("checking", &full())(e))?;
        // By stat: the replace below checks the file again, its bytes too when its stat could
        // hide a change, once it is out of the way.
        if let Some(skipped) = in_the_way(ctx, r.path, r.expect, found) {
            drop(r.tmp);
            skip_for(fin, skipped);
            return Ok(());
        }
        (ctx.hook)(Point::Replacing, r.path).map_err(|e| io_err(action, &full())(e))?;
        // A save can still land between that check and the replace: the replace takes the old
        // file out of the way first and checks it again where no save reaches it.
        let (Some(want), Some(expect)) = (ctx.scanned.stat(r.path), r.expect) else {
            drop(r.tmp);
            skip(fin, r.path, CHANGED.to_string());
            return Ok(());
        };
        let expected = |dir: &fsutil::Dir, at: &std::ffi::CStr| -> std::io::Result<bool> {
            Ok(match dir.stat(at)?.0 {
                Found::File(st) => {
                    st.same_file(want)
                        && ctx
                            .scanned
                            .still_holds(r.path, want, expect, || dir.open_read(at))
                }
                _ => false,
            })
        };
        match dir.replace_if(&r.tmp.name, &r.name, &expected) {
            Ok(Replaced::Done) => {}
            Ok(Replaced::Gone) => {
                drop(r.tmp);
                skip(fin, r.path, CHANGED.to_string());
                return Ok(());
            }
            Ok(Replaced::Changed { kept }) => {
                drop(r.tmp);
                let reason = match kept {
                    None => CHANGED.to_string(),
                    Some(kept) => format!(
                        "{CHANGED}; another version saved meanwhile was kept as `{}`",
                        temp_path(ctx.root, r.path, &kept).display()
                    ),
                };
                skip(fin, r.path, reason);
                return Ok(());
            }
            // An immutable file, a folder this user may not change: left for the user.
            Err(e) if is_denied(&e) => {
                drop(r.tmp);
                skip_for(fin, Skipped::because(r.path, SkipKind::PermissionDenied));
                return Ok(());
            }
            Err(e) => return Err(io_err("replacing", &full())(e)),
        }
        r.tmp.placed();
    } else {
        match dir.link(&r.tmp.name, &r.name) {
            Ok(()) => {
                dir.remove_file(&r.tmp.name)
                    .map_err(|e| io_err("putting in place", &full())(e))?;
                r.tmp.placed();
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                drop(r.tmp);
                // Something appeared: a file (an edit, for the next round) or a folder or link.
                let (found, _) = dir
                    .stat(&r.name)
                    .map_err(|e| io_err("checking", &full())(e))?;
                let skipped = in_the_way(ctx, r.path, None, found)
                    .unwrap_or_else(|| Skipped::changed(r.path, CHANGED.to_string()));
                skip_for(fin, skipped);
                return Ok(());
            }
            // No hard links here (FAT, some network mounts): check, then rename (a short race).
            Err(e) if fsutil::links_unsupported(&e) => {
                let (found, _) = dir
                    .stat(&r.name)
                    .map_err(|e| io_err("checking", &full())(e))?;
                if found != Found::Absent {
                    drop(r.tmp);
                    skip(fin, r.path, CHANGED.to_string());
                    return Ok(());
                }
                dir.rename(&r.tmp.name, &r.name)
                    .map_err(|e| io_err("putting in place", &full())(e))?;
                r.tmp.placed();
            }
            Err(e) if is_denied(&e) => {
                drop(r.tmp);
                skip_for(fin, Skipped::because(r.path, SkipKind::PermissionDenied));
                return Ok(());
            }
            Err(e) => return Err(io_err("putting in place", &full())(e)),
        }
    }
    // The stat for the cache, only if it is certainly the file just placed.
    let stat = match dir
        .stat(&r.name)
        .map_err(|e| io_err("checking", &full())(e))?
        .0
    {
        Found::File(st)
            if st.ino == r.ino
                && st.size == r.meta.size
                && st.mtime_ns == r.meta.mtime_ns
                && st.executable == r.meta.executable =>
        {
            Some(st)
        }
        _ => None,
    };
    fin.report.done.push(Done {
        path: r.path.clone(),
        stat,
        id: Some(r.meta.id),
    });
    fin.report.files_written += 1;
    fin.report.bytes_written += r.len;
    Ok(())
}
