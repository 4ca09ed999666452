//! The first line of a commit's message: who made the snapshot and what changed since its
//! first parent (`laptop: 3 changed, 1 renamed: notes/a.md, ...`). Folders both snapshots
//! share are not read.

use std::collections::BTreeMap;

use vault::hub::Hub;
use vault::id::ObjectId;
use vault::object::EntryKind;

use crate::trees::{REVISIONS, TreeError, read_tree};

/// How many paths the message names before "and N more".
const NAMED: usize = 5;

/// The files (path -> id) under `new` that differ from those under `old`, on each side.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub before: BTreeMap<String, ObjectId>,
    pub after: BTreeMap<String, ObjectId>,
}

/// The difference between the vault trees `old` and `new` (roots); `.revisions/` counts only
/// when `include_revisions`.
pub fn diff(
    hub: &dyn Hub,
    old: Option<ObjectId>,
    new: ObjectId,
    include_revisions: bool,
) -> Result<Diff, TreeError> {
    let mut out = Diff::default();
    let mut todo = vec![(String::new(), old, Some(new))];
    while let Some((prefix, old, new)) = todo.pop() {
        if old == new {
            continue;
        }
        let read = |id: Option<ObjectId>| match id {
            Some(id) => read_tree(hub, id).map(|t| t.entries),
            None => Ok(BTreeMap::new()),
        };
        let (old, new) = (read(old)?, read(new)?);
        let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            if prefix.is_empty() && name == REVISIONS && !include_revisions {
                continue;
            }
            let path = format!("{prefix}{name}");
            let (mut old_dir, mut new_dir) = (None, None);
            match old.get(name) {
                Some(EntryKind::File(m)) => {
                    out.before.insert(path.clone(), m.id);
                }
                Some(EntryKind::Dir(d)) => old_dir = Some(*d),
                None => {}
            }
            match new.get(name) {
                Some(EntryKind::File(m)) => {
                    out.after.insert(path.clone(), m.id);
                }
                Some(EntryKind::Dir(d)) => new_dir = Some(*d),
                None => {}
            }
            if old_dir.is_some() || new_dir.is_some() {
                todo.push((format!("{path}/"), old_dir, new_dir));
            }
        }
    }
    // A file the same on both sides (its folder changed around it) is no change.
    let same: Vec<String> = (out.before.iter())
        .filter(|(p, id)| out.after.get(*p) == Some(id))
        .map(|(p, _)| p.clone())
        .collect();
    for p in same {
        out.before.remove(&p);
        out.after.remove(&p);
    }
    Ok(out)
}

/// `device: 2 added, 1 changed, 1 deleted, 1 renamed: a.md, b.md, ...`; a file gone from one
/// path and the same bytes new at another is a rename (named by its new path).
pub fn summary(device: &str, diff: &Diff) -> String {
    let mut added = Vec::new();
    let mut changed = Vec::new();
    let mut deleted: Vec<&String> = Vec::new();
    for (path, id) in &diff.after {
        match diff.before.get(path) {
            Some(_) => changed.push(path),
            None => added.push((path, *id)),
        }
    }
    let mut gone: BTreeMap<ObjectId, Vec<&String>> = BTreeMap::new();
    for (path, id) in &diff.before {
        if !diff.after.contains_key(path) {
            gone.entry(*id).or_default().push(path);
        }
    }
    let mut renamed = Vec::new();
    let mut new = Vec::new();
    for (path, id) in added {
        match gone.get_mut(&id).and_then(|paths| paths.pop()) {
            Some(_) => renamed.push(path),
            None => new.push(path),
        }
    }
    for paths in gone.values() {
        deleted.extend(paths.iter().copied());
    }
    deleted.sort();
    let counts: Vec<String> = [
        (new.len(), "added"),
        (changed.len(), "changed"),
        (deleted.len(), "deleted"),
        (renamed.len(), "renamed"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if counts.is_empty() {
        return format!("{device}: no file changed");
    }
    let mut paths: Vec<&String> = new.into_iter().chain(changed).chain(renamed).collect();
    paths.extend(deleted);
    paths.sort();
    paths.dedup();
    let mut named: Vec<String> = paths.iter().take(NAMED).map(|p| p.to_string()).collect();
    if paths.len() > NAMED {
        named.push(format!("and {} more", paths.len() - NAMED));
    }
    format!("{device}: {}: {}", counts.join(", "), named.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ObjectId {
        ObjectId::of(s.as_bytes())
    }

    fn diff(before: &[(&str, &str)], after: &[(&str, &str)]) -> Diff {
        let map =
            |files: &[(&str, &str)]| files.iter().map(|(p, c)| (p.to_string(), id(c))).collect();
        Diff {
            before: map(before),
            after: map(after),
        }
    }

    #[test]
    fn a_summary_counts_each_kind_and_names_the_paths() {
        let d = diff(
            &[("a.md", "a"), ("old.md", "moved"), ("gone.md", "g")],
            &[("a.md", "a2"), ("new.md", "moved"), ("b.md", "b")],
        );
        assert_eq!(
            summary("laptop", &d),
            "laptop: 1 added, 1 changed, 1 deleted, 1 renamed: a.md, b.md, gone.md, new.md"
        );
    }

    #[test]
    fn a_long_list_of_paths_is_cut_short() {
        let after: Vec<(String, String)> = (0..8)
            .map(|i| (format!("n{i}.md"), format!("{i}")))
            .collect();
        let after: Vec<(&str, &str)> = after
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        assert_eq!(
            summary("phone", &diff(&[], &after)),
            "phone: 8 added: n0.md, n1.md, n2.md, n3.md, n4.md, and 3 more"
        );
    }

    #[test]
    fn a_snapshot_that_changed_nothing_says_so() {
        assert_eq!(summary("phone", &Diff::default()), "phone: no file changed");
    }
}
