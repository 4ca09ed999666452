//! Notes, which any editor on any device writes: task lines, their fields and front matter
//! (`vault::markdown`).

use vault::VaultPath;
use vault::markdown::fields::parse_fields;
use vault::markdown::{append_task, front_matter, mark_done, mark_undone, parse_note};

/// Parsing a note: every span a task gives lies on character boundaries inside the note, its
/// checkbox inside its line; parsing is deterministic. Marking a task done or open changes its
/// line only (every byte before and after the line is kept: "never lose a word"), and the task
/// then reads as done or open; adding a task keeps the whole note before it.
pub fn markdown(data: &[u8]) {
    if data.len() > 16 * 1024 {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = VaultPath::new("notes/fuzz.md").unwrap();
    let note = parse_note(&path, text);
    assert_eq!(
        note,
        parse_note(&path, text),
        "parsing is not deterministic"
    );
    if let Some(fm) = front_matter::locate(text) {
        assert!(fm.yaml.end <= fm.body_start && fm.body_start <= text.len());
        assert!(text.is_char_boundary(fm.yaml.start) && text.is_char_boundary(fm.yaml.end));
    }
    // A code span over the first half, as the parser gives them: on character boundaries.
    let half = (0..=text.len() / 2)
        .rev()
        .find(|&i| text.is_char_boundary(i));
    let spans: Vec<std::ops::Range<usize>> = half.map(|h| 0..h).into_iter().collect();
    let _ = parse_fields(text, &spans);
    let today = jiff::civil::date(2026, 12, 7);
    for task in note.tasks.iter().take(8) {
        let line = &task.line_span;
        assert!(line.start <= line.end && line.end <= text.len());
        assert!(text.is_char_boundary(line.start) && text.is_char_boundary(line.end));
        assert!(line.start <= task.checkbox.start && task.checkbox.end <= line.end);
        assert!(text.is_char_boundary(task.checkbox.start));
        assert!(text.is_char_boundary(task.checkbox.end));
        assert!(
            !text[line.clone()].contains(['\n', '\r']),
            "a line span crosses a line"
        );
        let (before, after) = (&text[..line.start], &text[line.end..]);
        if let Ok(done) = mark_done(text, task, today) {
            assert!(
                done.starts_with(before),
                "marking done changed an earlier line"
            );
            assert!(done.ends_with(after), "marking done changed a later line");
            let again = parse_note(&path, &done);
            assert!(
                again
                    .tasks
                    .iter()
                    .any(|t| t.is_done() && t.line >= task.line),
                "a task marked done does not read as done"
            );
        }
        if let Ok(open) = mark_undone(text, task) {
            assert!(
                open.starts_with(before),
                "reopening changed an earlier line"
            );
            assert!(open.ends_with(after), "reopening changed a later line");
            let again = parse_note(&path, &open);
            let reopened = again.tasks.iter().find(|t| t.line == task.line);
            assert!(
                reopened.is_some_and(|t| t.is_open()),
                "a reopened task does not read as open"
            );
        }
    }
    if text.len() < 4096 {
        let appended = append_task(text, "- [ ] fuzz");
        assert!(appended.starts_with(text), "adding a task changed the note");
    }
}
