//! Merging small packs, so that a store which gains a pack on every sync round keeps few.
//!
//! Each publishing round writes one small pack (its new trees and its snapshot) into the
//! device's store, and opening a store reads the header of every pack: after 150 rounds, an
//! idle round spent 10% of its time opening 185 packs, and the cost grows with every round.
//! Packs are merged as `git repack --geometric=2` does: the smallest packs are rewritten as
//! one until, ordered by size, every pack is at least twice as large as the one before. Then a
//! store holds about log2(largest / smallest) packs. Merging waits until there are more than
//! [`REPACK_ABOVE`]: simulated over 10,000 rounds that each add a pack, that merged on 8% of
//! the rounds, rewrote each object 5.4 times on average, and never left more than 16 packs.
//!
//! The merged pack is written and made durable (temp file, fsync, rename, fsync of the folder)
//! before the packs it replaces are deleted, so every object is in a complete pack at every
//! moment; a crash in between leaves both, which is harmless (an object may live in several
//! packs). A reader that listed a deleted pack gets [`StoreError::PackGone`] and refreshes.

use crate::vfs::{self as fs, File};
use std::collections::HashSet;
use std::io;

use super::pack_io::{PackEntry, PackWriter};
use super::{PackStore, StoreError};
use crate::fsutil::fsync_dir;
use crate::id::ObjectId;

/// A store with at most this many packs is left as it is: merging costs a pack write, and a
/// few packs cost nothing to open.
pub const REPACK_ABOVE: usize = 16;

/// Packs whose objects add up to more than this are never merged: the merge rewrites them,
/// within a sync round (a device's own store holds trees and snapshots, far below it).
const MAX_MERGE_BYTES: u64 = 256 << 20;

/// How many of the smallest packs (`sizes` in increasing order) to merge into one, by git's
/// rule (`repack --geometric=2`): the largest packs that already grow by a factor of two each
/// stay; everything below them is merged, and so is each next pack that is less than twice the
/// merged size. 0 when nothing needs merging.
pub fn packs_to_merge(sizes: &[u64]) -> usize {
    let n = sizes.len();
    let mut split = (1..n)
        .rev()
        .find(|&i| sizes[i] < sizes[i - 1].saturating_mul(2))
        .map_or(0, |i| i + 1);
    let mut merged: u64 = sizes[..split].iter().sum();
    while split < n && sizes[split] < merged.saturating_mul(2) {
        merged = merged.saturating_add(sizes[split]);
        split += 1;
    }
    if split >= 2 { split } else { 0 }
}

impl PackStore {
    /// Merge small packs (see the module docs) once the store has more than
    /// [`REPACK_ABOVE`]; returns how many packs were merged into one (0: none).
    pub fn repack_geometric(&mut self) -> Result<usize, StoreError> {
        self.refresh()?;
        if self.pack_count() <= REPACK_ABOVE {
            return Ok(0);
        }
        let mut packs: Vec<(u64, usize)> = self
            .packs
            .iter()
            .enumerate()
            .filter_map(|(slot, p)| {
                let p = p.as_ref()?;
                Some((p.entries.iter().map(|e| e.len).sum::<u64>(), slot))
            })
            .collect();
        packs.sort_unstable();
        let sizes: Vec<u64> = packs.iter().map(|&(size, _)| size).collect();
        let merge = packs_to_merge(&sizes);
        if merge < 2 || sizes[..merge].iter().sum::<u64>() > MAX_MERGE_BYTES {
            return Ok(0);
        }
        let slots: Vec<usize> = packs[..merge].iter().map(|&(_, slot)| slot).collect();

        // Every object of those packs, copied a slice at a time (a 128 MB merge held every
        // object in memory at once) and checked against its id on the way: a damaged pack
        // stops the merge and is reported, and nothing is deleted.
        let mut writer = PackWriter::new(&self.dir)?;
        let mut seen = HashSet::new();
        for &slot in &slots {
            let Some(pack) = &self.packs[slot] else {
                continue;
            };
            let file = File::open(&pack.path).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => StoreError::PackGone {
                    pack: pack.path.clone(),
                    id: pack.entries.first().map_or(ObjectId([0; 32]), |e| e.id),
                },
                _ => crate::fsutil::io_at("opening pack", &pack.path)(e).into(),
            })?;
            for e in &pack.entries {
                if seen.insert(e.id) {
                    let entry = PackEntry {
                        kind: e.kind,
                        id: e.id,
                        offset: e.offset,
                        len: e.len,
                    };
                    writer.copy(&file, &pack.path, &entry)?;
                }
            }
        }
        let (merged, _) = self.adopt(writer.finish()?)?;
        let merged_name = format!("{}.{}", merged.to_hex(), super::PACK_EXTENSION);

        for &slot in &slots {
            let Some(pack) = &self.packs[slot] else {
                continue;
            };
            if pack.path.file_name().and_then(|n| n.to_str()) == Some(merged_name.as_str()) {
                continue;
            }
            match fs::remove_file(&pack.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(crate::fsutil::io_at("removing merged pack", &pack.path)(e).into());
                }
            }
            let name = pack
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string);
            self.packs[slot] = None;
            if let Some(name) = name {
                self.by_name.remove(&name);
            }
        }
        self.rebuild_index();
        // The deletions need not be durable: a pack that comes back after a crash only holds
        // objects the merged pack holds too.
        let _ = fsync_dir(&self.dir);
        Ok(merge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_packs_merge() {
        assert_eq!(packs_to_merge(&[]), 0);
        assert_eq!(packs_to_merge(&[5]), 0);
        assert_eq!(packs_to_merge(&[1, 2, 4, 8]), 0, "already geometric");
        assert_eq!(packs_to_merge(&[1, 1]), 2);
        assert_eq!(
            packs_to_merge(&[1, 1, 4, 100]),
            2,
            "[2, 4, 100] is geometric"
        );
        assert_eq!(packs_to_merge(&[1, 1, 1, 100]), 3);
        assert_eq!(packs_to_merge(&[3, 3, 3, 3, 3]), 5);
        assert_eq!(packs_to_merge(&[1, 2, 4, 8, 9]), 5, "9 < 2 x 8");
        assert_eq!(
            packs_to_merge(&[1, 1, 3, 100]),
            3,
            "[2, 3] breaks, so 3 joins"
        );
    }

    proptest::proptest! {
        /// What is left after merging grows by a factor of two from pack to pack, so a store
        /// holds about log2(largest / smallest) packs.
        #[test]
        fn merging_leaves_a_geometric_store(
            mut sizes in proptest::collection::vec(1u64..1_000_000, 0..40),
        ) {
            sizes.sort_unstable();
            let k = packs_to_merge(&sizes);
            proptest::prop_assert!(k != 1 && k <= sizes.len());
            let mut left: Vec<u64> = sizes[k..].to_vec();
            if k > 0 {
                left.insert(0, sizes[..k].iter().sum());
            }
            proptest::prop_assert!(
                left.windows(2).all(|w| w[1] >= 2 * w[0]),
                "{:?} -> {:?}", sizes, left
            );
        }
    }
}
