//! A note's tasks packed as the task index stores them ([`super::stored`]), owned and in
//! memory: for a cache that keeps a whole vault's tasks warm (the server's web view) and shows
//! a few hundred at a time.
//!
//! A parsed [`Task`] holds its description, raw text, tags (the note's copied into each) and
//! planning as owned fields, some 230 bytes and several allocations a task; at 100,000 notes
//! and 290,000 tasks that was the largest part of an idle server. Packed, a task is its line
//! and where it is (one allocation per note, about the line's length a task), and a shown
//! task is read back from it exactly as the parser read it. What a listing filters and sorts
//! by is the caller's to keep in fixed fields, taken from the parse [`PackedTasks::parse`]
//! hands back.

use super::stored::{self, StoredNote};
use crate::markdown::{ParsedNote, Task};
use crate::paths::VaultPath;

/// The tasks of one note content, packed; the same for every path it is at (ids are made
/// for the path asked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedTasks(Box<[u8]>);

impl PackedTasks {
    /// The tasks of the note content `bytes` (found at `path`), packed without the parse's
    /// warnings, and the parse itself (the caller keeps what it filters by from it).
    pub fn parse(path: &VaultPath, bytes: &[u8]) -> (PackedTasks, ParsedNote) {
        let (parsed, body) = stored::pack(path, bytes, false);
        if parsed.tasks.is_empty() {
            // Nothing to read back: no allocation for the many notes without tasks.
            return (PackedTasks::default(), parsed);
        }
        (PackedTasks(body.into_boxed_slice()), parsed)
    }

    fn note(&self) -> Option<StoredNote<'_>> {
        if self.0.is_empty() {
            return None;
        }
        StoredNote::decode(&self.0)
    }

    /// How many tasks the note holds.
    pub fn len(&self) -> usize {
        self.note().map_or(0, |n| n.tasks.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Task `i` (in the note's order) as [`crate::markdown::parse_note`] reads it in this note
    /// at `path`.
    pub fn task(&self, i: usize, path: &VaultPath) -> Option<Task> {
        let note = self.note()?;
        Some(note.task(i)?.task(path, &note.tags))
    }

    /// The position of the task whose id at `path` is `id`.
    pub fn position(&self, path: &VaultPath, id: &str) -> Option<usize> {
        let note = self.note()?;
        (0..note.tasks.len()).find(|&i| note.task(i).is_some_and(|t| t.id(path).as_str() == id))
    }

    /// The bytes it holds (for memory accounting).
    pub fn size(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::index::IndexedNote;

    use crate::tasks::stored::tests::NOTES;

    #[test]
    fn packed_tasks_read_back_what_the_parser_read_at_any_path() {
        for text in NOTES {
            let (packed, parsed) =
                PackedTasks::parse(&VaultPath::new("x.md").unwrap(), text.as_bytes());
            assert_eq!(packed.len(), parsed.tasks.len());
            for path in ["a.md", "folder/deeper/b.md"] {
                let path = VaultPath::new(path).unwrap();
                let expected = IndexedNote::parse(&path, text.as_bytes()).parsed.tasks;
                for (i, e) in expected.iter().enumerate() {
                    assert_eq!(
                        packed.task(i, &path).as_ref(),
                        Some(e),
                        "{text:?} at {path}"
                    );
                    assert_eq!(packed.position(&path, e.id.as_str()), Some(i));
                }
                assert!(packed.task(expected.len(), &path).is_none());
            }
        }
    }

    #[test]
    fn a_note_without_tasks_packs_to_nothing() {
        let path = VaultPath::new("a.md").unwrap();
        for text in ["no tasks\n", "", "\u{ff}"] {
            let (packed, _) = PackedTasks::parse(&path, text.as_bytes());
            assert_eq!((packed.size(), packed.len()), (0, 0));
        }
        let (packed, _) = PackedTasks::parse(&path, b"\xff\xfe- [ ] x");
        assert!(packed.is_empty());
    }
}
