//! What an export remembers between runs, in a file of the git repository's own folder
//! (`vault-sync-export`): which commit each snapshot became, and the git ids of the vault's
//! trees and files already written. Only a cache: the conversion is deterministic, so a lost
//! or unreadable map costs the next run its time, never a different result. It is kept per
//! choice of `--include-revisions` (the trees differ), and written atomically.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use gix::ObjectId as GitId;
use vault::id::ObjectId;

use crate::ExportError;

pub(crate) const FILE: &str = "vault-sync-export";
const HEADER: &str = "vault-sync git export 2";

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportMap {
    /// Each snapshot exported: its commit, or (a snapshot whose files the hub no longer holds)
    /// the commits of its nearest exported ancestors, which stand for it as parents.
    pub commits: HashMap<ObjectId, Vec<GitId>>,
    /// The snapshots of `commits` that have a commit of their own (the others stand for
    /// their ancestors).
    pub own: HashSet<ObjectId>,
    /// Vault trees (below the root) and the git trees they became.
    pub trees: HashMap<ObjectId, GitId>,
    /// Vault files (a blob's id, or a large file's list) and their git blobs.
    pub files: HashMap<ObjectId, GitId>,
}

impl ExportMap {
    /// The map an earlier export with the same `include_revisions` left in `git_dir`, or an
    /// empty one.
    pub fn load(git_dir: &Path, include_revisions: bool) -> ExportMap {
        std::fs::read_to_string(git_dir.join(FILE))
            .ok()
            .and_then(|text| parse(&text, include_revisions))
            .unwrap_or_default()
    }

    /// Write the map into `git_dir` (a temp file, synced, renamed over the old one).
    pub fn save(&self, git_dir: &Path, include_revisions: bool) -> Result<(), ExportError> {
        let path = git_dir.join(FILE);
        let mut text = format!("{HEADER}\nrevisions {}\n", yes_no(include_revisions));
        let mut lines: Vec<String> = Vec::new();
        for (snapshot, commits) in &self.commits {
            let commits: Vec<String> = commits.iter().map(|c| c.to_string()).collect();
            let kind = if self.own.contains(snapshot) {
                "s"
            } else {
                "p"
            };
            lines.push(format!("{kind} {snapshot} {}", commits.join(" ")));
        }
        for (tree, git) in &self.trees {
            lines.push(format!("t {tree} {git}"));
        }
        for (file, git) in &self.files {
            lines.push(format!("f {file} {git}"));
        }
        lines.sort();
        for l in lines {
            text.push_str(l.trim_end());
            text.push('\n');
        }
        write_atomic(&path, text.as_bytes())
    }
}

/// The file naming the snapshot `main` was last exported at, and its commit: a run with
/// nothing new to export reads this alone, not the whole map.
pub(crate) const HEAD_FILE: &str = "vault-sync-head";

/// The snapshot the last export with the same `include_revisions` ended at, and its commit.
pub fn exported_head(git_dir: &Path, include_revisions: bool) -> Option<(ObjectId, GitId)> {
    let text = std::fs::read_to_string(git_dir.join(HEAD_FILE)).ok()?;
    let mut words = text.split_whitespace();
    let snapshot = words.next()?.parse().ok()?;
    let commit = GitId::from_hex(words.next()?.as_bytes()).ok()?;
    let same = words.next()? == "revisions" && words.next()? == yes_no(include_revisions);
    same.then_some((snapshot, commit))
}

/// Record that `main` is at `commit`, the snapshot `snapshot`'s (after the map is saved).
pub(crate) fn save_head(
    git_dir: &Path,
    include_revisions: bool,
    snapshot: ObjectId,
    commit: GitId,
) -> Result<(), ExportError> {
    let text = format!(
        "{snapshot} {commit} revisions {}\n",
        yes_no(include_revisions)
    );
    write_atomic(&git_dir.join(HEAD_FILE), text.as_bytes())
}

/// Write `bytes` to `path` through a temp file beside it, synced, renamed over.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let temp = temp_path(path);
    let mut f = std::fs::File::create(&temp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    std::fs::rename(&temp, path).map_err(io)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// The map in `text`, if it is one and was made with the same `include_revisions`.
fn parse(text: &str, include_revisions: bool) -> Option<ExportMap> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    if lines.next()? != format!("revisions {}", yes_no(include_revisions)) {
        return None;
    }
    let mut map = ExportMap::default();
    for line in lines {
        let mut words = line.split(' ');
        let kind = words.next()?;
        let id: ObjectId = words.next()?.parse().ok()?;
        let gits: Vec<GitId> = words
            .map(|w| GitId::from_hex(w.as_bytes()).ok())
            .collect::<Option<_>>()?;
        match kind {
            "s" if gits.len() == 1 => {
                map.own.insert(id);
                map.commits.insert(id, gits);
            }
            "p" => {
                map.commits.insert(id, gits);
            }
            "t" | "f" => {
                let [git] = gits.as_slice() else {
                    return None;
                };
                let table = if kind == "t" {
                    &mut map.trees
                } else {
                    &mut map.files
                };
                table.insert(id, *git);
            }
            _ => return None,
        }
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(n: u8) -> GitId {
        GitId::from_bytes_or_panic(&[n; 20])
    }

    #[test]
    fn a_saved_map_loads_back_only_for_the_same_choice_of_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let mut map = ExportMap::default();
        map.commits
            .insert(ObjectId::of(b"thinned"), vec![git(1), git(2)]);
        map.commits.insert(ObjectId::of(b"root"), vec![]);
        map.commits.insert(ObjectId::of(b"snap"), vec![git(5)]);
        map.own.insert(ObjectId::of(b"snap"));
        map.commits
            .insert(ObjectId::of(b"thinned-one"), vec![git(5)]);
        map.trees.insert(ObjectId::of(b"tree"), git(3));
        map.files.insert(ObjectId::of(b"file"), git(4));
        map.save(dir.path(), false).unwrap();
        assert_eq!(ExportMap::load(dir.path(), false), map);
        assert_eq!(ExportMap::load(dir.path(), true), ExportMap::default());
    }

    #[test]
    fn a_damaged_map_is_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE),
            format!("{HEADER}\nrevisions no\nt nothex {}\n", git(1)),
        )
        .unwrap();
        assert_eq!(ExportMap::load(dir.path(), false), ExportMap::default());
    }
}
