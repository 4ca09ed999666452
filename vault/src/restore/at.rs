//! `syncd restore PATH --at SNAPSHOT|TIME`: any version of any path in the history (a deleted
//! file, a whole folder) put back in the vault folder, under the vault lock.
//!
//! Each file goes through the same step as a restore from `.revisions/` ([`super::place`]):
//! the version there now is moved to a new revision name, the old bytes are written with
//! temp + fsync + no-replace link and the current time, so the next sync publishes them like
//! any edit. For a folder, every file it held then is restored; files added to it since are
//! left alone (restoring never deletes). A file already as it was is not touched and needs no
//! download. Blobs come from this device's store or the hub, in batches, each hash-checked;
//! a large file is streamed chunk by chunk into its temp file (never held whole).
//! One file that cannot be written (a folder or link in its way) is reported and the others
//! are still restored.

use std::io::Write;

use crate::apply::BATCH_BYTES;
use crate::filestat::{self, Found};
use crate::folders;
use crate::history::at::{At, node, resolve};
use crate::history::{HistoryError, Node, Objects};
use crate::hub::Hub;
use crate::id::ObjectId;
use crate::local::LocalVault;
use crate::object::FileMeta;
use crate::paths::VaultPath;

use super::{Authors, LOCK_WAIT, RestoreError, place};

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOutcome {
    /// The old version is in place; the one it replaced, if any, is in `kept_current`.
    Restored,
    /// The file already held that version: nothing was done.
    Unchanged,
    /// It could not be written (see `error`); nothing changed at that path.
    Failed,
}

/// One file of a [`restore_at`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RestoredFile {
    pub path: VaultPath,
    /// The restored version's blob and size.
    pub id: ObjectId,
    pub size: u64,
    pub outcome: FileOutcome,
    /// Where the version that was at `path` went.
    pub kept_current: Option<VaultPath>,
    pub error: Option<String>,
}

/// What [`restore_at`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RestoreAtReport {
    /// The path asked for (a file or a folder).
    pub path: VaultPath,
    /// The snapshot the versions come from, its time (ns since the Unix epoch) and device.
    pub snapshot: ObjectId,
    pub time_ns: i64,
    pub device_name: String,
    /// Every file restored, by path.
    pub files: Vec<RestoredFile>,
    pub restored: usize,
    pub unchanged: usize,
    pub failed: usize,
}

/// Put `path` back as it was at `at` (see the module docs). Errors before the first file is
/// written change nothing; a failure to fetch part-way says how many files were restored.
pub fn restore_at(
    vault: &LocalVault,
    hub: &dyn Hub,
    path: &VaultPath,
    at: &At,
) -> Result<RestoreAtReport, RestoreError> {
    let _lock = vault.lock(LOCK_WAIT)?;
    let mut objects = Objects::new(vault, hub)?;
    let snapshot = resolve(&mut objects, at)?;
    let files = match node(&mut objects, &snapshot, path)? {
        Node::File(meta) => vec![(path.clone(), meta)],
        Node::Dir(dir) => objects.files_under(dir, path)?,
    };
    let mut report = RestoreAtReport {
        path: path.clone(),
        snapshot: snapshot.snapshot,
        time_ns: snapshot.time_ns,
        device_name: snapshot.device_name.clone(),
        files: Vec::new(),
        restored: 0,
        unchanged: 0,
        failed: 0,
    };
    let mut authors = Authors::new(vault, Some(hub), vault.base()?);
    let source = |p: &VaultPath| {
        format!(
            "in snapshot {short} of the history (`syncd show {p} --at {short}` prints it)",
            short = snapshot.snapshot.short()
        )
    };
    let (todo, same): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|(p, meta)| !already(vault, p, meta));
    for (p, meta) in same {
        report
            .files
            .push(outcome(p, &meta, FileOutcome::Unchanged, None, None));
    }
    let total = todo.len();
    // Small files in batches of about BATCH_BYTES; a large one streamed alone, chunk by
    // chunk, into its temp file.
    let (large, small): (Vec<_>, Vec<_>) = todo
        .into_iter()
        .partition(|(_, m)| m.size >= crate::content::CHUNKED_FROM);
    let stopped = |report: &RestoreAtReport, e: HistoryError| {
        if report.restored == 0 {
            RestoreError::from(e)
        } else {
            RestoreError::Partial {
                restored: report.restored,
                total,
                reason: e.to_string(),
            }
        }
    };
    let mut rest = small.as_slice();
    while !rest.is_empty() {
        let mut size = 0;
        let n = rest
            .iter()
            .take_while(|(_, m)| {
                size += m.size;
                size <= BATCH_BYTES
            })
            .count()
            .max(1);
        let (batch, tail) = rest.split_at(n);
        rest = tail;
        let ids: Vec<ObjectId> = batch.iter().map(|(_, m)| m.id).collect();
        let blobs = objects.bytes(&ids).map_err(|e| stopped(&report, e))?;
        for ((p, meta), bytes) in batch.iter().zip(blobs) {
            let mut write = |out: &mut crate::vfs::File| {
                out.write_all(&bytes)
                    .map_err(|e| RestoreError::from(HistoryError::Write(e)))
            };
            let placed = place(
                vault,
                p,
                meta.id,
                &mut write,
                meta.executable,
                &source(p),
                &mut authors,
            );
            report.files.push(placed_outcome(p, meta, placed));
        }
        report.restored = count(&report.files, FileOutcome::Restored);
    }
    for (p, meta) in &large {
        // A failure to read the history stops the restore (as a failed batch fetch does);
        // one to write this file fails only this file.
        let mut fetch_failed = None;
        let mut write = |out: &mut crate::vfs::File| {
            match objects.write_file(meta.id, out) {
                Ok(_) => Ok(()),
                Err(e @ HistoryError::Write(_)) => Err(RestoreError::from(e)),
                Err(e) => {
                    fetch_failed = Some(e);
                    // Never shown: the restore stops with `fetch_failed` below.
                    Err(RestoreError::Changed(p.clone()))
                }
            }
        };
        let placed = place(
            vault,
            p,
            meta.id,
            &mut write,
            meta.executable,
            &source(p),
            &mut authors,
        );
        if let Some(e) = fetch_failed {
            return Err(stopped(&report, e));
        }
        report.files.push(placed_outcome(p, meta, placed));
        report.restored = count(&report.files, FileOutcome::Restored);
    }
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    report.restored = count(&report.files, FileOutcome::Restored);
    report.unchanged = count(&report.files, FileOutcome::Unchanged);
    report.failed = count(&report.files, FileOutcome::Failed);
    Ok(report)
}

/// The outcome of one [`place`].
fn placed_outcome(
    p: &VaultPath,
    meta: &FileMeta,
    placed: Result<super::Placed, RestoreError>,
) -> RestoredFile {
    match placed {
        Ok(placed) if placed.already_current => {
            outcome(p.clone(), meta, FileOutcome::Unchanged, None, None)
        }
        Ok(placed) => outcome(
            p.clone(),
            meta,
            FileOutcome::Restored,
            placed.kept_current,
            None,
        ),
        // Nothing was changed at that path, or the message says where each version is.
        Err(e) => outcome(
            p.clone(),
            meta,
            FileOutcome::Failed,
            None,
            Some(e.to_string()),
        ),
    }
}

fn count(files: &[RestoredFile], what: FileOutcome) -> usize {
    files.iter().filter(|f| f.outcome == what).count()
}

fn outcome(
    path: VaultPath,
    meta: &FileMeta,
    outcome: FileOutcome,
    kept_current: Option<VaultPath>,
    error: Option<String>,
) -> RestoredFile {
    RestoredFile {
        path,
        id: meta.id,
        size: meta.size,
        outcome,
        kept_current,
        error,
    }
}

/// Whether the file at `path` already holds that version (bytes and mode), reached through
/// real folders; any doubt is "no", and [`place`] checks again before writing.
fn already(vault: &LocalVault, path: &VaultPath, meta: &FileMeta) -> bool {
    let root = vault.root();
    if !matches!(folders::check_parents(root, path, false), Ok(true)) {
        return false;
    }
    let full = path.to_fs_path(root);
    match filestat::probe(&full) {
        Ok(Found::File(st)) if st.size == meta.size && st.executable == meta.executable => {
            crate::scan::hash_file(&full).is_ok_and(|(id, _)| id == meta.id)
        }
        _ => false,
    }
}
