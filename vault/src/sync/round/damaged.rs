//! Objects the hub holds only damaged copies of (a bit flipped on its disk): each fails only
//! the files that need it. A download that meets one learns which ids are damaged
//! ([`HubError::Damaged`]), the round starts over without writing those files, says which
//! paths were left and who can repair them, and publishes and verifies the rest. Pure
//! decisions on data; the round does the I/O.

use std::collections::HashSet;

use crate::apply::ApplyError;
use crate::hub::HubError;
use crate::id::ObjectId;
use crate::object::FlatTree;
use crate::paths::VaultPath;
use crate::reconcile::{Action, Plan};

use super::SyncError;

/// What to tell the user about a path left as it is because the hub's copy is damaged.
pub(super) fn not_downloaded(path: &VaultPath) -> String {
    format!(
        "the hub's copy of `{path}` is damaged, so it was not downloaded (this device keeps what it had there); a device that has it will repair the hub on its next `syncd sync --full-verify`"
    )
}

/// What to tell the user about a path whose hub copy is damaged, found by a full
/// verification on a device that has no good copy of that version.
pub(super) fn not_repairable(path: &VaultPath) -> String {
    format!(
        "the hub's copy of `{path}` is damaged, and this device has no good copy of that version to repair it with; a device that has it will repair the hub on its next `syncd sync --full-verify` (every other file synced)"
    )
}

/// The paths of `files` holding `ids`, each id a whole file's (`None` when one is not:
/// a tree, a snapshot, a piece of a large file the full check named alone).
pub(super) fn paths_of(ids: &[ObjectId], files: &FlatTree) -> Option<Vec<VaultPath>> {
    let (paths, others) = by_file(ids, files);
    others.is_empty().then_some(paths)
}

/// The paths of `files` holding one of `ids` (sorted), and the ids no file holds.
fn by_file(ids: &[ObjectId], files: &FlatTree) -> (Vec<VaultPath>, Vec<ObjectId>) {
    let wanted: HashSet<ObjectId> = ids.iter().copied().collect();
    let mut found = HashSet::new();
    let mut paths: Vec<VaultPath> = files
        .iter()
        .filter(|(_, m)| wanted.contains(&m.id))
        .map(|(p, m)| {
            found.insert(m.id);
            p.clone()
        })
        .collect();
    paths.sort();
    let others = ids.iter().filter(|id| !found.contains(*id)).copied();
    (paths, others.collect())
}

/// Remove from `plan` the writes of blobs in `damaged`; returns their paths. The merged tree
/// keeps the hub's version of each (publishing it without them would delete them everywhere),
/// and every other action stays: a local version a conflict moves into `.revisions/` is kept
/// there, as the merged tree says.
pub(super) fn drop_damaged_writes(plan: &mut Plan, damaged: &HashSet<ObjectId>) -> Vec<VaultPath> {
    if damaged.is_empty() {
        return Vec::new();
    }
    let mut dropped = Vec::new();
    plan.actions.retain(|action| match action {
        Action::Write { path, meta, .. } if damaged.contains(&meta.id) => {
            dropped.push(path.clone());
            false
        }
        _ => true,
    });
    dropped
}

/// The ids a failed download names as damaged on the hub, if that is why it failed.
pub(super) fn damaged_ids(e: &SyncError) -> Option<&[ObjectId]> {
    let hub = match e {
        SyncError::Hub(h) => h,
        SyncError::Apply(ApplyError::Fetch { source, .. }) => source.downcast_ref::<HubError>()?,
        _ => return None,
    };
    match hub {
        HubError::Damaged { ids, .. } => Some(ids),
        _ => None,
    }
}

/// The paths of `files` holding one of `ids`, sorted; ids no file holds (a tree, a snapshot)
/// are named by their short form.
pub(super) fn names_of(ids: &[ObjectId], files: &FlatTree) -> Vec<String> {
    let (paths, others) = by_file(ids, files);
    let others = others
        .into_iter()
        .map(|id| format!("object {}", id.short()));
    paths
        .iter()
        .map(ToString::to_string)
        .chain(others)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::FileMeta;

    fn meta(text: &str) -> FileMeta {
        FileMeta {
            id: ObjectId::of(text.as_bytes()),
            size: text.len() as u64,
            mtime_ns: 1,
            executable: false,
        }
    }

    fn path(p: &str) -> VaultPath {
        VaultPath::new(p).unwrap()
    }

    #[test]
    fn only_the_writes_of_damaged_blobs_are_dropped() {
        let bad = meta("bad");
        let mut plan = Plan {
            actions: vec![
                Action::Move {
                    from: path("b.md"),
                    to: path(".revisions/b.x.md"),
                    expect: meta("mine"),
                },
                Action::Write {
                    path: path("a.md"),
                    meta: meta("good"),
                    expect: None,
                },
                Action::Write {
                    path: path("b.md"),
                    meta: bad,
                    expect: None,
                },
                Action::Write {
                    path: path("copy/b.md"),
                    meta: bad,
                    expect: None,
                },
            ],
            ..Plan::default()
        };
        plan.merged.insert(path("b.md"), bad);
        let damaged = HashSet::from([bad.id]);
        let dropped = drop_damaged_writes(&mut plan, &damaged);
        assert_eq!(dropped, vec![path("b.md"), path("copy/b.md")]);
        assert_eq!(plan.actions.len(), 2, "{:?}", plan.actions);
        assert_eq!(
            plan.merged.get(&path("b.md")),
            Some(&bad),
            "the hub's version stays"
        );
        assert!(drop_damaged_writes(&mut plan, &HashSet::new()).is_empty());
    }

    #[test]
    fn damage_is_named_by_path_else_by_object() {
        let mut files = FlatTree::new();
        files.insert(path("z.md"), meta("bad"));
        files.insert(path("a.md"), meta("bad"));
        files.insert(path("ok.md"), meta("fine"));
        let tree = ObjectId::of(b"a tree");
        let names = names_of(&[meta("bad").id, tree], &files);
        assert_eq!(
            names,
            vec![
                "a.md".to_string(),
                "z.md".into(),
                format!("object {}", tree.short())
            ]
        );
    }

    #[test]
    fn a_download_failing_for_damage_is_told_from_other_failures() {
        let ids = vec![ObjectId::of(b"x")];
        let damaged = HubError::Damaged {
            hub: "h".into(),
            ids: ids.clone(),
        };
        let fetch = SyncError::Apply(ApplyError::Fetch {
            first: path("a.md"),
            count: 2,
            source: Box::new(damaged),
            partial: Box::default(),
        });
        assert_eq!(damaged_ids(&fetch), Some(&ids[..]));
        let lost = SyncError::Hub(HubError::Unreachable {
            hub: "h".into(),
            detail: "down".into(),
        });
        assert_eq!(damaged_ids(&lost), None);
    }
}
