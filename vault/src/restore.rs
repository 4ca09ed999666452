//! Bringing a kept version back from `.revisions/` (`syncd restore`) or from the history
//! (`syncd restore PATH --at`, in `restore/at.rs`), and explicit pruning of
//! `.revisions/` (`syncd revisions prune`). Both work on the vault folder only, under the vault
//! lock, so they never race a sync round; the next sync publishes what they did.
//!
//! Restore never loses a version: the file currently at the original path is first moved to a
//! new revision name (never replacing anything), then the revision's bytes are written to the
//! original path (temp file, fsync, no-replace link, fsync folder) with the current time as
//! modification time, so the restored version wins the next sync as the newest edit. The
//! revision itself stays where it is. Every folder on the way is checked to be a real folder,
//! never a symlink, so nothing outside the vault is touched.

use crate::vfs as fs;
use std::path::Path;
use std::time::Duration;

use crate::filestat::{self, FileStat, Found};
use crate::folders::{self, FolderError};
use crate::fsutil::{self, PathIoError, TempFile, io_at};
use crate::history::HistoryError;
use crate::hub::Hub;
use crate::id::ObjectId;
use crate::ignore_rules::{IgnoreError, IgnoreRules};
use crate::local::{LocalError, LocalVault};
use crate::paths::VaultPath;
use crate::revisions::{self, PrunePolicy, RevisionInfo};
use crate::scan::{Scan, ScanError, ScanOptions, scan};
use crate::statcache::StatCache;

/// How long restore and prune wait for a sync round that holds the vault lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// What [`restore`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RestoreReport {
    /// The revision that was restored (still in place).
    pub revision: VaultPath,
    /// Where its bytes now are.
    pub original: VaultPath,
    /// Where the version that was current before went; `None` when there was none (or it
    /// already had the revision's bytes).
    pub kept_current: Option<VaultPath>,
    /// The restored version's content id (a blob's, or a large file's chunk list's).
    pub id: ObjectId,
    pub size: u64,
    /// The original already held exactly these bytes: nothing was changed.
    pub already_current: bool,
}

/// The revisions in a vault folder as it is now.
#[derive(Debug, Clone, Default)]
pub struct RevisionList {
    /// Newest first.
    pub revisions: Vec<RevisionInfo>,
    /// Files in `.revisions/` whose names are not revision names.
    pub unknown: Vec<VaultPath>,
}

/// Why a restore or prune did not happen. Unless said otherwise, nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RestoreError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    #[error("{0}; nothing else was changed")]
    Io(#[from] PathIoError),
    #[error(
        "`{0}` is not a revision: restore takes a file under `.revisions/` whose name has the form `<name>.<time>.<device>.<ext>` (run `syncd revisions` to list them), or any path with `--at SNAPSHOT|TIME` to bring back its version from the history (`syncd log {0}` lists them)"
    )]
    NotARevision(VaultPath),
    #[error(
        "revision `{0}` does not exist or is not a regular file; run `syncd revisions` to list the revisions there are"
    )]
    NoRevision(VaultPath),
    #[error(
        "`{path}` is {what}; restore never writes through links or over folders, so nothing was changed: move it out of the way and restore again"
    )]
    Blocked { path: VaultPath, what: &'static str },
    #[error(
        "`{0}` changed while restoring, so nothing was changed; restore again when it is no longer being edited"
    )]
    Changed(VaultPath),
    #[error(
        "restoring `{original}` stopped part-way: {reason}. Nothing is lost: the version that was current is at `{kept}`, and the version being restored is still {remains}; deal with that, then move the kept version back or restore again"
    )]
    Unfinished {
        original: VaultPath,
        kept: VaultPath,
        /// Where the version being restored still is (`at .revisions/...`, `in snapshot ...`).
        remains: String,
        reason: String,
    },
    #[error("{0}; nothing was changed")]
    History(#[from] HistoryError),
    #[error(
        "restored {restored} of {total} files, then stopped: {reason}. The files restored are in place (each version they replaced kept as a revision); run the same restore again to finish"
    )]
    Partial {
        restored: usize,
        total: usize,
        reason: String,
    },
}

fn probe(path: &Path) -> Result<Found, RestoreError> {
    Ok(filestat::probe(path).map_err(io_at("checking", path))?)
}

/// Put the revision `revision` back at its original path, keeping the version there now as a
/// new revision. See the module docs for the order of steps; on any problem before the first
/// move nothing is changed, and every error says where each version is.
///
/// The version there now is named after the device that wrote it (see `restore/author.rs`),
/// read from the history through `hub`; without one, after this device.
pub fn restore(
    vault: &LocalVault,
    hub: Option<&dyn Hub>,
    revision: &VaultPath,
) -> Result<RestoreReport, RestoreError> {
    let _lock = vault.lock(LOCK_WAIT)?;
    let root = vault.root();
    let info = revisions::parse_revision(revision)
        .ok_or_else(|| RestoreError::NotARevision(revision.clone()))?;
    let original = info.original;

    // The revision: a regular file, reached through real folders, read whole and unchanged.
    if !check_parents(root, revision, false)? {
        return Err(RestoreError::NoRevision(revision.clone()));
    }
    let rev_full = revision.to_fs_path(root);
    let Found::File(rev_stat) = probe(&rev_full)? else {
        return Err(RestoreError::NoRevision(revision.clone()));
    };
    // Named by content (a large revision as its chunk list), read once here and once more
    // while copied; the stat is compared after both, so what was hashed is what was copied.
    let (id, size) = crate::scan::hash_file(&rev_full).map_err(io_at("reading", &rev_full))?;
    if probe(&rev_full)? != Found::File(rev_stat) || size != rev_stat.size {
        return Err(RestoreError::Changed(revision.clone()));
    }
    let source = format!("at `{revision}`");
    let mut authors = Authors::new(vault, hub, vault.base()?);
    let mut copy = |out: &mut fs::File| -> Result<(), RestoreError> {
        let mut from = fs::File::open(&rev_full).map_err(io_at("reading", &rev_full))?;
        let copied = std::io::copy(&mut from, out).map_err(io_at("copying", &rev_full))?;
        if copied != rev_stat.size || probe(&rev_full)? != Found::File(rev_stat) {
            return Err(RestoreError::Changed(revision.clone()));
        }
        Ok(())
    };
    let placed = place(
        vault,
        &original,
        id,
        &mut copy,
        rev_stat.executable,
        &source,
        &mut authors,
    )?;
    Ok(RestoreReport {
        revision: revision.clone(),
        original,
        kept_current: placed.kept_current,
        id,
        size: rev_stat.size,
        already_current: placed.already_current,
    })
}

/// What [`place`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    /// Where the version that was current went (`None`: there was none, or it was the same).
    pub kept_current: Option<VaultPath>,
    /// `original` already held exactly these bytes and mode: nothing was changed.
    pub already_current: bool,
}

/// Put the version `id` (whose bytes `write` writes to the file it is given, streaming a
/// large one) at `original` (the caller holds the vault lock), keeping the file there now as
/// a new revision: the new file is written complete and durable first, then the current one is
/// moved to a fresh revision name and the new one linked in without replacing anything; a
/// failure at the last step moves the current version back. `source` says where the version
/// being placed remains (for the message of a restore that stopped part-way); `authors` names
/// the device that wrote the version kept.
pub(crate) fn place(
    vault: &LocalVault,
    original: &VaultPath,
    id: ObjectId,
    write: &mut dyn FnMut(&mut fs::File) -> Result<(), RestoreError>,
    executable: bool,
    source: &str,
    authors: &mut Authors,
) -> Result<Placed, RestoreError> {
    let root = vault.root();
    check_parents(root, original, true)?;
    let full = original.to_fs_path(root);
    let current = match probe(&full)? {
        Found::Absent => None,
        Found::File(st) => Some(st),
        Found::Dir => return Err(blocked(original, "a folder")),
        Found::Other => return Err(blocked(original, "a symbolic link or special file")),
    };
    let mut current_id = None;
    if let Some(st) = current {
        let (found, _) = crate::scan::hash_file(&full).map_err(io_at("reading", &full))?;
        if found == id && st.executable == executable {
            return Ok(Placed {
                kept_current: None,
                already_current: true,
            });
        }
        current_id = Some(found);
    }

    // The new file, complete and durable before anything is moved.
    let mut tmp = TempFile::beside(&full).map_err(io_at("creating a temp file for", &full))?;
    let tmp_path = tmp.path().to_path_buf();
    write(tmp.file())?;
    if executable {
        let mut perms = tmp
            .file()
            .metadata()
            .map_err(io_at("reading", &tmp_path))?
            .permissions();
        let mode = perms.mode();
        perms.set_mode(mode | ((mode & 0o444) >> 2) | 0o100);
        fs::set_permissions(&tmp_path, perms).map_err(io_at("setting mode of", &tmp_path))?;
    }
    // Written just now, so its modification time is now: it wins the next sync.
    tmp.sync().map_err(io_at("syncing", &tmp_path))?;

    let kept = match (current, current_id) {
        (Some(st), Some(current_id)) => {
            let device = authors.of(original, current_id);
            Some(keep_current(vault, original, st, &device)?)
        }
        _ => None,
    };
    let placed = fsutil::rename_no_replace(&tmp_path, &full);
    if let Ok(true) = placed {
        return Ok(Placed {
            kept_current: kept,
            already_current: false,
        });
    }
    let problem = match placed {
        Err(e) => RestoreError::from(io_at("placing", &full)(e)),
        _ => RestoreError::Changed(original.clone()), // a file appeared meanwhile
    };
    // Undo the move of the current version while its place is free, so nothing changed.
    let Some(kept) = kept else {
        return Err(problem);
    };
    match fsutil::rename_no_replace(&kept.to_fs_path(root), &full) {
        Ok(true) => Err(problem),
        _ => Err(RestoreError::Unfinished {
            original: original.clone(),
            kept,
            remains: source.to_string(),
            reason: match problem {
                RestoreError::Changed(_) => {
                    "a file appeared there meanwhile and was left as it is".into()
                }
                other => other.to_string(),
            },
        }),
    }
}

/// Every folder on the way to `path` is a real folder ([`folders::check_parents`]).
fn check_parents(root: &Path, path: &VaultPath, create: bool) -> Result<bool, RestoreError> {
    folders::check_parents(root, path, create).map_err(|e| match e {
        FolderError::Io(e) => RestoreError::Io(e),
        FolderError::Blocked { path, what } => RestoreError::Blocked { path, what },
    })
}

fn blocked(path: &VaultPath, what: &'static str) -> RestoreError {
    RestoreError::Blocked {
        path: path.clone(),
        what,
    }
}

/// Move the current file at `original` (last seen with stat `st`, written by `device`) to a
/// fresh revision name.
fn keep_current(
    vault: &LocalVault,
    original: &VaultPath,
    st: FileStat,
    device: &str,
) -> Result<VaultPath, RestoreError> {
    let root = vault.root();
    let taken = |p: &VaultPath| fs::symlink_metadata(p.to_fs_path(root)).is_ok();
    let kept = revisions::revision_path(original, st.mtime_ns, device, &taken);
    check_parents(root, &kept, true)?;
    let full = original.to_fs_path(root);
    if probe(&full)? != Found::File(st) {
        return Err(RestoreError::Changed(original.clone()));
    }
    let kept_full = kept.to_fs_path(root);
    if !fsutil::rename_no_replace(&full, &kept_full).map_err(io_at("moving", &full))? {
        // The free name was taken meanwhile: nothing moved.
        return Err(RestoreError::Changed(kept));
    }
    Ok(kept)
}

/// Scan the vault folder (trusting the stat cache; nothing is written).
fn scan_folder(vault: &LocalVault) -> Result<Scan, RestoreError> {
    let rules = IgnoreRules::load(vault.root())?;
    let (cache, _) = StatCache::load(&vault.index_path());
    Ok(scan(vault.root(), &rules, &cache, ScanOptions::default())?)
}

/// The revisions in the vault folder now (of `of` only, when given), newest first, and the
/// files in `.revisions/` of unknown origin.
pub fn list(vault: &LocalVault, of: Option<&VaultPath>) -> Result<RevisionList, RestoreError> {
    let found = scan_folder(vault)?;
    Ok(RevisionList {
        revisions: revisions::list_revisions(found.files(), of),
        unknown: match of {
            None => revisions::unknown_revisions(found.files()),
            Some(_) => Vec::new(),
        },
    })
}

/// Delete the revisions `policy` selects (of `of` only, when given); with `dry_run` only say
/// which. Only files whose names parse as revisions are ever deleted, each re-checked just
/// before: still a regular file, reached through real folders, unchanged since the scan (a
/// changed one is left and reported in the log). Returns the paths removed (or to remove).
pub fn prune(
    vault: &LocalVault,
    policy: PrunePolicy,
    of: Option<&VaultPath>,
    dry_run: bool,
) -> Result<Vec<VaultPath>, RestoreError> {
    let _lock = vault.lock(LOCK_WAIT)?;
    let found = scan_folder(vault)?;
    let revs = revisions::list_revisions(found.files(), of);
    let chosen = revisions::select_prunable(&revs, policy, crate::vfs::now_ns_at(vault.root()));
    if dry_run {
        return Ok(chosen);
    }
    let root = vault.root();
    let mut removed = Vec::new();
    for path in chosen {
        let full = path.to_fs_path(root);
        let still = revisions::parse_revision(&path).is_some()
            && check_parents(root, &path, false)?
            && found
                .stats()
                .get(&path)
                .is_some_and(|st| probe(&full).ok() == Some(Found::File(*st)));
        if !still {
            tracing::warn!(%path, "revision changed since the scan; not pruned");
            continue;
        }
        fs::remove_file(&full).map_err(io_at("deleting", &full))?;
        if let Some(dir) = full.parent() {
            fsutil::fsync_dir(dir).map_err(io_at("syncing folder", dir))?;
        }
        remove_empty_folders(root, &path);
        removed.push(path);
    }
    Ok(removed)
}

/// Remove the folders above `path` inside `.revisions/` that are now empty (best effort: a
/// folder that is not empty, or cannot be removed, simply stays).
fn remove_empty_folders(root: &Path, path: &VaultPath) {
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| d.parent().is_some()) {
        if fs::remove_dir(d.to_fs_path(root)).is_err() {
            return;
        }
        dir = d.parent();
    }
}

mod at;

use crate::history::Authors;
pub use at::{FileOutcome, RestoreAtReport, RestoredFile, restore_at};

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
