//! The merge as it was before it learned to skip unchanged paths, kept as the reference the fast
//! one must agree with on every input (see `equivalence.rs`). It does per-path work for every
//! path of all three trees, which is what made it slow on large vaults, and is easy to check
//! against `docs/sync.md` line by line. Rule changes since (rename evidence, older versions put
//! back) are made here the same way, written as plainly.

use std::collections::{BTreeMap, BTreeSet};

use super::evidence::{Evidence, is_backward, moved};
use super::{Action, Conflict, ConflictKind, Devices, Plan, Side, local_wins};
use crate::object::{FileMeta, FlatTree};
use crate::paths::VaultPath;
use crate::revisions::revision_path;

/// [`super::reconcile_with`] as it was: the same rules (see its documentation and
/// `docs/sync.md`).
pub fn reconcile(
    base: &FlatTree,
    local: &FlatTree,
    remote: &FlatTree,
    devices: &Devices,
    evidence: &Evidence,
    is_ignored: &dyn Fn(&VaultPath) -> bool,
) -> Plan {
    Merge::new(base, local, remote, devices, evidence).run(is_ignored)
}

struct Merge<'a> {
    base: &'a FlatTree,
    local: &'a FlatTree,
    remote: &'a FlatTree,
    devices: &'a Devices,
    evidence: &'a Evidence,
    /// Every path that exists anywhere, plus revision paths already handed out.
    taken: BTreeSet<VaultPath>,
    merged: FlatTree,
    moves: Vec<Action>,
    deletes: Vec<Action>,
    writes: Vec<Action>,
    touches: Vec<Action>,
    conflicts: Vec<Conflict>,
    local_deletes: usize,
}

impl<'a> Merge<'a> {
    fn new(
        base: &'a FlatTree,
        local: &'a FlatTree,
        remote: &'a FlatTree,
        devices: &'a Devices,
        evidence: &'a Evidence,
    ) -> Merge<'a> {
        let taken = base
            .keys()
            .chain(local.keys())
            .chain(remote.keys())
            .cloned()
            .collect();
        Merge {
            base,
            local,
            remote,
            devices,
            evidence,
            taken,
            merged: FlatTree::new(),
            moves: Vec::new(),
            deletes: Vec::new(),
            writes: Vec::new(),
            touches: Vec::new(),
            conflicts: Vec::new(),
            local_deletes: 0,
        }
    }

    fn run(mut self, is_ignored: &dyn Fn(&VaultPath) -> bool) -> Plan {
        let all: BTreeSet<&VaultPath> = self
            .base
            .keys()
            .chain(self.local.keys())
            .chain(self.remote.keys())
            .collect();
        let mut done: BTreeSet<VaultPath> = BTreeSet::new();
        for path in all.iter().filter(|p| is_ignored(p)) {
            if let Some(r) = self.remote.get(*path) {
                self.merged.insert((*path).clone(), *r);
            }
            done.insert((*path).clone());
        }
        self.renames(&mut done);
        for path in all {
            if !done.contains(path) {
                self.merge_path(path);
            }
        }
        self.name_clashes();
        let mut actions = self.moves;
        actions.extend(self.deletes);
        actions.extend(self.writes);
        actions.extend(self.touches);
        Plan {
            merged: self.merged,
            actions,
            conflicts: self.conflicts,
            local_deletes: self.local_deletes,
        }
    }

    /// Renames: a path gone on one side whose base entry appears, with the same time, at the
    /// one path that side added with those bytes, and no other path of that side gone with
    /// them; not for an empty file. Handles the two cases the per-path rules would get wrong:
    /// an edit on the other side (it must follow the rename), and a plain remote rename (moved
    /// locally rather than deleted and downloaded again).
    fn renames(&mut self, done: &mut BTreeSet<VaultPath>) {
        let (base, local, remote) = (self.base, self.local, self.remote);
        for (old, b) in base {
            if done.contains(old) {
                continue;
            }
            let (l, r) = (local.get(old), remote.get(old));
            match (l, r) {
                // Renamed here; edited (not deleted) there: the edit goes to the new name.
                (None, Some(r)) if !r.same_content(b) => {
                    let Some(new) = renamed_to(base, local, remote, b) else {
                        continue;
                    };
                    self.merged.insert(new.clone(), *r);
                    self.writes.push(Action::Write {
                        path: new.clone(),
                        meta: *r,
                        expect: Some(local[&new]),
                    });
                    done.insert(old.clone());
                    done.insert(new);
                }
                // Renamed there; here edited, or untouched.
                (Some(l), None) => {
                    let Some(new) = renamed_to(base, remote, local, b) else {
                        continue;
                    };
                    let rn = remote[&new];
                    if !l.same_content(b) {
                        // Edited here: keep the edit, at the new name.
                        self.merged.insert(new.clone(), *l);
                    } else if rn == *l {
                        self.merged.insert(new.clone(), rn);
                    } else {
                        // Renamed and touched there: let the per-path rules download it.
                        continue;
                    }
                    self.moves.push(Action::Move {
                        from: old.clone(),
                        to: new.clone(),
                        expect: *l,
                    });
                    done.insert(old.clone());
                    done.insert(new);
                }
                _ => {}
            }
        }
    }

    fn merge_path(&mut self, path: &VaultPath) {
        let b = self.base.get(path);
        let l = self.local.get(path);
        let r = self.remote.get(path);
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
                } else if b.is_some_and(|b| is_backward(l, b))
                    || (b.is_none() && self.evidence.resurrected(path, l))
                {
                    // An older version put back where the hub has none: kept aside.
                    let rev = self.revision_for(path, l.mtime_ns, &self.devices.local_name.clone());
                    self.merged.insert(rev.clone(), *l);
                    self.moves.push(Action::Move {
                        from: path.clone(),
                        to: rev.clone(),
                        expect: *l,
                    });
                    self.record(path, ConflictKind::OlderVersion, Side::Remote, rev);
                } else {
                    // Unchanged on the other side, added here, or edited here and deleted
                    // there: the edit wins.
                    self.merged.insert(path.clone(), *l);
                }
            }
            (None, Some(r)) => {
                if local_changed && !remote_changed {
                    // Deleted here; untouched (or only re-timed) there.
                    self.local_deletes += 1;
                } else if b.is_some_and(|b| is_backward(r, b)) {
                    // Put back there (older), deleted here: the deletion stands.
                    let rev =
                        self.revision_for(path, r.mtime_ns, &self.devices.remote_name.clone());
                    self.merged.insert(rev.clone(), *r);
                    self.writes.push(Action::Write {
                        path: rev.clone(),
                        meta: *r,
                        expect: None,
                    });
                    self.record(path, ConflictKind::OlderVersion, Side::Local, rev);
                    self.local_deletes += 1;
                } else {
                    self.merged.insert(path.clone(), *r);
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
                    self.merged.insert(path.clone(), *l);
                } else {
                    self.adopt_remote(path, l, r);
                }
            }
            (Some(l), Some(r)) => {
                let backward = |m: &FileMeta| b.is_some_and(|b| is_backward(m, b));
                match (local_changed, remote_changed) {
                    (true, false) if backward(l) => {
                        self.conflict(path, l, r, Some(Side::Remote));
                    }
                    (false, true) if backward(r) => {
                        self.conflict(path, l, r, Some(Side::Local));
                    }
                    (true, false) => {
                        self.merged.insert(path.clone(), *l);
                    }
                    (false, true) => self.adopt_remote(path, l, r),
                    _ => self.conflict(path, l, r, None),
                }
            }
        }
    }

    fn adopt_remote(&mut self, path: &VaultPath, l: &FileMeta, r: &FileMeta) {
        self.merged.insert(path.clone(), *r);
        let action = if l.same_content(r) {
            Action::Touch {
                path: path.clone(),
                meta: *r,
                expect: *l,
            }
        } else {
            Action::Write {
                path: path.clone(),
                meta: *r,
                expect: Some(*l),
            }
        };
        match action {
            Action::Touch { .. } => self.touches.push(action),
            _ => self.writes.push(action),
        }
    }

    /// Both sides changed `path` to different bytes (the newer keeps it), or one side put back
    /// an older version (`forced`: the other keeps it).
    fn conflict(&mut self, path: &VaultPath, l: &FileMeta, r: &FileMeta, forced: Option<Side>) {
        let devices = self.devices;
        let kind = match forced {
            Some(_) => ConflictKind::OlderVersion,
            None => ConflictKind::BothChanged,
        };
        let local_keeps = match forced {
            Some(side) => side == Side::Local,
            None => local_wins(l, r, devices),
        };
        if local_keeps {
            self.merged.insert(path.clone(), *l);
            // The revision an earlier attempt already wrote: a name of this version that only
            // this device has, with its bytes.
            if let Some((existing, kept)) = self.kept_already(path, r, &devices.remote_name) {
                self.merged.insert(existing.clone(), kept);
                self.record(path, kind, Side::Local, existing);
                return;
            }
            let rev = self.revision_for(path, r.mtime_ns, &devices.remote_name);
            self.merged.insert(rev.clone(), *r);
            self.writes.push(Action::Write {
                path: rev.clone(),
                meta: *r,
                expect: None,
            });
            self.record(path, kind, Side::Local, rev);
        } else if let Some((existing, kept)) = self.kept_already(path, l, &devices.local_name) {
            self.merged.insert(path.clone(), *r);
            self.merged.insert(existing.clone(), kept);
            self.deletes.push(Action::Delete {
                path: path.clone(),
                expect: *l,
            });
            self.writes.push(Action::Write {
                path: path.clone(),
                meta: *r,
                expect: None,
            });
            self.record(path, kind, Side::Remote, existing);
        } else {
            let rev = self.revision_for(path, l.mtime_ns, &devices.local_name);
            self.merged.insert(path.clone(), *r);
            self.merged.insert(rev.clone(), *l);
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

    fn record(&mut self, path: &VaultPath, kind: ConflictKind, winner: Side, revision: VaultPath) {
        self.conflicts.push(Conflict {
            path: path.clone(),
            kind,
            winner,
            revision,
        });
    }

    /// The revision of `path` this device already holds `loser` at: a file only it has, at a
    /// name of that version, with its bytes.
    fn kept_already(
        &mut self,
        path: &VaultPath,
        loser: &FileMeta,
        device: &str,
    ) -> Option<(VaultPath, FileMeta)> {
        let (base, local, remote, taken) = (self.base, self.local, self.remote, &self.taken);
        let mine = |p: &VaultPath| {
            local.get(p).is_some_and(|m| m.same_content(loser))
                && !base.contains_key(p)
                && !remote.contains_key(p)
        };
        let name = revision_path(path, loser.mtime_ns, device, &|p| {
            taken.contains(p) && !mine(p)
        });
        if !mine(&name) {
            return None;
        }
        self.taken.insert(name.clone());
        Some((name.clone(), local[&name]))
    }

    fn revision_for(&mut self, path: &VaultPath, time_ns: i64, device: &str) -> VaultPath {
        let taken = &self.taken;
        let rev = revision_path(path, time_ns, device, &|p| taken.contains(p));
        self.taken.insert(rev.clone());
        rev
    }

    /// Paths that a case-insensitive, normalising filesystem (macOS, Windows) would store as
    /// one file must not both be published or downloaded. In each group of merged paths with
    /// the same fold key, the names to keep are, in this order of preference: files already
    /// here that the plan does not create (on the hub or not), else the smallest name the hub
    /// offers fresh, else the smallest name this device adds. Every other member goes under
    /// `.revisions/`: a fresh download is written there instead, a local newcomer (a file this
    /// device would publish for the first time) is moved there. Every device applies the same
    /// rule to the same names, and the choice is published, so all agree.
    /// Folders that differ only in case merge on such filesystems without loss and are left be.
    fn name_clashes(&mut self) {
        let mut by_key: BTreeMap<String, Vec<VaultPath>> = BTreeMap::new();
        for p in self.merged.keys() {
            by_key.entry(p.fold_key()).or_default().push(p.clone());
        }
        for (_, group) in by_key.into_iter().filter(|(_, g)| g.len() > 1) {
            let mut fresh: Vec<(usize, VaultPath)> = Vec::new();
            let mut newcomers: Vec<VaultPath> = Vec::new();
            let mut settled = 0;
            for p in &group {
                if let Some(i) = self.fresh_write(p) {
                    fresh.push((i, p.clone()));
                } else if self.local_newcomer(p) {
                    newcomers.push(p.clone());
                } else {
                    settled += 1;
                }
            }
            // `group` is sorted, so the first of each list is the smallest name.
            let winner = if settled > 0 {
                Side::Local
            } else if !fresh.is_empty() {
                fresh.remove(0);
                Side::Remote
            } else {
                newcomers.remove(0);
                Side::Local
            };
            for (i, loser) in fresh {
                let meta = self.merged[&loser];
                let device = self.devices.remote_name.clone();
                let (rev, kept) = match self.kept_already(&loser, &meta, &device) {
                    Some((rev, kept)) => (rev, Some(kept)),
                    None => (self.revision_for(&loser, meta.mtime_ns, &device), None),
                };
                if let Action::Write { path, expect, .. } = &mut self.writes[i] {
                    *path = rev.clone();
                    *expect = kept;
                }
                self.relocate(&loser, rev, winner);
            }
            for loser in newcomers {
                let meta = self.merged[&loser];
                let device = self.devices.local_name.clone();
                let rev = self.revision_for(&loser, meta.mtime_ns, &device);
                self.moves.push(Action::Move {
                    from: loser.clone(),
                    to: rev.clone(),
                    expect: meta,
                });
                self.relocate(&loser, rev, winner);
            }
        }
    }

    /// Whether `path` is a local file that only this device has (the hub does not) and that no
    /// action of the plan touches: publishing it would be its first appearance on the hub.
    fn local_newcomer(&self, path: &VaultPath) -> bool {
        let Some(l) = self.local.get(path) else {
            return false;
        };
        !self.remote.contains_key(path)
            && self.merged.get(path) == Some(l)
            && !self
                .moves
                .iter()
                .chain(&self.deletes)
                .chain(&self.writes)
                .chain(&self.touches)
                .any(|a| a.path() == path || matches!(a, Action::Move { from, .. } if from == path))
    }

    /// The index of the write that creates `path` from nothing, if that is all that touches it.
    fn fresh_write(&self, path: &VaultPath) -> Option<usize> {
        let touched_otherwise = self
            .moves
            .iter()
            .chain(&self.deletes)
            .chain(&self.touches)
            .any(|a| a.path() == path || matches!(a, Action::Move { from, .. } if from == path));
        let writes: Vec<usize> = (0..self.writes.len())
            .filter(|&i| self.writes[i].path() == path)
            .collect();
        match writes.as_slice() {
            [i] if !touched_otherwise
                && matches!(self.writes[*i], Action::Write { expect: None, .. }) =>
            {
                Some(*i)
            }
            _ => None,
        }
    }

    fn relocate(&mut self, from: &VaultPath, to: VaultPath, winner: Side) {
        let meta = self.merged.remove(from).expect("clash loser is in merged");
        self.merged.insert(to.clone(), meta);
        self.record(from, ConflictKind::NameClash, winner, to);
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

/// Where base's entry `b` of a path `side` deleted went, if it was renamed: the one path `side`
/// added with those bytes and mode (absent from base; from the other side too), with the same
/// time, when no other path of `side` left with those bytes and they are not empty. Never a
/// path under `.revisions/`: a version appearing there is a kept copy (a conflict's loser, or
/// one a round that lost its CAS race wrote before retrying), not a note's new name, and an
/// edit from the other side carried to it would overwrite the version it keeps.
fn renamed_to(
    base: &FlatTree,
    side: &FlatTree,
    other: &FlatTree,
    b: &FileMeta,
) -> Option<VaultPath> {
    let gone = base
        .iter()
        .filter(|(p, m)| m.same_content(b) && !side.contains_key(*p))
        .count();
    let added: Vec<(&VaultPath, &FileMeta)> = side
        .iter()
        .filter(|(p, m)| m.same_content(b) && !base.contains_key(*p))
        .collect();
    match added.as_slice() {
        [(new, n)]
            if gone == 1 && !other.contains_key(*new) && moved(b, n) && !new.is_revision() =>
        {
            Some((*new).clone())
        }
        _ => None,
    }
}
