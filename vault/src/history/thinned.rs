//! Snapshots whose files the hub no longer holds: a hub thinned by its retention policy
//! (`crate::retention`) keeps every snapshot object but not the trees of the thinned ones, nor
//! the file versions only they reached. The history still reads: the log lists every snapshot
//! and says which kept their files ([`mark_kept`]); a path's history and the deletions compare
//! each kept snapshot with the nearest kept one before it ([`against_kept`]), so a change made
//! in a thinned snapshot shows in the next kept one; `show` and `restore --at` of a thinned
//! snapshot say so and name the nearest kept snapshots ([`ensure_kept`]).
//!
//! Whether the hub holds a root tree is asked only when needed (a walk hit a missing tree, or
//! the log marks a page), in one `missing` call per batch, and remembered for the walk.

use std::collections::HashSet;

use crate::hub::HubError;
use crate::id::ObjectId;
use crate::object::Snapshot;

use super::at::utc;
use super::objects::{Objects, Walk};
use super::{HistoryError, LogEntry};

/// How many first-parent ancestors are asked about at once when looking for a kept one.
const CHAIN: usize = 256;

impl Objects<'_> {
    /// Learn which of the root trees `trees` the hub holds (those not asked before), in one
    /// `missing` call per few thousand.
    pub(crate) fn check_held(&mut self, trees: &[ObjectId]) -> Result<(), HistoryError> {
        let ask: Vec<ObjectId> = trees
            .iter()
            .copied()
            .filter(|t| !self.held.contains_key(t))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        if ask.is_empty() {
            return Ok(());
        }
        let absent = crate::retention::missing(self.hub, &ask)?;
        for t in ask {
            self.held.insert(t, !absent.contains(&t));
        }
        Ok(())
    }

    /// Whether the hub holds the root tree `tree` (a thinned snapshot's it does not).
    pub(crate) fn holds(&mut self, tree: ObjectId) -> Result<bool, HistoryError> {
        self.check_held(&[tree])?;
        Ok(self.held[&tree])
    }

    /// The nearest snapshot before `snap` along first parents whose tree the hub holds, as
    /// (snapshot id, root tree); `None` when every one before was thinned.
    pub(crate) fn kept_before(
        &mut self,
        snap: &Snapshot,
    ) -> Result<Option<(ObjectId, ObjectId)>, HistoryError> {
        let mut next = snap.parents.first().copied();
        let mut seen = HashSet::new();
        loop {
            let mut chain = Vec::new();
            while chain.len() < CHAIN {
                let Some(id) = next.filter(|id| seen.insert(*id)) else {
                    break;
                };
                let s = self.snapshot(id)?;
                next = s.parents.first().copied();
                chain.push((id, s.tree));
            }
            if chain.is_empty() {
                return Ok(None);
            }
            let trees: Vec<ObjectId> = chain.iter().map(|c| c.1).collect();
            self.check_held(&trees)?;
            if let Some(found) = chain.into_iter().find(|(_, t)| self.held[t]) {
                return Ok(Some(found));
            }
        }
    }
}

/// Whether `e` is the hub saying it lacks an object (a thinned tree, when it is a root tree
/// the hub does not hold).
pub(crate) fn is_missing(e: &HistoryError) -> bool {
    matches!(e, HistoryError::Hub(HubError::Missing { .. }))
}

/// Run `f(objects, base)` with `base` = `snap`'s first parent as (snapshot id, root tree);
/// if a tree is missing from the hub, again with the nearest kept snapshot before `snap`
/// (`None` if there is none: compared with nothing). `Ok(None)` when `snap` itself was
/// thinned: its change shows in the next kept snapshot. On a hub that thinned nothing this
/// costs nothing more than `f`.
pub(crate) fn against_kept<T>(
    objects: &mut Objects,
    snap: &Snapshot,
    mut f: impl FnMut(&mut Objects, Option<(ObjectId, ObjectId)>) -> Result<T, HistoryError>,
) -> Result<Option<T>, HistoryError> {
    let first = match snap.parents.first() {
        Some(&p) => Some((p, objects.snapshot(p)?.tree)),
        None => None,
    };
    match f(objects, first) {
        Err(e) if is_missing(&e) => {}
        other => return other.map(Some),
    }
    if !objects.holds(snap.tree)? {
        return Ok(None);
    }
    let base = objects.kept_before(snap)?;
    f(objects, base).map(Some)
}

/// Set `kept` on each entry: whether the hub still holds its snapshot's files.
pub(crate) fn mark_kept(
    objects: &mut Objects,
    entries: &mut [LogEntry],
) -> Result<(), HistoryError> {
    let trees: Vec<ObjectId> = entries.iter().map(|e| e.tree).collect();
    objects.check_held(&trees)?;
    for e in entries {
        e.kept = objects.held[&e.tree];
    }
    Ok(())
}

/// `Ok` when the hub holds `snapshot`'s files, else [`HistoryError::Thinned`] naming the
/// nearest snapshots that kept theirs.
pub(crate) fn ensure_kept(objects: &mut Objects, snapshot: &LogEntry) -> Result<(), HistoryError> {
    if objects.holds(snapshot.tree)? {
        return Ok(());
    }
    Err(thinned(objects, snapshot)?)
}

/// The error for a thinned `snapshot`: the kept snapshots nearest to it in time, one before
/// and one after (a walk over every snapshot object, and one `missing` call per few thousand).
fn thinned(objects: &mut Objects, snapshot: &LogEntry) -> Result<HistoryError, HistoryError> {
    let head = objects.hub.head()?;
    let mut walk = Walk::new(objects, head)?;
    let mut all = Vec::new();
    while let Some((id, snap)) = walk.next(objects)? {
        all.push((id, snap.time_ns, snap.tree));
    }
    let trees: Vec<ObjectId> = all.iter().map(|a| a.2).collect();
    objects.check_held(&trees)?;
    let kept = all.iter().filter(|a| objects.held[&a.2]);
    let t = snapshot.time_ns;
    let before = kept
        .clone()
        .filter(|a| a.1 <= t && a.0 != snapshot.snapshot)
        .max_by_key(|a| (a.1, a.0));
    let after = kept.filter(|a| a.1 > t).min_by_key(|a| (a.1, a.0));
    let nearest: Vec<String> = [(before, "before"), (after, "after")]
        .into_iter()
        .filter_map(|(s, what)| {
            s.map(|(id, time, _)| format!("{} ({}, {what})", id.short(), utc(*time)))
        })
        .collect();
    Ok(HistoryError::Thinned {
        snapshot: snapshot.snapshot.short(),
        time: utc(snapshot.time_ns),
        nearest: if nearest.is_empty() {
            "no snapshot on the hub kept its files".to_string()
        } else {
            format!(
                "the nearest snapshots that kept their files are {}",
                nearest.join(" and ")
            )
        },
    })
}
