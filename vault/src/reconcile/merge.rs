//! The per-path rules and rename detection, run on the changed paths only (see `diff.rs` for why
//! the others need no decision).

use std::collections::{BTreeMap, BTreeSet};

use super::diff::{Changed, Diff, assemble};
use super::evidence::{Evidence, Tally, is_backward, moved};
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
    evidence: &'a Evidence,
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
        evidence: &'a Evidence,
    ) -> Merge<'a> {
        Merge {
            base,
            local,
            remote,
            devices,
            evidence,
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

    /// Renames: a path gone on one side whose base entry appears at a path that side added,
    /// with the evidence of [`moved`] and one-to-one (see `evidence.rs`). Handles the two cases
    /// the per-path rules would get wrong: an edit on the other side (it must follow the
    /// rename), and a plain remote rename (moved locally rather than deleted and downloaded
    /// again). Without the evidence, the per-path rules see a delete plus an add, and an edit
    /// of the old path stays there.
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
                    let Some((j, l_new)) = added.local.renamed(b) else {
                        continue;
                    };
                    let new = changed[j].path;
                    if new.is_revision() {
                        // A kept version, never a note's new name (reference.rs `renamed_to`).
                        continue;
                    }
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
                    let Some((j, rn)) = added.remote.renamed(b) else {
                        continue;
                    };
                    let new = changed[j].path;
                    if new.is_revision() {
                        continue;
                    }
                    if !l.same_content(b) {
                        // Edited here: keep the edit, at the new name.
                        self.decided.insert(new.clone(), *l);
                    } else if rn == *l {
                        self.decided.insert(new.clone(), rn);
                    } else {
                        // Renamed and touched there: let the per-path rules download it.
                        continue;
                    }
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
            (Some(l), None) => match b {
                // Deleted there; untouched (or only re-timed) here.
                Some(_) if !local_changed => self.deletes.push(Action::Delete {
                    path: path.clone(),
                    expect: *l,
                }),
                // Edited here and deleted there: the edit wins, unless it puts back an older
                // version; added here: published, unless an old copy of a note deleted since.
                Some(b) if is_backward(l, b) => self.put_aside_local(path, l),
                None if self.evidence.resurrected(path, l) => self.put_aside_local(path, l),
                _ => {
                    self.decided.insert(path.clone(), *l);
                }
            },
            (None, Some(r)) => match b {
                // Deleted here; untouched (or only re-timed) there.
                Some(_) if !remote_changed => self.local_deletes += 1,
                // Edited there (to an older version) and deleted here: the deletion stands.
                Some(b) if is_backward(r, b) => self.put_aside_remote(path, r),
                _ => {
                    self.decided.insert(path.clone(), *r);
                    self.writes.push(Action::Write {
                        path: path.clone(),
                        meta: *r,
                        expect: None,
                    });
                }
            },
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
            (Some(l), Some(r)) => match (local_changed, remote_changed, b) {
                // Changed on one side only, but to an older-looking version: the other keeps
                // the path.
                (true, false, Some(b)) if is_backward(l, b) => {
                    self.keep(path, l, r, Side::Remote, ConflictKind::OlderVersion);
                }
                (false, true, Some(b)) if is_backward(r, b) => {
                    self.keep(path, l, r, Side::Local, ConflictKind::OlderVersion);
                }
                (true, false, _) => {
                    self.decided.insert(path.clone(), *l);
                }
                (false, true, _) => self.adopt_remote(path, l, r),
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

    /// Both sides changed `path` to different bytes: the newer keeps it.
    fn conflict(&mut self, path: &VaultPath, l: &FileMeta, r: &FileMeta) {
        let winner = match local_wins(l, r, self.devices) {
            true => Side::Local,
            false => Side::Remote,
        };
        self.keep(path, l, r, winner, ConflictKind::BothChanged);
    }

    /// `winner`'s version keeps `path`, the other goes under `.revisions/`.
    fn keep(
        &mut self,
        path: &VaultPath,
        l: &FileMeta,
        r: &FileMeta,
        winner: Side,
        kind: ConflictKind,
    ) {
        let devices = self.devices;
        if winner == Side::Local {
            self.decided.insert(path.clone(), *l);
            match self.kept_already(path, r, devices.remote_name_for(path)) {
                // An earlier attempt of this round (or an interrupted round) wrote this very
                // revision: one lost version, one revision. The file stays as it is.
                Some((rev, kept)) => {
                    self.decided.insert(rev.clone(), kept);
                    self.record(path, kind, Side::Local, rev);
                }
                None => {
                    let rev = self.revision_for(path, r.mtime_ns, devices.remote_name_for(path));
                    self.decided.insert(rev.clone(), *r);
                    self.writes.push(Action::Write {
                        path: rev.clone(),
                        meta: *r,
                        expect: None,
                    });
                    self.record(path, kind, Side::Local, rev);
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
            self.record(path, kind, Side::Remote, rev);
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
            self.record(path, kind, Side::Remote, rev);
        }
    }

    /// The local file at `path` is an older version put back where the hub has none (deleted
    /// there, or since): it moves under `.revisions/` and the path stays absent.
    fn put_aside_local(&mut self, path: &VaultPath, l: &FileMeta) {
        let rev = self.revision_for(path, l.mtime_ns, &self.devices.local_name);
        self.decided.insert(rev.clone(), *l);
        self.moves.push(Action::Move {
            from: path.clone(),
            to: rev.clone(),
            expect: *l,
        });
        self.record(path, ConflictKind::OlderVersion, Side::Remote, rev);
    }

    /// The hub's version of `path` is an older version put back where this device deleted the
    /// note: it is written under `.revisions/` and the deletion is published.
    fn put_aside_remote(&mut self, path: &VaultPath, r: &FileMeta) {
        let rev = self.revision_for(path, r.mtime_ns, self.devices.remote_name_for(path));
        self.decided.insert(rev.clone(), *r);
        self.writes.push(Action::Write {
            path: rev.clone(),
            meta: *r,
            expect: None,
        });
        self.record(path, ConflictKind::OlderVersion, Side::Local, rev);
        self.local_deletes += 1;
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

/// What each side deleted and added, by content: the candidates for the two ends of a rename.
/// Built once, on the first rename candidate, so that pairing many renames does not rescan the
/// changes for each.
struct Added {
    local: ByContent,
    remote: ByContent,
}

impl Added {
    fn new(changed: &[Changed<'_>]) -> Added {
        let (mut local, mut remote) = (ByContent::default(), ByContent::default());
        for (i, c) in changed.iter().enumerate() {
            match c.base {
                Some(b) => {
                    if c.local.is_none() {
                        local.tally(b).gone += 1;
                    }
                    if c.remote.is_none() {
                        remote.tally(b).gone += 1;
                    }
                }
                None => {
                    if let Some(l) = c.local {
                        local.add(i, l, c.remote.is_none());
                    }
                    if let Some(r) = c.remote {
                        remote.add(i, r, c.local.is_none());
                    }
                }
            }
        }
        Added { local, remote }
    }
}

/// One side's deleted and added paths by bytes and mode.
#[derive(Default)]
struct ByContent(BTreeMap<(ObjectId, bool), Candidates>);

#[derive(Default)]
struct Candidates {
    tally: Tally,
    /// The added path (index into `changed`, entry) when the other side lacks it too: only
    /// such a path can be the new name of a rename.
    new: Option<(usize, FileMeta)>,
}

impl ByContent {
    fn tally(&mut self, meta: &FileMeta) -> &mut Tally {
        &mut self.0.entry((meta.id, meta.executable)).or_default().tally
    }

    fn add(&mut self, index: usize, meta: &FileMeta, only_here: bool) {
        let candidates = self.0.entry((meta.id, meta.executable)).or_default();
        candidates.tally.added += 1;
        if only_here {
            candidates.new = Some((index, *meta));
        }
    }

    /// Where `b`, base's entry of a path this side deleted, went if it was renamed.
    fn renamed(&self, b: &FileMeta) -> Option<(usize, FileMeta)> {
        let candidates = self.0.get(&(b.id, b.executable))?;
        let (index, new) = candidates.new?;
        (candidates.tally.one_to_one() && moved(b, &new)).then_some((index, new))
    }
}
