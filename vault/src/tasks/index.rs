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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// What a note content holds, known without decoding it: a listing of open tasks skips the
/// notes without any, and only notes with problems are decoded for their warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoteFlags(u8);

impl NoteFlags {
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    const OTHER: u8 = 4;
    const WARNINGS: u8 = 8;

    fn of(note: &IndexedNote) -> NoteFlags {
        let mut bits = 0;
        for t in &note.parsed.tasks {
            bits |= if t.is_open() {
                Self::OPEN
            } else if t.is_done() {
                Self::DONE
            } else {
                Self::OTHER
            };
        }
        if note.not_text || !note.parsed.warnings.is_empty() {
            bits |= Self::WARNINGS;
        }
        NoteFlags(bits)
    }

    pub fn has_open(self) -> bool {
        self.0 & Self::OPEN != 0
    }

    pub fn has_done(self) -> bool {
        self.0 & Self::DONE != 0
    }

    pub fn has_tasks(self) -> bool {
        self.0 & (Self::OPEN | Self::DONE | Self::OTHER) != 0
    }

    pub fn has_warnings(self) -> bool {
        self.0 & Self::WARNINGS != 0
    }
}

/// Blob id to parsed note, for every note content seen by the last listing.
///
/// The file is a sorted directory (blob id, where its entry is, [`NoteFlags`]) followed by each
/// entry encoded on its own, so loading it is one read and a checksum, and an entry is decoded
/// only when a listing needs its tasks: a warm listing of open tasks decodes only the notes
/// that have some. Entries are kept encoded; saving copies them as they are.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TaskIndex {
    /// Sorted by id.
    entries: Vec<Entry>,
    /// The encoded entries `entries` point into.
    bodies: Vec<u8>,
    /// Entries added since loading, encoded.
    added: HashMap<ObjectId, (NoteFlags, Vec<u8>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    id: ObjectId,
    body: std::ops::Range<usize>,
    flags: NoteFlags,
}

/// Bytes of one directory entry: id, start, length, flags.
const ENTRY_LEN: usize = 32 + 4 + 4 + 1;
/// Bytes before the directory: magic, format, parser version, checksum, entry count.
const HEADER_LEN: usize = 8 + 4 + 4 + 32 + 4;

impl TaskIndex {
    /// Read the index at `path`. Missing gives an empty index; unreadable, damaged or from
    /// another version gives an empty index and the reason (the caller may log it: the only
    /// cost is parsing every note once).
    pub fn load(path: &Path) -> (TaskIndex, Option<String>) {
        match std::fs::read(path) {
            Ok(bytes) => match TaskIndex::decode(bytes) {
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

    fn find(&self, id: &ObjectId) -> Option<&Entry> {
        self.entries
            .binary_search_by(|e| e.id.cmp(id))
            .ok()
            .map(|i| &self.entries[i])
    }

    /// The encoded entry of `id` and its flags.
    fn raw(&self, id: &ObjectId) -> Option<(NoteFlags, &[u8])> {
        match self.added.get(id) {
            Some((flags, body)) => Some((*flags, body.as_slice())),
            None => self
                .find(id)
                .map(|e| (e.flags, &self.bodies[e.body.clone()])),
        }
    }

    pub fn contains(&self, id: &ObjectId) -> bool {
        self.raw(id).is_some()
    }

    pub fn flags(&self, id: &ObjectId) -> Option<NoteFlags> {
        self.raw(id).map(|(flags, _)| flags)
    }

    /// The note content `id`, decoded. `None` if unknown, or if its entry cannot be decoded
    /// (the checksum makes that a bug, not damage; the note is then not listed).
    pub fn get(&self, id: &ObjectId) -> Option<IndexedNote> {
        let (_, body) = self.raw(id)?;
        postcard::from_bytes(body).ok()
    }

    pub fn insert(&mut self, id: ObjectId, note: &IndexedNote) {
        let body = postcard::to_allocvec(note).unwrap_or_default();
        self.added.insert(id, (NoteFlags::of(note), body));
    }

    /// Drop every entry whose content is not in `keep`; whether any was dropped.
    pub fn retain(&mut self, keep: &dyn Fn(&ObjectId) -> bool) -> bool {
        let before = self.len();
        self.entries.retain(|e| keep(&e.id));
        self.added.retain(|id, _| keep(id));
        self.len() != before
    }

    /// Entries (an entry both loaded and added counts twice until saved and loaded again).
    pub fn len(&self) -> usize {
        self.entries.len() + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn encode(&self) -> Vec<u8> {
        let mut all: Vec<(&ObjectId, NoteFlags, &[u8])> = self
            .entries
            .iter()
            .filter(|e| !self.added.contains_key(&e.id))
            .map(|e| (&e.id, e.flags, &self.bodies[e.body.clone()]))
            .chain(self.added.iter().map(|(id, (f, b))| (id, *f, b.as_slice())))
            .collect();
        all.sort_unstable_by_key(|(id, _, _)| **id);
        let mut rest = Vec::with_capacity(4 + all.len() * ENTRY_LEN);
        rest.extend_from_slice(&(all.len() as u32).to_le_bytes());
        let mut at = 0u32;
        for (id, flags, body) in &all {
            rest.extend_from_slice(&id.0);
            rest.extend_from_slice(&at.to_le_bytes());
            rest.extend_from_slice(&(body.len() as u32).to_le_bytes());
            rest.push(flags.0);
            at += body.len() as u32;
        }
        for (_, _, body) in &all {
            rest.extend_from_slice(body);
        }
        let mut out = Vec::with_capacity(HEADER_LEN + rest.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&PARSER_VERSION.to_le_bytes());
        out.extend_from_slice(blake3::hash(&rest).as_bytes());
        out.extend_from_slice(&rest);
        out
    }

    fn decode(mut bytes: Vec<u8>) -> Result<TaskIndex, String> {
        let u32_at = |b: &[u8], at: usize| {
            u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
        };
        if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
            return Err("not a task index".into());
        }
        let version = u32_at(&bytes, 8);
        if version != FORMAT_VERSION as usize {
            return Err(format!(
                "format {version}, this syncd reads {FORMAT_VERSION}"
            ));
        }
        let parser = u32_at(&bytes, 12);
        if parser != PARSER_VERSION as usize {
            return Err(format!(
                "written by another version of the task parser ({parser})"
            ));
        }
        if blake3::hash(&bytes[48..]).as_bytes() != &bytes[16..48] {
            return Err("damaged: checksum mismatch".into());
        }
        let count = u32_at(&bytes, 48);
        let dir_end = count
            .checked_mul(ENTRY_LEN)
            .and_then(|n| n.checked_add(HEADER_LEN))
            .filter(|&end| end <= bytes.len())
            .ok_or("damaged: directory too long")?;
        let body_len = bytes.len() - dir_end;
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let at = HEADER_LEN + i * ENTRY_LEN;
            let mut id = [0u8; 32];
            id.copy_from_slice(&bytes[at..at + 32]);
            let start = u32_at(&bytes, at + 32);
            let len = u32_at(&bytes, at + 36);
            if start.checked_add(len).is_none_or(|end| end > body_len) {
                return Err("damaged: an entry lies outside the file".into());
            }
            if entries.last().is_some_and(|e: &Entry| e.id.0 >= id) {
                return Err("damaged: directory out of order".into());
            }
            entries.push(Entry {
                id: ObjectId(id),
                body: start..start + len,
                flags: NoteFlags(bytes[at + 40]),
            });
        }
        bytes.drain(..dir_end);
        Ok(TaskIndex {
            entries,
            bodies: bytes,
            added: HashMap::new(),
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
            index.insert(id, &n);
        }
        let (bad, _) = (ObjectId::of(b"\xff\xfe"), ());
        index.insert(
            bad,
            &IndexedNote::parse(&VaultPath::new("b.md").unwrap(), b"\xff\xfe- [ ] x"),
        );
        index.save(&file).unwrap();
        let (loaded, warning) = TaskIndex::load(&file);
        assert_eq!(warning, None);
        assert_eq!(loaded.len(), 4);
        for id in index.added.keys() {
            assert_eq!(loaded.get(id), index.get(id));
            assert_eq!(loaded.flags(id), index.flags(id));
        }
        assert!(loaded.get(&bad).unwrap().not_text);
        let first = ObjectId::of(
            "---\ntags: [home]\n---\n- [ ] a 📅 2026-12-01 ⏫ #x\n- [x] b ✅ 2026-11-02\n"
                .as_bytes(),
        );
        let flags = loaded.flags(&first).unwrap();
        assert!(flags.has_open() && flags.has_done() && !flags.has_warnings());
        assert!(
            !loaded
                .flags(&ObjectId::of(b"no tasks\n"))
                .unwrap()
                .has_tasks()
        );
        assert!(loaded.flags(&bad).unwrap().has_warnings());
        // Saved again as loaded, and after a change, the same entries.
        let mut again = loaded.clone();
        again.save(&file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), {
            index.save(&file).unwrap();
            std::fs::read(&file).unwrap()
        });
        assert!(again.retain(&|id| *id != bad));
        again.save(&file).unwrap();
        let (reloaded, _) = TaskIndex::load(&file);
        assert_eq!(reloaded.len(), 3);
        assert!(!reloaded.contains(&bad) && reloaded.get(&first) == index.get(&first));
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
        index.insert(id, &n);
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
