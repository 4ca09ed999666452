//! Changing one task on disk: done, undone, added.
//!
//! Each change holds the vault lock (so no sync round applies a remote version of the note
//! half-way through it), reads the note and checks it did not change while it was read, makes
//! the new text with [`crate::markdown::edit`] (which refuses a task whose line changed), writes
//! it to a temp file beside the note (fsynced, the note's permissions kept) and puts it in place
//! of the note only if the note is still the one read, also in the instant of the replace
//! ([`crate::fsutil::Dir::replace_if`]), then fsyncs the folder. A new note
//! (the inbox that does not exist yet) is put in place with a no-replace link, so a note created
//! meanwhile is never overwritten. The rest is the sync's business: the change is an ordinary
//! edit of the folder.

use crate::vfs as fs;
use std::ffi::CStr;
use std::io::{Read, Write};
use std::path::Path;

use jiff::civil::Date;

use super::TaskError;
use super::list::{ListedTask, list};
use crate::filestat::{self, FileStat, Found};
use crate::folders::{self, FolderError};
use crate::fsutil::{self, Replaced, TempFile, io_at};
use crate::local::LocalVault;
use crate::markdown::{
    EditError, Task, append_task, is_task_source, mark_done, mark_undone, parse_note,
};
use crate::paths::VaultPath;
use crate::restore::LOCK_WAIT;

/// What a task command changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskChange {
    pub path: VaultPath,
    /// The task as the note holds it now (with its new id).
    pub task: Task,
    /// The task as it was (`None` for a new task).
    pub before: Option<Task>,
    /// The next occurrence a recurring task got when it was marked done.
    pub next: Option<Task>,
    /// The note did not exist and was created.
    pub created: bool,
}

/// Mark the task `typed` names done on `today` (a recurring one gets its next occurrence).
pub fn complete(vault: &LocalVault, typed: &str, today: Date) -> Result<TaskChange, TaskError> {
    change_listed(vault, typed, |text, task| mark_done(text, task, today))
}

/// Mark the done task `typed` names as not done.
pub fn reopen(vault: &LocalVault, typed: &str) -> Result<TaskChange, TaskError> {
    change_listed(vault, typed, mark_undone)
}

/// Append `line` (from [`crate::markdown::new_task_line`]) to the note at `note`, creating the
/// note (and its folders) if it does not exist.
pub fn add(vault: &LocalVault, note: &VaultPath, line: &str) -> Result<TaskChange, TaskError> {
    if !is_task_source(note) {
        return Err(TaskError::NotANote(note.clone()));
    }
    if line.trim().trim_start_matches("- [ ]").trim().is_empty() {
        return Err(TaskError::EmptyTask);
    }
    let _lock = vault.lock(LOCK_WAIT)?;
    let root = vault.root();
    folders::check_parents(root, note, true).map_err(folder_error)?;
    let current = read_note(root, note)?;
    let before = current.as_ref().map_or("", |(text, _)| text.as_str());
    let new_text = append_task(before, line);
    let parsed = parse_note(note, &new_text);
    let Some(task) = parsed
        .tasks
        .into_iter()
        .find(|t| t.line_span.start >= before.len())
    else {
        return Err(TaskError::NotATaskThere(note.clone()));
    };
    let created = current.is_none();
    match current {
        Some((ref text, stat)) => replace(root, note, stat, text, &new_text)?,
        None => create(root, note, &new_text)?,
    }
    Ok(TaskChange {
        path: note.clone(),
        task,
        before: None,
        next: None,
        created,
    })
}

/// Find the task `typed` names across the vault, then change it with `edit` under the lock.
fn change_listed(
    vault: &LocalVault,
    typed: &str,
    edit: impl Fn(&str, &Task) -> Result<String, EditError>,
) -> Result<TaskChange, TaskError> {
    let ListedTask { path, task: listed } = list(vault)?.resolve(typed)?;
    let _lock = vault.lock(LOCK_WAIT)?;
    let root = vault.root();
    folders::check_parents(root, &path, false).map_err(folder_error)?;
    let Some((text, stat)) = read_note(root, &path)? else {
        return Err(TaskError::Changed(path));
    };
    let old = parse_note(&path, &text);
    // The note may have changed since it was listed; only the very same line will do.
    let Some(task) = old.tasks.iter().find(|t| t.id == listed.id) else {
        return Err(TaskError::Edit {
            path,
            source: EditError::Stale { line: listed.line },
        });
    };
    let new_text = edit(&text, task).map_err(|source| TaskError::Edit {
        path: path.clone(),
        source,
    })?;
    replace(root, &path, stat, &text, &new_text)?;

    // A recurring task's next occurrence is one more task, right above it.
    let new = parse_note(&path, &new_text);
    let inserted = new.tasks.len() > old.tasks.len();
    let shift = usize::from(inserted);
    let find = |line: usize| new.tasks.iter().find(|t| t.line == line).cloned();
    let changed = find(task.line + shift).ok_or_else(|| TaskError::Edit {
        path: path.clone(),
        source: EditError::Stale { line: task.line },
    })?;
    Ok(TaskChange {
        path: path.clone(),
        task: changed,
        before: Some(task.clone()),
        next: if inserted { find(task.line) } else { None },
        created: false,
    })
}

fn folder_error(e: FolderError) -> TaskError {
    match e {
        FolderError::Io(e) => TaskError::Io(e),
        FolderError::Blocked { path, what } => TaskError::Blocked { path, what },
    }
}

/// The note's text and the stat it had while it was read; `None` if there is no note.
fn read_note(root: &Path, path: &VaultPath) -> Result<Option<(String, FileStat)>, TaskError> {
    let full = path.to_fs_path(root);
    let stat = match filestat::probe(&full).map_err(io_at("checking", &full))? {
        Found::Absent => return Ok(None),
        Found::File(stat) => stat,
        Found::Dir => return Err(blocked(path, "a folder")),
        Found::Other => return Err(blocked(path, "a symbolic link or special file")),
    };
    let bytes = fs::read(&full).map_err(io_at("reading", &full))?;
    let after = filestat::probe(&full).map_err(io_at("checking", &full))?;
    if after != Found::File(stat) || bytes.len() as u64 != stat.size {
        return Err(TaskError::Changed(path.clone()));
    }
    let text = String::from_utf8(bytes).map_err(|_| TaskError::NotText(path.clone()))?;
    Ok(Some((text, stat)))
}

fn blocked(path: &VaultPath, what: &'static str) -> TaskError {
    TaskError::Blocked {
        path: path.clone(),
        what,
    }
}

/// A durable temp file beside `full` holding `text`.
fn temp_with(full: &Path, text: &str) -> Result<TempFile, TaskError> {
    let mut tmp = TempFile::beside(full).map_err(io_at("creating a temp file for", full))?;
    let tmp_path = tmp.path().to_path_buf();
    tmp.file()
        .write_all(text.as_bytes())
        .map_err(io_at("writing", &tmp_path))?;
    Ok(tmp)
}

/// Put `text` at `path` in place of the note last seen with `stat` holding `before`, keeping
/// its permissions; refused (nothing written) if the note changed since, even in the instant
/// of the replace ([`TempFile::replace_if`]).
fn replace(
    root: &Path,
    path: &VaultPath,
    stat: FileStat,
    before: &str,
    text: &str,
) -> Result<(), TaskError> {
    let full = path.to_fs_path(root);
    let mode = fs::symlink_metadata(&full)
        .map_err(io_at("checking", &full))?
        .permissions()
        .mode();
    let mut tmp = temp_with(&full, text)?;
    let tmp_path = tmp.path().to_path_buf();
    fs::set_permissions(&tmp_path, crate::vfs::Permissions::from_mode(mode & 0o7777))
        .map_err(io_at("setting the mode of", &tmp_path))?;
    // The last look before the replace: an editor's save since the read wins, untouched.
    if filestat::probe(&full).map_err(io_at("checking", &full))? != Found::File(stat) {
        return Err(TaskError::Changed(path.clone()));
    }
    // And a save in the instant after that look: the note is checked again (its bytes too)
    // once it is out of the way.
    let expected = |dir: &fsutil::Dir, at: &CStr| -> std::io::Result<bool> {
        Ok(match dir.stat(at)?.0 {
            Found::File(st) if st.same_file(&stat) => {
                let mut bytes = Vec::with_capacity(before.len());
                dir.open_read(at)?.read_to_end(&mut bytes)?;
                bytes == before.as_bytes()
            }
            _ => false,
        })
    };
    match tmp
        .replace_if(&full, &expected)
        .map_err(io_at("replacing", &full))?
    {
        Replaced::Done => Ok(()),
        Replaced::Gone | Replaced::Changed { .. } => Err(TaskError::Changed(path.clone())),
    }
}

/// Put `text` at `path`, where there was no file; refused if one appeared meanwhile.
fn create(root: &Path, path: &VaultPath, text: &str) -> Result<(), TaskError> {
    let full = path.to_fs_path(root);
    let mut tmp = temp_with(&full, text)?;
    let tmp_path = tmp.path().to_path_buf();
    tmp.sync().map_err(io_at("syncing", &tmp_path))?;
    if !tmp
        .place_unsynced(&full)
        .map_err(io_at("creating", &full))?
    {
        return Err(TaskError::Changed(path.clone()));
    }
    let folder = full.parent().unwrap_or(root);
    fsutil::fsync_dir(folder).map_err(io_at("syncing folder", folder))?;
    Ok(())
}
