//! The per-action file operations of [`super::apply_actions`] other than writes (those are
//! in `writes.rs`): each re-checks its path against the scan and either acts or records why it
//! did not.

use crate::vfs::{self as fs, File};
use std::io;
use std::path::Path;

use super::writes::{Hook, Point};
use super::{
    ApplyError, ApplyReport, CHANGED, Done, Scanned, SkipKind, Skipped, io_err, with_exec,
};
use crate::filestat::{self, FileStat, Found};
use crate::fsutil;
use crate::id::ObjectId;
use crate::object::FileMeta;
use crate::paths::VaultPath;

pub(super) struct Applier<'a> {
    pub(super) root: &'a Path,
    pub(super) scanned: Scanned<'a>,
    /// Where a test steps in ([`Point`]); nothing otherwise.
    pub(super) hook: Hook<'a>,
    pub(super) report: ApplyReport,
}

impl Applier<'_> {
    pub(super) fn skip(&mut self, path: &VaultPath, reason: String) -> Result<(), ApplyError> {
        self.skip_for(Skipped::changed(path, reason))
    }

    fn skip_for(&mut self, skipped: Skipped) -> Result<(), ApplyError> {
        tracing::info!(path = %skipped.path, reason = %skipped.reason, "apply: skipped");
        self.report.skipped.push(skipped);
        Ok(())
    }

    fn done(&mut self, path: &VaultPath, stat: Option<FileStat>, id: Option<ObjectId>) {
        self.report.done.push(Done {
            path: path.clone(),
            stat,
            id,
        });
    }

    /// Check that every folder on the way to `path` is a real folder (not a symlink, not a
    /// file), creating missing ones when `create`. `Ok(Err(skipped))` means: refuse the action.
    fn parents(&self, path: &VaultPath, create: bool) -> Result<Result<(), Skipped>, ApplyError> {
        let Some(parent) = path.parent() else {
            return Ok(Ok(()));
        };
        let mut dir = self.root.to_path_buf();
        let mut rel = String::new();
        for comp in parent.components() {
            let next = dir.join(comp);
            if !rel.is_empty() {
                rel.push('/');
            }
            rel.push_str(comp);
            let denied = |rel: &str| Skipped {
                at: VaultPath::new(rel).unwrap_or_else(|_| path.clone()),
                ..Skipped::because(path, SkipKind::PermissionDenied)
            };
            let mut found = match filestat::probe(&next) {
                Ok(found) => found,
                Err(e) if super::is_denied(&e) => return Ok(Err(denied(&rel))),
                Err(e) => return Err(io_err("checking", &next)(e)),
            };
            if found == Found::Absent && create {
                match fs::create_dir(&next) {
                    Ok(()) => fsutil::fsync_dir(&dir).map_err(io_err("syncing folder", &dir))?,
                    // Someone made it meanwhile: look again at what it is.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) if super::is_denied(&e) => return Ok(Err(denied(&rel))),
                    Err(e) => return Err(io_err("creating folder", &next)(e)),
                }
                found = filestat::probe(&next).map_err(io_err("checking", &next))?;
            }
            let (kind, reason) = match found {
                Found::Dir => {
                    dir = next;
                    continue;
                }
                Found::Absent => (
                    SkipKind::Changed,
                    format!("{CHANGED} (folder `{rel}` is gone)"),
                ),
                Found::File(_) => (
                    SkipKind::FileInTheWay,
                    format!("`{rel}` is a file where a folder is needed"),
                ),
                Found::Other => (
                    SkipKind::LinkInTheWay,
                    format!("`{rel}` is a symbolic link or special file, never written through"),
                ),
            };
            let at = VaultPath::new(&rel).unwrap_or_else(|_| path.clone());
            return Ok(Err(Skipped {
                path: path.clone(),
                reason,
                kind,
                at,
            }));
        }
        Ok(Ok(()))
    }

    /// `None` if `path` still holds what the plan expects: nothing (`expect` is `None`), or the
    /// very file the scan saw (its stat, and its bytes if the stat could hide a change, see
    /// [`Scanned::still_holds`]). Otherwise why to skip.
    fn changed(
        &self,
        path: &VaultPath,
        full: &Path,
        expect: Option<&FileMeta>,
    ) -> Result<Option<Skipped>, ApplyError> {
        let found = match filestat::probe(full) {
            Ok(found) => found,
            // In a folder this user may not enter.
            Err(e) if super::is_denied(&e) => {
                return Ok(Some(Skipped::because(path, SkipKind::PermissionDenied)));
            }
            Err(e) => return Err(io_err("checking", full)(e)),
        };
        let read = || open_no_follow(full);
        Ok(SkipKind::of(path, expect, found, self.scanned, Some(&read))
            .map(|k| Skipped::because(path, k)))
    }

    /// The stat of the file at `full` if it is certainly the one apply just put there.
    fn confirm(
        &self,
        full: &Path,
        meta: &FileMeta,
        ino: u64,
    ) -> Result<Option<FileStat>, ApplyError> {
        match filestat::probe(full).map_err(io_err("checking", full))? {
            Found::File(st)
                if st.ino == ino
                    && st.size == meta.size
                    && st.mtime_ns == meta.mtime_ns
                    && st.executable == meta.executable =>
            {
                Ok(Some(st))
            }
            _ => Ok(None),
        }
    }

    pub(super) fn delete(&mut self, path: &VaultPath, expect: &FileMeta) -> Result<(), ApplyError> {
        let full = path.to_fs_path(self.root);
        if let Err(skipped) = self.parents(path, false)? {
            return self.skip_for(skipped);
        }
        if let Some(skipped) = self.changed(path, &full, Some(expect))? {
            return self.skip_for(skipped);
        }
        if let Some(skipped) = self.remove_if_unchanged(path, &full, expect)? {
            return self.skip_for(skipped);
        }
        self.remove_empty_parents(path);
        self.done(path, None, None);
        self.report.files_deleted += 1;
        Ok(())
    }

    /// Remove the file at `full` only if it is still the scanned file holding `expect`: move it
    /// aside first (so no new edit can land on it), check what was moved (its bytes too when
    /// its stat could hide a change), then unlink it or put it back.
    pub(super) fn remove_if_unchanged(
        &self,
        path: &VaultPath,
        full: &Path,
        expect: &FileMeta,
    ) -> Result<Option<Skipped>, ApplyError> {
        let Some(want) = self.scanned.stat(path) else {
            return Ok(Some(Skipped::changed(path, CHANGED.to_string())));
        };
        let aside = fsutil::temp_path_for(full);
        match fs::rename(full, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Some(Skipped::changed(path, CHANGED.to_string())));
            }
            // An immutable file, a folder this user may not change: left for the user.
            Err(e) if super::is_denied(&e) => {
                return Ok(Some(Skipped::because(path, SkipKind::PermissionDenied)));
            }
            Err(e) => return Err(io_err("moving aside", full)(e)),
        }
        let dir = full.parent().unwrap_or(self.root);
        match filestat::probe(&aside).map_err(io_err("checking", &aside))? {
            Found::File(st) if st.same_file(want) && self.holds(path, want, expect, &aside) => {
                fs::remove_file(&aside).map_err(io_err("removing", &aside))?;
                fsutil::fsync_dir(dir).map_err(io_err("syncing folder", dir))?;
                Ok(None)
            }
            _ => {
                // Edited in the instant between the check and the move: put it back.
                if fsutil::rename_no_replace(&aside, full).map_err(io_err("putting back", full))? {
                    return Ok(Some(Skipped::changed(path, CHANGED.to_string())));
                }
                // And a new file appeared at the path too: keep both, under a visible name.
                // (Cut to stay within the 255-byte name limit.)
                let name: String = path.file_name().chars().take(60).collect();
                let kept = full.with_file_name(format!("{name}.kept-{}", fsutil::random_hex(4)));
                fs::rename(&aside, &kept).map_err(io_err("keeping", &kept))?;
                let reason = format!(
                    "{CHANGED}; the edited version was kept as `{}`",
                    kept.display()
                );
                Ok(Some(Skipped::changed(path, reason)))
            }
        }
    }

    pub(super) fn rename(
        &mut self,
        from: &VaultPath,
        to: &VaultPath,
        expect: &FileMeta,
    ) -> Result<(), ApplyError> {
        let full_from = from.to_fs_path(self.root);
        let full_to = to.to_fs_path(self.root);
        if let Err(skipped) = self.parents(from, false)? {
            return self.skip_for(skipped);
        }
        if let Some(skipped) = self.changed(from, &full_from, Some(expect))? {
            return self.skip_for(skipped);
        }
        if let Err(skipped) = self.parents(to, true)? {
            return self.skip_for(skipped);
        }
        if from.fold_key() == to.fold_key()
            && let Some(want) = self.scanned.stat(from).copied()
            && matches!(filestat::probe(&full_to), Ok(Found::File(st)) if st.same_file(&want))
        {
            return self.respell(from, to, &want, expect);
        }
        if let Some(mut skipped) = self.changed(to, &full_to, None)? {
            skipped.reason = format!(
                "{} (`{to}` exists; it is never replaced by a move)",
                skipped.reason
            );
            return self.skip_for(skipped);
        }
        let Some(want) = self.scanned.stat(from).copied() else {
            return self.skip(from, CHANGED.to_string());
        };
        match fs::hard_link(&full_from, &full_to) {
            Ok(()) => {
                // The link took whatever was at `from` at that instant; if that is not the
                // scanned file, undo (the file is still at `from`, nothing is lost).
                if !matches!(filestat::probe(&full_to), Ok(Found::File(st)) if st.same_file(&want))
                    || !self.holds(from, &want, expect, &full_to)
                {
                    fs::remove_file(&full_to).map_err(io_err("undoing the link", &full_to))?;
                    return self.skip(from, CHANGED.to_string());
                }
                sync_parent(&full_to, self.root)?;
                if let Some(mut skipped) = self.remove_if_unchanged(from, &full_from, expect)? {
                    // `to` holds the scanned version and `from` the user's edit (or the file
                    // that could not be removed): both kept.
                    skipped.reason = format!(
                        "{}; `{to}` holds the version it had at the scan",
                        skipped.reason
                    );
                    return self.skip_for(skipped);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return self.skip(
                    to,
                    format!("{CHANGED} (`{to}` appeared; it is never replaced by a move)"),
                );
            }
            Err(e) if fsutil::links_unsupported(&e) => {
                if !matches!(filestat::probe(&full_to), Ok(Found::Absent)) {
                    return self.skip(to, CHANGED.to_string());
                }
                match fs::rename(&full_from, &full_to) {
                    Ok(()) => {}
                    // An immutable file, a folder this user may not change.
                    Err(e) if super::is_denied(&e) => {
                        return self.skip_for(Skipped::because(from, SkipKind::PermissionDenied));
                    }
                    Err(e) => return Err(io_err("moving", &full_from)(e)),
                }
                sync_parent(&full_to, self.root)?;
                sync_parent(&full_from, self.root)?;
            }
            Err(e) => return Err(io_err("linking", &full_to)(e)),
        }
        self.remove_empty_parents(from);
        let stat = self.confirm(&full_to, expect, want.ino)?;
        self.done(from, None, None);
        self.done(to, stat, Some(expect.id));
        self.report.files_moved += 1;
        Ok(())
    }

    /// A move between two spellings of one name that this filesystem takes for the same file
    /// (case, or Unicode normalisation, on macOS and Windows): no link can be made, and none
    /// is needed, since nothing else can be at `to`; rename(2) gives the file the new spelling
    /// (a normalising filesystem keeps its own, which the next scan knows as `to`).
    fn respell(
        &mut self,
        from: &VaultPath,
        to: &VaultPath,
        want: &FileStat,
        expect: &FileMeta,
    ) -> Result<(), ApplyError> {
        let (full_from, full_to) = (from.to_fs_path(self.root), to.to_fs_path(self.root));
        if !self.holds(from, want, expect, &full_from) {
            return self.skip(from, CHANGED.to_string());
        }
        match fs::rename(&full_from, &full_to) {
            Ok(()) => {}
            Err(e) if super::is_denied(&e) => {
                return self.skip_for(Skipped::because(from, SkipKind::PermissionDenied));
            }
            Err(e) => return Err(io_err("renaming", &full_from)(e)),
        }
        sync_parent(&full_to, self.root)?;
        let stat = self.confirm(&full_to, expect, want.ino)?;
        self.done(from, None, None);
        self.done(to, stat, Some(expect.id));
        self.report.files_moved += 1;
        Ok(())
    }

    pub(super) fn touch(
        &mut self,
        path: &VaultPath,
        meta: &FileMeta,
        expect: &FileMeta,
    ) -> Result<(), ApplyError> {
        let full = path.to_fs_path(self.root);
        if let Err(skipped) = self.parents(path, false)? {
            return self.skip_for(skipped);
        }
        if let Some(skipped) = self.changed(path, &full, Some(expect))? {
            return self.skip_for(skipped);
        }
        let file = File::open(&full).map_err(io_err("opening", &full))?;
        let m = file.metadata().map_err(io_err("reading", &full))?;
        // The handle's own stat proves it is the scanned file (not a link swapped in since).
        if !m.is_file() || self.scanned.stat(path) != Some(&FileStat::from_metadata(&m)) {
            return self.skip(path, CHANGED.to_string());
        }
        (self.hook)(Point::Touching, path).map_err(io_err("touching", &full))?;
        let mode = with_exec(m.mode() & 0o777, meta.executable);
        if mode != m.mode() & 0o777 {
            file.set_permissions(crate::vfs::Permissions::from_mode(mode))
                .map_err(io_err("setting the mode of", &full))?;
        }
        file.set_modified_ns(meta.mtime_ns)
            .map_err(io_err("setting the modification time of", &full))?;
        file.sync_all().map_err(io_err("syncing", &full))?;
        // A save in place between the check above and the new times would now carry the old
        // modification time, and its stat would pass for the touched file's: recorded as
        // holding `meta.id`, the stat cache would hide that save from every later scan (and a
        // later download would replace it). So the bytes are read again through the handle,
        // between two stats that must agree, before the stat may go into the cache.
        let stat = match self.confirm(&full, meta, m.ino())? {
            Some(st) if self.still_touched(&file, &st, meta) => Some(st),
            _ => None,
        };
        self.done(path, stat, Some(meta.id));
        Ok(())
    }

    /// Whether the touched file open as `file`, with the stat `st` apply took by its path,
    /// still holds `meta.id`: its bytes hash to it, with the handle's stat equal to `st` before
    /// and after the read (so no save came in between).
    fn still_touched(&self, file: &File, st: &FileStat, meta: &FileMeta) -> bool {
        let stat_now = || file.metadata().ok().map(|m| FileStat::from_metadata(&m));
        if stat_now().as_ref() != Some(st) {
            return false;
        }
        let held = file
            .try_clone()
            .and_then(|f| crate::scan::hash_open_file(f).map(|(id, _)| id));
        matches!(held, Ok(id) if id == meta.id) && stat_now().as_ref() == Some(st)
    }

    /// Whether the file at `at` (moved or linked from `path`, with the stat `want` the scan
    /// saw, less its ctime) still holds `expect`'s bytes, when `want` could hide a same-tick
    /// change; otherwise the stat check was enough.
    fn holds(&self, path: &VaultPath, want: &FileStat, expect: &FileMeta, at: &Path) -> bool {
        self.scanned
            .still_holds(path, want, expect, || open_no_follow(at))
    }

    /// Remove the folders that held `path` and are now empty, up to (never including) the root.
    fn remove_empty_parents(&self, path: &VaultPath) {
        let mut cur = path.parent();
        while let Some(dir) = cur {
            // Fails on a non-empty folder (or a symlink): that is where to stop.
            if fs::remove_dir(dir.to_fs_path(self.root)).is_err() {
                break;
            }
            cur = dir.parent();
        }
    }
}

fn sync_parent(full: &Path, root: &Path) -> Result<(), ApplyError> {
    let dir = full.parent().unwrap_or(root);
    fsutil::fsync_dir(dir).map_err(io_err("syncing folder", dir))
}

/// Open the file at `full` for reading, never through a symlink at its last component (the
/// folders on the way were checked by the caller).
fn open_no_follow(full: &Path) -> io::Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(full)
}
