//! What some rules need besides the bytes of the three trees: whether a delete plus an add is
//! really a rename, and whether a change puts back an older version (a backup restored).
//!
//! Equal bytes alone do not make a rename: a daily note made from a template has the bytes of
//! yesterday's untouched note, and following that "rename" would move another device's edit of
//! yesterday's note into today's and delete yesterday's everywhere. `mv` (and every program
//! that renames) keeps the modification time, a new file gets the time of its writing, so a
//! rename needs the same bytes *and* the same time, one-to-one, and a non-empty file.
//! Inode numbers are no better evidence: ext4 hands a freed inode to the next file created, so
//! a note made right after deleting another may well get its inode.
//!
//! Modification times also tell a backup put back: its files carry the times of the backup,
//! older than the versions they replace. Such a change never simply wins (see
//! [`is_backward`]), and a note deleted since stays deleted (see [`Evidence::deleted`]).

use std::collections::BTreeMap;

use crate::object::FileMeta;
use crate::paths::VaultPath;

/// How far back a change's time must go before it counts as an older version put back: the
/// clock difference a round allows between devices (`sync::MAX_CLOCK_SKEW`). Closer times do
/// not order two devices' versions reliably, and an edit made just after another device's on a
/// clock a little behind must not be taken for a restore.
pub const BACKWARD_SLACK_NS: i64 = crate::sync::MAX_CLOCK_SKEW.as_nanos() as i64;

/// Timestamp granularities of real filesystems, finest first (NTFS and SMB: 100 ns; some
/// network filesystems: 1 µs; 1 ms; exFAT: 10 ms; ext3, HFS+, many NFS/SMB mounts: 1 s;
/// FAT: 2 s). A file copied or synced onto such a filesystem keeps its time truncated to it.
const GRANULARITIES_NS: [i64; 6] = [
    100,
    1_000,
    1_000_000,
    10_000_000,
    1_000_000_000,
    2_000_000_000,
];

/// What the round learned from the history, for a rule of [`super::reconcile_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Paths that base lacks but an earlier snapshot had: the last version there and when the
    /// snapshot that deleted it was made. The round fills this only for local files at paths
    /// base lacks whose time is older than base's snapshot (fresh files need no history), so a
    /// normal round computes nothing.
    pub deleted: BTreeMap<VaultPath, Deletion>,
}

/// How a path left the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deletion {
    /// The last version before the deletion.
    pub last: FileMeta,
    /// When the deleting snapshot was made (ns since the Unix epoch, its device's clock).
    pub at_ns: i64,
}

impl Evidence {
    /// Whether `meta`, a local file at `path` that base lacks, is an old copy of a note deleted
    /// since (a backup put back): no newer than the version that was deleted, and older than the
    /// deletion by more than [`BACKWARD_SLACK_NS`]. A note written anew at that path has a
    /// fresh time; a deliberate restore (`syncd restore`) writes the current time too.
    pub fn resurrected(&self, path: &VaultPath, meta: &FileMeta) -> bool {
        self.deleted.get(path).is_some_and(|d| {
            meta.mtime_ns <= d.last.mtime_ns
                && meta.mtime_ns < d.at_ns.saturating_sub(BACKWARD_SLACK_NS)
        })
    }
}

/// Whether `new` replaces `old` with a version whose time lies well before `old`'s: an older
/// version put back (a backup restored with its times), not an edit.
pub fn is_backward(new: &FileMeta, old: &FileMeta) -> bool {
    new.mtime_ns < old.mtime_ns.saturating_sub(BACKWARD_SLACK_NS)
}

/// Whether two modification times are the same instant, allowing one of them to be the other
/// truncated by a coarser filesystem (see [`GRANULARITIES_NS`]).
pub fn same_time(a: i64, b: i64) -> bool {
    a == b
        || GRANULARITIES_NS
            .iter()
            .any(|g| a.div_euclid(*g) * g == b || b.div_euclid(*g) * g == a)
}

/// Whether `new` (a path added on one side) may be the old path `old` (base's entry of a path
/// gone on that side) renamed: the same bytes and mode, the same time, and not empty. The
/// caller also checks that the pairing is one-to-one (see [`Tally`]).
pub fn moved(old: &FileMeta, new: &FileMeta) -> bool {
    old.size > 0 && old.same_content(new) && same_time(old.mtime_ns, new.mtime_ns)
}

/// On one side, how many paths left and how many appeared with some bytes and mode: a rename
/// is followed only when exactly one of each (two copies of one note deleted, or one note
/// copied twice, leave no way to tell which went where).
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub gone: usize,
    pub added: usize,
}

impl Tally {
    pub fn one_to_one(&self) -> bool {
        self.gone == 1 && self.added == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_truncated_by_a_coarser_filesystem_are_the_same() {
        let t = 1_700_000_001_234_567_891;
        for (a, b, same) in [
            (t, t, true),
            (t, t / 100 * 100, true),
            (t, t / 1_000_000_000 * 1_000_000_000, true),
            (t / 1_000_000_000 * 1_000_000_000, t, true),
            (t, t / 2_000_000_000 * 2_000_000_000, true),
            (t, t + 1, false),
            (t, t - 1_000_000_000, false),
            (t / 1_000_000_000 * 1_000_000_000, t + 1_000_000_000, false),
        ] {
            assert_eq!(same_time(a, b), same, "{a} {b}");
        }
    }
}
