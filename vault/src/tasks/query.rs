//! Which tasks a listing shows, and in which order. Pure: data in, data out.

use jiff::civil::Date;

use super::index::NoteFlags;
use crate::markdown::tasks::{is_done_status, is_open_status};
use crate::markdown::{Priority, Task};
use crate::paths::VaultPath;

/// Tasks by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StateFilter {
    /// To do or in progress (`[ ]`, `[/]`), as the Tasks plugin counts "not done".
    #[default]
    Open,
    /// Done (`[x]`, `[X]`).
    Done,
    /// Every status, cancelled (`[-]`) and unknown ones too.
    All,
}

/// Notes whose path, or a folder above it, matches a glob: `Projects` and `Proj*` both take
/// every note under `Projects/`, `**/*.md` every note, `daily/2026-*` a year of daily notes.
/// `*` and `?` stay within one path component, `**` crosses folders, as in `.gitignore`.
#[derive(Debug, Clone)]
pub struct PathFilter {
    matcher: globset::GlobMatcher,
}

impl PathFilter {
    pub fn new(pattern: &str) -> Result<PathFilter, globset::Error> {
        let pattern = pattern.trim_start_matches("./").trim_end_matches('/');
        let glob = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .backslash_escape(true)
            .build()?;
        Ok(PathFilter {
            matcher: glob.compile_matcher(),
        })
    }

    pub fn matches(&self, path: &VaultPath) -> bool {
        let text = path.as_str();
        self.matcher.is_match(text)
            || text
                .match_indices('/')
                .any(|(i, _)| self.matcher.is_match(&text[..i]))
    }
}

/// What `syncd tasks` selects; the default lists every open task.
#[derive(Debug, Clone, Default)]
pub struct TaskQuery {
    pub state: StateFilter,
    /// Only tasks due strictly before this day (so `today` lists the overdue ones).
    pub due_before: Option<Date>,
    /// Only tasks carrying this tag or a tag nested under it (`work` takes `#work/meeting`),
    /// their own or their note's; any case, with or without `#`.
    pub tag: Option<String>,
    pub path: Option<PathFilter>,
}

impl TaskQuery {
    /// Whether the query wants any task of a note at `path` (checked once per note).
    pub fn wants_note(&self, path: &VaultPath) -> bool {
        self.path.as_ref().is_none_or(|f| f.matches(path))
    }

    /// Whether a note with these [`NoteFlags`] can hold a task the query wants (so notes
    /// without any are not decoded).
    pub fn may_want(&self, flags: NoteFlags) -> bool {
        match self.state {
            StateFilter::Open => flags.has_open(),
            StateFilter::Done => flags.has_done(),
            StateFilter::All => flags.has_tasks(),
        }
    }

    /// Whether the query wants `task` (of a note [`TaskQuery::wants_note`] took).
    pub fn wants(&self, task: &Task) -> bool {
        self.wants_status(task.status)
            && self.wants_due(task.planning.due)
            && self.wants_tags(&task.tags)
    }

    /// The part of [`TaskQuery::wants`] about the status.
    pub fn wants_status(&self, status: char) -> bool {
        match self.state {
            StateFilter::Open => is_open_status(status),
            StateFilter::Done => is_done_status(status),
            StateFilter::All => true,
        }
    }

    /// The part of [`TaskQuery::wants`] about the due date.
    pub fn wants_due(&self, due: Option<Date>) -> bool {
        self.due_before
            .is_none_or(|day| due.is_some_and(|due| due < day))
    }

    /// The part of [`TaskQuery::wants`] about tags (the task's own and its note's).
    pub fn wants_tags(&self, tags: &[String]) -> bool {
        self.tag
            .as_deref()
            .is_none_or(|want| tags.iter().any(|t| tag_matches(want, t)))
    }
}

/// `want` names `tag` or a folder of it, in any case.
fn tag_matches(want: &str, tag: &str) -> bool {
    let want = want.trim_start_matches('#').trim_end_matches('/');
    if want.is_empty() {
        return false;
    }
    match tag.get(..want.len()) {
        Some(head) if head.to_lowercase() == want.to_lowercase() => {
            tag.len() == want.len() || tag.as_bytes()[want.len()] == b'/'
        }
        // A different byte length in another case (rare letters like 'ẞ'): compare whole.
        _ => tag.to_lowercase() == want.to_lowercase(),
    }
}

/// How urgent a priority is, with "none" where the Tasks plugin puts it: between medium and low.
fn urgency(p: Option<Priority>) -> u8 {
    match p {
        Some(Priority::Highest) => 0,
        Some(Priority::High) => 1,
        Some(Priority::Medium) => 2,
        None => 3,
        Some(Priority::Low) => 4,
        Some(Priority::Lowest) => 5,
    }
}

/// How soon a task needs doing, as the first part of [`task_order`]: by due date (undated
/// last), then priority. Small and `Copy`, so a listing can sort a vault's tasks by it without
/// holding the tasks.
pub fn urgency_key(due: Option<Date>, priority: Option<Priority>) -> (i32, u8) {
    let day = due.map_or(i32::MAX, |d| {
        i32::from(d.year()) * 512 + i32::from(d.month()) * 32 + i32::from(d.day())
    });
    (day, urgency(priority))
}

/// The order of a listing (what needs doing first comes first): by [`urgency_key`], then where
/// the task is (path, line), so equal tasks keep their order in the notes. A total order on
/// tasks alone, independent of any query: a listing sorted once can be filtered many times and
/// stays sorted (the server's web view does so per head snapshot).
pub fn task_order(
    (a_path, a): (&VaultPath, &Task),
    (b_path, b): (&VaultPath, &Task),
) -> std::cmp::Ordering {
    let key = |t: &Task| urgency_key(t.planning.due, t.planning.priority);
    key(a)
        .cmp(&key(b))
        .then_with(|| a_path.cmp(b_path))
        .then(a.line.cmp(&b.line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::parse_note;
    use crate::tasks::ListedTask;

    fn tasks(text: &str) -> Vec<ListedTask> {
        let path = VaultPath::new("n.md").unwrap();
        parse_note(&path, text)
            .tasks
            .into_iter()
            .map(|task| ListedTask {
                path: path.clone(),
                task,
            })
            .collect()
    }

    fn picked(q: &TaskQuery, text: &str) -> Vec<String> {
        tasks(text)
            .into_iter()
            .filter(|t| q.wants(&t.task))
            .map(|t| t.task.description)
            .collect()
    }

    const NOTE: &str = "\
- [ ] open
- [/] started
- [x] done
- [X] done upper
- [-] cancelled
- [?] question
- [ ] due 📅 2026-12-01
- [ ] due later 📅 2026-12-02
- [ ] tagged #Work/meeting
- [ ] other tag #workshop
- [ ] plain tag #work
";

    #[test]
    fn status_filters_follow_the_tasks_plugin() {
        let open = TaskQuery::default();
        assert_eq!(
            picked(&open, NOTE),
            [
                "open",
                "started",
                "due",
                "due later",
                "tagged #Work/meeting",
                "other tag #workshop",
                "plain tag #work"
            ]
        );
        let done = TaskQuery {
            state: StateFilter::Done,
            ..TaskQuery::default()
        };
        assert_eq!(picked(&done, NOTE), ["done", "done upper"]);
        let all = TaskQuery {
            state: StateFilter::All,
            ..TaskQuery::default()
        };
        assert_eq!(picked(&all, NOTE).len(), 11);
    }

    #[test]
    fn due_before_is_strict_and_skips_undated_tasks() {
        let q = TaskQuery {
            due_before: Some(jiff::civil::date(2026, 12, 2)),
            ..TaskQuery::default()
        };
        assert_eq!(picked(&q, NOTE), ["due"]);
    }

    #[test]
    fn tags_match_nested_tags_in_any_case_but_not_longer_words() {
        for want in ["work", "#WORK", "work/"] {
            let q = TaskQuery {
                tag: Some(want.into()),
                ..TaskQuery::default()
            };
            assert_eq!(
                picked(&q, NOTE),
                ["tagged #Work/meeting", "plain tag #work"],
                "{want}"
            );
        }
        let q = TaskQuery {
            tag: Some("work/meeting".into()),
            ..TaskQuery::default()
        };
        assert_eq!(picked(&q, NOTE), ["tagged #Work/meeting"]);
        let q = TaskQuery {
            tag: Some("#".into()),
            ..TaskQuery::default()
        };
        assert!(picked(&q, NOTE).is_empty());
    }

    #[test]
    fn note_tags_count_as_the_tasks_tags() {
        let q = TaskQuery {
            tag: Some("home".into()),
            ..TaskQuery::default()
        };
        assert_eq!(
            picked(&q, "---\ntags: [Home]\n---\n- [ ] fix door\n"),
            ["fix door"]
        );
    }

    #[test]
    fn path_globs_take_folders_and_stay_within_components() {
        let p = |s: &str| VaultPath::new(s).unwrap();
        let f = PathFilter::new("Projects").unwrap();
        assert!(f.matches(&p("Projects/a.md")) && f.matches(&p("Projects/x/b.md")));
        assert!(!f.matches(&p("Projects2/a.md")) && !f.matches(&p("a/Projects.md")));
        let f = PathFilter::new("Proj*").unwrap();
        assert!(f.matches(&p("Projects/x/b.md")) && !f.matches(&p("notes/Projects/b.md")));
        let f = PathFilter::new("*.md").unwrap();
        assert!(f.matches(&p("a.md")) && !f.matches(&p("x/a.txt")));
        let f = PathFilter::new("**/2026-*.md").unwrap();
        assert!(f.matches(&p("daily/2026-01-02.md")) && f.matches(&p("2026-01-02.md")));
        assert!(!f.matches(&p("daily/2025-01-02.md")));
        let f = PathFilter::new("./daily/").unwrap();
        assert!(f.matches(&p("daily/x.md")));
        assert!(PathFilter::new("a[").is_err());
    }

    #[test]
    fn sorting_puts_due_dates_first_then_priority_then_place() {
        let mut list = tasks(
            "\
- [ ] undated low 🔽
- [ ] undated
- [ ] late 📅 2026-12-09
- [ ] early 📅 2026-12-01
- [ ] early high ⏫ 📅 2026-12-01
- [ ] undated highest 🔺
",
        );
        list.sort_by(|a, b| task_order((&a.path, &a.task), (&b.path, &b.task)));
        let order: Vec<_> = list.iter().map(|t| t.task.description.as_str()).collect();
        assert_eq!(
            order,
            [
                "early high",
                "early",
                "late",
                "undated highest",
                "undated",
                "undated low"
            ]
        );
    }
}
