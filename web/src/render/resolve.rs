//! Where a link in a note points: a pure decision over the vault's list of paths (built once
//! per head as a [`PathIndex`]), so the same link resolves the same way on every page and in
//! the backlinks, and the rules (docs/web.md "Folders and notes") are tested as tables here.
//!
//! Obsidian's rules, as implemented:
//! 1. `[[#Heading]]` (no file part) is this note.
//! 2. `./x` and `../x` are relative to the linking note's folder; `/x` is from the vault root.
//! 3. A path that names a file from the vault root (with or without `.md`, any case) is that
//!    file.
//! 4. Otherwise every file whose path ends with the link (`Note` matches `a/b/Note.md`,
//!    `b/Note` matches `a/b/Note.md`; without `.md`, any case) is a candidate; files in
//!    `.revisions/` are not (they are old copies of notes that would make every link
//!    ambiguous).
//! 5. Of several candidates the one closest to the linking note's folder wins (fewest folder
//!    steps up and down between the two folders), then the one with the fewest path
//!    components, then the shortest path in bytes, then the first in byte order; the others
//!    are reported, so the page can say the link was ambiguous.
//!
//! Markdown links and images (`[x](a/b.md)`, `![](img.png)`) are paths, not names: relative
//! to the note's folder first, then from the vault root ([`resolve_path`]).

/// The vault's files, indexed for resolution (lower-cased keys: names match regardless of
/// case).
///
/// Compact, because one is kept per vault for as long as its paths stay the same: the paths
/// in one string, and each key as a hash in a sorted list whose candidates are checked against
/// the path itself. The first version (an owned string per path and per key, a vector per
/// key) took some 55 MiB at 100,000 files; this takes about 11.
#[derive(Debug, Default)]
pub struct PathIndex {
    /// Every path, one after the other.
    text: String,
    /// Where each path ends in `text`.
    ends: Vec<u32>,
    /// (hash of the lower-cased full path, index), sorted.
    by_path: Vec<(u64, u32)>,
    /// (hash of a note's lower-cased path without `.md`, index), sorted.
    by_bare: Vec<(u64, u32)>,
    /// (hash of the lower-cased file name, without `.md` for notes, index), sorted;
    /// `.revisions/` left out.
    by_name: Vec<(u64, u32)>,
}

/// The hash a key is filed under.
fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// The indexes filed under `key` in `list`, in index order (a hash collision included: the
/// caller checks each against its path).
fn filed<'a>(list: &'a [(u64, u32)], key: &str) -> impl Iterator<Item = u32> + 'a {
    let h = key_hash(key);
    let start = list.partition_point(|&(k, _)| k < h);
    list[start..]
        .iter()
        .take_while(move |&&(k, _)| k == h)
        .map(|&(_, i)| i)
}

/// What a link resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// The linking note itself (`[[#Heading]]`).
    ThisNote,
    /// `path`; `others` are the other candidates when the name was ambiguous (empty if not).
    File { path: String, others: Vec<String> },
    /// No such file in the vault.
    Missing,
}

/// Whether `path` is a note (rendered as markdown).
pub fn is_note(path: &str) -> bool {
    let len = path.len();
    len > 3 && path.is_char_boundary(len - 3) && path[len - 3..].eq_ignore_ascii_case(".md")
}

/// `text` without a final `.md` (any case).
fn strip_md(text: &str) -> &str {
    if is_note(text) {
        &text[..text.len() - 3]
    } else {
        text
    }
}

/// The key a link or a file is known by for resolution: its last name, lower-cased, without
/// `.md`. A link can only resolve to files with its key, so a file added or removed changes
/// the resolution of the links with that key and no other.
pub fn name_key(link_or_path: &str) -> String {
    let name = link_or_path.rsplit('/').next().unwrap_or(link_or_path);
    strip_md(&name.trim().to_lowercase()).to_string()
}

fn folder_of(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn is_revision(path: &str) -> bool {
    path.starts_with(".revisions/")
}

impl PathIndex {
    /// The index of `paths` (every file of the head snapshot).
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> PathIndex {
        let mut index = PathIndex::default();
        for path in paths {
            let i = index.ends.len() as u32;
            let lower = path.to_lowercase();
            let name_start = lower.rfind('/').map_or(0, |i| i + 1);
            if !is_revision(path) {
                index
                    .by_name
                    .push((key_hash(strip_md(&lower[name_start..])), i));
            }
            if is_note(&lower) {
                index.by_bare.push((key_hash(strip_md(&lower)), i));
            }
            index.by_path.push((key_hash(&lower), i));
            index.text.push_str(path);
            index.ends.push(index.text.len() as u32);
        }
        for list in [&mut index.by_path, &mut index.by_bare, &mut index.by_name] {
            list.sort_unstable();
            list.shrink_to_fit();
        }
        index.text.shrink_to_fit();
        index.ends.shrink_to_fit();
        index
    }

    /// The path with index `i`.
    fn path(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Whether `path` is a file of the vault (exactly).
    pub fn contains(&self, path: &str) -> bool {
        filed(&self.by_path, &path.to_lowercase()).any(|i| self.path(i) == path)
    }

    /// The files `key` (lower-cased) names from the root; an exact-case match first.
    fn exact(&self, key: &str) -> Vec<&str> {
        let mut ids: Vec<u32> = filed(&self.by_path, key)
            .filter(|&i| self.path(i).to_lowercase() == key)
            .chain(filed(&self.by_bare, key).filter(|&i| {
                let lower = self.path(i).to_lowercase();
                strip_md(&lower) == key
            }))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().map(|i| self.path(i)).collect()
    }

    /// The files (outside `.revisions/`) whose name, lower-cased and without `.md`, is `name`.
    fn named(&self, name: &str) -> impl Iterator<Item = &str> {
        filed(&self.by_name, name)
            .map(|i| self.path(i))
            .filter(move |p| {
                let lower = p.to_lowercase();
                let start = lower.rfind('/').map_or(0, |i| i + 1);
                strip_md(&lower[start..]) == name
            })
    }
}

/// Pick the best of `candidates` for a link in `from` (rule 5 of the module docs).
fn choose(from: &str, mut candidates: Vec<&str>, wanted: &str) -> Resolved {
    if candidates.is_empty() {
        return Resolved::Missing;
    }
    let here: Vec<&str> = folder_of(from)
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let distance = |path: &str| {
        let there: Vec<&str> = folder_of(path)
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let common = here.iter().zip(&there).take_while(|(a, b)| a == b).count();
        (here.len() - common) + (there.len() - common)
    };
    candidates.sort_by(|a, b| {
        (
            distance(a),
            // An exact-case spelling of the link beats a case variant at the same place.
            !strip_md(a).ends_with(wanted),
            a.split('/').count(),
            a.len(),
        )
            .cmp(&(
                distance(b),
                !strip_md(b).ends_with(wanted),
                b.split('/').count(),
                b.len(),
            ))
            .then_with(|| a.as_bytes().cmp(b.as_bytes()))
    });
    candidates.dedup();
    let path = candidates[0].to_string();
    let others = candidates[1..].iter().map(|s| s.to_string()).collect();
    Resolved::File { path, others }
}

/// `rel` joined to `folder`, `.` and `..` applied; `None` above the root.
fn join(folder: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = folder.split('/').filter(|s| !s.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The file a wikilink's file part (`Note`, `folder/Note`, `image.png`, `../x`) names, for a
/// link in note `from`.
pub fn resolve(index: &PathIndex, from: &str, link: &str) -> Resolved {
    let link = link.trim();
    if link.is_empty() {
        return Resolved::ThisNote;
    }
    if link.starts_with("./") || link.starts_with("../") {
        return match join(folder_of(from), link) {
            Some(path) => choose(from, index.exact(&path.to_lowercase()), strip_md(&path)),
            None => Resolved::Missing,
        };
    }
    let link = link.trim_start_matches('/');
    let key = link.to_lowercase();
    let exact = index.exact(&key);
    if !exact.is_empty() {
        return choose(from, exact, strip_md(link));
    }
    let bare = strip_md(&key);
    let name = bare.rsplit('/').next().unwrap_or(bare);
    let suffix = format!("/{bare}");
    let candidates: Vec<&str> = index
        .named(name)
        .filter(|p| {
            let lower = p.to_lowercase();
            let lower = strip_md(&lower);
            lower == bare || lower.ends_with(&suffix)
        })
        .collect();
    choose(from, candidates, strip_md(link))
}

/// The file a markdown link or image (`attachments/x.png`, `../a.md`, `Other note.md`)
/// names: relative to `from`'s folder, then from the vault root; the exact path, any case.
pub fn resolve_path(index: &PathIndex, from: &str, link: &str) -> Resolved {
    let link = link.trim();
    if link.is_empty() {
        return Resolved::ThisNote;
    }
    let tries = [
        join(folder_of(from), link.trim_start_matches('/')).filter(|_| !link.starts_with('/')),
        join("", link.trim_start_matches('/')),
    ];
    for path in tries.into_iter().flatten() {
        let found = index.exact(&path.to_lowercase());
        if !found.is_empty() {
            return choose(from, found, strip_md(&path));
        }
    }
    Resolved::Missing
}

#[cfg(test)]
mod tests {
    use super::*;

    const VAULT: &[&str] = &[
        "Home.md",
        "Note.md",
        "a/Note.md",
        "a/b/Note.md",
        "c/Note.md",
        "c/d/Deep.md",
        "x/Deep.md",
        "projects/Plan.md",
        "attachments/logo.png",
        "a/attachments/logo.png",
        "日記/2026-12-01.md",
        "Case/Mixed Name.md",
        ".revisions/Home.2026-01-01.md",
        "twins/p/Same.md",
        "twins/q/Same.md",
        "docs/report.pdf",
    ];

    fn file(path: &str, others: &[&str]) -> Resolved {
        Resolved::File {
            path: path.to_string(),
            others: others.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn wikilinks_resolve_as_obsidian_does() {
        let index = PathIndex::new(VAULT.iter().copied());
        // (linking note, link's file part, expected)
        let cases: Vec<(&str, &str, Resolved)> = vec![
            ("Home.md", "", Resolved::ThisNote),
            ("Home.md", "Home", file("Home.md", &[])),
            ("x/y.md", "home", file("Home.md", &[])),
            ("x/y.md", "HOME.MD", file("Home.md", &[])),
            ("Home.md", "projects/Plan", file("projects/Plan.md", &[])),
            ("Home.md", "Projects/Plan", file("projects/Plan.md", &[])),
            ("Home.md", "Plan", file("projects/Plan.md", &[])),
            ("Home.md", "plan.md", file("projects/Plan.md", &[])),
            (
                "Home.md",
                "日記/2026-12-01",
                file("日記/2026-12-01.md", &[]),
            ),
            ("Home.md", "2026-12-01", file("日記/2026-12-01.md", &[])),
            ("Home.md", "mixed name", file("Case/Mixed Name.md", &[])),
            // A root path wins over a name elsewhere.
            ("a/b/x.md", "Note", file("Note.md", &[])),
            // Closest folder: from a/b/ the `b/Note` suffix is unique.
            ("Home.md", "b/Note", file("a/b/Note.md", &[])),
            // Closest folder wins among names (Deep: c/d/ is closer to c/ than x/ is).
            ("c/z.md", "Deep", file("c/d/Deep.md", &["x/Deep.md"])),
            ("x/z.md", "Deep", file("x/Deep.md", &["c/d/Deep.md"])),
            // Equal distance, equal length: byte order, every time.
            (
                "Home.md",
                "Same",
                file("twins/p/Same.md", &["twins/q/Same.md"]),
            ),
            (
                "twins/q/n.md",
                "Same",
                file("twins/q/Same.md", &["twins/p/Same.md"]),
            ),
            // Attachments by name, closest first; exact root paths.
            (
                "a/n.md",
                "logo.png",
                file("a/attachments/logo.png", &["attachments/logo.png"]),
            ),
            (
                "Home.md",
                "attachments/logo.png",
                file("attachments/logo.png", &[]),
            ),
            ("Home.md", "report.pdf", file("docs/report.pdf", &[])),
            // Relative and absolute forms.
            ("a/b/n.md", "../Note", file("a/Note.md", &[])),
            ("a/b/n.md", "./Note.md", file("a/b/Note.md", &[])),
            ("a/n.md", "../../Note", Resolved::Missing),
            ("a/n.md", "/Note", file("Note.md", &[])),
            // Missing, and revisions never found by name.
            ("Home.md", "Nowhere", Resolved::Missing),
            ("Home.md", "Home.2026-01-01", Resolved::Missing),
            ("Home.md", "lan", Resolved::Missing),
            (
                "Home.md",
                ".revisions/Home.2026-01-01",
                file(".revisions/Home.2026-01-01.md", &[]),
            ),
        ];
        for (from, link, want) in cases {
            assert_eq!(resolve(&index, from, link), want, "[[{link}]] in {from}");
        }
    }

    #[test]
    fn case_variants_prefer_the_exact_spelling() {
        let index = PathIndex::new(["Note.md", "note.md"]);
        assert_eq!(
            resolve(&index, "x.md", "note"),
            file("note.md", &["Note.md"])
        );
        assert_eq!(
            resolve(&index, "x.md", "Note"),
            file("Note.md", &["note.md"])
        );
    }

    #[test]
    fn markdown_paths_resolve_relative_then_from_the_root() {
        let index = PathIndex::new(VAULT.iter().copied());
        let cases: Vec<(&str, &str, Resolved)> = vec![
            (
                "a/n.md",
                "attachments/logo.png",
                file("a/attachments/logo.png", &[]),
            ),
            (
                "c/n.md",
                "attachments/logo.png",
                file("attachments/logo.png", &[]),
            ),
            ("a/b/n.md", "../Note.md", file("a/Note.md", &[])),
            ("Home.md", "projects/plan.md", file("projects/Plan.md", &[])),
            (
                "Home.md",
                "/projects/Plan.md",
                file("projects/Plan.md", &[]),
            ),
            ("Home.md", "logo.png", Resolved::Missing),
            ("Home.md", "../../etc/passwd", Resolved::Missing),
        ];
        for (from, link, want) in cases {
            assert_eq!(resolve_path(&index, from, link), want, "({link}) in {from}");
        }
    }

    #[test]
    fn contains_is_exact() {
        let index = PathIndex::new(VAULT.iter().copied());
        assert!(index.contains("Home.md"));
        assert!(!index.contains("home.md"));
        assert!(!index.contains("Home"));
    }
}
