use proptest::prelude::*;

use super::*;

fn path(p: &str) -> VaultPath {
    VaultPath::new(p).unwrap()
}

/// (line, status, depth, description) of every task.
fn summary(text: &str) -> Vec<(usize, char, usize, String)> {
    parse_note(&path("n.md"), text)
        .tasks
        .into_iter()
        .map(|t| (t.line, t.status, t.depth, t.description))
        .collect()
}

#[test]
fn what_is_and_is_not_a_task() {
    // (line, status, depth, description)
    type Row<'a> = (usize, char, usize, &'a str);
    let cases: &[(&str, &str, &[Row])] = &[
        ("dash", "- [ ] a", &[(1, ' ', 0, "a")]),
        ("star checked", "* [x] a", &[(1, 'x', 0, "a")]),
        ("plus upper X", "+ [X] a", &[(1, 'X', 0, "a")]),
        ("ordered dot", "1. [ ] a", &[(1, ' ', 0, "a")]),
        ("ordered paren", "1) [x] a", &[(1, 'x', 0, "a")]),
        ("in progress", "- [/] a", &[(1, '/', 0, "a")]),
        ("cancelled", "- [-] a", &[(1, '-', 0, "a")]),
        (
            "other status",
            "- [?] a\n- [>] b",
            &[(1, '?', 0, "a"), (2, '>', 0, "b")],
        ),
        ("non-ascii status", "- [é] a", &[(1, 'é', 0, "a")]),
        ("tab in box", "- [\t] a", &[(1, ' ', 0, "a")]),
        ("empty task", "- [ ]", &[(1, ' ', 0, "")]),
        ("empty custom", "- [/]\n", &[(1, '/', 0, "")]),
        ("no space after box", "- [ ]a\n- [/]a", &[]),
        ("two chars in box", "- [ab] a", &[]),
        ("empty box", "- [] a", &[]),
        ("paragraph", "[ ] a\n\nx [x] b", &[]),
        ("fenced code", "```\n- [ ] a\n```\n~~~md\n- [/] b\n~~~", &[]),
        ("indented code", "para\n\n    - [ ] a\n", &[]),
        ("html block", "<div>\n- [ ] a\n- [/] b\n</div>", &[]),
        ("checkbox on the next line", "-\n  [ ] a\n-\n  [/] b", &[]),
        (
            "nesting",
            "- [ ] a\n  - [x] b\n    - [/] c\n- [ ] d",
            &[
                (1, ' ', 0, "a"),
                (2, 'x', 1, "b"),
                (3, '/', 2, "c"),
                (4, ' ', 0, "d"),
            ],
        ),
        ("list inside list item", "- - [ ] a", &[(1, ' ', 1, "a")]),
        (
            "loose list",
            "- [ ] a\n\n- [/] b\n",
            &[(1, ' ', 0, "a"), (3, '/', 0, "b")],
        ),
        (
            "blockquote",
            "> - [ ] a\n> - [-] b",
            &[(1, ' ', 0, "a"), (2, '-', 0, "b")],
        ),
        (
            "plain item under task",
            "- [ ] a\n  - b\n  - [x] c",
            &[(1, ' ', 0, "a"), (3, 'x', 1, "c")],
        ),
        (
            "link text first",
            "- [/] [docs](http://x) a",
            &[(1, '/', 0, "[docs](http://x) a")],
        ),
        ("code first", "- [ ] `make` it", &[(1, ' ', 0, "`make` it")]),
    ];
    for (name, text, want) in cases {
        let want: Vec<_> = want
            .iter()
            .map(|(l, s, d, t)| (*l, *s, *d, t.to_string()))
            .collect();
        assert_eq!(summary(text), want, "{name}");
    }
}

#[test]
fn front_matter_is_not_markdown_and_gives_note_tags() {
    let text =
        "---\ntags: [proj, 'home/garden']\ntodo: |\n  - [ ] not a task\n---\n- [ ] t #own #proj\n";
    let note = parse_note(&path("n.md"), text);
    assert_eq!(note.tags, ["proj", "home/garden"]);
    assert!(note.warnings.is_empty(), "{:?}", note.warnings);
    assert_eq!(note.tasks.len(), 1);
    assert_eq!(note.tasks[0].line, 6);
    assert!(note.tasks[0].description == "t #own #proj");
    assert_eq!(note.tasks[0].tags, ["own", "proj", "home/garden"]);
}

#[test]
fn malformed_front_matter_is_a_warning() {
    let text = "---\ntags: [a, b\n---\n- [ ] still read\n";
    let note = parse_note(&path("n.md"), text);
    assert!(note.tags.is_empty());
    assert_eq!(note.warnings.len(), 1, "{:?}", note.warnings);
    assert_eq!(note.warnings[0].line, 1);
    assert!(note.warnings[0].message.starts_with("front matter ignored"));
    assert_eq!(summary(text), [(4, ' ', 0, "still read".to_owned())]);
}

#[test]
fn spans_lines_and_columns_with_crlf_bom_and_emoji() {
    let text = "\u{feff}# 日本\r\n\r\n- [ ] 買う 📅 2026-12-01\r\n  - [/] ёлка\r\n";
    let note = parse_note(&path("n.md"), text);
    let [a, b] = &note.tasks[..] else {
        panic!("{:?}", note.tasks)
    };
    assert_eq!((a.line, a.column, b.line, b.column), (3, 3, 4, 5));
    assert_eq!(&text[a.line_span.clone()], "- [ ] 買う 📅 2026-12-01");
    assert_eq!(&text[b.line_span.clone()], "  - [/] ёлка");
    assert_eq!(&text[a.checkbox.clone()], "[ ]");
    assert_eq!(a.raw, "買う 📅 2026-12-01");
    assert_eq!(a.description, "買う");
    assert_eq!(
        a.planning.due,
        super::super::fields::parse_date("2026-12-01")
    );
    assert_eq!(b.description, "ёлка");
}

#[test]
fn lone_cr_ends_a_line_as_in_commonmark() {
    let text = "- [ ] a\r- [x] b";
    let note = parse_note(&path("n.md"), text);
    let lines: Vec<_> = note
        .tasks
        .iter()
        .map(|t| (t.line, &text[t.line_span.clone()]))
        .collect();
    assert_eq!(lines, [(1, "- [ ] a"), (2, "- [x] b")]);
}

#[test]
fn ids_count_identical_lines_and_find_works() {
    let text = "- [ ] same\n- [ ] same\n- [ ] other\n";
    let note = parse_note(&path("n.md"), text);
    let ids: Vec<_> = note.tasks.iter().map(|t| t.id).collect();
    assert_eq!(ids[0], TaskId::new("n.md", "- [ ] same", 0));
    assert_eq!(ids[1], TaskId::new("n.md", "- [ ] same", 1));
    assert_eq!(ids[2], TaskId::new("n.md", "- [ ] other", 0));
    assert_eq!(note.find(ids[1].short()).map(|t| t.line), Some(2));
    // The line changed: the old id names nothing, instead of naming another line.
    let edited = parse_note(&path("n.md"), "- [x] same\n- [ ] same\n- [ ] other\n");
    assert_eq!(edited.find(ids[1].short()).map(|t| t.line), None);
    // Another path gives other ids.
    let moved = parse_note(&path("m.md"), text);
    assert!(moved.find(ids[0].short()).is_none());
}

#[test]
fn status_predicates() {
    let text = "- [ ] a\n- [/] b\n- [x] c\n- [X] d\n- [-] e\n- [?] f";
    let note = parse_note(&path("n.md"), text);
    let got: Vec<_> = note
        .tasks
        .iter()
        .map(|t| (t.is_open(), t.is_done(), t.is_cancelled()))
        .collect();
    let (o, d, c, n) = (
        (true, false, false),
        (false, true, false),
        (false, false, true),
        (false, false, false),
    );
    assert_eq!(got, [o, o, d, d, c, n]);
}

#[test]
fn task_sources() {
    for (p, want) in [
        ("a.md", true),
        ("dir/B.MD", true),
        ("x.Markdown", true),
        ("a.txt", false),
        ("md", false),
        (".md", false),
        ("a.md.bak", false),
        (".revisions/a.2026-01-01T00-00-00Z.dev.md", false),
        ("sub/.revisions/a.md", true),
    ] {
        assert_eq!(is_task_source(&path(p)), want, "{p}");
    }
}

/// A line built like a markdown line: container prefix, list marker, checkbox, text, ending.
fn line() -> impl Strategy<Value = String> {
    let pick = |v: &[&'static str]| prop::sample::select(v.to_vec());
    (
        pick(&["", "  ", "    ", "\t", "> ", "\u{feff}"]),
        pick(&[
            "- ", "* ", "+ ", "1. ", "2) ", "", "```", "~~~", "<div>", "</div>", "---", "...",
        ]),
        pick(&[
            "[ ] ", "[x] ", "[X]", "[/] ", "[-] ", "[é] ", "[\t] ", "[", "[]", "",
        ]),
        prop::collection::vec(
            pick(&[
                "x",
                " ",
                "  ",
                "tags: [a, ",
                "#tag",
                "#1",
                "`",
                "📅 ",
                "2026-12-01",
                "2026-99-01",
                "🔁 every week",
                "⏫",
                "[due:: ",
                "]",
                "(priority:: high)",
                "::",
                "日本語",
                "ёлка",
                "\u{fe0f}",
                "http://x/#a",
            ]),
            0..6,
        ),
        pick(&["\n", "\r\n", "\r", ""]),
    )
        .prop_map(|(indent, marker, checkbox, body, end)| {
            format!("{indent}{marker}{checkbox}{}{end}", body.concat())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_and_spans_are_one_line(
        lines in prop::collection::vec(line(), 0..12),
        noise in "\\PC{0,3}",
    ) {
        let text = format!("{noise}{}", lines.concat());
        let note = parse_note(&VaultPath::new("p.md").unwrap(), &text);
        let lines = Lines::new(&text);
        for task in &note.tasks {
            let span = task.line_span.clone();
            prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
            let line = &text[span.clone()];
            prop_assert!(!line.contains(['\n', '\r']), "{line:?}");
            // The span is a whole line: starts after a line ending (or at 0), ends before one.
            prop_assert!(span.start == 0 || matches!(text.as_bytes()[span.start - 1], b'\n' | b'\r'));
            prop_assert!(span.end == text.len() || matches!(text.as_bytes()[span.end], b'\n' | b'\r'));
            prop_assert_eq!(lines.index_of(span.start) + 1, task.line);
            prop_assert!(span.start <= task.checkbox.start && task.checkbox.end <= span.end);
            prop_assert!(text[task.checkbox.clone()].starts_with('['));
            prop_assert!(text[task.checkbox.clone()].ends_with(']'));
            prop_assert!(line.contains(task.raw.as_str()));
        }
    }
}

/// Found by the done-then-undo proptest: an item's text followed by `  -` is a setext heading
/// inside the item; its checkbox line is a task whether the box is empty or has text after it.
#[test]
fn a_checkbox_underlined_into_a_setext_heading_is_still_a_task() {
    let path = VaultPath::new("n.md").unwrap();
    for text in [
        "- [ ] \nmore\n  -\n",
        "- [x] done ✅ 2026-03-15\nmore\n  -\n",
    ] {
        let note = parse_note(&path, text);
        assert_eq!(note.tasks.len(), 1, "{text:?}");
        assert_eq!(note.tasks[0].line, 1);
    }
    let atx = parse_note(&path, "- # [ ] a heading, not a task\n");
    assert!(atx.tasks.is_empty());
}
