//! Every note of the fixture vault `fixtures/tasks/` against a table of the tasks it must yield.

use std::path::{Path, PathBuf};

use jiff::civil::Date;
use vault::VaultPath;
use vault::markdown::{ParsedNote, Priority, Task, is_task_source, parse_date, parse_note};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/tasks")
}

/// One expected task; date fields not listed in `dates` must be absent.
struct Want {
    line: usize,
    status: char,
    depth: usize,
    description: &'static str,
    dates: &'static [(&'static str, &'static str)],
    priority: Option<Priority>,
    recurrence: Option<&'static str>,
    tags: &'static [&'static str],
}

const fn t(line: usize, status: char, depth: usize, description: &'static str) -> Want {
    Want {
        line,
        status,
        depth,
        description,
        dates: &[],
        priority: None,
        recurrence: None,
        tags: &[],
    }
}

impl Want {
    const fn dates(mut self, dates: &'static [(&'static str, &'static str)]) -> Want {
        self.dates = dates;
        self
    }
    const fn priority(mut self, p: Priority) -> Want {
        self.priority = Some(p);
        self
    }
    const fn every(mut self, rule: &'static str) -> Want {
        self.recurrence = Some(rule);
        self
    }
    const fn tags(mut self, tags: &'static [&'static str]) -> Want {
        self.tags = tags;
        self
    }
}

struct Note {
    path: &'static str,
    tags: &'static [&'static str],
    /// A fragment of each expected warning, in order.
    warnings: &'static [&'static str],
    tasks: Vec<Want>,
}

fn table() -> Vec<Note> {
    use Priority::*;
    vec![
        Note {
            path: "formats.md",
            tags: &[],
            warnings: &["line 14: 📅 \"2026-02-30\" is not a due date"],
            tasks: vec![
                t(3, ' ', 0, "plain dash"),
                t(4, 'x', 0, "star done").dates(&[("done", "2026-01-05")]),
                t(5, 'X', 0, "plus upper done"),
                t(6, ' ', 0, "ordered dot").dates(&[("due", "2026-12-01")]),
                t(7, '/', 0, "ordered paren in progress"),
                t(8, '-', 0, "cancelled thing").dates(&[("cancelled", "2026-02-01")]),
                t(9, '?', 0, "question status"),
                t(10, ' ', 0, "due and priority #work")
                    .dates(&[("due", "2026-03-01")])
                    .priority(High)
                    .tags(&["work"]),
                t(11, ' ', 0, "every field")
                    .dates(&[
                        ("created", "2026-01-01"),
                        ("start", "2026-01-02"),
                        ("scheduled", "2026-01-03"),
                        ("due", "2026-01-04"),
                    ])
                    .priority(Medium),
                t(12, ' ', 0, "water plants")
                    .dates(&[("due", "2026-03-10")])
                    .every("every week when done"),
                t(13, ' ', 0, "dataview")
                    .dates(&[("due", "2026-04-01")])
                    .priority(Lowest)
                    .every("every 2 days"),
                t(14, ' ', 0, "bad date 📅 2026-02-30"),
                t(
                    15,
                    ' ',
                    0,
                    "tags #nested/tag and #123 and http://example.com/#frag and `#code`",
                )
                .tags(&["nested/tag"]),
                t(17, ' ', 0, "parent"),
                t(18, 'x', 1, "child"),
                t(19, '/', 2, "grandchild #deep").tags(&["deep"]),
                t(21, ' ', 0, "same line"),
                t(22, ' ', 0, "same line"),
            ],
        },
        Note {
            path: "code.md",
            tags: &[],
            warnings: &[],
            tasks: vec![t(23, ' ', 0, "the only task `- [ ] code span`")],
        },
        Note {
            path: "crlf.md",
            tags: &["windows"],
            warnings: &[],
            tasks: vec![
                t(6, ' ', 0, "first")
                    .dates(&[("due", "2026-05-01")])
                    .tags(&["windows"]),
                t(7, 'x', 1, "nested done").tags(&["windows"]),
                t(8, '/', 0, "last without newline").tags(&["windows"]),
            ],
        },
        Note {
            path: "unicode.md",
            tags: &["日本語", "проект"],
            warnings: &[],
            tasks: vec![
                t(8, ' ', 0, "牛乳を買う #買い物")
                    .dates(&[("due", "2026-06-01")])
                    .tags(&["買い物", "日本語", "проект"]),
                t(9, ' ', 0, "купить хлеб #покупки").priority(Low).tags(&[
                    "покупки",
                    "日本語",
                    "проект",
                ]),
                t(10, 'x', 0, "🎉 party prep 🎂")
                    .dates(&[("done", "2026-06-02")])
                    .tags(&["日本語", "проект"]),
                t(11, ' ', 1, "ÉLÈVE naïve café #français").tags(&["français", "日本語", "проект"]),
            ],
        },
        Note {
            path: "broken-front-matter.md",
            tags: &[],
            warnings: &["line 1: front matter ignored"],
            tasks: vec![t(5, ' ', 0, "still a task #ok").tags(&["ok"])],
        },
        Note {
            path: "projects/Inbox.MARKDOWN",
            tags: &["inbox", "later"],
            warnings: &[],
            tasks: vec![
                t(7, ' ', 0, "loose one").tags(&["inbox", "later"]),
                t(9, ' ', 0, "loose two")
                    .priority(Lowest)
                    .tags(&["inbox", "later"]),
                t(11, ' ', 0, "quoted task").tags(&["inbox", "later"]),
            ],
        },
    ]
}

fn date_of(task: &Task, field: &str) -> Option<Date> {
    match field {
        "due" => task.planning.due,
        "scheduled" => task.planning.scheduled,
        "start" => task.planning.start,
        "created" => task.planning.created,
        "done" => task.planning.done,
        "cancelled" => task.planning.cancelled,
        other => panic!("no date field {other}"),
    }
}

fn check_note(path: &str, text: &str, note: &ParsedNote, want: &Note) {
    assert_eq!(note.tags, want.tags, "{path}: note tags");
    let warnings: Vec<String> = note.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings.len(),
        want.warnings.len(),
        "{path}: warnings {warnings:?}"
    );
    for (got, fragment) in warnings.iter().zip(want.warnings) {
        assert!(
            got.contains(fragment),
            "{path}: warning {got:?} lacks {fragment:?}"
        );
    }
    let got: Vec<_> = note
        .tasks
        .iter()
        .map(|t| (t.line, t.description.as_str()))
        .collect();
    let expected: Vec<_> = want.tasks.iter().map(|w| (w.line, w.description)).collect();
    assert_eq!(got, expected, "{path}: tasks");
    for (task, w) in note.tasks.iter().zip(&want.tasks) {
        let at = format!("{path}:{}", w.line);
        assert_eq!(task.status, w.status, "{at}: status");
        assert_eq!(task.depth, w.depth, "{at}: depth");
        assert_eq!(task.planning.priority, w.priority, "{at}: priority");
        assert_eq!(
            task.planning.recurrence.as_deref(),
            w.recurrence,
            "{at}: recurrence"
        );
        assert_eq!(task.tags, w.tags, "{at}: tags");
        for field in ["due", "scheduled", "start", "created", "done", "cancelled"] {
            let expected = w
                .dates
                .iter()
                .find(|(f, _)| *f == field)
                .map(|(_, d)| parse_date(d).unwrap());
            assert_eq!(date_of(task, field), expected, "{at}: {field}");
        }
        // The span is the task's whole line as it is in the file, without the line ending.
        let line = text.split_inclusive('\n').nth(w.line - 1).unwrap();
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        assert_eq!(&text[task.line_span.clone()], line, "{at}: line span");
        assert_eq!(
            text[task.checkbox.end..task.line_span.end].trim(),
            task.raw,
            "{at}: raw"
        );
    }
}

#[test]
fn every_fixture_note_yields_its_table() {
    let root = fixtures();
    let table = table();
    for want in &table {
        let path = VaultPath::new(want.path).unwrap();
        assert!(is_task_source(&path), "{}", want.path);
        let text = std::fs::read_to_string(root.join(want.path)).unwrap();
        check_note(want.path, &text, &parse_note(&path, &text), want);
    }
    // The table covers every note of the fixture vault.
    let mut sources: Vec<String> = walk(&root)
        .into_iter()
        .filter(|p| is_task_source(&VaultPath::new(p).unwrap()))
        .collect();
    sources.sort();
    let mut listed: Vec<String> = table.iter().map(|n| n.path.to_owned()).collect();
    listed.sort();
    assert_eq!(sources, listed);
}

#[test]
fn revisions_and_other_files_are_not_sources() {
    let files = walk(&fixtures());
    let rejected: Vec<&String> = files
        .iter()
        .filter(|p| !is_task_source(&VaultPath::new(p).unwrap()))
        .collect();
    assert!(
        rejected.iter().any(|p| p.starts_with(".revisions/")),
        "{rejected:?}"
    );
    assert!(
        rejected.iter().any(|p| p.as_str() == "notes.txt"),
        "{rejected:?}"
    );
    // The revision is a byte copy: only its path keeps its tasks out.
    let root = fixtures();
    let copy =
        std::fs::read(root.join(".revisions/formats.2026-01-01T00-00-00Z.laptop.md")).unwrap();
    assert_eq!(copy, std::fs::read(root.join("formats.md")).unwrap());
}

#[test]
fn crlf_fixture_really_has_crlf_and_spans_keep_trailing_spaces() {
    let text = std::fs::read_to_string(fixtures().join("crlf.md")).unwrap();
    assert_eq!(
        text.matches("\r\n").count(),
        7,
        "git must keep crlf.md's line endings"
    );
    let note = parse_note(&VaultPath::new("crlf.md").unwrap(), &text);
    let nested = &note.tasks[1];
    assert_eq!(&text[nested.line_span.clone()], "  - [x] nested done  ");
    assert_eq!(nested.column, 5);
    assert_eq!(
        &text[nested.line_span.end..nested.line_span.end + 2],
        "\r\n"
    );
}

#[test]
fn identical_lines_get_distinct_stable_ids() {
    let text = std::fs::read_to_string(fixtures().join("formats.md")).unwrap();
    let path = VaultPath::new("formats.md").unwrap();
    let a = parse_note(&path, &text);
    let b = parse_note(&path, &text);
    let ids: Vec<_> = a.tasks.iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        b.tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        "stable"
    );
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "distinct, even for the two 'same line' tasks"
    );
    for task in &a.tasks {
        assert_eq!(a.find(task.id.short()).map(|t| t.line), Some(task.line));
    }
}

/// Files under `root` as vault paths (`/`-separated), hidden folders included.
fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let p = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap();
                out.push(rel.to_str().unwrap().replace('\\', "/"));
            }
        }
    }
    out
}
