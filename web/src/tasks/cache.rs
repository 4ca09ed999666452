//! Every task of a vault's head snapshot, kept warm.
//!
//! A note's tasks are parsed once per content: a [`CompactNote`] (fixed keys to filter and
//! sort by, the lines packed as `syncd tasks` stores them in its task index) is cached by blob
//! id, so a new head parses only the notes it changed. Per head, every task is sorted once in
//! the order of `syncd tasks` ([`vault::tasks::task_order`], which does not depend on the
//! filters); a page then walks that order, keeps the tasks its [`TaskQuery`] wants by their
//! keys alone, and reads back whole only the rows it shows, so the first 500 need no sort and
//! no parse. Ticking a task reads and parses its note again, so nothing here is needed to
//! write one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rayon::prelude::*;
use vault::hub_write;
use vault::id::ObjectId;
use vault::markdown::{Task, is_task_source};
use vault::paths::VaultPath;
use vault::tasks::TaskQuery;

use super::compact::{CompactNote, LooseNote, TagNames};
use crate::vaults::{HeadView, OpenedVault};
use crate::{Web, WebError};

/// Blobs fetched from the hub per request while a head is first read (bounds the memory a
/// cold start holds at once).
const FETCH_CHUNK: usize = 512;
/// More notes read than this: the heap is trimmed afterwards.
const BIG_BUILD: usize = 256;

/// One note of the head that holds tasks.
#[derive(Debug)]
pub struct NoteAt {
    pub path: VaultPath,
    pub blob: ObjectId,
    pub note: Arc<CompactNote>,
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
    /// The notes with tasks, in path order.
    notes: Vec<NoteAt>,
    /// (note, task) positions in `syncd tasks`'s order.
    order: Vec<(u32, u32)>,
    /// The names of the tags the notes' tasks hold by number.
    tags: TagNames,
}

/// `syncd tasks`'s order ([`vault::tasks::task_order`]) on the keys of `notes`' tasks: by
/// urgency, then path, then line.
fn order_in(notes: &[NoteAt], a: (u32, u32), b: (u32, u32)) -> std::cmp::Ordering {
    let (na, nb) = (&notes[a.0 as usize], &notes[b.0 as usize]);
    let (ka, kb) = (na.note.key(a.1 as usize), nb.note.key(b.1 as usize));
    ka.urgency()
        .cmp(&kb.urgency())
        .then_with(|| na.path.cmp(&nb.path))
        .then(ka.line.cmp(&kb.line))
}

fn positions(notes: &[NoteAt], n: usize) -> impl Iterator<Item = (u32, u32)> + '_ {
    (0..notes[n].note.len()).map(move |t| (n as u32, t as u32))
}

impl HeadTasks {
    /// The tasks of `notes` (in path order), sorted; `tags` names their tags' numbers.
    pub fn new(head: Option<ObjectId>, notes: Vec<NoteAt>, tags: TagNames) -> HeadTasks {
        let mut order: Vec<(u32, u32)> = (0..notes.len())
            .flat_map(|n| positions(&notes, n))
            .collect();
        order.par_sort_unstable_by(|&a, &b| order_in(&notes, a, b));
        HeadTasks {
            head,
            notes,
            order,
            tags,
        }
    }

    /// The tasks of `notes` (in path order) when `prev` holds those of an earlier head: the
    /// notes both hold unchanged keep their place in `prev`'s order, and only the tasks of new
    /// or changed notes are sorted and merged in, so a head that changed a few notes costs a
    /// walk over the order, not a sort of every task.
    pub fn update(
        prev: &HeadTasks,
        head: Option<ObjectId>,
        notes: Vec<NoteAt>,
        tags: TagNames,
    ) -> HeadTasks {
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
        let mut added: Vec<(u32, u32)> = (0..notes.len())
            .filter(|&n| fresh[n])
            .flat_map(|n| positions(&notes, n))
            .collect();
        added.sort_unstable_by(|&a, &b| order_in(&notes, a, b));
        let mut kept = prev.order.iter().filter_map(|&(n, t)| {
            let m = remap[n as usize];
            (m != GONE).then_some((m, t))
        });
        let mut order = Vec::with_capacity(prev.order.len() + added.len());
        let mut added = added.into_iter().peekable();
        let mut next_kept = kept.next();
        while let Some(k) = next_kept {
            match added.peek() {
                Some(&a) if order_in(&notes, a, k).is_lt() => {
                    order.push(a);
                    added.next();
                }
                _ => {
                    order.push(k);
                    next_kept = kept.next();
                }
            }
        }
        order.extend(added);
        HeadTasks {
            head,
            notes,
            order,
            tags,
        }
    }

    /// Task `t` of note `n` read back whole, its id made for the note's path.
    fn row(&self, n: usize, t: usize) -> Option<Row> {
        let note = &self.notes[n];
        Some(Row {
            path: note.path.clone(),
            blob: note.blob,
            task: note.note.task(t, &note.path)?,
        })
    }

    /// The first `limit` tasks `query` wants, most urgent first, and how many more it wants.
    pub fn select(&self, query: &TaskQuery, limit: usize) -> Selection {
        let notes_wanted: Option<Vec<bool>> = query.path.as_ref().map(|_| {
            self.notes
                .iter()
                .map(|n| query.wants_note(&n.path))
                .collect()
        });
        let tags = self.tags.wanted(query);
        let mut out = Selection::default();
        for &(n, t) in &self.order {
            let (n, t) = (n as usize, t as usize);
            if notes_wanted.as_ref().is_some_and(|w| !w[n])
                || !self.notes[n].note.wants(t, query, tags.as_deref())
            {
                continue;
            }
            if out.rows.len() < limit {
                // A packed note always reads back (it was written just above); were it not
                // to, the row would be missing rather than the page failing.
                if let Some(row) = self.row(n, t) {
                    out.rows.push(row);
                }
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
        let t = note.note.position(&note.path, id)?;
        self.row(n, t)
    }

    /// How many tasks the head holds (all statuses).
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

/// A note content's tasks, by its blob id (the same at any path).
type Parsed = HashMap<ObjectId, Arc<CompactNote>>;

/// One vault's parsed notes by blob id, the names of their tags, and its last head's tasks.
#[derive(Default)]
struct VaultTasks {
    parsed: Parsed,
    tags: TagNames,
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
        let tasks = Arc::new(build(vault, &view, &mut state)?);
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

/// The tasks of `view`, parsing the note contents `state` does not know (and reusing the order
/// of its previous head); `state` keeps only the contents this head holds afterwards.
fn build(
    vault: &OpenedVault,
    view: &HeadView,
    state: &mut VaultTasks,
) -> Result<HeadTasks, WebError> {
    let sources: Vec<(&VaultPath, ObjectId)> = view
        .files
        .iter()
        // A note too large to read in a page has no tasks here (bounded memory).
        .filter(|(path, meta)| is_task_source(path) && meta.size <= crate::content::MAX_IN_PAGE)
        .map(|(path, meta)| (path, meta.id))
        .collect();
    let mut asked = HashSet::new();
    let missing: Vec<(&VaultPath, ObjectId)> = sources
        .iter()
        .filter(|(_, id)| !state.parsed.contains_key(id) && asked.insert(*id))
        .copied()
        .collect();
    for chunk in missing.chunks(FETCH_CHUNK) {
        let mut ids: Vec<ObjectId> = chunk.iter().map(|(_, id)| *id).collect();
        ids.sort();
        let blobs = hub_write::fetch_files(vault.access.hub(), &ids, crate::content::MAX_IN_PAGE)?;
        let loose: Vec<(ObjectId, LooseNote)> = chunk
            .par_iter()
            .map(|(path, id)| {
                let bytes = &blobs[ids.binary_search(id).expect("fetched above")];
                (*id, LooseNote::parse(path, bytes))
            })
            .collect();
        for (id, note) in loose {
            let note = note.number(&mut state.tags);
            state.parsed.insert(id, Arc::new(note));
        }
    }
    let live: HashSet<ObjectId> = sources.iter().map(|(_, id)| *id).collect();
    state.parsed.retain(|id, _| live.contains(id));
    if missing.len() > BIG_BUILD {
        crate::give_back_memory();
    }
    let notes = sources
        .into_iter()
        .filter_map(|(path, blob)| {
            let note = state.parsed.get(&blob)?;
            (note.len() > 0).then(|| NoteAt {
                path: path.clone(),
                blob,
                note: note.clone(),
            })
        })
        .collect();
    let tags = state.tags.clone();
    Ok(match state.current.as_deref() {
        Some(prev) => HeadTasks::update(prev, view.head, notes, tags),
        None => HeadTasks::new(view.head, notes, tags),
    })
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
