//! Tasks kept as markdown checkbox lines in notes: reading them, with no I/O.
//!
//! Notes are edited by hand in any editor, so the parser reads what people write and never
//! refuses a note: what it cannot understand becomes a [`Warning`] and the rest of the note is
//! still read. Every position it reports is a byte offset into the note's original text (line
//! endings, byte order mark and all), so a later edit can change exactly one line's bytes.
//!
//! Understood (the user guide is docs/tasks.md):
//! - GFM task list items at any depth (`- [ ]`, `* [x]`, `+ [ ]`, `1. [ ]`, `1) [ ]`) and the
//!   Obsidian Tasks statuses (`[/]` in progress, `[-]` cancelled, any other single character);
//!   not inside code blocks, HTML blocks or plain paragraphs ([`tasks`]).
//! - Obsidian Tasks emoji fields and Dataview inline fields, and `#tags` ([`fields`]).
//! - Note-level `tags:` / `tag:` in YAML front matter ([`front_matter`]).
//! - Task ids derived from the line ([`id`], which documents how they are formed).
//! - Marking a task done or undone, recurrence, and appending a new task ([`edit`]).

pub mod edit;
pub mod fields;
pub mod front_matter;
pub mod id;
mod recurrence;
pub mod tasks;

pub use edit::{EditError, append_task, mark_done, mark_undone, new_task_line};
pub use fields::{Fields, Planning, Priority, parse_date, parse_day};
pub use id::TaskId;
pub use tasks::{ParsedNote, Task, Warning, is_task_source, parse_note};
