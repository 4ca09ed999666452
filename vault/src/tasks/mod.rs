//! The tasks of a whole vault folder: listing them fast, and changing one on disk safely.
//!
//! [`crate::markdown`] reads and edits the text of one note with no I/O; this module is the
//! edge that brings it to the folder:
//! - [`list`] finds every note that can hold tasks with the ordinary scan (so the vault's ignore
//!   rules apply and `.revisions/` is left out) and takes each note's tasks from the task index
//!   ([`index`]) by the note's blob id, parsing only notes whose content it has not seen. With
//!   the stat cache warm, a listing of an unchanged vault reads no note at all: it costs a stat
//!   walk and one read of the index.
//! - [`query`] filters and sorts what was listed (pure).
//! - [`write`] marks a task done or undone and adds a task: under the vault lock, the note read
//!   and parsed again, the edit refused if the task's line changed, the new text written to a
//!   temp file beside the note and renamed over it only if the note is still what was read.
//!   The change is then an ordinary edit of the folder: the next sync round (the agent's within
//!   a second) publishes it, and it conflicts like any hand edit.

pub mod index;
pub mod list;
mod packed;
pub mod query;
mod stored;
pub mod write;

use crate::fsutil::PathIoError;
use crate::ignore_rules::IgnoreError;
use crate::local::LocalError;
use crate::markdown::EditError;
use crate::paths::VaultPath;
use crate::scan::ScanError;

pub use list::{ListStats, ListedTask, Selection, VaultTasks, list};
pub use packed::PackedTasks;
pub use query::{PathFilter, StateFilter, TaskQuery, task_order, urgency_key};
pub use write::{TaskChange, add, complete, reopen};

/// Why a task command did nothing. Nothing in the vault was changed in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    #[error("{0}; nothing was changed")]
    Io(#[from] PathIoError),
    #[error(
        "no task has the id `{0}`; ids change whenever a task's line is edited (also by done and \
         undo), so run `syncd tasks --all` to see the current ones"
    )]
    UnknownId(String),
    #[error(
        "`{0}` is not a task id: ids are at least 7 letters a-z and digits 2-7, as `syncd tasks` \
         shows them"
    )]
    BadId(String),
    #[error(
        "the id `{typed}` is ambiguous: it starts {count} task ids ({candidates}); type more of \
         the id (`syncd tasks --all --json` shows all 16 characters)"
    )]
    Ambiguous {
        typed: String,
        count: usize,
        candidates: String,
    },
    #[error("`{path}`: {source}")]
    Edit {
        path: VaultPath,
        #[source]
        source: EditError,
    },
    #[error(
        "`{0}` changed while the task was being changed, so nothing was written; run the command \
         again when the note is no longer being edited"
    )]
    Changed(VaultPath),
    #[error(
        "`{0}` is not UTF-8 text, so its tasks cannot be changed safely; convert the note to UTF-8 \
         first"
    )]
    NotText(VaultPath),
    #[error(
        "`{path}` is {what}; task commands only write regular files inside the vault, so nothing \
         was changed"
    )]
    Blocked { path: VaultPath, what: &'static str },
    #[error(
        "`{0}` cannot hold tasks: tasks live in markdown notes (`.md` or `.markdown`) outside \
         `.revisions/`; name such a note"
    )]
    NotANote(VaultPath),
    #[error(
        "the task text is empty; give the task's description, e.g. `syncd task add \"call the \
         plumber\"`"
    )]
    EmptyTask,
    #[error(
        "appending to `{0}` would not make a task (the note ends inside a code block or similar); \
         close it in the note or add the task to another note with --note"
    )]
    NotATaskThere(VaultPath),
}

#[cfg(test)]
mod tests;
