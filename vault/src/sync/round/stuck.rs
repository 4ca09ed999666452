//! Paths this device cannot bring to the hub's version: a folder where the hub has a file (or
//! the reverse), a symbolic link in the way, a file the scan cannot read, a place this user may
//! not write. Starting the round over cannot help with any of them (apply's
//! [`SkipKind::is_permanent`]), so a round that meets only these completes instead:
//!
//! - the published tree keeps the hub's version in the *region* in the way (the path that is
//!   in the way and everything under it): every other device keeps it, and nothing this device
//!   holds there is published (a folder's notes where the hub has a file would make a tree
//!   with a file and a folder of one name);
//! - nothing in the folder is touched there: this device's folder, file or link stays;
//! - `.vault/stuck.json` records, per region, what this device's base held there before (it
//!   never agreed with the hub on it), and the next rounds merge the region against that
//!   instead of against the new base. So the folder's thing is never taken for a deletion of
//!   the hub's version, an unreadable note that becomes readable is merged as the version it
//!   was (an edit made meanwhile becomes a conflict, with a revision), and the region stays
//!   skipped, and reported, every round until the user resolves it.

use std::path::Path;

use super::*;
use crate::apply::{SkipKind, Skipped};
use crate::sync::SkippedPath;

/// The file in `.vault/` that keeps the regions.
pub(crate) const STUCK_FILE: &str = "stuck.json";

/// What this device's side of the merge is in each region it could not bring to the hub's
/// version (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StuckRecord {
    pub regions: Vec<Region>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Region {
    /// The path in the way; the region is it and everything under it.
    pub at: VaultPath,
    /// Base's entries in the region as this device last had them.
    pub base: FlatTree,
}

/// Whether `path` is `at` or under it.
pub(crate) fn in_region(path: &VaultPath, at: &VaultPath) -> bool {
    path.as_str()
        .strip_prefix(at.as_str())
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `tree` with the entries in each of `regions` replaced by those `from` has there.
pub(crate) fn overlay(tree: &FlatTree, regions: &[VaultPath], from: &FlatTree) -> FlatTree {
    let mut out = tree.clone();
    out.retain(|p, _| !regions.iter().any(|at| in_region(p, at)));
    for at in regions {
        out.extend(
            from.range(at.clone()..)
                .take_while(|(p, _)| p.as_str().starts_with(at.as_str()))
                .filter(|(p, _)| in_region(p, at))
                .map(|(p, m)| (p.clone(), *m)),
        );
    }
    out
}

impl StuckRecord {
    pub fn load(path: &Path) -> Result<StuckRecord, String> {
        match crate::vfs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("`{}` is damaged ({e}); ignored", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StuckRecord::default()),
            Err(e) => Err(format!("cannot read `{}` ({e}); ignored", path.display())),
        }
    }

    /// Written durably before the base it describes can move: without it, the next round
    /// would take this device's folder or link for a deletion of the hub's version.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if self.regions.is_empty() {
            return match crate::vfs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::fsutil::write_atomic(path, &bytes)
    }

    /// `base` as this device has it: each region's entries are the recorded ones.
    pub fn apply(&self, base: &FlatTree) -> FlatTree {
        let mut out = base.clone();
        for region in &self.regions {
            out.retain(|p, _| !in_region(p, &region.at));
            out.extend(region.base.iter().map(|(p, m)| (p.clone(), *m)));
        }
        out
    }
}

/// The regions of apply's permanent skips: the outermost paths in the way, each once, with
/// the first skip met there.
pub(crate) fn regions(skipped: &[Skipped]) -> Vec<&Skipped> {
    let mut out: Vec<&Skipped> = skipped.iter().filter(|s| s.kind.is_permanent()).collect();
    out.sort_by(|a, b| a.at.cmp(&b.at));
    let mut kept: Vec<&Skipped> = Vec::new();
    for s in out {
        if !kept.iter().any(|k| in_region(&s.at, &k.at)) {
            kept.push(s);
        }
    }
    kept
}

/// What the user reads about a region: the path, what is in the way, what to do.
pub(crate) fn message(s: &Skipped) -> String {
    let at = &s.at;
    let kept = "the hub keeps its version and this device's is left as it is, unsynced";
    match s.kind {
        SkipKind::FolderInTheWay => format!(
            "`{at}`: the hub has a file here but this device has a folder; rename or remove the folder, then sync ({kept})"
        ),
        SkipKind::FileInTheWay => format!(
            "`{at}`: the hub has a folder here (with `{}`) but this device has a file; rename or remove the file, then sync ({kept})",
            s.path
        ),
        SkipKind::LinkInTheWay => {
            let what = if s.path == *at { "a file" } else { "a folder" };
            format!(
                "`{at}`: the hub has {what} here but this device has a symbolic link (links are never followed or synced); remove or rename the link, then sync ({kept})"
            )
        }
        SkipKind::Unreadable => format!(
            "`{at}`: changed or deleted on the hub, but this device cannot read its copy (no permission, or it kept changing while read), so it cannot tell whether replacing it would lose an edit; make it readable (`chmod u+rw`), then sync ({kept})"
        ),
        SkipKind::PermissionDenied => format!(
            "`{at}`: this device may not write here (permission denied, or an immutable file or folder); give this user write access, then sync ({kept})"
        ),
        SkipKind::HubDamaged => super::damaged::not_downloaded(at),
        SkipKind::Changed => format!("`{at}`: {}", s.reason),
    }
}

impl Round<'_> {
    /// After apply: hold back the regions of `skipped` (see the module docs). Returns the tree
    /// to publish when it is not the plan's; records the regions (on disk, before anything
    /// can move base) and what to report.
    pub(super) fn hold_back(
        &mut self,
        plan: &Plan,
        skipped: &[Skipped],
        base: &FlatTree,
        remote: &FlatTree,
    ) -> Result<Option<FlatTree>, SyncError> {
        let merged = &plan.merged;
        let stuck = regions(skipped);
        self.held = stuck.iter().map(|s| s.at.clone()).collect();
        // A move out of a region did not happen either: where it was going is held too (it
        // is where a revision would have been, and nothing is there).
        let targets: Vec<VaultPath> = plan
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Move { from, to, .. }
                    if self.held.iter().any(|at| in_region(from, at))
                        && !self.held.iter().any(|at| in_region(to, at)) =>
                {
                    Some(to.clone())
                }
                _ => None,
            })
            .collect();
        self.held.extend(targets);
        self.skipped = stuck
            .iter()
            .map(|s| SkippedPath {
                path: s.at.clone(),
                reason: s.kind,
                message: message(s),
            })
            .collect();
        let record = StuckRecord {
            regions: self
                .held
                .iter()
                .map(|at| Region {
                    at: at.clone(),
                    base: overlay(&FlatTree::new(), std::slice::from_ref(at), base),
                })
                .collect(),
        };
        if record != self.record {
            let path = self.vault.state_dir().join(STUCK_FILE);
            record
                .save(&path)
                .map_err(|source| SyncError::Record { path, source })?;
            self.record = record;
        }
        if self.held.is_empty() {
            return Ok(None);
        }
        for s in &self.skipped {
            tracing::info!("skipped {}", s.message);
        }
        Ok(Some(overlay(merged, &self.held, remote)))
    }

    /// The folder's side for verification: the scanned files, with what the merged tree has
    /// for unreadable paths and for the regions held back.
    pub(super) fn folder_side(&self, vscan: &Scan, merged: &FlatTree) -> FlatTree {
        let local = with_unreadable(vscan, merged);
        if self.held.is_empty() {
            local
        } else {
            overlay(&local, &self.held, merged)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ObjectId;

    fn meta(text: &str) -> FileMeta {
        FileMeta {
            id: ObjectId::of(text.as_bytes()),
            size: text.len() as u64,
            mtime_ns: 1,
            executable: false,
        }
    }

    fn p(s: &str) -> VaultPath {
        VaultPath::new(s).unwrap()
    }

    fn tree(items: &[(&str, &str)]) -> FlatTree {
        items.iter().map(|(k, v)| (p(k), meta(v))).collect()
    }

    fn skip(path: &str, at: &str, kind: SkipKind) -> Skipped {
        Skipped {
            path: p(path),
            reason: kind.reason().into(),
            kind,
            at: p(at),
        }
    }

    #[test]
    fn a_region_is_the_path_and_what_is_under_it_not_its_name_siblings() {
        assert!(in_region(&p("a.md"), &p("a.md")));
        assert!(in_region(&p("a.md/x.md"), &p("a.md")));
        assert!(!in_region(&p("a.md.bak"), &p("a.md")));
        assert!(!in_region(&p("a.mdx/y"), &p("a.md")));
    }

    #[test]
    fn overlay_takes_the_regions_from_the_other_tree_and_nothing_else() {
        // This device's folder `a.md/` where the hub has the file `a.md`.
        let local = tree(&[("a.md/x.md", "mine"), ("a.mdx", "sibling"), ("b.md", "b")]);
        let remote = tree(&[("a.md", "hub's"), ("a.mdx", "sibling"), ("b.md", "old b")]);
        let out = overlay(&local, &[p("a.md")], &remote);
        assert_eq!(
            out,
            tree(&[("a.md", "hub's"), ("a.mdx", "sibling"), ("b.md", "b")])
        );
    }

    #[test]
    fn regions_are_the_outermost_permanent_obstacles_once_each() {
        let skipped = [
            skip("p/x.md", "p", SkipKind::FileInTheWay),
            skip("p/y.md", "p", SkipKind::FileInTheWay),
            skip("q.md", "q.md", SkipKind::Changed),
            skip("r.md", "r.md", SkipKind::Unreadable),
        ];
        let got: Vec<&str> = regions(&skipped).iter().map(|s| s.at.as_str()).collect();
        assert_eq!(got, ["p", "r.md"]);
    }

    #[test]
    fn the_record_replaces_base_in_its_regions_only() {
        let record = StuckRecord {
            regions: vec![Region {
                at: p("a.md"),
                base: FlatTree::new(),
            }],
        };
        let base = tree(&[("a.md", "hub's"), ("b.md", "b")]);
        assert_eq!(record.apply(&base), tree(&[("b.md", "b")]));
        let json = serde_json::to_vec(&record).unwrap();
        assert_eq!(
            serde_json::from_slice::<StuckRecord>(&json).unwrap(),
            record
        );
    }

    #[test]
    fn messages_name_the_path_the_obstacle_and_what_to_do() {
        let m = message(&skip("notes/a.md", "notes/a.md", SkipKind::FolderInTheWay));
        assert!(m.starts_with("`notes/a.md`: the hub has a file here but this device has a folder; rename or remove the folder"), "{m}");
        let m = message(&skip("p/x.md", "p", SkipKind::LinkInTheWay));
        assert!(
            m.contains("a folder here") && m.contains("symbolic link"),
            "{m}"
        );
    }
}
