//! Which files hold an object: for naming what a hub lacks or holds damaged in the user's
//! terms (a path, not an id), and for re-sending only what is needed of a large file.
//!
//! A hub that reports a missing or damaged id may name a whole file (a blob or a large file's
//! top list) or a piece of one (a group list or a chunk). The first is found in the tree; the
//! second needs the file's lists, which come from wherever the caller can read them without a
//! whole file in memory: this device's copy of the file ([`pieces_on_disk`], read once in
//! slices) or a hub whose index tells lists from blobs (`FolderHub::files_holding`).

use crate::vfs::File;
use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;
use std::path::Path;

use super::CHUNKED_FROM;
use super::chunker::{Layout, plan_reader};
use crate::id::ObjectId;
use crate::object::{FileMeta, FlatTree};
use crate::paths::VaultPath;

/// For each file of `files` that holds one of `ids`, which of them it holds (sorted by path;
/// a file holds its own id, and for a large file its lists and chunks).
///
/// `pieces_of(path, meta)` gives the ids a large file is made of beyond its own (groups and
/// chunks), or `None` when the caller cannot tell (the file is not on this device, or is one
/// whole blob). It is asked only for files of at least [`CHUNKED_FROM`] bytes, and only while
/// some id is not yet placed, each distinct file id once.
pub fn files_holding(
    files: &FlatTree,
    ids: &[ObjectId],
    pieces_of: &mut dyn FnMut(&VaultPath, &FileMeta) -> Option<Vec<ObjectId>>,
) -> BTreeMap<VaultPath, Vec<ObjectId>> {
    let wanted: HashSet<ObjectId> = ids.iter().copied().collect();
    let mut placed: HashSet<ObjectId> = HashSet::new();
    let mut out: BTreeMap<VaultPath, Vec<ObjectId>> = BTreeMap::new();
    for (path, meta) in files {
        if wanted.contains(&meta.id) {
            placed.insert(meta.id);
            out.entry(path.clone()).or_default().push(meta.id);
        }
    }
    let mut asked: BTreeMap<ObjectId, Vec<ObjectId>> = BTreeMap::new();
    for (path, meta) in files {
        if meta.size < CHUNKED_FROM {
            continue;
        }
        if placed.len() == wanted.len() && !asked.contains_key(&meta.id) {
            break;
        }
        let held = match asked.get(&meta.id) {
            Some(held) => held.clone(),
            None => {
                let held: Vec<ObjectId> = pieces_of(path, meta)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|id| wanted.contains(id))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                asked.insert(meta.id, held.clone());
                held
            }
        };
        if !held.is_empty() {
            placed.extend(held.iter().copied());
            out.entry(path.clone()).or_default().extend(held);
        }
    }
    out
}

/// The groups and chunks of this device's copy of `path` under `root`, if that copy is the
/// version `meta` names and is a chunked file (read once, in slices, never whole).
pub fn pieces_on_disk(root: &Path, path: &VaultPath, meta: &FileMeta) -> Option<Vec<ObjectId>> {
    let file = File::open(path.to_fs_path(root)).ok()?;
    let plan = plan_reader(BufReader::with_capacity(1 << 20, file), meta.size).ok()?;
    if plan.id != meta.id {
        return None;
    }
    match plan.layout {
        Layout::Blob => None,
        Layout::Chunked { lists, chunks } => Some(
            lists
                .iter()
                .skip(1)
                .map(|l| l.id())
                .chain(chunks.iter().map(|c| c.id))
                .collect(),
        ),
    }
}

/// `files_holding` as text for a message: "`a.md`", "`big.bin` (2 of its chunks)", and ids no
/// file holds by their short form.
pub fn describe(
    held: &BTreeMap<VaultPath, Vec<ObjectId>>,
    files: &FlatTree,
    ids: &[ObjectId],
) -> Vec<String> {
    let mut named: HashSet<ObjectId> = HashSet::new();
    let mut out = Vec::new();
    for (path, got) in held {
        named.extend(got.iter().copied());
        let whole = files.get(path).is_some_and(|m| got.contains(&m.id));
        let pieces = got.len() - usize::from(whole);
        out.push(match (whole, pieces) {
            (true, _) => format!("`{path}`"),
            (false, 1) => format!("`{path}` (1 of its chunks, {})", got[0].short()),
            (false, n) => format!("`{path}` ({n} of its chunks)"),
        });
    }
    let mut unnamed: Vec<String> = ids
        .iter()
        .filter(|id| !named.contains(*id))
        .map(|id| format!("object {}", id.short()))
        .collect();
    unnamed.dedup();
    out.extend(unnamed);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::objects_of;
    use crate::object::Kind;

    use crate::test_bytes::noise;

    #[test]
    fn chunks_are_placed_in_the_files_that_hold_them() {
        let dir = tempfile::tempdir().unwrap();
        let big = noise(3 << 20, 7);
        let (big_id, objects) = objects_of(&big);
        std::fs::write(dir.path().join("big.bin"), &big).unwrap();
        let chunk = objects.iter().find(|o| o.kind == Kind::Blob).unwrap().id();
        let meta = |id, size| FileMeta {
            id,
            size,
            mtime_ns: 1,
            executable: false,
        };
        let mut files = FlatTree::new();
        let p = |s: &str| VaultPath::new(s).unwrap();
        files.insert(p("big.bin"), meta(big_id, big.len() as u64));
        files.insert(p("a.md"), meta(ObjectId::of(b"a"), 1));
        let stray = ObjectId::of(b"nothing");
        let ids = [chunk, ObjectId::of(b"a"), stray];
        let mut asked = 0;
        let held = files_holding(&files, &ids, &mut |path, m| {
            asked += 1;
            pieces_on_disk(dir.path(), path, m)
        });
        assert_eq!(asked, 1);
        assert_eq!(held[&p("big.bin")], vec![chunk]);
        assert_eq!(held[&p("a.md")], vec![ObjectId::of(b"a")]);
        let text = describe(&held, &files, &ids);
        assert_eq!(text[0], "`a.md`");
        assert!(
            text[1].starts_with("`big.bin` (1 of its chunks"),
            "{text:?}"
        );
        assert_eq!(text[2], format!("object {}", stray.short()));
        // A copy on disk that is another version tells nothing.
        std::fs::write(dir.path().join("big.bin"), noise(3 << 20, 8)).unwrap();
        let held = files_holding(&files, &[chunk], &mut |path, m| {
            pieces_on_disk(dir.path(), path, m)
        });
        assert!(held.is_empty());
    }
}
