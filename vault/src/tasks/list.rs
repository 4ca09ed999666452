//! Listing the tasks of a vault folder through the task index.

use rayon::prelude::*;

use super::TaskError;
use super::index::{INDEX_FILE, NoteFlags, TaskIndex};
use super::query::{TaskQuery, urgency_key};
use super::stored::{StoredNote, TaskHead, parse_entry};
use crate::id::ObjectId;
use crate::ignore_rules::IgnoreRules;
use crate::local::LocalVault;
use crate::markdown::{Task, Warning, is_task_source};
use crate::paths::VaultPath;
use crate::scan::{ScanOptions, scan};
use crate::statcache::StatCache;

/// Notes read and parsed at a time (on all cores) before they go into the index.
const PARSE_CHUNK: usize = 1024;

/// A note read and parsed (under the id of what was read), or why it could not be read.
type NoteRead = Result<(ObjectId, (NoteFlags, Vec<u8>)), String>;

/// A task and the note it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTask {
    pub path: VaultPath,
    pub task: Task,
}

/// What a listing cost; true counts (the benchmark and the tests read them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListStats {
    /// Files the scan found (every file that syncs).
    pub files_scanned: u64,
    /// Files the scan had to read to learn their blob id (the rest came from the stat cache).
    pub files_hashed: u64,
    /// Notes that can hold tasks.
    pub notes: u64,
    /// Note contents read and parsed because the index did not know them (copies of one
    /// content count once).
    pub notes_parsed: u64,
    /// Notes whose tasks came from the index.
    pub notes_from_index: u64,
}

/// Every note of a vault folder that can hold tasks, with what it holds.
#[derive(Debug)]
pub struct VaultTasks {
    /// Path order; each note's entry by its [`TaskIndex::position`].
    notes: Vec<(VaultPath, u32)>,
    index: TaskIndex,
    /// Problems of the listing itself (an unreadable file, a damaged index); notes' own
    /// problems are in [`VaultTasks::note_warnings`].
    pub warnings: Vec<String>,
    pub stats: ListStats,
}

/// List the tasks of `vault`'s folder as it is now. Reads only notes the index does not know,
/// and writes the index back when it learned something (or forgot notes that are gone). Writes
/// nothing else; takes no lock.
pub fn list(vault: &LocalVault) -> Result<VaultTasks, TaskError> {
    let root = vault.root();
    let (mut notes, mut warnings, mut stats) = {
        // The scan's tables are let go before the index is loaded: only one is held at a time.
        let rules = IgnoreRules::load(root)?;
        let (cache, cache_warning) = StatCache::load(&vault.index_path());
        let found = scan(root, &rules, &cache, ScanOptions::default())?;
        let mut notes: Vec<(VaultPath, ObjectId)> = found
            .entries()
            .filter(|(path, _, _)| is_task_source(path))
            .map(|(path, _, id)| (path.clone(), *id))
            .collect();
        notes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let stats = ListStats {
            files_scanned: found.counters.files_scanned,
            files_hashed: found.counters.files_hashed,
            notes: notes.len() as u64,
            ..ListStats::default()
        };
        let warnings: Vec<String> = cache_warning
            .into_iter()
            .chain(found.warnings.iter().cloned())
            .collect();
        (notes, warnings, stats)
    };
    let index_path = vault.state_dir().join(INDEX_FILE);
    let (mut index, index_warning) = TaskIndex::load(&index_path);
    warnings.extend(index_warning);

    // Read what the index does not know, on all cores. The content read is what gets parsed
    // and indexed, under its own id: if the note changed since the scan, that is the newer one.
    // Each unknown content once: copies of a note (templates) are read and parsed once.
    let mut wanted = std::collections::HashSet::new();
    let missing: Vec<usize> = (0..notes.len())
        .filter(|&i| !index.contains(&notes[i].1) && wanted.insert(notes[i].1))
        .collect();
    // A chunk at a time, so what was parsed goes into the index's one buffer as it comes.
    let mut changed = false;
    let mut unread = Vec::new();
    for chunk in missing.chunks(PARSE_CHUNK) {
        let parsed: Vec<(usize, NoteRead)> = chunk
            .par_iter()
            .map(|&i| {
                let (path, _) = &notes[i];
                let full = path.to_fs_path(root);
                let read = crate::vfs::read(&full)
                    .map(|bytes| (ObjectId::of(&bytes), parse_entry(path, &bytes)))
                    .map_err(|e| format!("cannot read `{}` ({e}); its tasks are not listed", path));
                (i, read)
            })
            .collect();
        for (i, read) in parsed {
            match read {
                Ok((id, entry)) => {
                    notes[i].1 = id;
                    index.insert(id, entry);
                    stats.notes_parsed += 1;
                    changed = true;
                }
                Err(warning) => {
                    warnings.push(warning);
                    unread.push(i);
                }
            }
        }
    }
    for i in unread.into_iter().rev() {
        notes.remove(i);
    }
    stats.notes_from_index = notes.len() as u64 - stats.notes_parsed;

    let live: std::collections::HashSet<ObjectId> = notes.iter().map(|(_, id)| *id).collect();
    changed |= index.retain(&|id| live.contains(id));
    drop(live);
    if changed && let Err(e) = index.save(&index_path) {
        warnings.push(format!(
            "cannot write the task index `{}` ({e}); the next listing reads every note again; \
             check the permissions of `.vault/`",
            index_path.display()
        ));
    }
    let notes = notes
        .into_iter()
        .filter_map(|(path, id)| Some((path, index.position(&id)?)))
        .collect();
    Ok(VaultTasks {
        notes,
        index,
        warnings,
        stats,
    })
}

/// Where a selected task is, and what it sorts by: a few bytes, so a listing sorts every task
/// of a large vault without holding any of them. Field order is [`super::task_order`]: notes
/// are in path order, so the note's number orders as its path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TaskKey {
    urgency: (i32, u8),
    note: u32,
    line: u32,
    /// The task's place among its note's tasks.
    task: u32,
}

/// The tasks a query selected, in listing order; each is read again from the index only when
/// it is shown ([`Selection::iter`]), a window at a time.
#[derive(Debug)]
pub struct Selection<'a> {
    from: &'a VaultTasks,
    keys: Vec<TaskKey>,
}

/// Tasks read at a time (on all cores) while a selection is shown: enough to keep the cores
/// busy, few enough that a vault's worth is never held.
const WINDOW: usize = 4096;

impl Selection<'_> {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The selected tasks, most urgent first.
    pub fn iter(&self) -> impl Iterator<Item = ListedTask> + '_ {
        self.keys
            .chunks(WINDOW)
            .flat_map(|window| self.from.read_tasks(window))
    }

    /// Every selected task at once (tests, and small selections).
    pub fn to_vec(&self) -> Vec<ListedTask> {
        self.iter().collect()
    }
}

impl VaultTasks {
    /// The tasks `query` selects, most urgent first ([`super::task_order`]). Only notes that
    /// may hold such tasks are decoded (on all cores), and only the fields the query filters
    /// and sorts by are read.
    pub fn select(&self, query: &TaskQuery) -> Selection<'_> {
        let mut keys: Vec<TaskKey> = self
            .notes
            .par_iter()
            .enumerate()
            .filter_map(|(n, (path, at))| {
                let (flags, body) = self.index.at(*at)?;
                (query.wants_note(path) && query.may_want(flags)).then_some((n, path, body))
            })
            .flat_map_iter(|(n, path, body)| {
                let note = StoredNote::decode(body).unwrap_or_default();
                let wanted = |i: usize, head: &TaskHead| {
                    query.wants_status(head.status)
                        && query.wants_due(head.due())
                        && (query.tag.is_none()
                            || note
                                .task(i)
                                .is_some_and(|t| query.wants_tags(&t.task(path, &note.tags).tags)))
                };
                let mut keys = Vec::new();
                for (i, task) in note.tasks.iter().enumerate() {
                    if let Some(head) = TaskHead::decode(task)
                        && wanted(i, &head)
                    {
                        keys.push(TaskKey {
                            urgency: urgency_key(head.due(), head.priority),
                            note: n as u32,
                            line: head.line,
                            task: i as u32,
                        });
                    }
                }
                keys
            })
            .collect();
        keys.par_sort_unstable();
        Selection { from: self, keys }
    }

    /// The tasks `keys` name, in their order, read from the index on all cores.
    fn read_tasks(&self, keys: &[TaskKey]) -> Vec<ListedTask> {
        keys.par_iter()
            .filter_map(|key| {
                let (path, at) = &self.notes[key.note as usize];
                let note = StoredNote::decode(self.index.at(*at)?.1)?;
                let task = note.task(key.task as usize)?.task(path, &note.tags);
                Some(ListedTask {
                    path: path.clone(),
                    task,
                })
            })
            .collect()
    }

    /// The task a typed id names: the one task whose id starts with it. An id no task has, or
    /// a prefix several start with, is an error that says what to do.
    pub fn resolve(&self, typed: &str) -> Result<ListedTask, TaskError> {
        let typed = typed.trim();
        let valid = typed.len() >= crate::markdown::id::SHORT_LEN
            && typed.len() <= crate::markdown::id::FULL_LEN
            && typed
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b));
        if !valid {
            return Err(TaskError::BadId(typed.to_owned()));
        }
        // Only ids are made for every task; only the ones that match are read whole.
        let keys: Vec<TaskKey> = self
            .notes
            .par_iter()
            .enumerate()
            .filter_map(|(n, (path, at))| {
                let (flags, body) = self.index.at(*at)?;
                flags.has_tasks().then_some((n, path, body))
            })
            .flat_map_iter(|(n, path, body)| {
                let note = StoredNote::decode(body).unwrap_or_default();
                (0..note.tasks.len())
                    .filter_map(|i| {
                        let t = note.task(i)?;
                        t.id(path).matches(typed).then_some(TaskKey {
                            urgency: (0, 0),
                            note: n as u32,
                            line: t.head.line,
                            task: i as u32,
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut found = self.read_tasks(&keys[..keys.len().min(5)]);
        match keys.len() {
            0 => Err(TaskError::UnknownId(typed.to_owned())),
            1 => Ok(found.remove(0)),
            count => Err(TaskError::Ambiguous {
                typed: typed.to_owned(),
                count,
                candidates: found
                    .iter()
                    .map(|t| format!("{} in {}:{}", t.task.id.as_str(), t.path, t.task.line))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// What notes hold that was not understood (a malformed front matter, a field that could
    /// not be read, a note that is not UTF-8), in path order.
    pub fn note_warnings(&self) -> Vec<(VaultPath, Warning)> {
        let mut out = Vec::new();
        for (path, at) in &self.notes {
            let Some((flags, body)) = self.index.at(*at) else {
                continue;
            };
            if !flags.has_warnings() {
                continue;
            }
            let Some(note) = StoredNote::decode(body) else {
                continue;
            };
            if note.not_text {
                out.push((
                    path.clone(),
                    Warning {
                        line: 1,
                        message: "not UTF-8 text; its tasks are not listed".into(),
                    },
                ));
            }
            for w in note.warnings {
                out.push((path.clone(), w));
            }
        }
        out
    }

    /// Every task of the vault, in path and line order (for tests and the benchmark).
    pub fn all(&self) -> Vec<ListedTask> {
        let keys: Vec<TaskKey> = self
            .notes
            .iter()
            .enumerate()
            .filter_map(|(n, (_, at))| Some((n, self.index.at(*at)?.1)))
            .flat_map(|(n, body)| {
                let note = StoredNote::decode(body).unwrap_or_default();
                (0..note.tasks.len())
                    .map(|i| TaskKey {
                        urgency: (0, 0),
                        note: n as u32,
                        line: 0,
                        task: i as u32,
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        self.read_tasks(&keys)
    }
}
