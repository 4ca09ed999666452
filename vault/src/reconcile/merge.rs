//! The per-path rules and rename detection, run on the changed paths only (see `diff.rs` for why
//! the others need no decision).

use std::collections::{BTreeMap, BTreeSet};

use super::diff::{Changed, Diff, assemble};
use super::{Action, Conflict, ConflictKind, Devices, Plan, Side, local_wins};
use crate::id::ObjectId;
use crate::object::{FileMeta, FlatTree};
use crate::paths::VaultPath;
use crate::revisions::revision_path;

pub(super) struct Merge<'a> {
    base: &'a FlatTree,
    pub(super) local: &'a FlatTree,
    pub(super) remote: &'a FlatTree,
    pub(super) devices: &'a Devices,
    /// Revision paths handed out so far. With the three trees these are the names a new
    /// revision must not take; asking the trees directly spares copying every path of the vault.
    issued: BTreeSet<VaultPath>,
    /// The merged entries of changed paths and of new revisions. Unchanged paths never get here
    /// (no rule writes to them), so the merged tree is this plus them.
    pub(super) decided: FlatTree,
    pub(super) moves: Vec<Action>,
    pub(super) deletes: Vec<Action>,
    pub(super) writes: Vec<Action>,
    pub(super) touches: Vec<Action>,
    pub(super) conflicts: Vec<Conflict>,
    local_deletes: usize,
}

impl<'a> Merge<'a> {
    pub(super) fn new(
        base: &'a FlatTree,
        local: &'a FlatTree,
        remote: &'a FlatTree,
        devices: &'a Devices,
    ) -> Merge<'a> {
        Merge {
            base,
            local,
            remote,
            devices,
            issued: BTreeSet::new(),
            decided: FlatTree::new(),
            moves: Vec::new(),
            deletes: Vec::new(),
            writes: Vec::new(),
            touches: Vec::new(),
            conflicts: Vec::new(),
            local_deletes: 0,
        }
    }

    pub(super) fn run(mut self, diff: Diff<'a>, is_ignored: &dyn Fn(&VaultPath) -> bool) -> Plan {
        let Diff { unchanged, changed } = diff;
        // Ignored paths keep the remote's entry. An unchanged one already has it, so only the
        // changed ones need the (costly) pattern match.
        let mut done = vec![false; changed.len()];
        for (c, done) in changed.iter().zip(done.iter_mut()) {
            if is_ignored(c.path) {
                if let Some(r) = c.remote {
                    self.decided.insert(c.path.clone(), *r);
                }
                *done = true;
            }
        }
        self.renames(&changed, &mut done);
        for (c, done) in changed.iter().zip(&done) {
            if !done {
                self.merge_path(c);
            }
        }
        self.name_clashes(&unchanged);
        let mut actions = self.moves;
        actions.extend(self.deletes);
        actions.extend(self.writes);
        actions.extend(self.touches);
        Plan {
            merged: assemble(self.local, &changed, self.decided),
            actions,
            conflicts: self.conflicts,
            local_deletes: self.local_deletes,
        }
    }

    /// Renames recognised by content: a path gone on one side whose base bytes appear at a path
    /// that side added. Handles the two cases the per-path rules would get wrong: an edit on the
    /// other side (it must follow the rename), and a plain remote rename (moved locally rather
    /// than deleted and downloaded again).
    ///
    /// Both ends of a rename are changed paths (the old one is missing on a side, the new one
    /// from base), so looking only at `changed`, in path order, pairs exactly as looking at
    /// whole trees would.
    fn renames(&mut self, changed: &[Changed<'a>], done: &mut [bool]) {
        let mut added: Option<Added> = None;
        for (i, c) in changed.iter().enumerate() {
            let Some(b) = c.base else {
                continue;
            };
            if done[i] {
                continue;
            }
            match (c.local, c.remote) {
                // Renamed here; edited (not deleted) there: the edit goes to the new name.
                (None, Some(r)) if !r.same_content(b) => {
                    let added = added.get_or_insert_with(|| Added::new(changed));
                    let Some((j, l_new)) = added.local.first(b) else {
                        continue;
                    };
                    added.local.use_first(b);
                    let new = changed[j].path;
                    self.decided.insert(new.clone(), *r);
                    self.writes.push(Action::Write {
                        path: new.clone(),
                        meta: *r,
                        expect: Some(l_new),
                    });
                    done[i] = true;
                    done[j] = true;
                }
                // Renamed there; here edited, or untouched.
                (Some(l), None) => {
                    let added = added.get_or_insert_with(|| Added::new(changed));
                    let Some((j, rn)) = added.remote.first(b) else {
                        continue;
                    };
                    let new = changed[j].path;
                    if !l.same_content(b) {
                        // Edited here: keep the edit, at the new name.
                        self.decided.insert(new.clone(), *l);
                    } else if rn == *l {
                        self.decided.insert(new.clone(), rn);
                    } else {
                        // Renamed and touched there: let the per-path rules download it.
                        continue;
                    }
                    added.remote.use_first(b);
                    self.moves.push(Action::Move {
                        from: c.path.clone(),
                        to: new.clone(),
                        expect: *l,
                    });
                    done[i] = true;
                    done[j] = true;
                }
                _ => {}
            }
        }
    }

    fn merge_path(&mut self, c: &Changed<'a>) {
        let Changed {
            path,
            base: b,
            local: l,
            remote: r,
        } = *c;
        // Conflicts are decided by content (bytes and mode); times only pick a winner.
        let (local_changed, remote_changed) = (content_differs(l, b), content_differs(r, b));
        match (l, r) {
            // Absent on both sides (deleted on both, or only in base): nothing to keep.
            (None, None) => {}
            (Some(l), None) => {
                if remote_changed && !local_changed {
                    self.deletes.push(Action::Delete {
                        path: path.clone(),
                        expect: *l,
                    });
                } else {
                    // Unchanged on the other side, added here, or edited here and deleted
                    // there: the edit wins.
                    self.decided.insert(path.clone(), *l);
                }
            }
            (None, Some(r)) => {
                if local_changed && !remote_changed {
                    // Deleted here; untouched (or only re-timed) there.
                    self.local_deletes += 1;
                } else {
                    self.decided.insert(path.clone(), *r);
                    self.writes.push(Action::Write {
                        path: path.clone(),
                        meta: *r,
                        expect: None,
                    });
                }
            }
            (Some(l), Some(r)) if l.same_content(r) => {
                // Same bytes: keep the newer time; a side that did not move keeps nothing.
                let take_local = if l == r || Some(r) == b {
                    true
                } else if Some(l) == b {
                    false
                } else {
                    local_wins(l, r, self.devices)
                };
                if take_local {
                    self.decided.insert(path.clone(), *l);
                } else {
                    self.adopt_remote(path, l, r);
                }
            }
            (Some(l), Some(r)) => match (local_changed, remote_changed) {
                (true, false) => {
                    self.decided.insert(path.clone(), *l);
                }
                (false, true) => self.adopt_remote(path, l, r),
                _ => self.conflict(path, l, r),
            },
        }
    }

    fn adopt_remote(&mut self, path: &VaultPath, l: &FileMeta, r: &FileMeta) {
        self.decided.insert(path.clone(), *r);
        if l.same_content(r) {
            self.touches.push(Action::Touch {
                path: path.clone(),
                meta: *r,
                expect: *l,
            });
        } else {
            self.writes.push(Action::Write {
                path: path.clone(),
                meta: *r,
                expect: Some(*l),
            });
        }
    }

    /// Both sides changed `path` to different bytes.
    fn conflict(&mut self, path: &VaultPath, l: &FileMeta, r: &FileMeta) {
        let devices = self.devices;
        if local_wins(l, r, devices) {
            self.decided.insert(path.clone(), *l);
            match self.kept_already(path, r, &devices.remote_name) {
                // An earlier attempt of this round (or an interrupted round) wrote this very
                // revision: one lost version, one revision. The file stays as it is.
                Some((rev, kept)) => {
                    self.decided.insert(rev.clone(), kept);
                    self.record(path, ConflictKind::BothChanged, Side::Local, rev);
                }
                None => {
                    let rev = self.revision_for(path, r.mtime_ns, &devices.remote_name);
                    self.decided.insert(rev.clone(), *r);
                    self.writes.push(Action::Write {
                        path: rev.clone(),
                        meta: *r,
                        expect: None,
                    });
                    self.record(path, ConflictKind::BothChanged, Side::Local, rev);
                }
            }
        } else if let Some((rev, kept)) = self.kept_already(path, l, &devices.local_name) {
            // This device's version is at its revision already (a round that moved a copy
            // there but could not remove it here): the file here goes, as a move would take
            // it, and the hub's version takes its place.
            self.decided.insert(path.clone(), *r);
            self.decided.insert(rev.clone(), kept);
            self.deletes.push(Action::Delete {
                path: path.clone(),
                expect: *l,
            });
            self.writes.push(Action::Write {
                path: path.clone(),
                meta: *r,
                expect: None,
            });
            self.record(path, ConflictKind::BothChanged, Side::Remote, rev);
        } else {
            let rev = self.revision_for(path, l.mtime_ns, &devices.local_name);
            self.decided.insert(path.clone(), *r);
            self.decided.insert(rev.clone(), *l);
            self.moves.push(Action::Move {
                from: path.clone(),
                to: rev.clone(),
                expect: *l,
            });
            self.writes.push(Action::Write {
                path: path.clone(),
                meta: *r,
                expect: None,
            });
            self.record(path, ConflictKind::BothChanged, Side::Remote, rev);
        }
    }

    pub(super) fn record(
        &mut self,
        path: &VaultPath,
        kind: ConflictKind,
        winner: Side,
        revision: VaultPath,
    ) {
        self.conflicts.push(Conflict {
            path: path.clone(),
            kind,
            winner,
            revision,
        });
    }

    /// The revision of `path` that already holds `loser` on this device, if one does: a file
    /// only this device has (not in base, not on the hub) at one of the names
    /// [`revision_path`] gives this version (its time and device: the same conflict), with
    /// the same bytes and mode. A round that wrote the revision and then started over (another
    /// device published first) finds it in its next scan; writing it again would keep the same
    /// lost version twice.
    pub(super) fn kept_already(
        &mut self,
        path: &VaultPath,
        loser: &FileMeta,
        device: &str,
    ) -> Option<(VaultPath, FileMeta)> {
        let (base, local, remote, issued) = (self.base, self.local, self.remote, &self.issued);
        let found = std::cell::Cell::new(None);
        // The names in the order a new revision would take them, stopping at the first that
        // holds the version, or at the first free one (nothing was written beyond it).
        revision_path(path, loser.mtime_ns, device, &|p| {
            if base.contains_key(p) || remote.contains_key(p) || issued.contains(p) {
                return true;
            }
            match local.get(p) {
                Some(l) if l.same_content(loser) => {
                    found.set(Some((p.clone(), *l)));
                    false
                }
                Some(_) => true,
                None => false,
            }
        });
        let (rev, kept) = found.into_inner()?;
        self.issued.insert(rev.clone());
        Some((rev, kept))
    }

    /// A revision name for `path` that no file of any tree and no earlier revision of this plan
    /// has.
    pub(super) fn revision_for(
        &mut self,
        path: &VaultPath,
        time_ns: i64,
        device: &str,
    ) -> VaultPath {
        let (base, local, remote, issued) = (self.base, self.local, self.remote, &self.issued);
        let taken = |p: &VaultPath| {
            base.contains_key(p)
                || local.contains_key(p)
                || remote.contains_key(p)
                || issued.contains(p)
        };
        let rev = revision_path(path, time_ns, device, &taken);
        self.issued.insert(rev.clone());
        rev
    }
}

/// Whether two versions of a path differ in presence, bytes or mode (not just in time).
fn content_differs(a: Option<&FileMeta>, b: Option<&FileMeta>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => !a.same_content(b),
        (None, None) => false,
        _ => true,
    }
}

/// The paths each side added (absent from base and from the other side), by content: the
/// candidates for the new name of a rename. Built once, on the first rename candidate, so that
/// pairing many renames does not rescan the changes for each.
struct Added {
    local: ByContent,
    remote: ByContent,
}

impl Added {
    fn new(changed: &[Changed<'_>]) -> Added {
        let (mut local, mut remote) = (ByContent::default(), ByContent::default());
        for (i, c) in changed.iter().enumerate() {
            match (c.base, c.local, c.remote) {
                (None, Some(l), None) => local.push(i, *l),
                (None, None, Some(r)) => remote.push(i, *r),
                _ => {}
            }
        }
        Added { local, remote }
    }
}

/// Added paths (indices into `changed`, in path order, with their entries) by bytes and mode.
#[derive(Default)]
struct ByContent(BTreeMap<(ObjectId, bool), Candidates>);

#[derive(Default)]
struct Candidates {
    added: Vec<(usize, FileMeta)>,
    /// How many of `added` are already the new name of a rename. Always the first ones: each
    /// rename takes the first candidate not yet used.
    used: usize,
}

impl ByContent {
    fn push(&mut self, index: usize, meta: FileMeta) {
        let key = (meta.id, meta.executable);
        self.0.entry(key).or_default().added.push((index, meta));
    }

    /// The first unused added path holding `b`'s bytes and mode.
    fn first(&self, b: &FileMeta) -> Option<(usize, FileMeta)> {
        let candidates = self.0.get(&(b.id, b.executable))?;
        candidates.added.get(candidates.used).copied()
    }

    /// Mark what [`ByContent::first`] returns as used.
    fn use_first(&mut self, b: &FileMeta) {
        if let Some(candidates) = self.0.get_mut(&(b.id, b.executable)) {
            candidates.used += 1;
        }
    }
}
