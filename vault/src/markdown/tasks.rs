//! Finding the tasks of one note.
//!
//! pulldown-cmark decides what is a list item, so a checkbox in a code block, an HTML block or a
//! plain paragraph is never a task. It only knows `[ ]` and `[x]`; the Obsidian Tasks statuses
//! (`[/]`, `[-]`, any other single character) reach us as the first text of a list item and are
//! recognised here from the source bytes, at the same place a checkbox would be.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use super::fields::{Planning, parse_fields};
use super::front_matter;
use super::id::TaskId;
use crate::VaultPath;

/// One task line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Task {
    pub id: TaskId,
    /// 1-based; `\n`, `\r\n` and a lone `\r` each end a line, as in CommonMark.
    pub line: usize,
    /// 1-based position of the checkbox's `[` on its line, in characters.
    pub column: usize,
    /// The line's bytes without its line ending.
    pub line_span: Range<usize>,
    /// The three bytes (or more, for a non-ASCII status) of `[c]`.
    pub checkbox: Range<usize>,
    /// The character between the brackets; any whitespace there reads as `' '`.
    pub status: char,
    /// 0 for a top-level list item, 1 inside one, and so on.
    pub depth: usize,
    /// The text after the checkbox without its fields (tags kept), spaces around fields joined.
    pub description: String,
    /// The text after the checkbox, trimmed.
    pub raw: String,
    pub planning: Planning,
    /// The task's own tags, then the note's, each once, without `#`.
    pub tags: Vec<String>,
}

impl Task {
    /// To do or in progress (` `, `/`), as the Tasks plugin counts "not done".
    pub fn is_open(&self) -> bool {
        is_open_status(self.status)
    }

    pub fn is_done(&self) -> bool {
        is_done_status(self.status)
    }

    pub fn is_cancelled(&self) -> bool {
        self.status == '-'
    }
}

/// A task with this status is to do or in progress (` `, `/`).
pub fn is_open_status(status: char) -> bool {
    matches!(status, ' ' | '/')
}

/// A task with this status is done (`x`, `X`).
pub fn is_done_status(status: char) -> bool {
    matches!(status, 'x' | 'X')
}

/// Something in a note that was not understood; the rest of the note still is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning {
    /// 1-based line it concerns.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// What one note holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParsedNote {
    pub tasks: Vec<Task>,
    /// Note-level tags from the front matter, without `#`.
    pub tags: Vec<String>,
    pub warnings: Vec<Warning>,
}

impl ParsedNote {
    /// The task a typed id names (see [`TaskId::matches`]); `None` once its line has changed.
    pub fn find(&self, typed: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id.matches(typed))
    }
}

/// Whether a file can hold tasks: markdown, and not a kept old version in `.revisions/` (those
/// would list every task again, once per revision).
pub fn is_task_source(path: &VaultPath) -> bool {
    if path.is_revision() {
        return false;
    }
    match path.file_name().rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && (ext.eq_ignore_ascii_case("md") || ext.eq_ignore_ascii_case("markdown"))
        }
        None => false,
    }
}

/// Start offsets of every line; CommonMark's line endings.
pub(crate) struct Lines {
    starts: Vec<usize>,
    len: usize,
}

impl Lines {
    pub(crate) fn new(text: &str) -> Lines {
        let b = text.as_bytes();
        let mut starts = vec![0];
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if b.get(i + 1) == Some(&b'\n') => {
                    i += 1;
                    starts.push(i + 1);
                }
                b'\r' => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        Lines {
            starts,
            len: b.len(),
        }
    }

    /// 0-based index of the line holding byte `offset`.
    pub(crate) fn index_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) - 1
    }

    /// The bytes of line `index`, without its ending.
    pub(crate) fn content(&self, text: &str, index: usize) -> Range<usize> {
        let start = self.starts[index];
        let next = self.starts.get(index + 1).copied().unwrap_or(self.len);
        let bytes = &text.as_bytes()[start..next];
        let ending = if bytes.ends_with(b"\r\n") {
            2
        } else if bytes.ends_with(b"\n") || bytes.ends_with(b"\r") {
            1
        } else {
            0
        };
        start..next - ending
    }
}

/// A checkbox found in the event stream, before its line is read.
struct Found {
    checkbox: Range<usize>,
    status: char,
    depth: usize,
}

/// Reads a `[c]` checkbox (one character, then whitespace or the end) at the start of `text`.
fn checkbox_at(text: &str) -> Option<(usize, char)> {
    let mut chars = text.char_indices();
    if chars.next()? != (0, '[') {
        return None;
    }
    let (_, status) = chars.next()?;
    if matches!(status, ']' | '[' | '\n' | '\r') {
        return None;
    }
    let (close, c) = chars.next()?;
    if c != ']' {
        return None;
    }
    let after = &text[close + 1..];
    if !(after.is_empty() || after.starts_with(|c: char| c.is_ascii_whitespace())) {
        return None;
    }
    let status = if status.is_ascii_whitespace() {
        ' '
    } else {
        status
    };
    Some((close + 1, status))
}

/// Every task of a note, its front matter tags, and what could not be read.
pub fn parse_note(path: &VaultPath, text: &str) -> ParsedNote {
    parse_note_with_spans(path, text).0
}

/// [`parse_note`], and per task the code spans of the text after its checkbox (relative to
/// that text): with the task's line they are all [`parse_fields`] needs to read the task again,
/// so the task index can keep the line instead of everything read from it.
pub(crate) fn parse_note_with_spans(
    path: &VaultPath,
    text: &str,
) -> (ParsedNote, Vec<Vec<Range<usize>>>) {
    let mut note = ParsedNote::default();
    let mut task_spans = Vec::new();
    let body_start = match front_matter::locate(text) {
        Some(fm) => {
            match front_matter::tags(&text[fm.yaml.clone()]) {
                Ok(tags) => note.tags = tags,
                Err(message) => note.warnings.push(Warning {
                    line: 1,
                    message: format!("front matter ignored: {message}"),
                }),
            }
            fm.body_start
        }
        None => front_matter::bom_len(text),
    };
    let lines = Lines::new(text);
    let (found, code_spans) = scan_body(text, body_start, &lines);

    let mut seen: HashMap<&str, usize> = HashMap::new();
    for f in found {
        let index = lines.index_of(f.checkbox.start);
        let line_span = lines.content(text, index);
        let line_text = &text[line_span.clone()];
        let after = f.checkbox.end..line_span.end;
        let spans: Vec<Range<usize>> = code_spans
            .iter()
            .filter(|s| s.start < after.end && s.end > after.start)
            .map(|s| s.start.max(after.start) - after.start..s.end.min(after.end) - after.start)
            .collect();
        let fields = parse_fields(&text[after.clone()], &spans);
        task_spans.push(spans);
        let occurrence = seen.entry(line_text).or_insert(0);
        let id = TaskId::new(path.as_str(), line_text, *occurrence);
        *occurrence += 1;
        for message in fields.warnings {
            note.warnings.push(Warning {
                line: index + 1,
                message,
            });
        }
        let mut tags = fields.tags;
        for tag in &note.tags {
            if !tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        note.tasks.push(Task {
            id,
            line: index + 1,
            column: text[line_span.start..f.checkbox.start].chars().count() + 1,
            line_span,
            checkbox: f.checkbox,
            status: f.status,
            depth: f.depth,
            description: fields.description,
            raw: text[after].trim().to_owned(),
            planning: fields.planning,
            tags,
        });
    }
    (note, task_spans)
}

/// Byte ranges of every code span in the note's body (for editors of a task line, so they read
/// its fields exactly as [`parse_note`] did).
pub(crate) fn code_spans(text: &str) -> Vec<Range<usize>> {
    let body_start =
        front_matter::locate(text).map_or_else(|| front_matter::bom_len(text), |fm| fm.body_start);
    scan_body(text, body_start, &Lines::new(text)).1
}

/// Walks the markdown after the front matter: the checkboxes of list items and all code spans,
/// both as offsets into `text`.
fn scan_body(text: &str, body_start: usize, lines: &Lines) -> (Vec<Found>, Vec<Range<usize>>) {
    let body = &text[body_start..];
    let mut found = Vec::new();
    let mut code_spans = Vec::new();
    let mut list_depth = 0usize;
    // The list item whose first content we are waiting for: (its start, its depth).
    let mut item: Option<(usize, usize)> = None;
    for (event, range) in Parser::new_ext(body, Options::ENABLE_TASKLISTS).into_offset_iter() {
        let range = body_start + range.start..body_start + range.end;
        if let Event::Code(_) = event {
            code_spans.push(range.clone());
        }
        match event {
            Event::Start(Tag::List(_)) => list_depth += 1,
            Event::End(TagEnd::List(_)) => list_depth = list_depth.saturating_sub(1),
            Event::Start(Tag::Item) => {
                item = Some((range.start, list_depth.saturating_sub(1)));
                continue;
            }
            // A loose item's paragraph opens before its checkbox.
            Event::Start(Tag::Paragraph) if item.is_some() => continue,
            // So does a setext heading: an item's text followed by a `-` line (`  -`, an empty
            // nested item, reads as its underline). Its first line is the task line all the
            // same, and must stay one when marking it done changes the text after the box.
            Event::Start(Tag::Heading { .. })
                if item.is_some() && !text[range.clone()].trim_start().starts_with('#') =>
            {
                continue;
            }
            _ => {}
        }
        let Some((item_start, depth)) = item.take() else {
            continue;
        };
        let at = match event {
            Event::TaskListMarker(_) => match text[range.clone()].find('[') {
                Some(i) => range.start + i,
                None => continue,
            },
            Event::Text(_) | Event::Start(Tag::Link { .. }) => range.start,
            _ => continue,
        };
        // A checkbox on a later line than the list marker is text, as pulldown-cmark reads it.
        if lines.index_of(at) != lines.index_of(item_start) {
            continue;
        }
        if let Some((len, status)) = checkbox_at(&text[at..]) {
            found.push(Found {
                checkbox: at..at + len,
                status,
                depth,
            });
        }
    }
    (found, code_spans)
}

#[cfg(test)]
#[path = "tasks_tests.rs"]
mod tests;
