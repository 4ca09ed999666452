//! How the task index stores one note content: each task's line and where it is, not what was
//! read from it.
//!
//! A task's description, tags, dates and id all follow from its line (and the note's tags, and
//! the code spans on the line), so the index keeps the line once and reads it again when a task
//! is shown. That makes the index about a third of the size of storing every parsed field, and
//! lets a listing filter and sort a vault's tasks from a few fixed fields (status, due date,
//! priority) read in place, without building a single task it will not show: memory stays
//! bounded by what is shown at a time, not by the vault's number of tasks.

use std::ops::Range;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::index::{IndexedNote, NoteFlags};
use crate::markdown::fields::parse_fields;
use crate::markdown::tasks::parse_note_with_spans;
use crate::markdown::{ParsedNote, Priority, Task, TaskId, Warning};
use crate::paths::VaultPath;

/// One note content as the index stores it; borrows from the index's bytes.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StoredNote<'a> {
    pub not_text: bool,
    /// The front matter's tags, which every task of the note carries after its own.
    #[serde(borrow)]
    pub tags: Vec<&'a str>,
    pub warnings: Vec<Warning>,
    /// Each task encoded on its own ([`StoredTask`]), so one can be read without the others,
    /// and its [`TaskHead`] without its line.
    #[serde(borrow)]
    pub tasks: Vec<&'a [u8]>,
}

/// What a listing filters and sorts a task by, and where it is: fixed fields at the start of
/// each [`StoredTask`], read without its line.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct TaskHead {
    /// 1-based.
    pub line: u32,
    pub status: char,
    /// Read from the line, kept so listings filter and sort without reading it again.
    pub due: Option<(i16, i8, i8)>,
    pub priority: Option<Priority>,
}

/// One task: its head, and the line it is read again from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredTask<'a> {
    pub head: TaskHead,
    /// Byte offset of the line in the note.
    pub line_start: u32,
    /// Byte range of the checkbox `[c]` on the line.
    pub checkbox: (u32, u32),
    pub depth: u32,
    /// How many equal task lines come before it in the note (part of its id).
    pub occurrence: u32,
    /// Code spans of the text after the checkbox, relative to it (fields are not read there).
    pub code_spans: Vec<(u32, u32)>,
    /// The whole line, without its ending.
    pub text: &'a str,
}

impl TaskHead {
    /// The head of an encoded [`StoredTask`] (its first fields; the rest is not read).
    pub fn decode(task: &[u8]) -> Option<TaskHead> {
        postcard::from_bytes(task).ok()
    }

    pub fn due(&self) -> Option<Date> {
        self.due.and_then(|(y, m, d)| Date::new(y, m, d).ok())
    }
}

impl<'a> StoredTask<'a> {
    /// `None` also when its offsets do not fit its line (a checkbox past the line's end or
    /// inside a character, a code span ending before it starts): reading the task would
    /// slice the line there. The index's checksum makes that a bug or a forged file, not
    /// damage, and a task that cannot be read is left out rather than taking `syncd tasks`
    /// down with it.
    pub fn decode(task: &'a [u8]) -> Option<StoredTask<'a>> {
        let stored: StoredTask = postcard::from_bytes(task).ok()?;
        let (start, end) = (stored.checkbox.0 as usize, stored.checkbox.1 as usize);
        let fits = start <= end
            && stored.text.is_char_boundary(start)
            && stored.text.is_char_boundary(end)
            && (stored.code_spans.iter()).all(|&(a, b)| a <= b);
        fits.then_some(stored)
    }

    /// The task's id when its note is at `path`.
    pub fn id(&self, path: &VaultPath) -> TaskId {
        TaskId::new(path.as_str(), self.text, self.occurrence as usize)
    }

    /// The task as [`crate::markdown::parse_note`] reads it in a note at `path` whose front
    /// matter has `note_tags`.
    pub fn task(&self, path: &VaultPath, note_tags: &[&str]) -> Task {
        let (box_start, box_end) = (self.checkbox.0 as usize, self.checkbox.1 as usize);
        let after = &self.text[box_end..];
        let spans: Vec<Range<usize>> = self
            .code_spans
            .iter()
            .map(|&(start, end)| start as usize..end as usize)
            .collect();
        let fields = parse_fields(after, &spans);
        let mut tags = fields.tags;
        for tag in note_tags {
            if !tags.iter().any(|t| t == tag) {
                tags.push((*tag).to_owned());
            }
        }
        let line_start = self.line_start as usize;
        Task {
            id: self.id(path),
            line: self.head.line as usize,
            column: self.text[..box_start].chars().count() + 1,
            line_span: line_start..line_start + self.text.len(),
            checkbox: line_start + box_start..line_start + box_end,
            status: self.head.status,
            depth: self.depth as usize,
            description: fields.description,
            raw: after.trim().to_owned(),
            planning: fields.planning,
            tags,
        }
    }
}

impl<'a> StoredNote<'a> {
    /// Decode an entry the index wrote; `None` if it cannot be (the index's checksum makes
    /// that a bug, not damage).
    pub fn decode(body: &'a [u8]) -> Option<StoredNote<'a>> {
        postcard::from_bytes(body).ok()
    }

    /// Task `i`, read whole.
    pub fn task(&self, i: usize) -> Option<StoredTask<'a>> {
        StoredTask::decode(self.tasks.get(i)?)
    }

    /// Every task as parsed at `path`, as [`IndexedNote::parse`] gives it; `None` if a task
    /// cannot be decoded.
    pub fn to_indexed(&self, path: &VaultPath) -> Option<IndexedNote> {
        let stored: Vec<StoredTask<'_>> = (0..self.tasks.len())
            .map(|i| self.task(i))
            .collect::<Option<_>>()?;
        Some(IndexedNote {
            parsed: ParsedNote {
                tasks: stored.iter().map(|t| t.task(path, &self.tags)).collect(),
                tags: self.tags.iter().map(|t| (*t).to_owned()).collect(),
                warnings: self.warnings.clone(),
            },
            id_parts: stored
                .iter()
                .map(|t| (t.text.to_owned(), t.occurrence))
                .collect(),
            not_text: self.not_text,
        })
    }
}

/// Parse the note content `bytes` found at `path` into what the index stores: its flags and
/// its encoded entry.
pub(crate) fn parse_entry(path: &VaultPath, bytes: &[u8]) -> (NoteFlags, Vec<u8>) {
    let (_, flags, body) = entry(path, bytes, true);
    (flags, body)
}

/// The note content `bytes` at `path` encoded as the index stores it, without the parse's
/// warnings unless `warnings`, and the parse it was made from.
pub(crate) fn pack(path: &VaultPath, bytes: &[u8], warnings: bool) -> (ParsedNote, Vec<u8>) {
    let (parsed, _, body) = entry(path, bytes, warnings);
    (parsed, body)
}

fn entry(path: &VaultPath, bytes: &[u8], warnings: bool) -> (ParsedNote, NoteFlags, Vec<u8>) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        let note = StoredNote {
            not_text: true,
            ..StoredNote::default()
        };
        return (
            ParsedNote::default(),
            NoteFlags::of_stored(&note),
            encode(&note),
        );
    };
    let (parsed, spans) = parse_note_with_spans(path, text);
    let mut seen: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let tasks = parsed
        .tasks
        .iter()
        .zip(spans)
        .map(|(t, spans)| {
            let line = &text[t.line_span.clone()];
            let occurrence = seen.entry(line).or_insert(0);
            *occurrence += 1;
            let start = t.line_span.start;
            encode(&StoredTask {
                head: TaskHead {
                    line: t.line as u32,
                    status: t.status,
                    due: t.planning.due.map(|d| (d.year(), d.month(), d.day())),
                    priority: t.planning.priority,
                },
                line_start: start as u32,
                checkbox: (
                    (t.checkbox.start - start) as u32,
                    (t.checkbox.end - start) as u32,
                ),
                depth: t.depth as u32,
                occurrence: *occurrence - 1,
                code_spans: spans
                    .into_iter()
                    .map(|s| (s.start as u32, s.end as u32))
                    .collect(),
                text: line,
            })
        })
        .collect::<Vec<Vec<u8>>>();
    let note = StoredNote {
        not_text: false,
        tags: parsed.tags.iter().map(String::as_str).collect(),
        warnings: if warnings {
            parsed.warnings.clone()
        } else {
            Vec::new()
        },
        tasks: tasks.iter().map(Vec::as_slice).collect(),
    };
    let (flags, body) = (NoteFlags::of_stored(&note), encode(&note));
    (parsed, flags, body)
}

fn encode(value: &impl Serialize) -> Vec<u8> {
    // Encoding plain data into a Vec cannot fail.
    postcard::to_allocvec(value).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Notes that exercise every part of a task line the index must give back exactly (the
    /// packed form's tests use them too).
    pub(crate) const NOTES: &[&str] = &[
        "---\ntags: [home, work/x]\n---\n# Title\n- [ ] a 📅 2026-12-01 ⏫ #x\n  - [x] b ✅ 2026-11-02 #home\n",
        "- [ ] same\n- [ ] other\n- [ ] same\n",
        "- [/] in progress 🔼 [due:: 2027-01-02]\n- [-] cancelled ❌ 2026-01-01\n- [?] odd\n",
        "- [ ] `📅 2026-12-01` in code, 📅 2026-12-03 outside\n",
        "text\r\n\r\n* [ ] crlf 🔁 every week when done 📅 2026-12-01\r\n  1. [x] nested ordered\r\n",
        "- [ ] 日本語のタスク #タグ ⏬\n- [ ] bad date 📅 2026-13-45\n",
        "---\ntags: [: broken\n---\n- [ ] after broken front matter\n",
        "   - [ ] indented three\n\t- [ ] tab\n",
        "no tasks at all\n",
        "",
    ];

    #[test]
    fn a_stored_note_reads_back_exactly_what_the_parser_read() {
        for text in NOTES {
            for path in ["a.md", "folder/deeper/b.md"] {
                let path = VaultPath::new(path).unwrap();
                let (flags, body) = parse_entry(&path, text.as_bytes());
                let stored = StoredNote::decode(&body).unwrap();
                let expected = IndexedNote::parse(&path, text.as_bytes());
                assert_eq!(
                    stored.to_indexed(&path).unwrap(),
                    expected,
                    "{text:?} at {path}"
                );
                assert_eq!(flags, NoteFlags::of(&expected), "{text:?}");
                assert_eq!(stored.tasks.len(), expected.parsed.tasks.len());
                for (i, e) in expected.parsed.tasks.iter().enumerate() {
                    let head = TaskHead::decode(stored.tasks[i]).unwrap();
                    assert_eq!(head.due(), e.planning.due);
                    assert_eq!(head.priority, e.planning.priority);
                    assert_eq!((head.status, head.line as usize), (e.status, e.line));
                    assert_eq!(stored.task(i).unwrap().id(&path), e.id);
                }
            }
        }
    }

    /// Found by fuzzing (fixtures/fuzz/task_index/): an entry whose checkbox lay past its line
    /// (or a code span ended before it started) passed decoding and panicked when the task
    /// was read.
    #[test]
    fn task_index_entry_with_offsets_outside_its_line_is_refused() {
        let path = VaultPath::new("a.md").unwrap();
        let good = StoredTask {
            head: TaskHead {
                line: 1,
                status: ' ',
                due: None,
                priority: None,
            },
            line_start: 0,
            checkbox: (2, 5),
            depth: 0,
            occurrence: 0,
            code_spans: vec![(1, 3)],
            text: "- [ ] é `x`",
        };
        let encoded = |t: &StoredTask| postcard::to_allocvec(t).unwrap();
        let bytes = encoded(&good);
        let task = StoredTask::decode(&bytes).unwrap();
        assert_eq!(task.task(&path, &[]).raw, "é `x`");
        for bad in [
            StoredTask {
                checkbox: (2, 40),
                ..good.clone()
            },
            StoredTask {
                checkbox: (5, 2),
                ..good.clone()
            },
            StoredTask {
                checkbox: (2, 7),
                ..good.clone()
            },
            StoredTask {
                code_spans: vec![(3, 1)],
                ..good.clone()
            },
        ] {
            assert!(StoredTask::decode(&encoded(&bad)).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_note_that_is_not_text_is_stored_as_such() {
        let path = VaultPath::new("b.md").unwrap();
        let (flags, body) = parse_entry(&path, b"\xff\xfe- [ ] x");
        let stored = StoredNote::decode(&body).unwrap();
        assert!(stored.not_text && stored.tasks.is_empty());
        assert!(flags.has_warnings() && !flags.has_tasks());
        assert_eq!(
            stored.to_indexed(&path).unwrap(),
            IndexedNote::parse(&path, b"\xff\xfe- [ ] x")
        );
    }

    #[test]
    fn garbage_is_not_a_stored_note() {
        assert!(StoredNote::decode(&[0xff; 7]).is_none());
    }
}
