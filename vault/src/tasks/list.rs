//! Listing the tasks of a vault folder through the task index.

use rayon::prelude::*;

use super::TaskError;
use super::index::{INDEX_FILE, IndexedNote, NoteFlags, TaskIndex};
use super::query::{TaskQuery, sort_tasks};
use crate::id::ObjectId;
use crate::ignore_rules::IgnoreRules;
use crate::local::LocalVault;
use crate::markdown::{Task, TaskId, Warning, is_task_source};
use crate::paths::VaultPath;
use crate::scan::{ScanOptions, scan};
use crate::statcache::StatCache;

/// A note read and parsed (under the id of what was read), or why it could not be read.
type NoteRead = Result<(ObjectId, IndexedNote), String>;

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
    /// Path order.
    notes: Vec<(VaultPath, ObjectId)>,
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
    let rules = IgnoreRules::load(root)?;
    let (cache, cache_warning) = StatCache::load(&vault.index_path());
    let found = scan(root, &rules, &cache, ScanOptions::default())?;
    let index_path = vault.state_dir().join(INDEX_FILE);
    let (mut index, index_warning) = TaskIndex::load(&index_path);
    let mut warnings: Vec<String> = cache_warning.into_iter().chain(index_warning).collect();
    warnings.extend(found.warnings.iter().cloned());

    let mut notes: Vec<(VaultPath, ObjectId)> = found
        .entries()
        .filter(|(path, _, _)| is_task_source(path))
        .map(|(path, _, id)| (path.clone(), *id))
        .collect();
    notes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut stats = ListStats {
        files_scanned: found.counters.files_scanned,
        files_hashed: found.counters.files_hashed,
        notes: notes.len() as u64,
        ..ListStats::default()
    };

    // Read what the index does not know, on all cores. The content read is what gets parsed
    // and indexed, under its own id: if the note changed since the scan, that is the newer one.
    // Each unknown content once: copies of a note (templates) are read and parsed once.
    let mut wanted = std::collections::HashSet::new();
    let missing: Vec<usize> = (0..notes.len())
        .filter(|&i| !index.contains(&notes[i].1) && wanted.insert(notes[i].1))
        .collect();
    let parsed: Vec<(usize, NoteRead)> = missing
        .par_iter()
        .map(|&i| {
            let (path, _) = &notes[i];
            let full = path.to_fs_path(root);
            let read = std::fs::read(&full)
                .map(|bytes| (ObjectId::of(&bytes), IndexedNote::parse(path, &bytes)))
                .map_err(|e| format!("cannot read `{}` ({e}); its tasks are not listed", path));
            (i, read)
        })
        .collect();
    let mut changed = false;
    let mut unread = Vec::new();
    for (i, read) in parsed {
        match read {
            Ok((id, note)) => {
                notes[i].1 = id;
                index.insert(id, &note);
                stats.notes_parsed += 1;
                changed = true;
            }
            Err(warning) => {
                warnings.push(warning);
                unread.push(i);
            }
        }
    }
    for i in unread.into_iter().rev() {
        notes.remove(i);
    }
    stats.notes_from_index = notes.len() as u64 - stats.notes_parsed;

    let live: std::collections::HashSet<ObjectId> = notes.iter().map(|(_, id)| *id).collect();
    changed |= index.retain(&|id| live.contains(id));
    if changed && let Err(e) = index.save(&index_path) {
        warnings.push(format!(
            "cannot write the task index `{}` ({e}); the next listing reads every note again; \
             check the permissions of `.vault/`",
            index_path.display()
        ));
    }
    Ok(VaultTasks {
        notes,
        index,
        warnings,
        stats,
    })
}

impl VaultTasks {
    /// The tasks `query` selects, most urgent first ([`sort_tasks`]). Only notes that may hold
    /// such tasks are decoded (on all cores).
    pub fn select(&self, query: &TaskQuery) -> Vec<ListedTask> {
        let mut out = self.collect(
            |path, flags| query.wants_note(path) && query.may_want(flags),
            |task| query.wants(task),
        );
        sort_tasks(&mut out);
        out
    }

    /// The tasks of the notes `note` takes that `task` takes, with their ids, in path and line
    /// order.
    fn collect(
        &self,
        note: impl Fn(&VaultPath, NoteFlags) -> bool + Sync,
        task: impl Fn(&Task) -> bool + Sync,
    ) -> Vec<ListedTask> {
        self.notes
            .par_iter()
            .filter(|(path, id)| self.index.flags(id).is_some_and(|f| note(path, f)))
            .flat_map_iter(|(path, id)| {
                let decoded = self.index.get(id).unwrap_or_default();
                let IndexedNote {
                    parsed, id_parts, ..
                } = decoded;
                let path = path.clone();
                parsed
                    .tasks
                    .into_iter()
                    .zip(id_parts)
                    .filter(|(t, _)| task(t))
                    .map(move |(mut t, (line, n))| {
                        t.id = TaskId::new(path.as_str(), &line, n as usize);
                        ListedTask {
                            path: path.clone(),
                            task: t,
                        }
                    })
                    .collect::<Vec<_>>()
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
        let mut found = self.collect(|_, flags| flags.has_tasks(), |_| true);
        found.retain(|t| t.task.id.matches(typed));
        match found.len() {
            0 => Err(TaskError::UnknownId(typed.to_owned())),
            1 => Ok(found.remove(0)),
            count => Err(TaskError::Ambiguous {
                typed: typed.to_owned(),
                count,
                candidates: found
                    .iter()
                    .take(5)
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
        for (path, id) in &self.notes {
            if !self.index.flags(id).is_some_and(NoteFlags::has_warnings) {
                continue;
            }
            let Some(note) = self.index.get(id) else {
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
            for w in note.parsed.warnings {
                out.push((path.clone(), w));
            }
        }
        out
    }

    /// Every task of the vault, in path and line order (for tests and the benchmark).
    pub fn all(&self) -> Vec<ListedTask> {
        self.collect(|_, flags| flags.has_tasks(), |_| true)
    }
}
