//! A folder of the head snapshot: its sub-folders and files with sizes and times, computed
//! from the flat list of paths (one pass over the folder's range of the sorted list).

use std::ops::Bound;

use vault::object::FlatTree;
use vault::paths::VaultPath;

use crate::render::resolve::is_note;
use crate::urls;

/// One sub-folder of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    pub name: String,
    pub href: String,
    /// Files in it, at any depth.
    pub files: usize,
    /// `.revisions/`: shown, but quieter.
    pub quiet: bool,
}

/// One file of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub href: String,
    pub raw: String,
    pub is_note: bool,
    pub size: String,
    pub bytes: u64,
    pub time: String,
    pub time_exact: String,
    pub quiet: bool,
}

/// What a folder holds, or `None` when there is no such folder (no file below it).
pub fn listing(
    vault: &str,
    files: &FlatTree,
    folder: &str,
) -> Option<(Vec<FolderEntry>, Vec<FileEntry>)> {
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let start = VaultPath::new(if prefix.is_empty() { "" } else { folder }).ok();
    let range = match &start {
        Some(p) => files.range((Bound::Excluded(p.clone()), Bound::Unbounded)),
        None => files.range::<VaultPath, _>(..),
    };
    let mut folders: Vec<FolderEntry> = Vec::new();
    let mut out: Vec<FileEntry> = Vec::new();
    let mut any = false;
    for (path, meta) in range {
        let Some(rest) = path.as_str().strip_prefix(&prefix) else {
            // Paths sort by bytes, and `a/b-c` sorts between `a/b` and `a/b/…`: skip those,
            // stop past the folder's range.
            if path.as_str() > prefix.as_str() && !path.as_str().starts_with(folder) {
                break;
            }
            continue;
        };
        any = true;
        let quiet = path.is_revision();
        match rest.split_once('/') {
            Some((sub, _)) => match folders.last_mut() {
                Some(last) if last.name == sub => last.files += 1,
                _ => folders.push(FolderEntry {
                    name: sub.to_string(),
                    href: urls::folder(vault, &format!("{prefix}{sub}")),
                    files: 1,
                    quiet,
                }),
            },
            None => {
                let time = jiff::Timestamp::from_nanosecond(meta.mtime_ns as i128)
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                out.push(FileEntry {
                    name: rest.to_string(),
                    href: urls::note(vault, path.as_str()),
                    raw: urls::raw(vault, path.as_str()),
                    is_note: is_note(rest),
                    size: human_size(meta.size),
                    bytes: meta.size,
                    time: time.strftime("%Y-%m-%d %H:%M UTC").to_string(),
                    time_exact: time.to_string(),
                    quiet,
                });
            }
        }
    }
    (any || folder.is_empty()).then_some((folders, out))
}

/// `1234567` -> `1.2 MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault::id::ObjectId;
    use vault::object::FileMeta;

    fn tree(paths: &[&str]) -> FlatTree {
        paths
            .iter()
            .map(|p| {
                (
                    VaultPath::new(p).unwrap(),
                    FileMeta {
                        id: ObjectId::of(p.as_bytes()),
                        size: 1500,
                        mtime_ns: 1_764_547_200_000_000_000,
                        executable: false,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_folder_lists_its_own_entries() {
        let files = tree(&[
            ".revisions/Home.1.md",
            "Home.md",
            "a/b-c.md",
            "a/b/x.md",
            "a/b/y/z.md",
            "a/c.png",
            "ab.md",
        ]);
        let (folders, list) = listing("v", &files, "").unwrap();
        let names: Vec<_> = folders
            .iter()
            .map(|f| (f.name.as_str(), f.files, f.quiet))
            .collect();
        assert_eq!(names, [(".revisions", 1, true), ("a", 4, false)]);
        let names: Vec<_> = list.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Home.md", "ab.md"]);
        assert_eq!(list[0].size, "1.5 KB");
        assert_eq!(list[0].time, "2025-12-01 00:00 UTC");
        assert_eq!(list[0].time_exact, "2025-12-01T00:00:00Z");
        assert_eq!(list[0].href, "/v/v/n/Home.md");

        let (folders, list) = listing("v", &files, "a").unwrap();
        assert_eq!(folders.len(), 1);
        assert_eq!((folders[0].name.as_str(), folders[0].files), ("b", 2));
        assert_eq!(folders[0].href, "/v/v/f/a/b/");
        let names: Vec<_> = list.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["b-c.md", "c.png"]);
        assert!(!list[1].is_note);

        assert!(listing("v", &files, "nope").is_none());
        assert!(listing("v", &files, "a/b/x.md").is_none());
        assert!(listing("v", &FlatTree::new(), "").is_some());
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_234_567), "1.2 MB");
    }
}
