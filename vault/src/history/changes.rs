//! Every path one snapshot changed compared with another (its first parent, for the web
//! view's log): found by Merkle descent, so only subtrees whose ids differ are read and a
//! snapshot that changed one note in a vault of 20,000 costs a tree per level, never a
//! flattening of both trees. Renames are paired afterwards, purely ([`pair_renames`]).

use std::collections::HashMap;

use crate::id::ObjectId;
use crate::object::FileMeta;
use crate::paths::VaultPath;

use super::objects::Objects;
use super::{FileChange, HistoryError};

/// One path a snapshot changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathChange {
    pub path: VaultPath,
    pub change: FileChange,
}

/// What the descent collects before renames are told apart.
#[derive(Debug, Default)]
struct Found {
    added: Vec<(VaultPath, FileMeta)>,
    gone: Vec<(VaultPath, FileMeta)>,
    modified: Vec<(VaultPath, FileMeta, FileMeta)>,
}

impl Objects<'_> {
    /// Every file that differs between the root trees `old` and `new`, by path.
    pub fn changes(
        &mut self,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
    ) -> Result<Vec<PathChange>, HistoryError> {
        let mut found = Found::default();
        self.descend_all(old, new, None, 0, &mut |path, old, new| match (old, new) {
            (Some(a), Some(b)) if !a.same_content(&b) => found.modified.push((path.clone(), a, b)),
            (Some(a), None) => found.gone.push((path.clone(), a)),
            (None, Some(b)) => found.added.push((path.clone(), b)),
            _ => {}
        })?;
        Ok(pair_renames(found.added, found.gone, found.modified))
    }
}

/// The changes of one comparison, sorted by path: a file added with the bytes of a file the
/// same comparison removed is a rename (each side names the other; each removed file pairs
/// with at most one added file, the first by path).
pub fn pair_renames(
    added: Vec<(VaultPath, FileMeta)>,
    gone: Vec<(VaultPath, FileMeta)>,
    modified: Vec<(VaultPath, FileMeta, FileMeta)>,
) -> Vec<PathChange> {
    let mut gone_by_id: HashMap<ObjectId, Vec<usize>> = HashMap::new();
    let mut gone = gone;
    gone.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (_, m)) in gone.iter().enumerate() {
        gone_by_id.entry(m.id).or_default().push(i);
    }
    for list in gone_by_id.values_mut() {
        list.reverse(); // pop() takes the first by path
    }
    let mut added = added;
    added.sort_by(|a, b| a.0.cmp(&b.0));
    let mut renamed_to: Vec<Option<VaultPath>> = vec![None; gone.len()];
    let mut out: Vec<PathChange> = Vec::new();
    for (path, meta) in added {
        let from = gone_by_id.get_mut(&meta.id).and_then(Vec::pop);
        if let Some(i) = from {
            renamed_to[i] = Some(path.clone());
        }
        out.push(PathChange {
            path,
            change: FileChange::Added {
                id: meta.id,
                renamed_from: from.map(|i| gone[i].0.clone()),
            },
        });
    }
    for ((path, meta), to) in gone.into_iter().zip(renamed_to) {
        out.push(PathChange {
            path,
            change: FileChange::Deleted {
                id: meta.id,
                renamed_to: to,
            },
        });
    }
    for (path, a, b) in modified {
        out.push(PathChange {
            path,
            change: FileChange::Modified {
                from: a.id,
                to: b.id,
            },
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(bytes: &[u8]) -> FileMeta {
        FileMeta {
            id: ObjectId::of(bytes),
            size: bytes.len() as u64,
            mtime_ns: 0,
            executable: false,
        }
    }

    fn p(s: &str) -> VaultPath {
        VaultPath::new(s).unwrap()
    }

    #[test]
    fn a_removed_file_whose_bytes_reappear_is_a_rename() {
        let out = pair_renames(
            vec![(p("b.md"), meta(b"x")), (p("c.md"), meta(b"new"))],
            vec![(p("a.md"), meta(b"x")), (p("d.md"), meta(b"gone"))],
            vec![(p("e.md"), meta(b"1"), meta(b"2"))],
        );
        let paths: Vec<&str> = out.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["a.md", "b.md", "c.md", "d.md", "e.md"]);
        assert_eq!(
            out[0].change,
            FileChange::Deleted {
                id: ObjectId::of(b"x"),
                renamed_to: Some(p("b.md"))
            }
        );
        assert_eq!(
            out[1].change,
            FileChange::Added {
                id: ObjectId::of(b"x"),
                renamed_from: Some(p("a.md"))
            }
        );
        assert!(matches!(
            out[2].change,
            FileChange::Added {
                renamed_from: None,
                ..
            }
        ));
        assert!(matches!(
            out[3].change,
            FileChange::Deleted {
                renamed_to: None,
                ..
            }
        ));
        assert!(matches!(out[4].change, FileChange::Modified { .. }));
    }

    #[test]
    fn one_removed_file_pairs_with_one_added_copy() {
        let out = pair_renames(
            vec![(p("b.md"), meta(b"x")), (p("c.md"), meta(b"x"))],
            vec![(p("a.md"), meta(b"x"))],
            vec![],
        );
        let from: Vec<Option<VaultPath>> = out
            .iter()
            .filter_map(|c| match &c.change {
                FileChange::Added { renamed_from, .. } => Some(renamed_from.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(from, [Some(p("a.md")), None]);
    }
}
