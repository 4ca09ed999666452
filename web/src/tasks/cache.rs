//! Every task of a vault's head snapshot, kept warm.
//!
//! A note's tasks are parsed once per path and content: [`IndexedNote`] (the same parse
//! `syncd tasks` stores in its task index) is cached by path and blob id, so a new head parses
//! only the notes it changed (or moved). Per head, every task is sorted once in the order of
//! `syncd tasks` ([`task_order`], which does not depend on the filters); a page then walks that
//! order and keeps the tasks its [`TaskQuery`] wants, so the first 500 need no sort at all.
//!
//! Task ids depend on the note's path; a parse made at the path a page shows already holds
//! them, so what the index keeps to make ids for other paths (each task's whole line), each
//! task's raw text and the parse's warnings are dropped ([`slim`]): at 100,000 notes and
//! 290,000 tasks they were a fifth of an idle server's memory. Ticking a task reads and parses
//! its note again, so nothing here is needed to write one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use vault::hub_write;
use vault::id::ObjectId;
use vault::markdown::{Task, is_task_source};
use vault::paths::VaultPath;
use vault::tasks::index::IndexedNote;
use vault::tasks::{TaskQuery, task_order};

use crate::vaults::{HeadView, OpenedVault};
use crate::{Web, WebError};

/// Blobs fetched from the hub per request while a head is first read (bounds the memory a
/// cold start holds at once).
const FETCH_CHUNK: usize = 512;
/// More notes read than this: the heap is trimmed afterwards.
const BIG_BUILD: usize = 256;

/// One note of the head and its parse.
#[derive(Debug)]
pub struct NoteAt {
    pub path: VaultPath,
    pub blob: ObjectId,
    pub note: Arc<IndexedNote>,
}

/// A task as a page shows it: its id made for the note's path.
#[derive(Debug, Clone)]
pub struct Row {
    pub path: VaultPath,
    pub blob: ObjectId,
    pub task: Task,
}

/// What a query selected: the first rows and how many more there are.
#[derive(Debug, Default)]
pub struct Selection {
    pub rows: Vec<Row>,
    pub more: usize,
}

/// Every task of one head, sorted.
#[derive(Debug, Default)]
pub struct HeadTasks {
    pub head: Option<ObjectId>,
    /// In path order.
    notes: Vec<NoteAt>,
    /// (note, task) positions in `syncd tasks`'s order.
    order: Vec<(u32, u32)>,
}

impl HeadTasks {
    /// The tasks of `notes` (in path order), sorted.
    pub fn new(head: Option<ObjectId>, notes: Vec<NoteAt>) -> HeadTasks {
        let mut order: Vec<(u32, u32)> = notes
            .iter()
            .enumerate()
            .flat_map(|(n, note)| {
                (0..note.note.parsed.tasks.len()).map(move |t| (n as u32, t as u32))
            })
            .collect();
        let at = |&(n, t): &(u32, u32)| {
            let note = &notes[n as usize];
            (&note.path, &note.note.parsed.tasks[t as usize])
        };
        order.par_sort_unstable_by(|a, b| task_order(at(a), at(b)));
        HeadTasks { head, notes, order }
    }

    /// The tasks of `notes` (in path order) when `prev` holds those of an earlier head: the
    /// notes both hold unchanged keep their place in `prev`'s order, and only the tasks of new
    /// or changed notes are sorted and merged in, so a head that changed a few notes costs a
    /// walk over the order, not a sort of every task.
    pub fn update(prev: &HeadTasks, head: Option<ObjectId>, notes: Vec<NoteAt>) -> HeadTasks {
        const GONE: u32 = u32::MAX;
        let mut remap = vec![GONE; prev.notes.len()];
        let mut fresh = vec![true; notes.len()];
        let (mut i, mut j) = (0, 0);
        while i < prev.notes.len() && j < notes.len() {
            match prev.notes[i].path.cmp(&notes[j].path) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    if prev.notes[i].blob == notes[j].blob {
                        remap[i] = j as u32;
                        fresh[j] = false;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        let at = |&(n, t): &(u32, u32)| {
            let note = &notes[n as usize];
            (&note.path, &note.note.parsed.tasks[t as usize])
        };
        let mut added: Vec<(u32, u32)> = (0..notes.len())
            .filter(|&n| fresh[n])
            .flat_map(|n| (0..notes[n].note.parsed.tasks.len()).map(move |t| (n as u32, t as u32)))
            .collect();
        added.sort_unstable_by(|a, b| task_order(at(a), at(b)));
        let mut kept = prev.order.iter().filter_map(|&(n, t)| {
            let m = remap[n as usize];
            (m != GONE).then_some((m, t))
        });
        let mut order = Vec::with_capacity(prev.order.len() + added.len());
        let mut added = added.into_iter().peekable();
        let mut next_kept = kept.next();
        while let Some(k) = next_kept {
            match added.peek() {
                Some(a) if task_order(at(a), at(&k)).is_lt() => {
                    order.push(*a);
                    added.next();
                }
                _ => {
                    order.push(k);
                    next_kept = kept.next();
                }
            }
        }
        order.extend(added);
        HeadTasks { head, notes, order }
    }

    fn row(&self, n: usize, t: usize) -> Row {
        let note = &self.notes[n];
        // Parsed at this path: the id is this path's.
        let task = note.note.parsed.tasks[t].clone();
        Row {
            path: note.path.clone(),
            blob: note.blob,
            task,
        }
    }

    /// The first `limit` tasks `query` wants, most urgent first, and how many more it wants.
    pub fn select(&self, query: &TaskQuery, limit: usize) -> Selection {
        let notes_wanted: Option<Vec<bool>> = query.path.as_ref().map(|_| {
            self.notes
                .iter()
                .map(|n| query.wants_note(&n.path))
                .collect()
        });
        let mut out = Selection::default();
        for &(n, t) in &self.order {
            let (n, t) = (n as usize, t as usize);
            if notes_wanted.as_ref().is_some_and(|w| !w[n])
                || !query.wants(&self.notes[n].note.parsed.tasks[t])
            {
                continue;
            }
            if out.rows.len() < limit {
                out.rows.push(self.row(n, t));
            } else {
                out.more += 1;
            }
        }
        out
    }

    /// The task with id `id` in the note at `path`, as the head holds it.
    pub fn find(&self, path: &str, id: &str) -> Option<Row> {
        let n = self
            .notes
            .binary_search_by(|note| note.path.as_str().cmp(path))
            .ok()?;
        let note = &self.notes[n];
        (0..note.note.parsed.tasks.len())
            .find(|&t| note.note.parsed.tasks[t].id.as_str() == id)
            .map(|t| self.row(n, t))
    }

    /// How many tasks the head holds (all statuses).
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

/// A note's parse, by the path and content it was parsed at.
type Parsed = HashMap<(VaultPath, ObjectId), Arc<IndexedNote>>;

/// One vault's parsed notes by path and blob id, and its last head's tasks.
#[derive(Default)]
struct VaultTasks {
    parsed: Parsed,
    current: Option<Arc<HeadTasks>>,
}

/// A vault's tasks behind its own lock (one build at a time per vault).
type SharedVaultTasks = Arc<Mutex<VaultTasks>>;

/// The tasks of every vault the web view has shown, by (user, vault).
#[derive(Default)]
pub struct TaskCache {
    vaults: Mutex<HashMap<(String, String), SharedVaultTasks>>,
}

impl Web {
    /// Every task of `vault`'s current head (blocking: call it inside [`crate::blocking`]).
    pub fn head_tasks(&self, vault: &OpenedVault) -> Result<Arc<HeadTasks>, WebError> {
        let view = self.head_view(vault)?;
        let entry = self
            .tasks
            .vaults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((vault.user.clone(), vault.name.clone()))
            .or_default()
            .clone();
        // One build per vault at a time; other vaults are not held up.
        let mut state = entry.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = &state.current
            && current.head == view.head
        {
            return Ok(current.clone());
        }
        let started = std::time::Instant::now();
        let prev = state.current.clone();
        let tasks = Arc::new(build(vault, &view, &mut state.parsed, prev.as_deref())?);
        tracing::debug!(
            vault = %vault.name,
            tasks = tasks.len(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "web: the tasks of a new head"
        );
        state.current = Some(tasks.clone());
        Ok(tasks)
    }
}

/// `note` without what the web view never reads: the lines kept to make task ids for another
/// path (it is only used at the path it was parsed at), each task's raw text (ticking parses
/// the note again) and the warnings.
fn slim(mut note: IndexedNote) -> IndexedNote {
    note.id_parts = Vec::new();
    note.parsed.warnings = Vec::new();
    for task in &mut note.parsed.tasks {
        task.raw = String::new();
    }
    note.parsed.tasks.shrink_to_fit();
    note
}

/// The tasks of `view`, parsing the notes `parsed` does not know (and reusing the order of
/// `prev`, the vault's previous head); `parsed` keeps only the notes this head holds
/// afterwards.
fn build(
    vault: &OpenedVault,
    view: &HeadView,
    parsed: &mut Parsed,
    prev: Option<&HeadTasks>,
) -> Result<HeadTasks, WebError> {
    let sources: Vec<(&VaultPath, ObjectId)> = view
        .files
        .iter()
        // A note too large to read in a page has no tasks here (bounded memory).
        .filter(|(path, meta)| is_task_source(path) && meta.size <= crate::content::MAX_IN_PAGE)
        .map(|(path, meta)| (path, meta.id))
        .collect();
    let missing: Vec<(&VaultPath, ObjectId)> = sources
        .iter()
        .filter(|(path, id)| !parsed.contains_key(&((*path).clone(), *id)))
        .copied()
        .collect();
    for chunk in missing.chunks(FETCH_CHUNK) {
        let mut ids: Vec<ObjectId> = chunk.iter().map(|(_, id)| *id).collect();
        ids.sort();
        ids.dedup();
        let blobs = hub_write::fetch_files(vault.access.hub(), &ids, crate::content::MAX_IN_PAGE)?;
        let notes: Vec<((VaultPath, ObjectId), Arc<IndexedNote>)> = chunk
            .par_iter()
            .map(|(path, id)| {
                let bytes = &blobs[ids.binary_search(id).expect("fetched above")];
                (
                    ((*path).clone(), *id),
                    Arc::new(slim(IndexedNote::parse(path, bytes))),
                )
            })
            .collect();
        parsed.extend(notes);
    }
    let live: HashSet<(&VaultPath, ObjectId)> = sources.iter().copied().collect();
    parsed.retain(|(path, id), _| live.contains(&(path, *id)));
    if missing.len() > BIG_BUILD {
        crate::give_back_memory();
    }
    let notes = sources
        .into_iter()
        .filter_map(|(path, blob)| {
            parsed.get(&(path.clone(), blob)).map(|note| NoteAt {
                path: path.clone(),
                blob,
                note: note.clone(),
            })
        })
        .collect();
    Ok(match prev {
        Some(prev) => HeadTasks::update(prev, view.head, notes),
        None => HeadTasks::new(view.head, notes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault::tasks::StateFilter;

    fn note(path: &str, text: &str) -> NoteAt {
        let path = VaultPath::new(path).unwrap();
        NoteAt {
            note: Arc::new(IndexedNote::parse(&path, text.as_bytes())),
            blob: ObjectId::of(text.as_bytes()),
            path,
        }
    }

    fn descriptions(s: &Selection) -> Vec<String> {
        s.rows.iter().map(|r| r.task.description.clone()).collect()
    }

    #[test]
    fn tasks_come_in_syncd_order_and_the_rest_is_counted() {
        let tasks = HeadTasks::new(
            None,
            vec![
                note("a.md", "- [ ] undated\n- [x] done 📅 2026-01-01\n"),
                note(
                    "b.md",
                    "- [ ] late 📅 2026-12-09\n- [ ] early 📅 2026-12-01\n",
                ),
            ],
        );
        assert_eq!(tasks.len(), 4);
        let open = tasks.select(&TaskQuery::default(), 10);
        assert_eq!(descriptions(&open), ["early", "late", "undated"]);
        assert_eq!(open.more, 0);
        let first = tasks.select(&TaskQuery::default(), 1);
        assert_eq!(descriptions(&first), ["early"]);
        assert_eq!(first.more, 2);
        let all = TaskQuery {
            state: StateFilter::All,
            ..TaskQuery::default()
        };
        assert_eq!(descriptions(&tasks.select(&all, 10))[0], "done");
    }

    #[test]
    fn a_content_at_two_paths_has_each_paths_ids() {
        let text = "- [ ] same\n";
        let tasks = HeadTasks::new(None, vec![note("a.md", text), note("b/c.md", text)]);
        let rows = tasks.select(&TaskQuery::default(), 10).rows;
        assert_eq!(rows.len(), 2);
        for row in &rows {
            let expect = vault::markdown::parse_note(&row.path, text).tasks[0].id;
            assert_eq!(row.task.id, expect);
            let found = tasks.find(row.path.as_str(), row.task.id.as_str()).unwrap();
            assert_eq!(found.task.line, 1);
        }
        assert_ne!(rows[0].task.id, rows[1].task.id);
        assert!(tasks.find("a.md", rows[1].task.id.as_str()).is_none());
        assert!(tasks.find("nope.md", rows[0].task.id.as_str()).is_none());
    }

    #[test]
    fn an_update_orders_as_a_new_build_does() {
        let before = vec![
            note("a.md", "- [ ] a1 📅 2026-12-03\n- [ ] a2\n"),
            note("b.md", "- [ ] b1 📅 2026-12-01\n- [x] b2 ✅ 2026-01-01\n"),
            note("c.md", "- [ ] c1 🔺\n"),
            note("d.md", "- [ ] d1 📅 2026-12-02\n"),
        ];
        let prev = HeadTasks::new(None, before);
        let after = || {
            vec![
                note("a.md", "- [ ] a1 📅 2026-12-03\n- [ ] a2\n"),
                note(
                    "b.md",
                    "- [x] b1 📅 2026-12-01 ✅ 2026-12-05\n- [ ] b3 📅 2026-12-02\n",
                ),
                note("bb.md", "- [ ] new 📅 2026-11-01\n"),
                note("d.md", "- [ ] d1 📅 2026-12-02\n"),
            ]
        };
        let updated = HeadTasks::update(&prev, None, after());
        let rebuilt = HeadTasks::new(None, after());
        let all = TaskQuery {
            state: StateFilter::All,
            ..TaskQuery::default()
        };
        let ids = |h: &HeadTasks| -> Vec<String> {
            h.select(&all, 100)
                .rows
                .iter()
                .map(|r| format!("{}:{}", r.path, r.task.description))
                .collect()
        };
        assert_eq!(ids(&updated), ids(&rebuilt));
        assert_eq!(
            ids(&updated),
            [
                "bb.md:new",
                "b.md:b1",
                "b.md:b3",
                "d.md:d1",
                "a.md:a1",
                "a.md:a2"
            ]
        );
    }

    #[test]
    fn a_slim_parse_lists_and_finds_the_same_tasks() {
        let text =
            "- [ ] one 📅 2026-12-01 #x\n- [ ] one 📅 2026-12-01 #x\n- [x] two ✅ 2026-01-01\n";
        let path = VaultPath::new("a/b.md").unwrap();
        let full = IndexedNote::parse(&path, text.as_bytes());
        let at = |note: IndexedNote| NoteAt {
            path: path.clone(),
            blob: ObjectId::of(text.as_bytes()),
            note: Arc::new(note),
        };
        let slim_tasks = HeadTasks::new(None, vec![at(slim(full.clone()))]);
        let full_tasks = HeadTasks::new(None, vec![at(full.clone())]);
        let all = TaskQuery {
            state: StateFilter::All,
            ..TaskQuery::default()
        };
        let rows = |h: &HeadTasks| -> Vec<(String, String, usize)> {
            h.select(&all, 10)
                .rows
                .into_iter()
                .map(|r| {
                    (
                        r.task.id.as_str().to_string(),
                        r.task.description,
                        r.task.line,
                    )
                })
                .collect()
        };
        assert_eq!(rows(&slim_tasks), rows(&full_tasks));
        for (t, task) in full.parsed.tasks.iter().enumerate() {
            // The ids a slim parse holds are the ones the full index makes for its path.
            assert_eq!(full.task_id(t, &path), task.id);
            let found = slim_tasks.find("a/b.md", task.id.as_str()).unwrap();
            assert_eq!(found.task.line, task.line);
        }
    }

    #[test]
    fn the_path_filter_takes_folders() {
        let tasks = HeadTasks::new(
            None,
            vec![
                note("a.md", "- [ ] top\n"),
                note("projects/p.md", "- [ ] deep\n"),
            ],
        );
        let q = TaskQuery {
            path: Some(vault::tasks::PathFilter::new("projects").unwrap()),
            ..TaskQuery::default()
        };
        assert_eq!(descriptions(&tasks.select(&q, 10)), ["deep"]);
    }
}
