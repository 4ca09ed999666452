//! The task index: what [`parse_note`] found in each note content, keyed by the content's blob
//! id, in `.vault/tasks`.
//!
//! Keyed by content rather than by path, the index needs no invalidation: a note that changed has
//! another blob id, and a note renamed or copied finds its content already parsed. Only the task
//! ids depend on the path ([`crate::markdown::id`]); each entry keeps what forms them (the task's
//! whole line and how many equal lines came before it), so they are made anew for the path a
//! content is found at. An entry keeps each task's line rather than what was read from it
//! ([`super::stored`]).
//!
//! The file is a cache, never the truth: it is written atomically without fsync (a crash loses at
//! most the latest additions), and anything wrong with it (missing, damaged, from another version
//! of the parser) makes the next listing parse every note again and rewrite it. Its checksum
//! catches damage; [`PARSER_VERSION`] changes whenever the parser would read a note differently,
//! so an upgrade never shows tasks as an older parser saw them.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::stored::StoredNote;
use crate::fsutil::TempFile;
use crate::id::ObjectId;
use crate::markdown::tasks::{is_done_status, is_open_status};
use crate::markdown::{ParsedNote, TaskId, parse_note};
use crate::paths::VaultPath;

/// File name inside `.vault/`.
pub const INDEX_FILE: &str = "tasks";

/// The first bytes of the file.
const MAGIC: &[u8; 8] = b"VSTASKS\0";
/// The layout of the file (2: entries keep task lines, [`super::stored`]).
const FORMAT_VERSION: u32 = 2;
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

    fn of_status(status: impl Iterator<Item = char>, warnings: bool) -> NoteFlags {
        let mut bits = 0;
        for status in status {
            bits |= if is_open_status(status) {
                Self::OPEN
            } else if is_done_status(status) {
                Self::DONE
            } else {
                Self::OTHER
            };
        }
        if warnings {
            bits |= Self::WARNINGS;
        }
        NoteFlags(bits)
    }

    #[cfg(test)]
    pub(crate) fn of(note: &IndexedNote) -> NoteFlags {
        Self::of_status(
            note.parsed.tasks.iter().map(|t| t.status),
            note.not_text || !note.parsed.warnings.is_empty(),
        )
    }

    pub(crate) fn of_stored(note: &StoredNote<'_>) -> NoteFlags {
        Self::of_status(
            note.tasks
                .iter()
                .filter_map(|t| super::stored::TaskHead::decode(t))
                .map(|h| h.status),
            note.not_text || !note.warnings.is_empty(),
        )
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
/// that have some. Entries are kept encoded; saving streams them to the file as they are, so
/// the index is never held twice.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TaskIndex {
    /// Sorted by id.
    entries: Vec<Entry>,
    /// The file as read; `entries` point into it from `bodies_at` on.
    bytes: Vec<u8>,
    bodies_at: usize,
    /// Entries added since loading, in the order added; they point into `added_bytes`, which
    /// holds them one after another (one buffer, not one allocation per note: a first listing
    /// adds them all).
    added: Vec<Entry>,
    added_bytes: Vec<u8>,
    /// Where each added id is in `added`.
    added_at: HashMap<ObjectId, usize>,
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
/// Where the checksum is, and where what it covers starts.
const CHECKSUM: std::ops::Range<usize> = 16..48;

impl TaskIndex {
    /// Read the index at `path`. Missing gives an empty index; unreadable, damaged or from
    /// another version gives an empty index and the reason (the caller may log it: the only
    /// cost is parsing every note once).
    pub fn load(path: &Path) -> (TaskIndex, Option<String>) {
        match crate::vfs::read(path) {
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
        let mut tmp = TempFile::beside(path)?;
        let checksum = self.write_to(&mut std::io::BufWriter::new(tmp.file()))?;
        tmp.file().write_all_at(&checksum, CHECKSUM.start as u64)?;
        tmp.rename_unsynced(path)
    }

    /// Where the entry of `id` is: loaded entries first, then added ones.
    pub(crate) fn position(&self, id: &ObjectId) -> Option<u32> {
        let at = match self.entries.binary_search_by(|e| e.id.cmp(id)) {
            Ok(i) => i,
            Err(_) => self.entries.len() + *self.added_at.get(id)?,
        };
        u32::try_from(at).ok()
    }

    /// The flags and encoded entry at `position`.
    pub(crate) fn at(&self, position: u32) -> Option<(NoteFlags, &[u8])> {
        let position = position as usize;
        match self.entries.get(position) {
            Some(e) => Some((e.flags, self.body(e))),
            None => {
                let e = self.added.get(position - self.entries.len())?;
                Some((e.flags, &self.added_bytes[e.body.clone()]))
            }
        }
    }

    fn body(&self, e: &Entry) -> &[u8] {
        &self.bytes[self.bodies_at + e.body.start..self.bodies_at + e.body.end]
    }

    /// The encoded entry of `id` and its flags.
    fn raw(&self, id: &ObjectId) -> Option<(NoteFlags, &[u8])> {
        self.at(self.position(id)?)
    }

    pub fn contains(&self, id: &ObjectId) -> bool {
        self.position(id).is_some()
    }

    pub fn flags(&self, id: &ObjectId) -> Option<NoteFlags> {
        self.raw(id).map(|(flags, _)| flags)
    }

    /// The note content `id` found at `path`, every task read. `None` if unknown, or if its
    /// entry cannot be decoded (the checksum makes that a bug, not damage; the note is then
    /// not listed).
    pub fn get(&self, id: &ObjectId, path: &VaultPath) -> Option<IndexedNote> {
        let (_, body) = self.raw(id)?;
        StoredNote::decode(body)?.to_indexed(path)
    }

    /// Add the note content `id` as [`super::stored::parse_entry`] read it (once: a content
    /// the index knows is left as it is).
    pub(crate) fn insert(&mut self, id: ObjectId, (flags, body): (NoteFlags, Vec<u8>)) {
        if self.contains(&id) {
            return;
        }
        let at = self.added_bytes.len();
        self.added_bytes.extend_from_slice(&body);
        self.added_at.insert(id, self.added.len());
        self.added.push(Entry {
            id,
            body: at..self.added_bytes.len(),
            flags,
        });
    }

    /// Drop every entry whose content is not in `keep`; whether any was dropped. Positions
    /// change.
    pub fn retain(&mut self, keep: &dyn Fn(&ObjectId) -> bool) -> bool {
        let before = self.len();
        self.entries.retain(|e| keep(&e.id));
        self.added.retain(|e| keep(&e.id));
        self.added_at = (self.added.iter().enumerate())
            .map(|(i, e)| (e.id, i))
            .collect();
        self.len() != before
    }

    pub fn len(&self) -> usize {
        self.entries.len() + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Write the file to `out` (its checksum left zero) and return the checksum, which goes
    /// at [`CHECKSUM`].
    fn write_to(&self, out: &mut impl Write) -> std::io::Result<[u8; 32]> {
        let mut all: Vec<(&ObjectId, NoteFlags, &[u8])> = (self.entries.iter())
            .map(|e| (&e.id, e.flags, self.body(e)))
            .chain((self.added.iter()).map(|e| (&e.id, e.flags, &self.added_bytes[e.body.clone()])))
            .collect();
        all.sort_unstable_by_key(|(id, _, _)| **id);
        let bodies: usize = all.iter().map(|(_, _, body)| body.len()).sum();
        if u32::try_from(bodies).is_err() {
            return Err(std::io::Error::other(format!(
                "{bodies} bytes of entries, more than the index's 4 GiB"
            )));
        }
        let mut hashed = Hashed {
            out,
            hasher: blake3::Hasher::new(),
        };
        hashed.out.write_all(MAGIC)?;
        hashed.out.write_all(&FORMAT_VERSION.to_le_bytes())?;
        hashed.out.write_all(&PARSER_VERSION.to_le_bytes())?;
        hashed.out.write_all(&[0; 32])?;
        hashed.write_all(&(all.len() as u32).to_le_bytes())?;
        let mut at = 0u32;
        for (id, flags, body) in &all {
            hashed.write_all(&id.0)?;
            hashed.write_all(&at.to_le_bytes())?;
            hashed.write_all(&(body.len() as u32).to_le_bytes())?;
            hashed.write_all(&[flags.0])?;
            at += body.len() as u32;
        }
        for (_, _, body) in &all {
            hashed.write_all(body)?;
        }
        hashed.out.flush()?;
        Ok(*hashed.hasher.finalize().as_bytes())
    }

    #[cfg(test)]
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let checksum = self.write_to(&mut out).unwrap();
        out[CHECKSUM].copy_from_slice(&checksum);
        out
    }

    fn decode(bytes: Vec<u8>) -> Result<TaskIndex, String> {
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
        if blake3::hash(&bytes[CHECKSUM.end..]).as_bytes() != &bytes[CHECKSUM] {
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
        Ok(TaskIndex {
            entries,
            bytes,
            bodies_at: dir_end,
            added: Vec::new(),
            added_bytes: Vec::new(),
            added_at: HashMap::new(),
        })
    }
}

/// A writer that hashes what goes through it.
struct Hashed<'a, W: Write> {
    out: &'a mut W,
    hasher: blake3::Hasher,
}

impl<W: Write> Write for Hashed<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::super::stored::parse_entry;
    use super::*;

    fn a() -> VaultPath {
        VaultPath::new("a.md").unwrap()
    }

    fn note(text: &str) -> (ObjectId, (NoteFlags, Vec<u8>)) {
        (
            ObjectId::of(text.as_bytes()),
            parse_entry(&a(), text.as_bytes()),
        )
    }

    #[test]
    fn an_index_survives_the_round_trip_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(INDEX_FILE);
        let mut index = TaskIndex::default();
        let first_text =
            "---\ntags: [home]\n---\n- [ ] a 📅 2026-12-01 ⏫ #x\n- [x] b ✅ 2026-11-02\n";
        for text in [first_text, "no tasks\n", "- [ ] same\n- [ ] same\n"] {
            let (id, n) = note(text);
            index.insert(id, n);
        }
        let bad = ObjectId::of(b"\xff\xfe- [ ] x");
        index.insert(
            bad,
            parse_entry(&VaultPath::new("b.md").unwrap(), b"\xff\xfe- [ ] x"),
        );
        index.save(&file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), index.encode());
        let (loaded, warning) = TaskIndex::load(&file);
        assert_eq!(warning, None);
        assert_eq!(loaded.len(), 4);
        for id in index.added_at.keys() {
            assert_eq!(loaded.get(id, &a()), index.get(id, &a()));
            assert_eq!(loaded.flags(id), index.flags(id));
        }
        assert!(loaded.get(&bad, &a()).unwrap().not_text);
        let first = ObjectId::of(first_text.as_bytes());
        assert_eq!(
            loaded.get(&first, &a()).unwrap(),
            IndexedNote::parse(&a(), first_text.as_bytes())
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
        // Loaded and added entries side by side, each at its position.
        let (added, entry) = note("- [ ] added after loading\n");
        again.insert(added, entry);
        for id in [first, added] {
            let (flags, body) = again.at(again.position(&id).unwrap()).unwrap();
            assert_eq!(
                (Some(flags), Some(body)),
                (again.flags(&id), again.raw(&id).map(|r| r.1))
            );
        }
        assert_eq!(again.position(&bad), None);
        again.save(&file).unwrap();
        let (mut reloaded, _) = TaskIndex::load(&file);
        assert_eq!(reloaded.len(), 4);
        assert_eq!(reloaded.get(&added, &a()), again.get(&added, &a()));
        assert!(reloaded.retain(&|id| *id != added));
        assert!(!reloaded.contains(&bad) && reloaded.get(&first, &a()) == index.get(&first, &a()));
    }

    #[test]
    fn ids_are_made_for_the_path_a_content_is_found_at() {
        let text = "- [ ] same\n- [ ] other\n- [ ] same\n";
        let (id, entry) = note(text);
        let mut index = TaskIndex::default();
        index.insert(id, entry);
        let elsewhere = VaultPath::new("folder/b.md").unwrap();
        let parsed_there = parse_note(&elsewhere, text);
        let there = index.get(&id, &elsewhere).unwrap();
        for (i, task) in parsed_there.tasks.iter().enumerate() {
            assert_eq!(there.task_id(i, &elsewhere), task.id);
            assert_eq!(there.parsed.tasks[i].id, task.id);
        }
        assert_eq!(
            there.task_id(0, &a()),
            index.get(&id, &a()).unwrap().parsed.tasks[0].id
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
        let mut first_format = good.clone();
        first_format[8] = 1;
        for (what, bytes) in [
            ("flipped", flipped),
            ("truncated", truncated),
            ("other format", other_format),
            ("the first format", first_format),
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
