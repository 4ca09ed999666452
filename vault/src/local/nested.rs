//! Finding a vault inside a folder about to become one: a vault around another would sync the
//! inner vault's notes twice and, before `.vault/` was skipped at every depth, its state.

use crate::vfs as fs;
use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use crate::paths::STATE_DIR;

/// The first folder below `root` (breadth first, so the shallowest) that holds a `.vault/`
/// folder, or `None`. `root`'s own `.vault/` does not count. Symbolic links are never
/// followed (a link is never synced, so what it leads to cannot be synced twice), and folders
/// that cannot be listed are passed over: the first scan warns about them. Stops at the first
/// hit, so a large folder costs a full walk only when it holds no vault.
pub fn find_inner_vault(root: &Path) -> io::Result<Option<PathBuf>> {
    Ok(vaults_below(root, 1, usize::MAX)?.into_iter().next())
}

/// Up to `max_found` vault folders below `root`, shallowest first, listing at most
/// `max_folders` folders: for the message of a command run outside any vault, which should
/// name the vaults the user probably meant rather than walk a whole home folder.
pub fn find_vaults_below(root: &Path, max_found: usize, max_folders: usize) -> Vec<PathBuf> {
    vaults_below(root, max_found, max_folders).unwrap_or_default()
}

fn vaults_below(root: &Path, max_found: usize, max_folders: usize) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut queue = VecDeque::from([root.to_path_buf()]);
    let mut listed = 0;
    while let Some(dir) = queue.pop_front() {
        if listed == max_folders {
            break;
        }
        listed += 1;
        let list = match fs::read_dir(&dir) {
            Ok(list) => list,
            Err(e) if dir == root => return Err(e),
            Err(_) => continue,
        };
        let mut below = Vec::new();
        let mut is_vault = false;
        for entry in list {
            let Ok(entry) = entry else { continue };
            // The entry's own type: `DirEntry::file_type` does not follow a symlink.
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name();
            if name.to_string_lossy().eq_ignore_ascii_case(STATE_DIR) {
                is_vault |= dir != root;
                continue;
            }
            below.push(entry.path());
        }
        if is_vault {
            // A vault's own folders hold no other vault worth naming (init refuses that).
            found.push(dir);
            if found.len() == max_found {
                break;
            }
        } else {
            below.sort();
            queue.extend(below);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_shallowest_inner_vault_and_not_its_own_state() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join(".vault/objects")).unwrap();
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        assert_eq!(find_inner_vault(root).unwrap(), None);
        fs::create_dir_all(root.join("a/b/c/deep/.vault")).unwrap();
        fs::create_dir_all(root.join("x/.VAULT")).unwrap();
        assert_eq!(find_inner_vault(root).unwrap(), Some(root.join("x")));
        fs::remove_dir_all(root.join("x")).unwrap();
        assert_eq!(
            find_inner_vault(root).unwrap(),
            Some(root.join("a/b/c/deep"))
        );
    }

    #[test]
    fn lists_the_vaults_below_a_folder_shallowest_first_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for v in ["notes", "work/wiki", "work/wiki/inner", "old/a/b"] {
            fs::create_dir_all(root.join(v).join(".vault")).unwrap();
        }
        assert_eq!(
            find_vaults_below(root, 10, usize::MAX),
            [
                root.join("notes"),
                root.join("work/wiki"),
                root.join("old/a/b")
            ]
        );
        assert_eq!(find_vaults_below(root, 1, usize::MAX), [root.join("notes")]);
        // Listing only the root and `notes` finds `notes` alone.
        assert_eq!(find_vaults_below(root, 10, 2), [root.join("notes")]);
        assert!(find_vaults_below(&root.join("missing"), 10, 10).is_empty());
    }

    #[test]
    fn never_follows_a_symlink_and_a_file_named_vault_is_no_vault() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        fs::create_dir_all(other.path().join(".vault")).unwrap();
        std::os::unix::fs::symlink(other.path(), dir.path().join("link")).unwrap();
        fs::create_dir_all(dir.path().join("n")).unwrap();
        fs::write(dir.path().join("n/.vault"), b"a note").unwrap();
        assert_eq!(find_inner_vault(dir.path()).unwrap(), None);
    }
}
