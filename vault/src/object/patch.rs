//! The Merkle trees of a flat tree that differs from a known one in a few paths, built by
//! changing the known trees along those paths only.
//!
//! After one edit in a vault of 100,000 notes, [`super::build_trees`] encodes and hashes every
//! folder's tree again (22 MB of trees held at 100,000 notes, the largest part of the round's
//! peak memory) to find that all but the few folders on the edited path are the same as
//! before. Here only the folders on the changed paths, up to the root, are read (from the
//! known trees), changed and encoded; every other folder keeps its known tree's id.
//!
//! Exactness rests on one precondition the caller vouches for: `basis` is the root tree that
//! [`super::build_trees`] gives for some flat tree B (not merely a tree whose files are B: a
//! tree from elsewhere could hold an empty folder, or another encoding). Trees are named by
//! the hash of their canonical encoding, so each folder of B then has exactly the tree
//! `build_trees` would encode again, and changing the folders that hold changed paths gives
//! exactly the trees of the new flat tree. The tests compare with a full build.

use std::collections::BTreeMap;
use std::ops::Range;

use super::{EntryKind, FileMeta, Object, Tree};
use crate::id::ObjectId;

/// One path where the new flat tree differs from the basis: its entry there, or `None` when
/// the new flat tree does not hold it.
pub type Change<'a> = (&'a str, Option<FileMeta>);

/// Why a patch was not made: the caller builds the trees in full instead.
#[derive(Debug, thiserror::Error)]
pub enum PatchError<E> {
    /// Loading one of the basis's trees failed.
    #[error(transparent)]
    Load(E),
    /// The changes would leave a file and a folder under one name: no flat tree has that
    /// shape, so these changes are not a diff of two flat trees.
    #[error("`{0}` would be both a file and a folder")]
    Clash(String),
}

/// The root tree id of the flat tree that differs from the one `basis` was built from (see
/// the module's precondition) exactly by `changes` (sorted by path, each path once), and the
/// trees of the folders on the changed paths, children before parents, the root last; every
/// tree the new root needs that is not among them is one of the basis's. `load` reads a tree
/// of the basis by id (only those on the changed paths are asked for).
pub fn patch_trees<E>(
    basis: ObjectId,
    changes: &[Change<'_>],
    load: &mut dyn FnMut(ObjectId) -> Result<Tree, E>,
) -> Result<(ObjectId, Vec<Object>), PatchError<E>> {
    debug_assert!(changes.windows(2).all(|w| w[0].0 < w[1].0), "sorted, once");
    let mut out = Vec::new();
    let root = patch_folder(Some(basis), changes, 0, true, load, &mut out)?;
    Ok((root.expect("the root is always built"), out))
}

/// The new id of the folder whose tree was `old` (`None`: not in the basis) and whose paths
/// below it changed by `changes` (full paths, the folder's own part `from` bytes long), or
/// `None` when it is left empty (an empty folder has no tree, but the root does).
fn patch_folder<E>(
    old: Option<ObjectId>,
    changes: &[Change<'_>],
    from: usize,
    is_root: bool,
    load: &mut dyn FnMut(ObjectId) -> Result<Tree, E>,
    out: &mut Vec<Object>,
) -> Result<Option<ObjectId>, PatchError<E>> {
    let mut tree = match old {
        Some(id) => load(id).map_err(PatchError::Load)?,
        None => Tree::default(),
    };
    // Each name's change as a file and its changes below as a folder. Sorted paths that share
    // a prefix lie together, so `name/...` is one run, but not always next to the file `name`
    // (`a` < `a b` < `a/x`).
    let mut names: BTreeMap<&str, Group> = BTreeMap::new();
    let mut i = 0;
    while i < changes.len() {
        let rest = &changes[i].0[from..];
        match rest.split_once('/') {
            None => {
                names.entry(rest).or_default().file = Some(changes[i].1);
                i += 1;
            }
            Some((name, _)) => {
                let start = i;
                while i < changes.len() && is_below(changes[i].0, from, name) {
                    i += 1;
                }
                names.entry(name).or_default().below = start..i;
            }
        }
    }
    for (name, group) in names {
        let current = tree.entries.get(name);
        let old_file = match current {
            Some(EntryKind::File(meta)) => Some(*meta),
            _ => None,
        };
        let old_dir = match current {
            Some(EntryKind::Dir(id)) => Some(*id),
            _ => None,
        };
        let file = group.file.unwrap_or(old_file);
        let dir = if group.below.is_empty() {
            old_dir
        } else {
            let below = from + name.len() + 1;
            patch_folder(old_dir, &changes[group.below], below, false, load, out)?
        };
        match (file, dir) {
            (Some(meta), None) => {
                tree.entries.insert(name.to_string(), EntryKind::File(meta));
            }
            (None, Some(id)) => {
                tree.entries.insert(name.to_string(), EntryKind::Dir(id));
            }
            (None, None) => {
                tree.entries.remove(name);
            }
            (Some(_), Some(_)) => {
                let folder = changes.first().map_or("", |c| &c.0[..from]);
                return Err(PatchError::Clash(format!("{folder}{name}")));
            }
        }
    }
    if tree.entries.is_empty() && !is_root {
        return Ok(None);
    }
    let object = tree.to_object();
    let id = object.id();
    out.push(object);
    Ok(Some(id))
}

/// What changes under one name of a folder.
#[derive(Default)]
struct Group {
    /// The file of that name: its new entry (`Some(None)`: gone), or `None` if unchanged.
    file: Option<Option<FileMeta>>,
    /// The changes below the folder of that name (a range of the folder's changes).
    below: Range<usize>,
}

/// Whether `path` lies below the folder `name` of the folder whose part is `from` bytes long.
fn is_below(path: &str, from: usize, name: &str) -> bool {
    let rest = &path.as_bytes()[from..];
    rest.len() > name.len() && rest.starts_with(name.as_bytes()) && rest[name.len()] == b'/'
}

/// Every path where `new` differs from `old` (both sorted by path), with `new`'s entry, in
/// order: one pass over both.
pub fn changes<'a>(old: &'a super::FlatTree, new: &'a super::FlatTree) -> Vec<Change<'a>> {
    use std::cmp::Ordering;
    let mut out = Vec::new();
    let mut a = old.iter().peekable();
    let mut b = new.iter().peekable();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some((p, _)), None) => {
                out.push((p.as_str(), None));
                a.next();
            }
            (None, Some((p, m))) => {
                out.push((p.as_str(), Some(**m)));
                b.next();
            }
            (Some((pa, ma)), Some((pb, mb))) => match pa.as_str().cmp(pb.as_str()) {
                Ordering::Less => {
                    out.push((pa.as_str(), None));
                    a.next();
                }
                Ordering::Greater => {
                    out.push((pb.as_str(), Some(**mb)));
                    b.next();
                }
                Ordering::Equal => {
                    if ma != mb {
                        out.push((pb.as_str(), Some(**mb)));
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests;
