//! The backlinks of a vault, kept up to date from head to head with as little work as the
//! change needs: a note is resolved again only when its version changed, or when a file was
//! added or removed whose name one of its links uses (see [`super::resolve::name_key`]: a link
//! can resolve only to files with its key). A snapshot that edits 10 notes re-resolves those
//! 10; one that adds a note re-resolves the notes linking to that name.
//!
//! Every path is a number ([`PathNumbers`]), and who links to what is one flat sorted array of
//! (target, note) number pairs, brought up to date once per head ([`LinkGraph::finish`]):
//! at 100,000 notes and a million links, shared strings per link and a set per target were
//! some 60 MiB of an idle server; numbers in flat arrays are a fraction of that.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use vault::id::ObjectId;

use super::links::{self, Outgoing};
use super::resolve::{PathIndex, name_key};

/// Which notes link to which files, by path number.
#[derive(Debug, Default)]
pub struct LinkGraph {
    paths: PathNumbers,
    /// By path number: the links of the note at that path, when the graph holds one.
    notes: Vec<Option<NoteLinks>>,
    /// (target, note) pairs, sorted and each once: the notes whose links resolve to a target.
    reverse: Vec<(u32, u32)>,
    /// Notes resolved again or dropped since `reverse` was last brought up to date.
    touched: Vec<u32>,
}

#[derive(Debug)]
struct NoteLinks {
    version: ObjectId,
    /// The hashes of its links' name keys (a collision only resolves a note once more).
    names: Box<[u32]>,
    /// The path numbers its links resolve to, each once.
    targets: Box<[u32]>,
}

/// Every path the graph refers to, by number; a number nothing refers to any more is reused.
#[derive(Debug, Default)]
struct PathNumbers {
    by_name: HashMap<Arc<str>, u32>,
    names: Vec<Option<Arc<str>>>,
    free: Vec<u32>,
}

impl PathNumbers {
    fn get(&self, path: &str) -> Option<u32> {
        self.by_name.get(path).copied()
    }

    /// `path`'s number, given one if it has none.
    fn number(&mut self, path: &str) -> u32 {
        if let Some(n) = self.get(path) {
            return n;
        }
        let name: Arc<str> = Arc::from(path);
        let n = match self.free.pop() {
            Some(n) => {
                self.names[n as usize] = Some(name.clone());
                n
            }
            None => {
                self.names.push(Some(name.clone()));
                (self.names.len() - 1) as u32
            }
        };
        self.by_name.insert(name, n);
        n
    }

    fn name(&self, n: u32) -> &str {
        self.names[n as usize].as_deref().unwrap_or("")
    }

    fn forget(&mut self, n: u32) {
        if let Some(name) = self.names[n as usize].take() {
            self.by_name.remove(&name);
            self.free.push(n);
        }
    }

    fn len(&self) -> usize {
        self.names.len()
    }
}

/// The hash a name key is remembered by.
fn name_hash(key: &str) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    h.finish() as u32
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
        self.finish();
        stale.len()
    }

    /// The links of the note at `path`, if the graph holds one.
    fn note(&self, path: &str) -> Option<&NoteLinks> {
        let n = self.paths.get(path)?;
        self.notes.get(n as usize)?.as_ref()
    }

    /// Drop the notes a head no longer holds (`notes`: its notes and their versions) and say
    /// which of `notes` must be resolved again (positions): new ones, changed versions, and
    /// those with a link whose name key is in `changed` (the name keys of files added or
    /// removed; `None`: all). Only those need their text, so the caller reads only them and
    /// [`LinkGraph::resolve`]s each, then calls [`LinkGraph::finish`]; nothing else keeps a
    /// note's links as written.
    pub fn stale(
        &mut self,
        notes: &[(&str, ObjectId)],
        changed: Option<&HashSet<String>>,
    ) -> Vec<usize> {
        let present: HashSet<&str> = notes.iter().map(|n| n.0).collect();
        let changed: Option<HashSet<u32>> =
            changed.map(|c| c.iter().map(|k| name_hash(k)).collect());
        for n in 0..self.notes.len() {
            if self.notes[n].is_some() && !present.contains(self.paths.name(n as u32)) {
                self.notes[n] = None;
                self.touched.push(n as u32);
            }
        }
        notes
            .iter()
            .enumerate()
            .filter(|(_, (path, version))| match (self.note(path), &changed) {
                (None, _) | (_, None) => true,
                (Some(had), Some(changed)) => {
                    had.version != *version || had.names.iter().any(|n| changed.contains(n))
                }
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Resolve the note at `path` (its version and links as written) against `index`. The
    /// backlinks change at the next [`LinkGraph::finish`].
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
        let from = self.paths.number(path);
        // links::targets gives each target once.
        let targets: Box<[u32]> = links::targets(index, path, links)
            .iter()
            .map(|t| self.paths.number(t))
            .collect();
        let at = from as usize;
        if self.notes.len() <= at {
            self.notes.resize_with(at + 1, || None);
        }
        self.notes[at] = Some(NoteLinks {
            version,
            names,
            targets,
        });
        self.touched.push(from);
    }

    /// Bring the backlinks up to date with the notes resolved and dropped since the last
    /// time (one pass over the pairs, not one per note), and forget the path numbers nothing
    /// refers to any more. Called once a head's notes are resolved.
    pub fn finish(&mut self) {
        let mut touched = vec![false; self.paths.len()];
        for &n in &self.touched {
            touched[n as usize] = true;
        }
        self.touched = Vec::new();
        let mut added: Vec<(u32, u32)> = Vec::new();
        for (n, _) in touched.iter().enumerate().filter(|(_, t)| **t) {
            if let Some(Some(note)) = self.notes.get(n) {
                added.extend(note.targets.iter().map(|&t| (t, n as u32)));
            }
        }
        added.sort_unstable();
        let kept = self
            .reverse
            .iter()
            .copied()
            .filter(|&(_, from)| !touched[from as usize]);
        let mut merged = Vec::with_capacity(kept.clone().count() + added.len());
        let mut added = added.into_iter().peekable();
        for pair in kept {
            while let Some(&a) = added.peek()
                && a < pair
            {
                merged.push(a);
                added.next();
            }
            merged.push(pair);
        }
        merged.extend(added);
        self.reverse = merged;
        // A number is in use while a note is at it or a note links to it.
        let mut used = vec![false; self.paths.len()];
        for (n, note) in self.notes.iter().enumerate() {
            used[n] |= note.is_some();
        }
        for &(target, _) in &self.reverse {
            used[target as usize] = true;
        }
        for (n, used) in used.into_iter().enumerate() {
            if !used {
                self.paths.forget(n as u32);
            }
        }
        let last = self
            .notes
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |n| n + 1);
        self.notes.truncate(last);
    }

    /// The notes linking to `path`, sorted.
    pub fn linked_from(&self, path: &str) -> Vec<String> {
        let Some(n) = self.paths.get(path) else {
            return Vec::new();
        };
        let start = self.reverse.partition_point(|&(t, _)| t < n);
        let end = self.reverse.partition_point(|&(t, _)| t <= n);
        let mut out: Vec<String> = self.reverse[start..end]
            .iter()
            .map(|&(_, from)| self.paths.name(from).to_string())
            .collect();
        out.sort();
        out
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
    fn heads_in_a_row_keep_the_backlinks_a_fresh_build_has() {
        // Notes come and go, change their links and reuse the numbers of paths gone.
        let names = ["A", "B", "C", "d/A", "d/E", "F", "G"];
        let mut seed: u64 = 7;
        let mut next = |m: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % m
        };
        let mut g = LinkGraph::default();
        let mut before: Vec<String> = Vec::new();
        let mut versions: HashMap<String, (String, u8)> = HashMap::new();
        for round in 0..40u8 {
            let mut notes: Vec<(String, u8, String)> = Vec::new();
            for name in names {
                if next(3) == 0 {
                    continue;
                }
                let links: Vec<String> = (0..next(4))
                    .map(|_| format!("[[{}]]", names[next(names.len() as u64) as usize]))
                    .collect();
                let (path, text) = (format!("{name}.md"), links.join(" "));
                // A new version only when the text changed, as a blob id.
                let version = match versions.get(&path) {
                    Some((had, v)) if *had == text => *v,
                    _ => round,
                };
                versions.insert(path.clone(), (text.clone(), version));
                notes.push((path, version, text));
            }
            let after: Vec<(&str, u8, &str)> = notes
                .iter()
                .map(|(p, v, t)| (p.as_str(), *v, t.as_str()))
                .collect();
            let files = if round % 2 == 0 {
                vec!["x.png"]
            } else {
                vec![]
            };
            let olds: Vec<&str> = before.iter().map(String::as_str).collect();
            step(&mut g, &olds, &after, &files);
            let mut paths: Vec<String> = notes.iter().map(|n| n.0.clone()).collect();
            paths.extend(files.iter().map(|f| f.to_string()));
            paths.sort();
            before = paths;
        }
        assert!(g.paths.len() <= names.len() + 1);
    }

    #[test]
    fn changed_names_of_two_lists() {
        let got = changed_names(["a/X.md", "b.png", "c.md"], ["a/x.md", "b.png", "d/C.md"]);
        let want: HashSet<String> = ["x", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want);
    }
}
