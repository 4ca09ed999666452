//! Ticking a task: the new text of its note, exactly as `syncd task done` / `undo` write it
//! ([`mark_done`] / [`mark_undone`] on the note's text), or why nothing is to be written. Pure.

use jiff::civil::Date;
use vault::VaultPath;
use vault::markdown::{EditError, Task, mark_done, mark_undone, parse_note};

/// What ticking (or unticking) a task comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Toggle {
    /// The note's new text, and the task as it now reads (its new id).
    Changed { text: String, task: Task },
    /// The task is already in the state asked for: nothing to write.
    AlreadyThere(Task),
    /// No task of the note has this id any more: its line changed.
    Gone,
    /// The task cannot be changed so (cancelled, a repetition not understood); why.
    Refused(String),
}

/// Mark the task with (full) id `id` of the note at `path` holding `text` done on `today`
/// (`done`) or not done.
pub fn toggle(path: &VaultPath, text: &str, id: &str, done: bool, today: Date) -> Toggle {
    let old = parse_note(path, text);
    let Some(task) = old.tasks.iter().find(|t| t.id.as_str() == id) else {
        return Toggle::Gone;
    };
    if task.is_done() == done {
        return Toggle::AlreadyThere(task.clone());
    }
    let edited = if done {
        mark_done(text, task, today)
    } else {
        mark_undone(text, task)
    };
    let new_text = match edited {
        Ok(t) => t,
        Err(EditError::Stale { .. }) => return Toggle::Gone,
        Err(e) => return Toggle::Refused(e.to_string()),
    };
    // A recurring task's next occurrence is one more task, right above it (as `syncd task
    // done` reports it).
    let new = parse_note(path, &new_text);
    let shift = usize::from(new.tasks.len() > old.tasks.len());
    match new.tasks.into_iter().find(|t| t.line == task.line + shift) {
        Some(task) => Toggle::Changed {
            text: new_text,
            task,
        },
        None => Toggle::Gone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> VaultPath {
        VaultPath::new("projects/Plan.md").unwrap()
    }

    fn day() -> Date {
        jiff::civil::date(2026, 12, 5)
    }

    fn id_of(text: &str, line: usize) -> String {
        let note = parse_note(&p(), text);
        let task = note.tasks.iter().find(|t| t.line == line).unwrap();
        task.id.as_str().to_string()
    }

    #[test]
    fn done_and_undone_change_only_the_line() {
        let text = "# Plan\r\n- [ ] Call Anna #phone  \r\n- [x] Book ✅ 2026-12-01\r\n";
        let Toggle::Changed { text: done, task } = toggle(&p(), text, &id_of(text, 2), true, day())
        else {
            panic!("not done")
        };
        assert_eq!(
            done,
            "# Plan\r\n- [x] Call Anna #phone ✅ 2026-12-05  \r\n- [x] Book ✅ 2026-12-01\r\n"
        );
        assert!(task.is_done() && task.line == 2);
        let Toggle::Changed { text: back, .. } =
            toggle(&p(), &done, task.id.as_str(), false, day())
        else {
            panic!("not undone")
        };
        assert_eq!(back, text);
    }

    #[test]
    fn a_recurring_task_gets_its_next_occurrence_and_the_done_one_is_reported() {
        let text = "- [ ] water 🔁 every week 📅 2026-12-01\n";
        let Toggle::Changed { text: done, task } = toggle(&p(), text, &id_of(text, 1), true, day())
        else {
            panic!("not done")
        };
        assert_eq!(
            done,
            "- [ ] water 🔁 every week 📅 2026-12-08\n- [x] water 🔁 every week 📅 2026-12-01 ✅ 2026-12-05\n"
        );
        assert_eq!(task.line, 2);
        assert!(task.is_done());
    }

    #[test]
    fn stale_ids_states_and_cancelled_tasks_write_nothing() {
        let text = "- [ ] a\n- [-] gone\n- [x] b\n";
        assert_eq!(
            toggle(&p(), text, "aaaaaaaaaaaaaaaa", true, day()),
            Toggle::Gone
        );
        // An id of the same line in another note is another id.
        let other = VaultPath::new("Home.md").unwrap();
        assert_eq!(
            toggle(&other, text, &id_of(text, 1), true, day()),
            Toggle::Gone
        );
        assert!(matches!(
            toggle(&p(), text, &id_of(text, 3), true, day()),
            Toggle::AlreadyThere(_)
        ));
        assert!(matches!(
            toggle(&p(), text, &id_of(text, 1), false, day()),
            Toggle::AlreadyThere(_)
        ));
        assert!(matches!(
            toggle(&p(), text, &id_of(text, 2), true, day()),
            Toggle::Refused(m) if m.contains("cancelled")
        ));
    }
}
