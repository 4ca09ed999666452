//! Changing tasks in a note's text: done, undone, a new task. Pure functions, no I/O.
//!
//! Every edit changes the bytes of one task line only (plus, for a recurring task, one inserted
//! line), so line endings (LF, CRLF, lone CR), trailing spaces, the byte order mark and the rest
//! of the note stay byte-for-byte as they were. Before changing a line the note is parsed again
//! and the task must still be there unchanged (same line, position, status, text and fields);
//! otherwise the edit is refused as [`EditError::Stale`], never applied to whatever the line
//! holds now.
//!
//! Choices, following the Obsidian Tasks plugin where it has one:
//! - Done: the status becomes `x` and ` ✅ YYYY-MM-DD` goes at the end of the task text, before a
//!   trailing block link (` ^id`) and before any trailing whitespace, which stays as it was. A
//!   task that already carries a done date (open, but with `✅`) gets that date replaced instead.
//!   A code span opened on the line and closed on a later one would swallow the field, so then
//!   it goes before the word that opens that code span.
//! - Undone: the status becomes ` ` (also from `[/]` reopened after done: the status before done
//!   is not kept) and the done field with its one leading space is removed.
//! - A recurring task (`🔁 every …` or `[repeat:: …]`) gets its next occurrence inserted as a new
//!   line above it: same prefix (indentation, quote, list marker), status ` `, done and
//!   cancelled fields and a trailing block link removed, created set to today if it had one.
//!   Due, scheduled and start move together: the rule gives the next reference date (due,
//!   else scheduled, else start) after the old one, or after today with `when done`, and each
//!   date keeps its distance in days to the reference. Months and years clamp to the month's
//!   end (Jan 31 + 1 month = Feb 28/29).
//! - A rule that is not understood refuses the whole edit ([`EditError::UnknownRecurrence`])
//!   rather than completing the task and silently dropping its repetition.

use std::ops::Range;

use jiff::civil::Date;

use super::fields::{DateField, Priority, parse_fields};
use super::recurrence::Rule;
use super::tasks::{Task, code_spans, parse_note};
use crate::VaultPath;

/// Why a task edit was refused; the note is unchanged in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error(
        "the note changed since its tasks were listed (line {line} is no longer that task); \
         list the tasks again and use the new id"
    )]
    Stale { line: usize },
    #[error("the task on line {line} is already done; nothing changed")]
    AlreadyDone { line: usize },
    #[error("the task on line {line} is not done, so there is nothing to undo; nothing changed")]
    NotDone { line: usize },
    #[error(
        "the task on line {line} is cancelled ([-]); reopen it by editing the note \
         (change [-] to [ ]) first; nothing changed"
    )]
    Cancelled { line: usize },
    #[error(
        "the task on line {line} repeats {rule:?}, a rule not understood here (known: every \
         day|week|month|year, every N days|weeks|months|years, every weekday, every monday … \
         sunday, each optionally followed by \"when done\"); fix or remove the 🔁 field in the \
         note, then mark it done again; nothing changed"
    )]
    UnknownRecurrence { line: usize, rule: String },
    #[error(
        "the next occurrence of the task on line {line} falls outside the dates this program \
         handles; fix its dates in the note; nothing changed"
    )]
    DateOutOfRange { line: usize },
}

/// Marks `task` done on `today` (see the module docs for what exactly changes).
pub fn mark_done(text: &str, task: &Task, today: Date) -> Result<String, EditError> {
    let line = TaskLine::locate(text, task)?;
    if task.is_cancelled() {
        return Err(EditError::Cancelled { line: task.line });
    }
    if task.is_done() {
        return Err(EditError::AlreadyDone { line: task.line });
    }
    let next = match &task.planning.recurrence {
        Some(rule) => Some(line.next_occurrence(line.after(text), task, rule, today)?),
        None => None,
    };

    let after = line.after(text);
    let new_after = match line.field(DateField::Done) {
        Some(span) => {
            let value = date_value(&after[span.clone()]);
            splice(
                after,
                &[(
                    span.start + value.start..span.start + value.end,
                    today.to_string(),
                )],
            )
        }
        None => {
            let at = done_insertion_point(line.before_open_code(after));
            splice(after, &[(at..at, format!(" ✅ {today}"))])
        }
    };

    let mut out = String::with_capacity(text.len() + 2 * after.len() + 64);
    out.push_str(&text[..line.start]);
    if let Some(next) = next {
        out.push_str(&text[line.start..task.checkbox.start]);
        out.push_str("[ ]");
        out.push_str(&next);
        out.push_str(line.ending(text));
    }
    out.push_str(&text[line.start..task.checkbox.start]);
    out.push_str("[x]");
    out.push_str(&new_after);
    out.push_str(&text[task.line_span.end..]);
    Ok(out)
}

/// Reopens a done `task`: status ` `, its done date field (and that field's one leading space)
/// removed, nothing else.
pub fn mark_undone(text: &str, task: &Task) -> Result<String, EditError> {
    let line = TaskLine::locate(text, task)?;
    if task.is_cancelled() {
        return Err(EditError::Cancelled { line: task.line });
    }
    if !task.is_done() {
        return Err(EditError::NotDone { line: task.line });
    }
    let after = line.after(text);
    let edits: Vec<_> = line
        .field(DateField::Done)
        .map(|span| (with_leading_space(after, span), String::new()))
        .into_iter()
        .collect();
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..task.checkbox.start]);
    out.push_str("[ ]");
    out.push_str(&splice(after, &edits));
    out.push_str(&text[task.line_span.end..]);
    Ok(out)
}

/// A new open task line, without line ending, in the order the Tasks plugin writes fields:
/// `- [ ] description 🔼 📅 2026-12-01`. Line breaks in `description` become spaces.
pub fn new_task_line(description: &str, due: Option<Date>, priority: Option<Priority>) -> String {
    let description = description
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut line = String::from("- [ ]");
    if !description.is_empty() {
        line.push(' ');
        line.push_str(&description);
    }
    if let Some(p) = priority {
        line.push(' ');
        line.push_str(p.emoji());
    }
    if let Some(due) = due {
        line.push_str(&format!(" 📅 {due}"));
    }
    line
}

/// `text` with `line` (as from [`new_task_line`]) added as its last line, ended by the note's
/// dominant line ending, after one ending the previous content if it lacked one. If appended
/// directly the line would not read as a task (it would continue an HTML block, say), a blank
/// line is put before it; inside a code block never closed it stays text, as an editor shows it.
pub fn append_task(text: &str, line: &str) -> String {
    let ending = dominant_ending(text);
    let line = line.trim_end_matches(['\r', '\n']);
    let mut base = text.to_owned();
    let empty = text.trim_start_matches('\u{feff}').is_empty();
    if !empty && !base.ends_with(['\n', '\r']) {
        base.push_str(ending);
    }
    let direct = format!("{base}{line}{ending}");
    if empty || ends_with_task(&direct) {
        return direct;
    }
    let separated = format!("{base}{ending}{line}{ending}");
    if ends_with_task(&separated) {
        separated
    } else {
        direct
    }
}

/// Whether the last line of `text` is a task line.
fn ends_with_task(text: &str) -> bool {
    let Ok(probe) = VaultPath::new("append-check.md") else {
        return false;
    };
    let last_line_start = text
        .trim_end_matches(['\r', '\n'])
        .rfind(['\r', '\n'])
        .map_or(0, |i| i + 1);
    parse_note(&probe, text)
        .tasks
        .iter()
        .any(|t| t.line_span.start >= last_line_start)
}

/// The line ending used most in `text`; `\n` when it has none.
fn dominant_ending(text: &str) -> &'static str {
    let b = text.as_bytes();
    let (mut lf, mut crlf, mut cr) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => {
                crlf += 1;
                i += 1;
            }
            b'\r' => cr += 1,
            b'\n' => lf += 1,
            _ => {}
        }
        i += 1;
    }
    if crlf > lf && crlf >= cr {
        "\r\n"
    } else if cr > lf && cr > crlf {
        "\r"
    } else {
        "\n"
    }
}

/// A task's line, checked to still be that task.
struct TaskLine {
    /// Where the line's own bytes start (after a byte order mark).
    start: usize,
    /// The text after the checkbox, up to the line ending.
    after: Range<usize>,
    /// Field spans of the text after the checkbox (relative to it), with their kind.
    fields: Vec<(Range<usize>, Option<DateField>)>,
    /// Where a code span that goes on past the line's end starts (relative to the text after the
    /// checkbox): a field written after it would be code, not a field.
    open_code: Option<usize>,
}

impl TaskLine {
    fn locate(text: &str, task: &Task) -> Result<TaskLine, EditError> {
        let stale = EditError::Stale { line: task.line };
        let Ok(probe) = VaultPath::new("edit-check.md") else {
            return Err(stale);
        };
        let same = parse_note(&probe, text).tasks.into_iter().any(|t| {
            t.line == task.line
                && t.line_span == task.line_span
                && t.checkbox == task.checkbox
                && t.column == task.column
                && t.status == task.status
                && t.depth == task.depth
                && t.raw == task.raw
                && t.description == task.description
                && t.planning == task.planning
        });
        if !same {
            return Err(stale);
        }
        let start = if task.line_span.start == 0 && text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            task.line_span.start
        };
        let after = task.checkbox.end..task.line_span.end;
        let spans: Vec<Range<usize>> = code_spans(text)
            .iter()
            .filter(|s| s.start < after.end && s.end > after.start)
            .map(|s| s.start.max(after.start) - after.start..s.end.min(after.end) - after.start)
            .collect();
        let open_code = code_spans(text)
            .iter()
            .find(|s| s.start >= after.start && s.start < after.end && s.end > after.end)
            .map(|s| s.start - after.start);
        let after_text = &text[after.clone()];
        let fields = parse_fields(after_text, &spans)
            .spans
            .into_iter()
            .map(|span| {
                let kind = date_kind(&after_text[span.clone()]);
                (span, kind)
            })
            .collect();
        Ok(TaskLine {
            start,
            after,
            fields,
            open_code,
        })
    }

    /// The part of `after` a field can be added to: before the word that opens a code span
    /// continued on a later line, or all of it.
    fn before_open_code<'a>(&self, after: &'a str) -> &'a str {
        match self.open_code {
            Some(at) => &after[..after[..at].rfind(char::is_whitespace).unwrap_or(0)],
            None => after,
        }
    }

    fn after<'a>(&self, text: &'a str) -> &'a str {
        &text[self.after.clone()]
    }

    /// The span of the first date field of this kind, relative to the text after the checkbox.
    fn field(&self, kind: DateField) -> Option<Range<usize>> {
        self.fields
            .iter()
            .find(|(_, k)| *k == Some(kind))
            .map(|(s, _)| s.clone())
    }

    /// The line ending after the line: that of the line, else the note's usual one.
    fn ending<'a>(&self, text: &'a str) -> &'a str {
        let rest = &text[self.after.end..];
        if rest.starts_with("\r\n") {
            &rest[..2]
        } else if rest.starts_with(['\n', '\r']) {
            &rest[..1]
        } else {
            dominant_ending(text)
        }
    }

    /// The text after the checkbox of the next occurrence of a recurring task.
    fn next_occurrence(
        &self,
        after: &str,
        task: &Task,
        rule: &str,
        today: Date,
    ) -> Result<String, EditError> {
        let line = task.line;
        let unknown = || EditError::UnknownRecurrence {
            line,
            rule: rule.to_owned(),
        };
        let out_of_range = || EditError::DateOutOfRange { line };
        let rule = Rule::parse(rule).ok_or_else(unknown)?;
        let p = &task.planning;
        let reference = p.due.or(p.scheduled).or(p.start);
        let mut moved = Vec::new();
        if let Some(reference) = reference {
            let base = if rule.when_done { today } else { reference };
            let next_ref = rule.next(base).ok_or_else(out_of_range)?;
            for (kind, date) in [
                (DateField::Due, p.due),
                (DateField::Scheduled, p.scheduled),
                (DateField::Start, p.start),
            ] {
                if let Some(date) = date {
                    let shift = reference.until(date).map_err(|_| out_of_range())?;
                    let new = next_ref.checked_add(shift).map_err(|_| out_of_range())?;
                    moved.push((kind, new));
                }
            }
        }
        if p.created.is_some() {
            moved.push((DateField::Created, today));
        }
        let mut edits = Vec::new();
        for (span, kind) in &self.fields {
            match kind {
                Some(DateField::Done | DateField::Cancelled) => {
                    edits.push((with_leading_space(after, span.clone()), String::new()));
                }
                Some(kind) => {
                    if let Some((_, date)) = moved.iter().find(|(k, _)| k == kind) {
                        let value = date_value(&after[span.clone()]);
                        let value = span.start + value.start..span.start + value.end;
                        edits.push((value, date.to_string()));
                    }
                }
                None => {}
            }
        }
        // A block link names one block: the done line keeps it, the new line gets none.
        let end = after.trim_end().len();
        let link_start = done_insertion_point(after);
        if link_start < end && !edits.iter().any(|(r, _)| r.end > link_start) {
            edits.push((link_start..end, String::new()));
        }
        Ok(splice(after, &edits))
    }
}

/// Applies non-overlapping `(range, replacement)` edits, sorted by start, to `text`.
fn splice(text: &str, edits: &[(Range<usize>, String)]) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut last = 0;
    for (range, replacement) in edits {
        out.push_str(&text[last..range.start]);
        out.push_str(replacement);
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

/// `span` widened by one space before it, if there is one.
fn with_leading_space(text: &str, span: Range<usize>) -> Range<usize> {
    if text[..span.start].ends_with(' ') {
        span.start - 1..span.end
    } else {
        span
    }
}

/// Which date field a lone field text is, if a date one.
fn date_kind(field: &str) -> Option<DateField> {
    let p = parse_fields(field, &[]).planning;
    [
        (p.due, DateField::Due),
        (p.scheduled, DateField::Scheduled),
        (p.start, DateField::Start),
        (p.created, DateField::Created),
        (p.done, DateField::Done),
        (p.cancelled, DateField::Cancelled),
    ]
    .into_iter()
    .find_map(|(d, k)| d.map(|_| k))
}

/// Where the `YYYY-MM-DD` of a date field's text is: the last ten characters that form a date.
fn date_value(field: &str) -> Range<usize> {
    (0..field.len().saturating_sub(9))
        .rev()
        .filter(|&i| field.is_char_boundary(i) && field.is_char_boundary(i + 10))
        .find(|&i| super::fields::parse_date(&field[i..i + 10]).is_some())
        .map_or(0..0, |i| i..i + 10)
}

/// Where ` ✅ date` goes in the text after a checkbox: after its last non-space character, but
/// before a trailing block link ` ^id` (`after` ends before a code span left open on the line).
fn done_insertion_point(after: &str) -> usize {
    let end = after.trim_end().len();
    let content = &after[..end];
    if let Some(caret) = content.rfind(" ^") {
        let id = &content[caret + 2..];
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return content[..caret].trim_end().len();
        }
    }
    end
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
