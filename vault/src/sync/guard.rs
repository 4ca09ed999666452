//! The folder guard (docs/sync.md, step 5), pure: which folders' deletions a round must hold
//! back because they look like a drive, share or folder that went away rather than notes the
//! user deleted. The vault-wide guard (the whole folder empty, or more than a share of it
//! deleted) catches a vault that vanished; this one catches a part of it that did:
//!
//! - a **remembered mount point** (a folder the walk once found on another filesystem than
//!   the vault's) that is not mounted now, and under which the round would delete anything:
//!   an unmounted drive leaves an empty folder, indistinguishable from deleted notes but for
//!   the memory of the mount;
//! - an **emptied folder**: one that held at least [`FOLDER_GUARD_MIN_FILES`] files in base
//!   (at any depth) and keeps none of them, at least that many deleted by this round.
//!
//! Moves are not deletions: a base file whose bytes reappear at a path the device added
//! (a renamed folder) does not count. Only the topmost such folders are named.

use std::collections::{HashMap, HashSet};

use crate::object::FlatTree;
use crate::paths::VaultPath;

/// How many files a folder must have held, and lost, for its emptying to be held back. Fewer
/// is a folder of scraps the user most likely deleted on purpose.
pub const FOLDER_GUARD_MIN_FILES: usize = 10;

/// Why a folder's deletions are held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardReason {
    /// It was a mount point (another disk or share) and is not mounted now.
    Unmounted,
    /// It held many files and has none of them now.
    Emptied,
}

/// A folder whose deletions a round held back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GuardedFolder {
    pub folder: VaultPath,
    /// How many of base's files under it the round would have deleted.
    pub deletes: usize,
    pub why: GuardReason,
}

impl std::fmt::Display for GuardedFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.why {
            GuardReason::Unmounted => {
                "it was a mount point (another disk or share) and is not mounted now"
            }
            GuardReason::Emptied => "every file in it is gone",
        };
        write!(
            f,
            "`{}` ({} file(s) would be deleted: {why})",
            self.folder, self.deletes
        )
    }
}

/// The message for folders held back: what happened, that nothing was lost, what to do.
pub fn held_back_message(held: &[GuardedFolder]) -> String {
    let list: Vec<String> = held.iter().map(ToString::to_string).collect();
    format!(
        "held back the deletion of the files in {}; they were not deleted on the hub or on other devices. If a drive or share is not mounted, mount it again; if you really deleted them, run `syncd sync --allow-mass-delete`",
        list.join(", ")
    )
}

/// The paths of base that this round would delete on the hub: gone here, still on the hub,
/// and not in the merged tree.
pub fn local_deletions(
    base: &FlatTree,
    local: &FlatTree,
    remote: &FlatTree,
    merged: &FlatTree,
) -> Vec<VaultPath> {
    base.keys()
        .filter(|p| !local.contains_key(*p) && remote.contains_key(*p) && !merged.contains_key(*p))
        .cloned()
        .collect()
}

/// The folders whose deletions must be held back, topmost only, in path order.
/// `deleted`: base's paths this round would delete ([`local_deletions`]); `vanished_mounts`:
/// remembered mount points that are not mounted now.
pub fn guarded_folders(
    base: &FlatTree,
    local: &FlatTree,
    deleted: &[VaultPath],
    vanished_mounts: &[VaultPath],
) -> Vec<GuardedFolder> {
    if deleted.is_empty() {
        return Vec::new();
    }
    // A deleted file whose bytes the device added elsewhere was moved, not lost.
    let added: HashSet<_> = local
        .iter()
        .filter(|(p, _)| !base.contains_key(*p))
        .map(|(_, m)| m.id)
        .collect();
    let lost: Vec<&VaultPath> = deleted
        .iter()
        .filter(|p| base.get(*p).is_none_or(|m| !added.contains(&m.id)))
        .collect();
    let mut out = Vec::new();
    for mount in vanished_mounts {
        let n = lost.iter().filter(|p| is_under(p, mount)).count();
        if n > 0 {
            out.push(GuardedFolder {
                folder: mount.clone(),
                deletes: n,
                why: GuardReason::Unmounted,
            });
        }
    }
    out.extend(emptied_folders(base, local, &lost));
    topmost(out)
}

/// Per folder: base's files under it, those still here, and those lost.
#[derive(Default)]
struct Counts {
    base: usize,
    kept: usize,
    lost: usize,
}

/// Folders (ancestors of lost files) that held at least [`FOLDER_GUARD_MIN_FILES`] in base,
/// keep none, and lost at least that many.
fn emptied_folders(base: &FlatTree, local: &FlatTree, lost: &[&VaultPath]) -> Vec<GuardedFolder> {
    let mut counts: HashMap<&str, Counts> = HashMap::new();
    for p in lost {
        for folder in ancestors(p.as_str()) {
            counts.entry(folder).or_default().lost += 1;
        }
    }
    let candidates = counts
        .values()
        .filter(|c| c.lost >= FOLDER_GUARD_MIN_FILES)
        .count();
    if candidates == 0 {
        return Vec::new();
    }
    for p in base.keys() {
        let kept = local.contains_key(p);
        for folder in ancestors(p.as_str()) {
            if let Some(c) = counts.get_mut(folder) {
                c.base += 1;
                c.kept += usize::from(kept);
            }
        }
    }
    counts
        .into_iter()
        .filter(|(_, c)| {
            c.lost >= FOLDER_GUARD_MIN_FILES && c.base >= FOLDER_GUARD_MIN_FILES && c.kept == 0
        })
        .map(|(folder, c)| GuardedFolder {
            folder: VaultPath::from_checked(folder),
            deletes: c.lost,
            why: GuardReason::Emptied,
        })
        .collect()
}

/// The folders above `path` (not the vault's top), nearest last.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

/// Whether `path` is inside the folder `folder`.
pub fn is_under(path: &VaultPath, folder: &VaultPath) -> bool {
    path.as_str()
        .strip_prefix(folder.as_str())
        .is_some_and(|rest| rest.starts_with('/'))
}

/// Sorted by folder, without folders inside another one listed (nor the same folder twice:
/// a vanished mount is the better explanation than an emptied folder).
fn topmost(mut found: Vec<GuardedFolder>) -> Vec<GuardedFolder> {
    found.sort_by(|a, b| {
        a.folder
            .cmp(&b.folder)
            .then((a.why != GuardReason::Unmounted).cmp(&(b.why != GuardReason::Unmounted)))
    });
    let mut out: Vec<GuardedFolder> = Vec::new();
    for g in found {
        if out
            .iter()
            .any(|o| o.folder == g.folder || is_under(&g.folder, &o.folder))
        {
            continue;
        }
        out.push(g);
    }
    out
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
