//! Which paths need a decision at all. One merge-join pass over the three sorted trees, comparing
//! neighbours only: no hashing and no cloning, so a vault of 20,000 notes where one changed costs
//! one cheap walk, not 20,000 decisions.

use std::collections::btree_map;
use std::iter::Peekable;

use crate::object::{FileMeta, FlatTree};
use crate::paths::VaultPath;

/// A path missing from at least one tree, or not equal in all three: the rules must decide it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Changed<'a> {
    pub path: &'a VaultPath,
    pub base: Option<&'a FileMeta>,
    pub local: Option<&'a FileMeta>,
    pub remote: Option<&'a FileMeta>,
}

/// The three trees split into what needs a decision and what does not.
pub(super) struct Diff<'a> {
    /// Paths present with equal entries in all three trees, in path order. They keep their
    /// entry and no action touches them, whatever else the plan does.
    pub unchanged: Vec<(&'a VaultPath, &'a FileMeta)>,
    /// Every other path of any tree, in path order.
    pub changed: Vec<Changed<'a>>,
}

type Cursor<'a> = Peekable<btree_map::Iter<'a, VaultPath, FileMeta>>;

impl<'a> Diff<'a> {
    pub fn new(base: &'a FlatTree, local: &'a FlatTree, remote: &'a FlatTree) -> Diff<'a> {
        let mut b = base.iter().peekable();
        let mut l = local.iter().peekable();
        let mut r = remote.iter().peekable();
        let mut unchanged = Vec::with_capacity(base.len().min(local.len()).min(remote.len()));
        let mut changed = Vec::new();
        loop {
            let heads = [b.peek(), l.peek(), r.peek()].map(|head| head.copied());
            // The common case first: the same path at the head of all three trees.
            if let [Some((bp, bm)), Some((lp, lm)), Some((rp, rm))] = heads
                && bp == lp
                && lp == rp
            {
                b.next();
                l.next();
                r.next();
                if bm == lm && lm == rm {
                    unchanged.push((lp, lm));
                } else {
                    changed.push(Changed {
                        path: lp,
                        base: Some(bm),
                        local: Some(lm),
                        remote: Some(rm),
                    });
                }
                continue;
            }
            let Some(path) = heads.into_iter().flatten().map(|(path, _)| path).min() else {
                break;
            };
            changed.push(Changed {
                path,
                base: take(&mut b, path),
                local: take(&mut l, path),
                remote: take(&mut r, path),
            });
        }
        Diff { unchanged, changed }
    }
}

/// The entry at `path` if the cursor stands on it (then it moves on).
fn take<'a>(cursor: &mut Cursor<'a>, path: &VaultPath) -> Option<&'a FileMeta> {
    cursor.next_if(|(p, _)| *p == path).map(|(_, meta)| meta)
}

/// The whole merged tree: `local` with the decided entries in place of its changed ones.
/// Unchanged paths are exactly local's paths that are not changed, so copying `local` (in bulk,
/// no comparisons) and patching it costs one copy plus the changes.
pub(super) fn assemble(local: &FlatTree, changed: &[Changed<'_>], decided: FlatTree) -> FlatTree {
    if local.is_empty() {
        // `decided` grew one insert at a time, in path order, which leaves a B-tree's nodes
        // half full: built again from its sorted entries it takes half the memory (7 instead
        // of 13 MiB for a first download of 100,000 files).
        return decided.into_iter().collect();
    }
    let mut merged = local.clone();
    for c in changed {
        if c.local.is_some() && !decided.contains_key(c.path) {
            merged.remove(c.path);
        }
    }
    merged.extend(decided);
    merged
}
