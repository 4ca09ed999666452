//! The mount points a device has seen inside its vault, remembered in `.vault/mounts` (one
//! vault path per line). Once a drive or share is unmounted its mount point is an ordinary
//! empty folder, so only this memory tells the folder guard that the notes which were in it
//! are not deleted but away. A missing or unreadable file is an empty memory (a device that
//! never saw a mount point, or an older version of Vault Sync, which does not write it); a
//! line that is not a valid vault path is ignored.

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use crate::paths::VaultPath;

/// The file in `.vault/`.
pub const MOUNTS_FILE: &str = "mounts";

/// The remembered mount points, in path order.
pub fn load(path: &Path) -> BTreeSet<VaultPath> {
    crate::vfs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| VaultPath::new(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Write `mounts` (atomically and durably: losing them would lose the guard).
pub fn save(path: &Path, mounts: &BTreeSet<VaultPath>) -> io::Result<()> {
    let mut text = String::new();
    for m in mounts {
        text.push_str(m.as_str());
        text.push('\n');
    }
    crate::fsutil::write_atomic(path, text.as_bytes())
}

/// Whether `folder` is a mount point now: a folder (not a link) on another filesystem than
/// the folder holding it.
pub fn is_mounted(root: &Path, folder: &VaultPath) -> bool {
    let here = folder.to_fs_path(root);
    let parent = match folder.parent() {
        Some(p) => p.to_fs_path(root),
        None => root.to_path_buf(),
    };
    match (
        crate::vfs::symlink_metadata(&here),
        crate::vfs::metadata(&parent),
    ) {
        (Ok(h), Ok(p)) => h.is_dir() && h.dev() != p.dev(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_round_trip_and_bad_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MOUNTS_FILE);
        assert!(load(&path).is_empty());
        let mounts: BTreeSet<VaultPath> = ["drive", "a/share"]
            .iter()
            .map(|m| VaultPath::new(m).unwrap())
            .collect();
        save(&path, &mounts).unwrap();
        assert_eq!(load(&path), mounts);
        std::fs::write(&path, "drive\n../outside\n\n.vault/x\na/share\n").unwrap();
        assert_eq!(load(&path), mounts);
    }

    #[test]
    fn an_ordinary_folder_is_not_mounted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(!is_mounted(dir.path(), &VaultPath::new("sub").unwrap()));
        assert!(!is_mounted(dir.path(), &VaultPath::new("gone").unwrap()));
    }
}
