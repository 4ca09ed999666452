//! What a scan may limit itself to when the caller saw what changed (the agent's file
//! watcher): the folders whose entries changed are listed again and the changed folders walked
//! whole; every other file is taken from the stat cache without a `stat`.
//!
//! This is only sound when the cache described the whole folder when the changes began, which
//! [`crate::sync`] checks (the cache's tree is base's, under the same ignore rules) before it
//! uses a scope; anything else scans everything.

use std::collections::HashSet;
use std::path::Path;

use crate::paths::VaultPath;

/// Paths that changed since the stat cache last matched the folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanScope {
    /// Files and folders an event named: created, written, removed, renamed from or to.
    changed: HashSet<String>,
    /// The folders holding them (`""` is the vault's root), whose listings are read again.
    folders: HashSet<String>,
}

impl ScanScope {
    /// An empty scope: nothing changed, every file comes from the cache.
    pub fn new() -> ScanScope {
        ScanScope::default()
    }

    /// The scope of these absolute paths under `root`. `None` when one of them cannot be
    /// scoped (outside the root, the root itself, or a name that is not a vault path): then
    /// everything must be scanned, which also reports the odd name.
    pub fn from_paths<'p>(
        root: &Path,
        paths: impl IntoIterator<Item = &'p Path>,
    ) -> Option<ScanScope> {
        let mut scope = ScanScope::new();
        for path in paths {
            let rel = path.strip_prefix(root).ok()?;
            scope.insert(VaultPath::from_relative(rel).ok()?);
        }
        Some(scope)
    }

    pub fn insert(&mut self, path: VaultPath) {
        let parent = path
            .parent()
            .map_or_else(String::new, |p| p.as_str().to_string());
        self.folders.insert(parent);
        self.changed.insert(path.as_str().to_string());
    }

    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
    }

    /// How many paths changed.
    pub fn len(&self) -> usize {
        self.changed.len()
    }

    /// Whether a changed folder met in a listed folder is walked whole.
    pub(super) fn is_changed(&self, path: &VaultPath) -> bool {
        self.changed.contains(path.as_str())
    }

    /// The folders to list again, without those inside a changed folder (walked whole from
    /// their changed ancestor's listing).
    pub(super) fn folders_to_list(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .folders
            .iter()
            .map(String::as_str)
            .filter(|f| !self.under_changed(f))
            .collect();
        out.sort_unstable();
        out
    }

    /// Whether the file at `path` is looked at again (so not taken from the cache): it sits
    /// in a listed folder or inside a changed one.
    pub(super) fn covers(&self, path: &str) -> bool {
        let parent = path.rfind('/').map_or("", |i| &path[..i]);
        self.folders.contains(parent) || self.under_changed(path)
    }

    /// Whether `path` or one of its ancestors changed.
    fn under_changed(&self, path: &str) -> bool {
        if path.is_empty() {
            return false;
        }
        let mut end = path.len();
        loop {
            if self.changed.contains(&path[..end]) {
                return true;
            }
            match path[..end].rfind('/') {
                Some(i) => end = i,
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(paths: &[&str]) -> ScanScope {
        let root = Path::new("/v");
        let abs: Vec<_> = paths.iter().map(|p| root.join(p)).collect();
        ScanScope::from_paths(root, abs.iter().map(|p| p.as_path())).unwrap()
    }

    #[test]
    fn a_changed_file_lists_its_folder_and_covers_its_siblings_only() {
        let s = scope(&["notes/a.md"]);
        assert_eq!(s.folders_to_list(), vec!["notes"]);
        assert!(s.covers("notes/a.md"));
        assert!(s.covers("notes/b.md"));
        assert!(!s.covers("notes/sub/c.md"));
        assert!(!s.covers("other/a.md"));
        assert!(!s.covers("top.md"));
    }

    #[test]
    fn a_changed_folder_covers_everything_below_it() {
        let s = scope(&["projects/2026", "projects/2026/q1/plan.md"]);
        // `projects/2026/q1` lies inside a changed folder: walked from `projects`'s listing.
        assert_eq!(s.folders_to_list(), vec!["projects"]);
        assert!(s.covers("projects/2026/q1/deep/x.md"));
        assert!(s.covers("projects/readme.md"));
        assert!(!s.covers("projects/2025/x.md"));
        assert!(s.is_changed(&VaultPath::new("projects/2026").unwrap()));
    }

    #[test]
    fn top_level_changes_list_the_root() {
        let s = scope(&["inbox.md"]);
        assert_eq!(s.folders_to_list(), vec![""]);
        assert!(s.covers("other.md"));
        assert!(!s.covers("notes/a.md"));
    }

    #[test]
    fn unscopable_paths_ask_for_a_full_scan() {
        let root = Path::new("/v");
        for odd in ["/elsewhere/a.md", "/v", "/v/.vault/index"] {
            assert_eq!(ScanScope::from_paths(root, [Path::new(odd)]), None, "{odd}");
        }
        assert_eq!(ScanScope::from_paths(root, []), Some(ScanScope::new()));
    }
}
