//! One note content's tasks as the tasks cache keeps them: what a listing filters and sorts by
//! in fixed fields ([`TaskKey`]: status, due date, priority, line, interned tags), the rest
//! packed ([`PackedTasks`]: each task's line, read back into a whole [`Task`] only for the rows
//! a page shows).
//!
//! Parsed whole, a task held its description, raw text, planning and tags (the note's copied
//! into each) in owned fields: at 100,000 notes and 293,000 tasks some 150 MiB of an idle
//! server's 336. Packed, with some 20 bytes of keys and 4 a tag in fixed fields, the same tasks take a fraction of
//! that, and the order and filters of `syncd tasks` still run over fixed fields alone.
//!
//! A packed note does not depend on its path (ids are made for the path asked), so the cache
//! keeps one per content.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::civil::Date;
use vault::markdown::{ParsedNote, Priority, Task};
use vault::paths::VaultPath;
use vault::tasks::{PackedTasks, TaskQuery, urgency_key};

/// What a listing filters and sorts one task by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskKey {
    /// 1-based.
    pub line: u32,
    pub status: char,
    pub due: Option<Date>,
    pub priority: Option<Priority>,
    /// Where its tags end in its note's [`CompactNote::tags`] (they start where the previous
    /// task's end).
    tags_end: u32,
}

impl TaskKey {
    /// The first part of `syncd tasks`'s order ([`vault::tasks::task_order`]).
    pub fn urgency(&self) -> (i32, u8) {
        urgency_key(self.due, self.priority)
    }
}

/// The names of the tags a vault's tasks carry, each once, by number: a task keeps numbers,
/// and a query's tag filter is checked once per name, not once per task and tag.
#[derive(Debug, Default, Clone)]
pub struct TagNames {
    ids: HashMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl TagNames {
    fn id(&mut self, tag: &str) -> u32 {
        if let Some(&id) = self.ids.get(tag) {
            return id;
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = Arc::from(tag);
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    /// Which tag numbers `query`'s tag filter takes (`None`: it has none, every task passes).
    pub fn wanted(&self, query: &TaskQuery) -> Option<Vec<bool>> {
        query.tag.as_ref()?;
        Some(
            self.names
                .iter()
                .map(|name| query.wants_tags(&[name.to_string()]))
                .collect(),
        )
    }
}

/// A note content's tasks, parsed but its tags not yet numbered (made on many threads, then
/// numbered under the cache's lock).
#[derive(Debug)]
pub struct LooseNote {
    packed: PackedTasks,
    keys: Vec<TaskKey>,
    tags: Vec<Vec<String>>,
}

impl LooseNote {
    /// The tasks of the note content `bytes` found at `path` (any path it is at: nothing kept
    /// depends on it).
    pub fn parse(path: &VaultPath, bytes: &[u8]) -> LooseNote {
        let (packed, parsed) = PackedTasks::parse(path, bytes);
        let ParsedNote { tasks, .. } = parsed;
        let mut keys = Vec::with_capacity(tasks.len());
        let mut tags = Vec::with_capacity(tasks.len());
        for task in tasks {
            keys.push(TaskKey {
                line: task.line as u32,
                status: task.status,
                due: task.planning.due,
                priority: task.planning.priority,
                tags_end: 0,
            });
            tags.push(task.tags);
        }
        LooseNote { packed, keys, tags }
    }

    /// The note with its tags numbered in `names`.
    pub fn number(self, names: &mut TagNames) -> CompactNote {
        let LooseNote {
            packed,
            mut keys,
            tags,
        } = self;
        let mut flat = Vec::new();
        for (key, tags) in keys.iter_mut().zip(tags) {
            flat.extend(tags.iter().map(|t| names.id(t)));
            key.tags_end = flat.len() as u32;
        }
        CompactNote {
            keys: keys.into_boxed_slice(),
            tags: flat.into_boxed_slice(),
            packed,
        }
    }
}

/// A note content's tasks: keys and tag numbers in fixed fields, the rest packed.
#[derive(Debug, Default)]
pub struct CompactNote {
    keys: Box<[TaskKey]>,
    tags: Box<[u32]>,
    packed: PackedTasks,
}

impl CompactNote {
    /// How many tasks it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn key(&self, t: usize) -> &TaskKey {
        &self.keys[t]
    }

    /// Task `t`'s tags (its own, then the note's), numbered.
    pub fn tags(&self, t: usize) -> &[u32] {
        let start = if t == 0 { 0 } else { self.keys[t - 1].tags_end };
        &self.tags[start as usize..self.keys[t].tags_end as usize]
    }

    /// Whether `query` wants task `t` (of a note whose path it takes); `tags`: what
    /// [`TagNames::wanted`] said for it.
    pub fn wants(&self, t: usize, query: &TaskQuery, tags: Option<&[bool]>) -> bool {
        let key = &self.keys[t];
        query.wants_status(key.status)
            && query.wants_due(key.due)
            && tags.is_none_or(|wanted| {
                self.tags(t)
                    .iter()
                    .any(|&id| wanted.get(id as usize).copied().unwrap_or(false))
            })
    }

    /// Task `t` whole, as the parser reads it in this note at `path`.
    pub fn task(&self, t: usize, path: &VaultPath) -> Option<Task> {
        self.packed.task(t, path)
    }

    /// Which task has id `id` at `path`.
    pub fn position(&self, path: &VaultPath, id: &str) -> Option<usize> {
        self.packed.position(path, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault::markdown::parse_note;
    use vault::tasks::StateFilter;

    const NOTES: &[&str] = &[
        "---\ntags: [home, work/x]\n---\n# Title\n- [ ] a 📅 2026-12-01 ⏫ #x\n  - [x] b ✅ 2026-11-02 #home\n",
        "- [ ] same\n- [ ] other #work/meeting\n- [ ] same\n",
        "- [/] in progress 🔼 [due:: 2027-01-02]\n- [-] cancelled ❌ 2026-01-01\n- [?] odd\n",
        "- [ ] `📅 2026-12-01` in code, 📅 2026-12-03 outside #Work\n",
        "no tasks\n",
    ];

    fn queries() -> Vec<TaskQuery> {
        let mut out = Vec::new();
        for state in [StateFilter::Open, StateFilter::Done, StateFilter::All] {
            for due_before in [None, Date::new(2026, 12, 2).ok()] {
                for tag in [None, Some("work"), Some("#home"), Some("x"), Some("nope")] {
                    out.push(TaskQuery {
                        state,
                        due_before,
                        tag: tag.map(String::from),
                        path: None,
                    });
                }
            }
        }
        out
    }

    #[test]
    fn a_compact_note_filters_and_reads_back_as_the_parse_does() {
        let mut names = TagNames::default();
        let path = VaultPath::new("p/n.md").unwrap();
        for text in NOTES {
            let note = LooseNote::parse(&path, text.as_bytes()).number(&mut names);
            let parsed = parse_note(&path, text).tasks;
            assert_eq!(note.len(), parsed.len());
            for (t, task) in parsed.iter().enumerate() {
                assert_eq!(note.task(t, &path).as_ref(), Some(task));
                let key = note.key(t);
                assert_eq!(key.line as usize, task.line);
                assert_eq!(
                    key.urgency(),
                    urgency_key(task.planning.due, task.planning.priority)
                );
                for q in queries() {
                    let wanted = names.wanted(&q);
                    assert_eq!(
                        note.wants(t, &q, wanted.as_deref()),
                        q.wants(task),
                        "{q:?} {task:?}"
                    );
                }
                assert_eq!(note.position(&path, task.id.as_str()), Some(t));
            }
        }
    }
}
