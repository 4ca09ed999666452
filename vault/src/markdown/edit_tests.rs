use jiff::civil::date;
use proptest::prelude::*;

use super::*;
use crate::markdown::recurrence::Rule;
use crate::markdown::{Task, parse_date};

const TODAY: Date = date(2026, 3, 15);

fn parse(text: &str) -> Vec<Task> {
    parse_note(&VaultPath::new("n.md").unwrap(), text).tasks
}

/// The task on 1-based `line`.
fn task_on(text: &str, line: usize) -> Task {
    parse(text)
        .into_iter()
        .find(|t| t.line == line)
        .unwrap_or_else(|| panic!("no task on line {line} of {text:?}"))
}

#[test]
fn done_and_undone_change_only_the_task_line() {
    // (name, text, task line, after done)
    let cases: &[(&str, &str, usize, &str)] = &[
        ("plain", "- [ ] a", 1, "- [x] a ✅ 2026-03-15"),
        (
            "lf kept",
            "x\n- [ ] a\ny\n",
            2,
            "x\n- [x] a ✅ 2026-03-15\ny\n",
        ),
        (
            "crlf kept",
            "x\r\n- [ ] a\r\ny",
            2,
            "x\r\n- [x] a ✅ 2026-03-15\r\ny",
        ),
        (
            "lone cr",
            "- [ ] a\r- [ ] b",
            2,
            "- [ ] a\r- [x] b ✅ 2026-03-15",
        ),
        (
            "trailing spaces",
            "- [ ] a  \t\n",
            1,
            "- [x] a ✅ 2026-03-15  \t\n",
        ),
        ("in progress", "- [/] a", 1, "- [x] a ✅ 2026-03-15"),
        ("empty task", "- [ ]\n", 1, "- [x] ✅ 2026-03-15\n"),
        (
            "emoji and fields",
            "- [ ] 日本語 🎉 #t 📅 2026-03-20 ⏫",
            1,
            "- [x] 日本語 🎉 #t 📅 2026-03-20 ⏫ ✅ 2026-03-15",
        ),
        (
            "nested",
            "- [ ] a\n  - [ ] b\n",
            2,
            "- [ ] a\n  - [x] b ✅ 2026-03-15\n",
        ),
        (
            "ordered",
            "1. [ ] a\n2) [ ] b",
            2,
            "1. [ ] a\n2) [x] b ✅ 2026-03-15",
        ),
        ("blockquote", "> - [ ] a\n", 1, "> - [x] a ✅ 2026-03-15\n"),
        ("bom", "\u{feff}- [ ] a", 1, "\u{feff}- [x] a ✅ 2026-03-15"),
        (
            "block link",
            "- [ ] a ^abc-1 ",
            1,
            "- [x] a ✅ 2026-03-15 ^abc-1 ",
        ),
        (
            "code span",
            "- [ ] `✅ 2020-01-01` a",
            1,
            "- [x] `✅ 2020-01-01` a ✅ 2026-03-15",
        ),
        (
            "code span to a later line",
            "- [ ] a b`c\nd`",
            1,
            "- [x] a ✅ 2026-03-15 b`c\nd`",
        ),
        (
            "front matter",
            "---\ntags: [a]\n---\n- [ ] a",
            4,
            "---\ntags: [a]\n---\n- [x] a ✅ 2026-03-15",
        ),
    ];
    for (name, text, line, expected) in cases {
        let task = task_on(text, *line);
        let done = mark_done(text, &task, TODAY).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&done, expected, "{name}");
        let again = task_on(&done, *line);
        assert!(again.is_done(), "{name}");
        assert_eq!(again.planning.done, Some(TODAY), "{name}");
        let undone = mark_undone(&done, &again).unwrap();
        let reopened = text.replacen("[/]", "[ ]", 1);
        assert_eq!(undone, reopened, "{name}: undone");
    }
}

#[test]
fn undone_removes_only_the_done_field() {
    let cases: &[(&str, &str)] = &[
        (
            "- [x] a ✅ 2026-01-01 📅 2026-01-02",
            "- [ ] a 📅 2026-01-02",
        ),
        ("- [X] a", "- [ ] a"),
        ("- [x] a [completion:: 2026-01-01] b", "- [ ] a b"),
        ("- [x] a ✅ 2026-01-01\r\n", "- [ ] a\r\n"),
        ("- [x] a ✅ soon", "- [ ] a ✅ soon"),
        (
            "- [x] a `✅ 2026-01-01` ✅ 2026-01-02",
            "- [ ] a `✅ 2026-01-01`",
        ),
    ];
    for (text, expected) in cases {
        let undone = mark_undone(text, &task_on(text, 1)).unwrap();
        assert_eq!(&undone, expected, "{text:?}");
    }
}

#[test]
fn an_open_task_with_a_done_date_gets_it_replaced() {
    let text = "- [ ] a ✅ 2020-01-01 b";
    let done = mark_done(text, &task_on(text, 1), TODAY).unwrap();
    assert_eq!(done, "- [x] a ✅ 2026-03-15 b");
}

#[test]
fn refusals_leave_a_clear_error() {
    let text = "- [x] done\n- [-] cancelled\n- [ ] open 🔁 every blue moon\n- [ ] fine\n";
    let done = task_on(text, 1);
    let cancelled = task_on(text, 2);
    let odd = task_on(text, 3);
    let open = task_on(text, 4);
    assert_eq!(
        mark_done(text, &done, TODAY),
        Err(EditError::AlreadyDone { line: 1 })
    );
    assert_eq!(
        mark_undone(text, &open),
        Err(EditError::NotDone { line: 4 })
    );
    assert_eq!(
        mark_done(text, &cancelled, TODAY),
        Err(EditError::Cancelled { line: 2 })
    );
    assert_eq!(
        mark_undone(text, &cancelled),
        Err(EditError::Cancelled { line: 2 })
    );
    let err = mark_done(text, &odd, TODAY).unwrap_err();
    assert_eq!(
        err,
        EditError::UnknownRecurrence {
            line: 3,
            rule: "every blue moon".into()
        }
    );
    assert!(err.to_string().contains("nothing changed"), "{err}");

    // Stale: the line changed, lines moved, or the note is another one.
    let stale = [
        text.replace("fine", "fine!"),
        format!("new line\n{text}"),
        text.replace("- [ ] fine", "- [x] fine"),
        String::new(),
        "- [ ] fine".to_owned(),
    ];
    for changed in &stale {
        let err = mark_done(changed, &open, TODAY).unwrap_err();
        assert_eq!(err, EditError::Stale { line: 4 }, "{changed:?}");
        assert!(err.to_string().contains("list the tasks again"), "{err}");
    }
    // A change elsewhere that keeps the line where it was does not matter.
    let elsewhere = text.replace("done\n", "DONE\n");
    assert!(mark_done(&elsewhere, &open, TODAY).is_ok());
}

#[test]
fn recurrence_rules() {
    let d = |s: &str| parse_date(s).unwrap();
    // (rule, from, next)
    let cases: &[(&str, &str, &str)] = &[
        ("every day", "2026-02-28", "2026-03-01"),
        ("every 3 days", "2026-12-30", "2027-01-02"),
        ("every week", "2026-03-15", "2026-03-22"),
        ("every 2 weeks", "2026-03-15", "2026-03-29"),
        ("every month", "2026-01-31", "2026-02-28"),
        ("every month", "2028-01-31", "2028-02-29"),
        ("every 3 months", "2026-11-30", "2027-02-28"),
        ("every year", "2028-02-29", "2029-02-28"),
        ("every 2 years", "2026-03-15", "2028-03-15"),
        ("Every Weekday", "2026-03-13", "2026-03-16"), // Friday -> Monday
        ("every weekday", "2026-03-14", "2026-03-16"), // Saturday -> Monday
        ("every weekday", "2026-03-16", "2026-03-17"),
        ("every monday", "2026-03-15", "2026-03-16"),
        ("every monday", "2026-03-16", "2026-03-23"), // strictly after
        ("every week on friday", "2026-03-15", "2026-03-20"),
        ("every sunday when done", "2026-03-15", "2026-03-22"),
    ];
    for (rule, from, next) in cases {
        let parsed = Rule::parse(rule).unwrap_or_else(|| panic!("{rule}"));
        assert_eq!(parsed.next(d(from)), Some(d(next)), "{rule} from {from}");
    }
    assert!(Rule::parse("every week when done").unwrap().when_done);
    for unknown in [
        "",
        "every",
        "daily",
        "every 0 days",
        "every 2 weekdays",
        "every 2 mondays",
        "every week on funday",
        "every day when",
        "every month on the 3rd",
    ] {
        assert_eq!(Rule::parse(unknown), None, "{unknown:?}");
    }
}

#[test]
fn recurring_task_gets_its_next_occurrence_above() {
    // (text, next occurrence line, done line)
    let cases: &[(&str, &str, &str)] = &[
        (
            "- [ ] pay 🔁 every month 📅 2026-01-31\n",
            "- [ ] pay 🔁 every month 📅 2026-02-28\n",
            "- [x] pay 🔁 every month 📅 2026-01-31 ✅ 2026-03-15\n",
        ),
        (
            // Dates keep their distance to due; created becomes today.
            "  * [/] a 🔁 every week ➕ 2026-01-01 🛫 2026-03-01 ⏳ 2026-03-08 📅 2026-03-10  \r\n",
            "  * [ ] a 🔁 every week ➕ 2026-03-15 🛫 2026-03-08 ⏳ 2026-03-15 📅 2026-03-17  \r\n",
            "  * [x] a 🔁 every week ➕ 2026-01-01 🛫 2026-03-01 ⏳ 2026-03-08 📅 2026-03-10 ✅ 2026-03-15  \r\n",
        ),
        (
            // `when done`: from today; scheduled is the reference without due.
            "> 1. [ ] b 🔁 every 2 days when done ⏳ 2026-01-01",
            "> 1. [ ] b 🔁 every 2 days when done ⏳ 2026-03-17\n",
            "> 1. [x] b 🔁 every 2 days when done ⏳ 2026-01-01 ✅ 2026-03-15",
        ),
        (
            // Dataview form; no dates at all is just a copy.
            "- [ ] c [repeat:: every weekday] [due:: 2026-03-13]\n",
            "- [ ] c [repeat:: every weekday] [due:: 2026-03-16]\n",
            "- [x] c [repeat:: every weekday] [due:: 2026-03-13] ✅ 2026-03-15\n",
        ),
        (
            "- [ ] d 🔁 every monday ❌ 2020-01-01\n",
            "- [ ] d 🔁 every monday\n",
            "- [x] d 🔁 every monday ❌ 2020-01-01 ✅ 2026-03-15\n",
        ),
        (
            // A block link stays with the done line only (it names one block).
            "- [ ] f 🔁 every day 📅 2026-03-15 ^blk-1  \n",
            "- [ ] f 🔁 every day 📅 2026-03-16  \n",
            "- [x] f 🔁 every day 📅 2026-03-15 ✅ 2026-03-15 ^blk-1  \n",
        ),
        (
            "\u{feff}- [ ] e 🔁 every year 🛫 2028-02-29\n",
            "\u{feff}- [ ] e 🔁 every year 🛫 2029-02-28\n",
            "- [x] e 🔁 every year 🛫 2028-02-29 ✅ 2026-03-15\n",
        ),
    ];
    for (text, next, done) in cases {
        let out = mark_done(text, &task_on(text, 1), TODAY).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, format!("{next}{done}"), "{text:?}");
        let tasks = parse(&out);
        assert!(tasks[0].is_open() && tasks[0].planning.done.is_none());
        assert_eq!(tasks[1].planning.done, Some(TODAY));
    }
}

#[test]
fn new_task_lines_and_appending() {
    assert_eq!(new_task_line("buy milk", None, None), "- [ ] buy milk");
    assert_eq!(
        new_task_line(" a\r\nb ", Some(date(2026, 12, 1)), Some(Priority::High)),
        "- [ ] a b ⏫ 📅 2026-12-01"
    );
    let line = new_task_line("n", None, None);
    // (note, result)
    let cases: &[(&str, &str)] = &[
        ("", "- [ ] n\n"),
        ("text", "text\n- [ ] n\n"),
        ("a\r\nb\r\n", "a\r\nb\r\n- [ ] n\r\n"),
        ("a\r\nb\r\nc", "a\r\nb\r\nc\r\n- [ ] n\r\n"),
        ("- [ ] a\n", "- [ ] a\n- [ ] n\n"),
        ("<div>\nx", "<div>\nx\n\n- [ ] n\n"),
        ("\u{feff}", "\u{feff}- [ ] n\n"),
    ];
    for (note, expected) in cases {
        let out = append_task(note, &line);
        assert_eq!(&out, expected, "{note:?}");
        assert!(out.starts_with(note));
    }
    let parsed = parse(&append_task(
        "x",
        &new_task_line("d #t", Some(TODAY), Some(Priority::Low)),
    ));
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].description, "d #t");
    assert_eq!(parsed[0].planning.due, Some(TODAY));
    assert_eq!(parsed[0].planning.priority, Some(Priority::Low));
}

/// A line built like a markdown line (as in tasks_tests.rs), with fields and endings.
fn line() -> impl Strategy<Value = String> {
    let pick = |v: &[&'static str]| prop::sample::select(v.to_vec());
    (
        pick(&["", "  ", "    ", "\t", "> ", "\u{feff}"]),
        pick(&["- ", "* ", "+ ", "1. ", "2) ", "", "```", "<div>", "---"]),
        pick(&[
            "[ ] ", "[ ]", "[x] ", "[X] ", "[/] ", "[-] ", "[é] ", "[", "",
        ]),
        prop::collection::vec(
            pick(&[
                "x",
                " ",
                "  ",
                "#tag",
                "`",
                "📅 ",
                "✅ ",
                "2026-12-01",
                "2026-99-01",
                "⏫",
                "[due:: ",
                "[completion:: ",
                "]",
                "(",
                ")",
                "::",
                "日本語",
                "\u{fe0f}",
                " ^id",
                "^",
                "\t",
            ]),
            0..6,
        ),
        pick(&["\n", "\r\n", "\r", ""]),
    )
        .prop_map(|(indent, marker, checkbox, body, end)| {
            format!("{indent}{marker}{checkbox}{}{end}", body.concat())
        })
}

/// The lines of `text` with their endings.
fn split_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let end = match b[i] {
            b'\r' if b.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' | b'\n' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        out.push(&text[start..end]);
        start = end;
        i = end;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn done_then_undone_is_the_identity(lines in prop::collection::vec(line(), 0..10)) {
        let text = lines.concat();
        for task in parse(&text) {
            let plain = &text[task.checkbox.clone()] == "[ ]"
                && task.planning.recurrence.is_none()
                && task.planning.done.is_none();
            if !plain {
                continue;
            }
            let done = mark_done(&text, &task, TODAY).unwrap();
            let again = parse(&done).into_iter().find(|t| t.line == task.line).unwrap();
            prop_assert_eq!(mark_undone(&done, &again).unwrap(), text.clone());
        }
    }

    #[test]
    fn done_changes_exactly_the_task_line(lines in prop::collection::vec(line(), 0..10)) {
        let text = lines.concat();
        for task in parse(&text) {
            if task.is_done() || task.is_cancelled() || task.planning.recurrence.is_some() {
                continue;
            }
            let done = mark_done(&text, &task, TODAY).unwrap();
            let (before, after) = (split_lines(&text), split_lines(&done));
            prop_assert_eq!(before.len(), after.len());
            for (i, (b, a)) in before.iter().zip(&after).enumerate() {
                if i + 1 != task.line {
                    prop_assert_eq!(b, a);
                }
            }
            let again = parse(&done).into_iter().find(|t| t.line == task.line);
            prop_assert!(again.is_some(), "{:?}", done);
            let again = again.unwrap();
            prop_assert!(again.is_done());
            prop_assert_eq!(again.planning.done, Some(TODAY));
            prop_assert_eq!(again.line_span.start, task.line_span.start);
        }
    }
}
