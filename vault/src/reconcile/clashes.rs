//! Names that a case-insensitive, normalising filesystem (macOS, Windows) would store as one file.

use std::collections::VecDeque;

use super::merge::Merge;
use super::{Action, ConflictKind, Side};
use crate::object::FileMeta;
use crate::paths::VaultPath;

/// What the plan does at a merged path, as far as the clash rule cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Only created, from nothing, by the write at this index of `writes`.
    Fresh(usize),
    /// A file only this device has, which no action touches: publishing it would be its first
    /// appearance on the hub.
    Newcomer,
    /// Anything else: the file is here and stays (or the plan put it here deliberately).
    Settled,
}

/// One merged path of a group that shares a fold key.
struct Member<P> {
    path: P,
    meta: FileMeta,
    role: Role,
}

/// One way an action involves a path.
#[derive(Debug, Clone, Copy)]
enum Touch {
    /// The write at this index of `writes` puts a file there.
    Write(usize),
    /// A move (from or to), a delete or a touch.
    Other,
}

impl Merge<'_> {
    /// Paths that a case-insensitive, normalising filesystem (macOS, Windows) would store as
    /// one file must not both be published or downloaded. In each group of merged paths with
    /// the same fold key, the names to keep are, in this order of preference: files already
    /// here that the plan does not create (on the hub or not), else the smallest name the hub
    /// offers fresh, else the smallest name this device adds. Every other member goes under
    /// `.revisions/`: a fresh download is written there instead, a local newcomer (a file this
    /// device would publish for the first time) is moved there. Every device applies the same
    /// rule to the same names, and the choice is published, so all agree.
    /// Folders that differ only in case merge on such filesystems without loss and are left be.
    ///
    /// A group in which every member is settled changes nothing, and fresh writes and newcomers
    /// are always decided paths (unchanged ones have no action and are on the hub). So the fold
    /// keys of the rest of the vault (`unchanged`) are only computed when some decided path is
    /// fresh or a newcomer, and only to find the other members of its group.
    pub(super) fn name_clashes(&mut self, unchanged: &[(&VaultPath, &FileMeta)]) {
        let roles = self.roles();
        // Members of groups that may clash, by fold key. Sorting rather than hashing: a large
        // download puts every path of the vault here, and a sorted list needs no allocation per
        // group and gives the order the groups are settled in.
        let mut members: Vec<(String, Member<&VaultPath>)> = Vec::new();
        let mut settled = Vec::new();
        for ((path, meta), role) in self.decided.iter().zip(roles) {
            if role == Role::Settled {
                settled.push((path, meta));
            } else {
                let member = Member {
                    path,
                    meta: *meta,
                    role,
                };
                members.push((path.fold_key(), member));
            }
        }
        if members.is_empty() {
            return;
        }
        members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut joining = Vec::new();
        for (path, meta) in settled.into_iter().chain(unchanged.iter().copied()) {
            let key = path.fold_key();
            if members.binary_search_by(|(k, _)| k.cmp(&key)).is_ok() {
                let member = Member {
                    path,
                    meta: *meta,
                    role: Role::Settled,
                };
                joining.push((key, member));
            }
        }
        members.extend(joining);
        // Groups in fold-key order, members in path order: the revision names handed out
        // depend on the order.
        members.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.path.cmp(b.1.path)));
        let clashing: Vec<Vec<Member<VaultPath>>> = members
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|group| group.len() > 1)
            .map(|group| {
                let owned = group.iter().map(|(_, m)| Member {
                    path: m.path.clone(),
                    meta: m.meta,
                    role: m.role,
                });
                owned.collect()
            })
            .collect();
        for group in clashing {
            self.settle_group(group);
        }
    }

    /// Keep one name of a clashing group (see [`Merge::name_clashes`]), move the others aside.
    fn settle_group(&mut self, group: Vec<Member<VaultPath>>) {
        let mut fresh = VecDeque::new();
        let mut newcomers = VecDeque::new();
        let mut settled = 0;
        for member in group {
            match member.role {
                Role::Fresh(i) => fresh.push_back((i, member)),
                Role::Newcomer => newcomers.push_back(member),
                Role::Settled => settled += 1,
            }
        }
        // The members are sorted, so the first of each list is the smallest name.
        let winner = if settled > 0 {
            Side::Local
        } else if fresh.pop_front().is_some() {
            Side::Remote
        } else {
            newcomers.pop_front();
            Side::Local
        };
        let devices = self.devices;
        for (i, loser) in fresh {
            // Written there already by an earlier attempt (one lost version, one revision):
            // the write only re-checks that file, with the same bytes.
            let name = devices.remote_name_for(&loser.path);
            let (rev, kept) = match self.kept_already(&loser.path, &loser.meta, name) {
                Some((rev, kept)) => (rev, Some(kept)),
                None => (
                    self.revision_for(&loser.path, loser.meta.mtime_ns, name),
                    None,
                ),
            };
            if let Some(Action::Write { path, expect, .. }) = self.writes.get_mut(i) {
                *path = rev.clone();
                *expect = kept;
            }
            self.relocate(loser, rev, winner);
        }
        for loser in newcomers {
            let rev = self.revision_for(&loser.path, loser.meta.mtime_ns, &devices.local_name);
            self.moves.push(Action::Move {
                from: loser.path.clone(),
                to: rev.clone(),
                expect: loser.meta,
            });
            self.relocate(loser, rev, winner);
        }
    }

    /// The role of every decided path, in path order. Asking every action about every path
    /// would be quadratic in a large download; instead the actions' paths, sorted, are walked
    /// beside the (sorted) decided paths once.
    fn roles(&self) -> Vec<Role> {
        let mut touched: Vec<(&VaultPath, Touch)> = Vec::with_capacity(self.writes.len());
        for action in self.moves.iter().chain(&self.deletes).chain(&self.touches) {
            touched.push((action.path(), Touch::Other));
            if let Action::Move { from, .. } = action {
                touched.push((from, Touch::Other));
            }
        }
        for (i, action) in self.writes.iter().enumerate() {
            touched.push((action.path(), Touch::Write(i)));
        }
        // Mostly runs already in path order (the rules go through paths in order), which this
        // sort finds and merges.
        touched.sort_by(|a, b| a.0.cmp(b.0));
        let mut next = 0;
        self.decided
            .iter()
            .map(|(path, meta)| {
                while touched.get(next).is_some_and(|(p, _)| *p < path) {
                    next += 1;
                }
                let first = next;
                while touched.get(next).is_some_and(|(p, _)| *p == path) {
                    next += 1;
                }
                let at = touched.get(first..next).unwrap_or_default();
                match at {
                    [(_, Touch::Write(i))]
                        if matches!(
                            self.writes.get(*i),
                            Some(Action::Write { expect: None, .. })
                        ) =>
                    {
                        Role::Fresh(*i)
                    }
                    [] if self.local.get(path) == Some(meta) && !self.remote.contains_key(path) => {
                        Role::Newcomer
                    }
                    _ => Role::Settled,
                }
            })
            .collect()
    }

    fn relocate(&mut self, loser: Member<VaultPath>, to: VaultPath, winner: Side) {
        self.decided.remove(&loser.path);
        self.decided.insert(to.clone(), loser.meta);
        self.record(&loser.path, ConflictKind::NameClash, winner, to);
    }
}
