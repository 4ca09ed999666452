//! What a compaction or gc does, decided from facts about the hub folder alone (pure, so the
//! rules are tested without files): which packs are rewritten as one, which of their objects
//! the new pack keeps, which retired packs and temp files are old enough to delete.
//!
//! The rules (docs/format.md, "Hub folder"):
//! - a pack younger than the grace period keeps every object (a writer stores its packs before
//!   it moves head, so what they hold may be about to become reachable);
//! - an older pack keeps what the mark found live; one holding anything else is rewritten;
//! - small packs are merged by the geometric rule ([`packs_to_merge`]), young ones too: merging
//!   only moves objects, and the new pack is young again, so nothing loses its grace;
//! - a pack keeping [`LARGE_PACK_BYTES`] or more (a large file's upload) is never merged, only
//!   rewritten when it holds something to drop: copying it would cost as much as the upload,
//!   and its few objects are read only for that file;
//! - retired packs and `.vault-tmp-*` files are deleted once older than the grace period.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::id::ObjectId;
use crate::store::packs_to_merge;

/// Packs keeping at least this many bytes are left out of merging (see the module docs): what
/// a large file's upload commits at (16 MiB through a server, 256 MiB to a folder hub), above
/// a round's packs of notes (at most 8 MiB each). Merged packs of notes that reach it stay as
/// they are too, so their number grows with the vault's bytes (one per 16 MiB), not its age.
pub const LARGE_PACK_BYTES: u64 = 16 << 20;

/// One pack in `packs/`, as the survey found it.
#[derive(Debug, Clone)]
pub struct PackFacts {
    pub name: String,
    /// The file's size in bytes.
    pub size: u64,
    /// Its modification time, Unix seconds (when it was written).
    pub mtime_secs: u64,
    /// Its objects, in header order: id and length.
    pub objects: Vec<(ObjectId, u64)>,
}

/// A pack in `packs/retired/`.
#[derive(Debug, Clone)]
pub struct RetiredFacts {
    pub name: String,
    pub retired_secs: u64,
    pub size: u64,
}

/// A `.vault-tmp-*` file in the hub.
#[derive(Debug, Clone)]
pub struct TempFacts {
    pub path: PathBuf,
    pub mtime_secs: u64,
    pub size: u64,
}

/// What the plan is asked.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// Objects the mark found live; `None`: compaction only, every object is kept.
    pub live: Option<&'a HashSet<ObjectId>>,
    pub now_secs: u64,
    pub grace_secs: u64,
    /// Merge only when there are more packs than this (0: whenever the geometric rule says).
    pub merge_above: usize,
}

/// What to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Indices of the packs replaced by the new pack (and then retired), sorted.
    pub rewrite: Vec<usize>,
    /// The objects the new pack holds: (pack index, object index in that pack), each id once.
    pub copy: Vec<(usize, usize)>,
    pub copy_bytes: u64,
    /// Objects no pack holds any more afterwards, and their bytes.
    pub dropped: usize,
    pub dropped_bytes: u64,
    /// Indices of retired packs and temp files old enough to delete.
    pub delete_retired: Vec<usize>,
    pub remove_temps: Vec<usize>,
}

impl Plan {
    /// Whether anything changes.
    pub fn is_empty(&self) -> bool {
        self.rewrite.is_empty() && self.delete_retired.is_empty() && self.remove_temps.is_empty()
    }
}

fn is_old(mtime_secs: u64, rules: &Rules) -> bool {
    mtime_secs.saturating_add(rules.grace_secs) <= rules.now_secs
}

/// Decide (see the module docs).
pub fn plan(
    packs: &[PackFacts],
    retired: &[RetiredFacts],
    temps: &[TempFacts],
    rules: &Rules,
) -> Plan {
    let keeps = |p: &PackFacts, id: &ObjectId| {
        !is_old(p.mtime_secs, rules) || rules.live.is_none_or(|l| l.contains(id))
    };
    // Packs holding something to drop.
    let dirty: HashSet<usize> = packs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.objects.iter().any(|(id, _)| !keeps(p, id)))
        .map(|(i, _)| i)
        .collect();
    // The geometric rule over the bytes each pack keeps.
    let mut by_size: Vec<(u64, &str, usize)> = packs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let kept: u64 = p
                .objects
                .iter()
                .filter(|(id, _)| keeps(p, id))
                .map(|(_, len)| len)
                .sum();
            (kept, p.name.as_str(), i)
        })
        .filter(|&(kept, _, _)| kept < LARGE_PACK_BYTES)
        .collect();
    by_size.sort_unstable();
    let merge = if by_size.len() > rules.merge_above {
        let sizes: Vec<u64> = by_size.iter().map(|&(s, _, _)| s).collect();
        packs_to_merge(&sizes)
    } else {
        0
    };
    let mut rewrite: Vec<usize> = by_size[..merge].iter().map(|&(_, _, i)| i).collect();
    rewrite.extend(dirty);
    rewrite.sort_unstable();
    rewrite.dedup();

    let mut plan = Plan {
        rewrite,
        ..Plan::default()
    };
    let rewritten: HashSet<usize> = plan.rewrite.iter().copied().collect();
    // Ids a pack that stays holds: not copied, never dropped.
    let staying: HashSet<ObjectId> = packs
        .iter()
        .enumerate()
        .filter(|(i, _)| !rewritten.contains(i))
        .flat_map(|(_, p)| p.objects.iter().map(|(id, _)| *id))
        .collect();
    let mut taken: HashSet<ObjectId> = HashSet::new();
    let mut dead: HashMap<ObjectId, u64> = HashMap::new();
    for &i in &plan.rewrite {
        let p = &packs[i];
        for (j, (id, len)) in p.objects.iter().enumerate() {
            if staying.contains(id) {
                continue;
            }
            if keeps(p, id) {
                if taken.insert(*id) {
                    plan.copy.push((i, j));
                    plan.copy_bytes += len;
                }
            } else {
                dead.insert(*id, *len);
            }
        }
    }
    for (id, len) in dead {
        if !taken.contains(&id) {
            plan.dropped += 1;
            plan.dropped_bytes += len;
        }
    }
    plan.delete_retired = retired
        .iter()
        .enumerate()
        .filter(|(_, r)| is_old(r.retired_secs, rules))
        .map(|(i, _)| i)
        .collect();
    plan.remove_temps = temps
        .iter()
        .enumerate()
        .filter(|(_, t)| is_old(t.mtime_secs, rules))
        .map(|(i, _)| i)
        .collect();
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::of(&[n])
    }

    fn pack(name: &str, mtime: u64, objects: &[(u8, u64)]) -> PackFacts {
        PackFacts {
            name: name.into(),
            size: objects.iter().map(|o| o.1).sum::<u64>() + 52,
            mtime_secs: mtime,
            objects: objects.iter().map(|&(n, len)| (id(n), len)).collect(),
        }
    }

    const NOW: u64 = 10_000;
    const GRACE: u64 = 3_600;

    fn rules(live: Option<&HashSet<ObjectId>>, merge_above: usize) -> Rules<'_> {
        Rules {
            live,
            now_secs: NOW,
            grace_secs: GRACE,
            merge_above,
        }
    }

    #[test]
    fn few_packs_are_left_alone_below_the_threshold() {
        let packs = vec![pack("a", 0, &[(1, 10)]), pack("b", 0, &[(2, 10)])];
        assert!(plan(&packs, &[], &[], &rules(None, 16)).is_empty());
        let p = plan(&packs, &[], &[], &rules(None, 0));
        assert_eq!(p.rewrite, vec![0, 1]);
        assert_eq!(p.copy.len(), 2);
        assert_eq!(p.dropped, 0);
    }

    #[test]
    fn large_packs_are_never_merged_only_rewritten_for_garbage() {
        let big = LARGE_PACK_BYTES;
        // Four packs of a large file's upload and 20 small ones: the small ones merge.
        let mut packs: Vec<PackFacts> = (0..4)
            .map(|n| pack(&format!("big{n}"), 0, &[(100 + n, big)]))
            .collect();
        packs.extend((0..20).map(|n| pack(&format!("p{n:02}"), 0, &[(n, 10)])));
        let p = plan(&packs, &[], &[], &rules(None, 16));
        assert_eq!(p.rewrite, (4..24).collect::<Vec<_>>());
        assert_eq!(p.copy_bytes, 200);
        // Only large packs (however many): nothing to merge, even on demand.
        let p = plan(&packs[..4], &[], &[], &rules(None, 0));
        assert!(p.is_empty(), "{p:?}");
        // One whose object no snapshot reaches any more is rewritten (dropped whole).
        let live: HashSet<ObjectId> = [id(100), id(101), id(102)].into();
        let p = plan(&packs[..4], &[], &[], &rules(Some(&live), 0));
        assert_eq!(p.rewrite, vec![3]);
        assert_eq!((p.dropped, p.dropped_bytes), (1, big));
    }

    #[test]
    fn dead_objects_of_old_packs_are_dropped_young_ones_kept() {
        let live: HashSet<ObjectId> = [id(1)].into();
        let packs = vec![
            pack("old", 0, &[(1, 10), (2, 20)]),
            pack("young", NOW - 5, &[(3, 1000)]),
            pack("big", 0, &[(1, 10), (4, 100_000)]),
        ];
        let live: HashSet<ObjectId> = live.into_iter().chain([id(4)]).collect();
        let p = plan(&packs, &[], &[], &rules(Some(&live), 16));
        assert_eq!(p.rewrite, vec![0], "only the pack with a dead object");
        assert!(p.copy.is_empty(), "1 stays in `big`");
        assert_eq!((p.dropped, p.dropped_bytes), (1, 20));
    }

    #[test]
    fn a_dead_object_another_pack_keeps_is_not_counted_dropped() {
        let live = HashSet::new();
        let packs = vec![pack("old", 0, &[(2, 20)]), pack("young", NOW, &[(2, 20)])];
        let p = plan(&packs, &[], &[], &rules(Some(&live), 16));
        assert_eq!(p.rewrite, vec![0]);
        assert_eq!(p.dropped, 0, "the young pack still holds it");
    }

    #[test]
    fn merging_young_packs_moves_every_object() {
        let packs: Vec<PackFacts> = (0..20)
            .map(|n| pack(&format!("p{n:02}"), NOW, &[(n, 10)]))
            .collect();
        let live = HashSet::new();
        let p = plan(&packs, &[], &[], &rules(Some(&live), 16));
        assert_eq!(p.rewrite.len(), 20);
        assert_eq!(p.copy.len(), 20, "young objects are all kept");
        assert_eq!(p.dropped, 0);
    }

    #[test]
    fn retired_packs_and_temps_go_after_the_grace() {
        let retired = vec![
            RetiredFacts {
                name: "a".into(),
                retired_secs: NOW - GRACE,
                size: 1,
            },
            RetiredFacts {
                name: "b".into(),
                retired_secs: NOW - GRACE + 1,
                size: 1,
            },
        ];
        let temps = vec![
            TempFacts {
                path: "x".into(),
                mtime_secs: 0,
                size: 5,
            },
            TempFacts {
                path: "y".into(),
                mtime_secs: NOW,
                size: 5,
            },
        ];
        let p = plan(&[], &retired, &temps, &rules(None, 16));
        assert_eq!(p.delete_retired, vec![0]);
        assert_eq!(p.remove_temps, vec![0]);
    }

    proptest::proptest! {
        /// Whatever the packs, the plan never loses a kept object: each is copied or stays in
        /// a pack that is not rewritten; and what is copied is never dead.
        #[test]
        fn no_kept_object_is_lost(
            packs in proptest::collection::vec(
                (proptest::bool::ANY, proptest::collection::vec((0u8..30, 1u64..500), 1..6)),
                0..25,
            ),
            live in proptest::collection::hash_set(0u8..30, 0..30),
            gc in proptest::bool::ANY,
            above in 0usize..20,
        ) {
            let facts: Vec<PackFacts> = packs.iter().enumerate().map(|(i, (young, objs))| {
                let mut seen = HashSet::new();
                let objs: Vec<(u8, u64)> = objs.iter().copied().filter(|o| seen.insert(o.0)).collect();
                pack(&format!("p{i:03}"), if *young { NOW - 1 } else { 0 }, &objs)
            }).collect();
            let live: HashSet<ObjectId> = live.into_iter().map(id).collect();
            let r = rules(gc.then_some(&live), above);
            let p = plan(&facts, &[], &[], &r);
            let rewritten: HashSet<usize> = p.rewrite.iter().copied().collect();
            let mut after: HashSet<ObjectId> = p.copy.iter().map(|&(i, j)| facts[i].objects[j].0).collect();
            for (i, f) in facts.iter().enumerate() {
                if !rewritten.contains(&i) {
                    after.extend(f.objects.iter().map(|o| o.0));
                }
            }
            for f in &facts {
                for (oid, _) in &f.objects {
                    let kept = !gc || live.contains(oid) || f.mtime_secs + GRACE > NOW;
                    if kept {
                        proptest::prop_assert!(after.contains(oid));
                    }
                }
            }
            for &(i, j) in &p.copy {
                let f = &facts[i];
                let oid = f.objects[j].0;
                proptest::prop_assert!(!gc || live.contains(&oid) || f.mtime_secs + GRACE > NOW);
            }
        }
    }
}
