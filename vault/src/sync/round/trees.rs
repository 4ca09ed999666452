//! Base's files, and the Merkle trees of the merged tree built from base's where it can.

use super::*;

impl Round<'_> {
    /// The files and snapshot of `base`. When the stat cache holds exactly base's tree (as it
    /// does after every verified round), its entries are base's files: no tree is read. The
    /// third part is then base's root tree, which is known to be the one
    /// [`build_trees`] gives for those files (the cache records only a root built from its
    /// entries, [`StatCache::set_tree`]), so base's trees can be changed instead of built
    /// again ([`Round::build_trees`]).
    ///
    /// The paths `scan` found too are shared with it rather than made again (7 MiB at
    /// 100,000 files).
    pub(super) fn flat_of_base(
        &mut self,
        base: Option<ObjectId>,
        scan: &Scan,
    ) -> Result<(FlatTree, Option<Snapshot>, Option<ObjectId>), SyncError> {
        if let Some(id) = base {
            let snap = self.history.snapshot(id, &mut self.stats)?;
            if self.cache.tree() == Some(snap.tree) {
                let root = snap.tree;
                let flat = if scan.is_sorted() {
                    self.cache
                        .flat_sharing(scan.entries().map(|(path, _, _)| path))
                } else {
                    self.cache.flat()
                };
                return Ok((flat, Some(snap), Some(root)));
            }
        }
        let (flat, snap) = self.history.flat_of_snapshot(base, &mut self.stats)?;
        Ok((flat, snap, None))
    }

    /// The files and snapshot of the hub's `head`. With a `basis` (base's root tree and
    /// files, as [`Round::flat_of_base`] vouches for them), only the folders whose trees
    /// differ from base's are read ([`History::flat_from_known`]): the paths elsewhere are
    /// base's, shared, not made again (7 MiB at 100,000 files), and the hub's trees are not
    /// all decoded at once (16 MiB).
    pub(super) fn flat_of_head(
        &mut self,
        head: Option<ObjectId>,
        basis: Option<(ObjectId, &FlatTree)>,
    ) -> Result<(FlatTree, Option<Snapshot>), SyncError> {
        match (head, basis) {
            (Some(id), Some((root, files))) => {
                let snap = self.history.snapshot(id, &mut self.stats)?;
                let flat = self
                    .history
                    .flat_from_known(snap.tree, root, files, &mut self.stats)?;
                Ok((flat, Some(snap)))
            }
            _ => self.history.flat_of_snapshot(head, &mut self.stats),
        }
    }

    /// The root tree of `merged` and the trees the hub may lack of it, children before
    /// parents. With a `basis` (a root tree and the files [`build_trees`] built it from),
    /// only the folders on the paths where `merged` differs from those files are read and
    /// encoded again, the others keep the basis's trees: after one edit in a vault of
    /// 100,000 notes that is 5 trees instead of 22 MB of them. The result is exactly a full
    /// build's (`object/patch.rs`); should a basis tree be unreadable, the full build it is.
    pub(super) fn build_trees(
        &mut self,
        merged: &FlatTree,
        basis: Option<(ObjectId, &FlatTree)>,
    ) -> (ObjectId, Vec<Object>) {
        let Some((root, files)) = basis else {
            return build_trees(merged);
        };
        let changes = crate::object::changes(files, merged);
        let (history, stats) = (&mut self.history, &mut self.stats);
        match crate::object::patch_trees(root, &changes, &mut |id| history.tree(id, stats)) {
            Ok(built) => built,
            Err(e) => {
                tracing::debug!("trees built in full: {e}");
                build_trees(merged)
            }
        }
    }
}
