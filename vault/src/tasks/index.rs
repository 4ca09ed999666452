//! The task index: what [`parse_note`] found in each note content, keyed by the content's blob
//! id, in `.vault/tasks`.
//!
//! Keyed by content rather than by path, the index needs no invalidation: a note that changed has
//! another blob id, and a note renamed or copied finds its content already parsed. Only the task
//! ids depend on the path ([`crate::markdown::id`]); each entry keeps what forms them (the task's
//! whole line and how many equal lines came before it), so they are made anew for the path a
//! content is found at.
//!
//! The file is a cache, never the truth: it is written atomically without fsync (a crash loses at
//! most the latest additions), and anything wrong with it (missing, damaged, from another version
//! of the parser) makes the next listing parse every note again and rewrite it. Its checksum
//! catches damage; [`PARSER_VERSION`] changes whenever the parser would read a note differently,
//! so an upgrade never shows tasks as an older parser saw them.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsutil::write_replace;
use crate::id::ObjectId;
use crate::markdown::{ParsedNote, TaskId, parse_note};
use crate::paths::VaultPath;

/// File name inside `.vault/`.
pub const INDEX_FILE: &str = "tasks";

/// The first bytes of the file.
const MAGIC: &[u8; 8] = b"VSTASKS\0";
/// The layout of the file.
const FORMAT_VERSION: u32 = 1;
/// Bump whenever `parse_note` reads any note differently (fields, statuses, ids, warnings).
pub const PARSER_VERSION: u32 = 1;

/// The tasks of one note content, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexedNote {
    /// The note as parsed at the path it was first seen at (task ids are for that path).
    pub parsed: ParsedNote,
    /// Per task (same order): its whole line and how many equal task lines came before it, which
    /// with a path form its id.
    pub id_parts: Vec<(String, u32)>,
    /// The note is not UTF-8 text: it has no tasks that can be read or changed.
    pub not_text: bool,
}

impl IndexedNote {
    /// Parse the note content `bytes` found at `path`.
    pub fn parse(path: &VaultPath, bytes: &[u8]) -> IndexedNote {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return IndexedNote {
                parsed: ParsedNote::default(),
                id_parts: Vec::new(),
                not_text: true,
            };
        };
        let parsed = parse_note(path, text);
        let mut seen: HashMap<&str, u32> = HashMap::new();
        let id_parts = parsed
            .tasks
            .iter()
            .map(|t| {
                let line = &text[t.line_span.clone()];
                let n = seen.entry(line).or_insert(0);
                *n += 1;
                (line.to_owned(), *n - 1)
            })
            .collect();
        IndexedNote {
            parsed,
            id_parts,
            not_text: false,
        }
    }

    /// The id of task `i` of this content when it is at `path`.
    pub fn task_id(&self, i: usize, path: &VaultPath) -> TaskId {
        let (line, n) = &self.id_parts[i];
        TaskId::new(path.as_str(), line, *n as usize)
    }
}

/// Blob id to parsed note, for every note content seen by the last listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TaskIndex {
    notes: HashMap<ObjectId, IndexedNote>,
}

/// What the file holds after its header.
#[derive(Serialize, Deserialize)]
struct Stored {
    parser_version: u32,
    /// Blob ids as raw bytes (half the size of their hex form).
    notes: Vec<([u8; 32], IndexedNote)>,
}

impl TaskIndex {
    /// Read the index at `path`. Missing gives an empty index; unreadable, damaged or from
    /// another version gives an empty index and the reason (the caller may log it: the only
    /// cost is parsing every note once).
    pub fn load(path: &Path) -> (TaskIndex, Option<String>) {
        match std::fs::read(path) {
            Ok(bytes) => match TaskIndex::decode(&bytes) {
                Ok(index) => (index, None),
                Err(reason) => (
                    TaskIndex::default(),
                    Some(format!(
                        "task index `{}` not used ({reason}); every note is read once to rebuild it",
                        path.display()
                    )),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (TaskIndex::default(), None),
            Err(e) => (
                TaskIndex::default(),
                Some(format!(
                    "cannot read the task index `{}` ({e}); every note is read; check the file's \
                     permissions",
                    path.display()
                )),
            ),
        }
    }

    /// Write the index to `path` atomically, without waiting for the disk (it is a cache).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        write_replace(path, &self.encode())
    }

    pub fn get(&self, id: &ObjectId) -> Option<&IndexedNote> {
        self.notes.get(id)
    }

    pub fn insert(&mut self, id: ObjectId, note: IndexedNote) {
        self.notes.insert(id, note);
    }

    /// Drop every entry whose content is not in `keep`; whether any was dropped.
    pub fn retain(&mut self, keep: &dyn Fn(&ObjectId) -> bool) -> bool {
        let before = self.notes.len();
        self.notes.retain(|id, _| keep(id));
        self.notes.len() != before
    }

    pub fn len(&self) -> usize {
        self.notes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }

    fn encode(&self) -> Vec<u8> {
        let mut notes: Vec<(&[u8; 32], &IndexedNote)> =
            self.notes.iter().map(|(id, n)| (&id.0, n)).collect();
        // A stable order: the same index is the same file.
        notes.sort_unstable_by_key(|(id, _)| **id);
        #[derive(Serialize)]
        struct StoredRef<'a> {
            parser_version: u32,
            notes: Vec<(&'a [u8; 32], &'a IndexedNote)>,
        }
        let body = postcard::to_allocvec(&StoredRef {
            parser_version: PARSER_VERSION,
            notes,
        })
        .unwrap_or_default();
        let mut out = Vec::with_capacity(body.len() + 44);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(blake3::hash(&body).as_bytes());
        out.extend_from_slice(&body);
        out
    }

    fn decode(bytes: &[u8]) -> Result<TaskIndex, String> {
        let header = MAGIC.len() + 4 + 32;
        if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
            return Err("not a task index".into());
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
        if version != FORMAT_VERSION {
            return Err(format!(
                "format {version}, this syncd reads {FORMAT_VERSION}"
            ));
        }
        let body = &bytes[header..];
        if blake3::hash(body).as_bytes() != &bytes[12..header] {
            return Err("damaged: checksum mismatch".into());
        }
        let stored: Stored = postcard::from_bytes(body).map_err(|e| format!("damaged: {e}"))?;
        if stored.parser_version != PARSER_VERSION {
            return Err(format!(
                "written by another version of the task parser ({})",
                stored.parser_version
            ));
        }
        Ok(TaskIndex {
            notes: stored
                .notes
                .into_iter()
                .map(|(id, n)| (ObjectId(id), n))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(text: &str) -> (ObjectId, IndexedNote) {
        let path = VaultPath::new("a.md").unwrap();
        (
            ObjectId::of(text.as_bytes()),
            IndexedNote::parse(&path, text.as_bytes()),
        )
    }

    #[test]
    fn an_index_survives_the_round_trip_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(INDEX_FILE);
        let mut index = TaskIndex::default();
        for text in [
            "---\ntags: [home]\n---\n- [ ] a 📅 2026-12-01 ⏫ #x\n- [x] b ✅ 2026-11-02\n",
            "no tasks\n",
            "- [ ] same\n- [ ] same\n",
        ] {
            let (id, n) = note(text);
            index.insert(id, n);
        }
        let (bad, _) = (ObjectId::of(b"\xff\xfe"), ());
        index.insert(
            bad,
            IndexedNote::parse(&VaultPath::new("b.md").unwrap(), b"\xff\xfe- [ ] x"),
        );
        index.save(&file).unwrap();
        let (loaded, warning) = TaskIndex::load(&file);
        assert_eq!(warning, None);
        assert_eq!(loaded, index);
        assert!(loaded.get(&bad).unwrap().not_text);
    }

    #[test]
    fn ids_are_made_for_the_path_a_content_is_found_at() {
        let text = "- [ ] same\n- [ ] other\n- [ ] same\n";
        let (_, n) = note(text);
        let elsewhere = VaultPath::new("folder/b.md").unwrap();
        let parsed_there = parse_note(&elsewhere, text);
        for (i, task) in parsed_there.tasks.iter().enumerate() {
            assert_eq!(n.task_id(i, &elsewhere), task.id);
        }
        assert_eq!(
            n.task_id(0, &VaultPath::new("a.md").unwrap()),
            n.parsed.tasks[0].id
        );
    }

    #[test]
    fn a_damaged_or_foreign_file_is_an_empty_index_and_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(INDEX_FILE);
        let mut index = TaskIndex::default();
        let (id, n) = note("- [ ] a\n");
        index.insert(id, n);
        index.save(&file).unwrap();
        let good = std::fs::read(&file).unwrap();

        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let mut truncated = good.clone();
        truncated.truncate(good.len() - 3);
        let mut other_format = good.clone();
        other_format[8] = 9;
        for (what, bytes) in [
            ("flipped", flipped),
            ("truncated", truncated),
            ("other format", other_format),
            ("garbage", b"hello".to_vec()),
        ] {
            std::fs::write(&file, &bytes).unwrap();
            let (loaded, warning) = TaskIndex::load(&file);
            assert!(loaded.is_empty(), "{what}");
            assert!(warning.is_some(), "{what}");
        }
        std::fs::remove_file(&file).unwrap();
        let (loaded, warning) = TaskIndex::load(&file);
        assert!(loaded.is_empty() && warning.is_none());
    }
}
