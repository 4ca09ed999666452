//! The backlinks of a vault, kept up to date from head to head with as little work as the
//! change needs: a note is resolved again only when its version changed, or when a file was
//! added or removed whose name one of its links uses (see [`super::resolve::name_key`]: a link
//! can resolve only to files with its key). A snapshot that edits 10 notes re-resolves those
//! 10; one that adds a note re-resolves the notes linking to that name.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use vault::id::ObjectId;

use super::links::{self, Outgoing};
use super::resolve::{PathIndex, name_key};

/// Which notes link to which files. Every path is one shared string (interned): a vault of
/// 20,000 notes with a dozen links each holds a quarter of a million references, and owned
/// copies of each made this the largest part of an idle server's memory.
#[derive(Debug, Default)]
pub struct LinkGraph {
    notes: HashMap<Arc<str>, NoteLinks>,
    /// Target path -> the notes whose links resolve to it.
    reverse: HashMap<Arc<str>, BTreeSet<Arc<str>>>,
    /// Every path the graph refers to, once.
    paths: HashSet<Arc<str>>,
}

#[derive(Debug)]
struct NoteLinks {
    version: ObjectId,
    /// The hashes of its links' name keys (a collision only resolves a note once more).
    names: Box<[u64]>,
    targets: Box<[Arc<str>]>,
}

/// The hash a name key is remembered by.
fn name_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// One note of a head: its path, version and links.
pub struct NoteAt<'a> {
    pub path: &'a str,
    pub version: ObjectId,
    pub links: &'a [Outgoing],
}

/// The name keys of the files in one sorted path list and not the other.
pub fn changed_names<'a>(
    old: impl IntoIterator<Item = &'a str>,
    new: impl IntoIterator<Item = &'a str>,
) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut old = old.into_iter().peekable();
    let mut new = new.into_iter().peekable();
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(a), Some(b)) if a == b => {
                old.next();
                new.next();
            }
            (Some(a), Some(b)) if a < b => {
                out.insert(name_key(a));
                old.next();
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                out.insert(name_key(b));
                new.next();
            }
            (Some(a), None) => {
                out.insert(name_key(a));
                old.next();
            }
        }
    }
    out
}

impl LinkGraph {
    /// Bring the graph to a head whose notes are `notes` and files `index`. `changed`: the
    /// name keys of files added or removed since the last update (`None`: resolve every
    /// note). Returns how many notes were resolved.
    pub fn update(
        &mut self,
        index: &PathIndex,
        notes: &[NoteAt],
        changed: Option<&HashSet<String>>,
    ) -> usize {
        let heads: Vec<(&str, ObjectId)> = notes.iter().map(|n| (n.path, n.version)).collect();
        let stale = self.stale(&heads, changed);
        for &i in &stale {
            let note = &notes[i];
            self.resolve(index, note.path, note.version, note.links);
        }
        self.forget_unused_paths();
        stale.len()
    }

    /// Drop the notes a head no longer holds (`notes`: its notes and their versions) and say
    /// which of `notes` must be resolved again (positions): new ones, changed versions, and
    /// those with a link whose name key is in `changed` (the name keys of files added or
    /// removed; `None`: all). Only those need their text, so the caller reads only them and
    /// [`LinkGraph::resolve`]s each; nothing else keeps a note's links as written.
    pub fn stale(
        &mut self,
        notes: &[(&str, ObjectId)],
        changed: Option<&HashSet<String>>,
    ) -> Vec<usize> {
        let present: HashSet<&str> = notes.iter().map(|n| n.0).collect();
        let changed: Option<HashSet<u64>> =
            changed.map(|c| c.iter().map(|k| name_hash(k)).collect());
        let gone: Vec<Arc<str>> = self
            .notes
            .keys()
            .filter(|p| !present.contains(&***p))
            .cloned()
            .collect();
        for path in gone {
            if let Some(old) = self.notes.remove(&path) {
                self.unlink(&path, &old.targets);
            }
        }
        notes
            .iter()
            .enumerate()
            .filter(
                |(_, (path, version))| match (self.notes.get(*path), &changed) {
                    (None, _) | (_, None) => true,
                    (Some(had), Some(changed)) => {
                        had.version != *version || had.names.iter().any(|n| changed.contains(n))
                    }
                },
            )
            .map(|(i, _)| i)
            .collect()
    }

    /// Resolve the note at `path` (its version and links as written) against `index`.
    pub fn resolve(
        &mut self,
        index: &PathIndex,
        path: &str,
        version: ObjectId,
        links: &[Outgoing],
    ) {
        let names = links
            .iter()
            .map(|l| match l {
                Outgoing::Wiki(s) | Outgoing::Path(s) => name_hash(&name_key(s)),
            })
            .collect();
        let from = self.intern(path);
        if let Some(old) = self.notes.remove(path) {
            self.unlink(&from, &old.targets);
        }
        let targets: Box<[Arc<str>]> = links::targets(index, path, links)
            .iter()
            .map(|t| self.intern(t))
            .collect();
        for t in targets.iter() {
            self.reverse
                .entry(t.clone())
                .or_default()
                .insert(from.clone());
        }
        self.notes.insert(
            from,
            NoteLinks {
                version,
                names,
                targets,
            },
        );
    }

    /// Forget the paths nothing refers to any more (after the notes of a head are resolved).
    pub fn forget_unused_paths(&mut self) {
        self.paths.retain(|p| Arc::strong_count(p) > 1);
    }

    /// The one shared copy of `path`.
    fn intern(&mut self, path: &str) -> Arc<str> {
        if let Some(p) = self.paths.get(path) {
            return p.clone();
        }
        let p: Arc<str> = Arc::from(path);
        self.paths.insert(p.clone());
        p
    }

    fn unlink(&mut self, from: &str, targets: &[Arc<str>]) {
        for t in targets {
            if let Some(set) = self.reverse.get_mut(t) {
                set.remove(from);
                if set.is_empty() {
                    self.reverse.remove(t);
                }
            }
        }
    }

    /// The notes linking to `path`, sorted.
    pub fn linked_from(&self, path: &str) -> Vec<String> {
        self.reverse
            .get(path)
            .map(|s| s.iter().map(|p| p.to_string()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: u8) -> ObjectId {
        ObjectId::of(&[n])
    }

    /// (path, version, text) -> the graph's input.
    fn parsed(notes: &[(&str, u8, &str)]) -> Vec<(String, ObjectId, Vec<Outgoing>)> {
        notes
            .iter()
            .map(|(p, n, text)| (p.to_string(), v(*n), links::outgoing(text)))
            .collect()
    }

    fn at(parsed: &[(String, ObjectId, Vec<Outgoing>)]) -> Vec<NoteAt<'_>> {
        parsed
            .iter()
            .map(|(p, version, links)| NoteAt {
                path: p,
                version: *version,
                links,
            })
            .collect()
    }

    /// Update `graph` from `before` to `after` (paths: the notes plus `files`), and check it
    /// equals a graph built from scratch; the number of notes resolved.
    fn step(
        graph: &mut LinkGraph,
        before: &[&str],
        after: &[(&str, u8, &str)],
        files: &[&str],
    ) -> usize {
        let parsed = parsed(after);
        let mut paths: Vec<&str> = after
            .iter()
            .map(|n| n.0)
            .chain(files.iter().copied())
            .collect();
        paths.sort();
        let index = PathIndex::new(paths.iter().copied());
        let changed = changed_names(before.iter().copied(), paths.iter().copied());
        let n = graph.update(&index, &at(&parsed), Some(&changed));
        let mut fresh = LinkGraph::default();
        fresh.update(&index, &at(&parsed), None);
        for p in &paths {
            assert_eq!(graph.linked_from(p), fresh.linked_from(p), "{p}");
        }
        n
    }

    #[test]
    fn only_what_a_change_touches_is_resolved_again() {
        let mut g = LinkGraph::default();
        let notes = [
            ("Home.md", 1, "[[Plan]] [[Ghost]]"),
            ("projects/Plan.md", 1, "[[Home]]"),
            ("Other.md", 1, "[[Home]] ![[logo.png]]"),
        ];
        assert_eq!(step(&mut g, &[], &notes, &["logo.png"]), 3);
        assert_eq!(g.linked_from("Home.md"), ["Other.md", "projects/Plan.md"]);
        assert_eq!(g.linked_from("logo.png"), ["Other.md"]);
        let before = ["Home.md", "Other.md", "logo.png", "projects/Plan.md"];
        // One note edited: only it.
        let edited = [
            ("Home.md", 1, "[[Plan]] [[Ghost]]"),
            ("projects/Plan.md", 2, "nothing"),
            ("Other.md", 1, "[[Home]] ![[logo.png]]"),
        ];
        assert_eq!(step(&mut g, &before, &edited, &["logo.png"]), 1);
        assert_eq!(g.linked_from("Home.md"), ["Other.md"]);
        // A note named like a dangling link appears: the note linking that name, and the new one.
        let mut added = edited.to_vec();
        added.push(("Ghost.md", 1, "boo"));
        assert_eq!(step(&mut g, &before, &added, &["logo.png"]), 2);
        assert_eq!(g.linked_from("Ghost.md"), ["Home.md"]);
        // A closer namesake takes the link over; removing a note drops its links.
        let before2 = [
            "Ghost.md",
            "Home.md",
            "Other.md",
            "logo.png",
            "projects/Plan.md",
        ];
        let moved = [
            ("Home.md", 1, "[[Plan]] [[Ghost]]"),
            ("projects/Plan.md", 2, "nothing"),
            ("Plan.md", 1, "root plan"),
            ("Ghost.md", 1, "boo"),
        ];
        assert_eq!(step(&mut g, &before2, &moved, &["logo.png"]), 2);
        assert_eq!(g.linked_from("Plan.md"), ["Home.md"]);
        assert!(g.linked_from("projects/Plan.md").is_empty());
        assert!(g.linked_from("logo.png").is_empty());
    }

    #[test]
    fn changed_names_of_two_lists() {
        let got = changed_names(["a/X.md", "b.png", "c.md"], ["a/x.md", "b.png", "d/C.md"]);
        let want: HashSet<String> = ["x", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want);
    }
}
