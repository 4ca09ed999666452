//! `fsck`: a read-only check of a hub folder ([`hub::check`]: a folder hub, or one vault of a
//! vault-server, the same layout) or of a device's `.vault/` ([`device::check`]), reporting
//! every problem found with the file it concerns and what to do (docs/sync.md "Checking a
//! vault: syncd fsck", docs/server.md "fsck").
//!
//! What counts as a problem is decided by the project's own rules, so that a hub or device
//! left by a crash at any point checks clean once the software's own recovery has run:
//! - an object a kept snapshot reaches (retention decides which snapshots' trees are kept,
//!   by [`crate::retention::kept`], the rule gc's mark uses) that is missing or whose every
//!   copy is damaged, a head or ref that names nothing, a pack whose header cannot be read: a
//!   [`Severity::Damage`];
//! - a temp file (exact own names only, [`crate::fsutil::is_own_temp_name`]) older than the
//!   grace period that nothing will ever remove: a [`Severity::Leftover`] (`--repair` removes
//!   it);
//! - a damaged cache (stat cache, task index; rebuilt by the next use), a stale lock (broken by
//!   the next writer): a [`Severity::Warning`];
//! - what the software cleans by itself (a hub's old temp files and retired packs, which its gc
//!   deletes; a vault's temp files and staging, which the next sync removes): a
//!   [`Severity::Cleanup`], shown so an operator knows, never a failure.
//!
//! Young temp files and fresh locks are an upload or a sync in progress: not reported, so
//! fsck is safe to run while a sync or the server runs.

use crate::vfs as fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::fsutil::is_own_temp_name;
use crate::id::ObjectId;

pub mod device;
pub mod hub;

/// How bad a problem is. Ordered: the worst is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Cleaned by the software by itself; reported for information.
    Cleanup,
    /// Worth knowing, nothing lost (a cache rebuilt, a lock the next writer breaks).
    Warning,
    /// A leftover nothing will ever remove (`--repair` removes it).
    Leftover,
    /// Data missing or damaged, or a device that cannot sync as it is.
    Damage,
}

impl Severity {
    /// Whether `fsck` exits 2 for it.
    pub fn fails(self) -> bool {
        self >= Severity::Leftover
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Cleanup => "cleanup",
            Severity::Warning => "warning",
            Severity::Leftover => "leftover",
            Severity::Damage => "damage",
        }
    }
}

/// What kind of problem, for scripts (`--json`) and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `vault-hub.json` unreadable.
    BadMarker,
    /// A ref (`refs/head`, `.vault/base`, `.vault/graft`) that holds no object id.
    BadRef,
    /// A head or ref naming a snapshot no pack holds.
    DanglingHead,
    /// A head or ref naming an object that is not a readable snapshot.
    BadSnapshot,
    /// A snapshot's parent no pack holds: history before it is lost.
    DanglingParent,
    /// An object a kept snapshot reaches that no pack holds.
    MissingObject,
    /// An object whose every stored copy is damaged.
    DamagedObject,
    /// A tree or list that is not acceptable (malformed, forbidden name).
    InvalidObject,
    /// A pack whose header cannot be read.
    DamagedPack,
    /// A temp file of this project's, older than the grace period.
    TempFile,
    /// A hub's retired pack past the grace period.
    RetiredPack,
    /// A lock left by a writer that is gone (or a stale lock's leftover).
    StaleLock,
    /// A cache that cannot be used (rebuilt by its next use).
    DamagedCache,
    /// `.vault/staging` left by an interrupted download.
    Staging,
    /// A device's base (or graft) snapshot held neither by the device nor its hub.
    UnknownBase,
}

/// One problem: where, what, and what to do, in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub kind: Kind,
    /// The file or folder concerned (a pack, a ref, a temp file; the hub folder for a missing
    /// object).
    pub path: PathBuf,
    /// The object concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ObjectId>,
    /// The vault files that hold the object, where known.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// What is wrong.
    pub what: String,
    /// What to do about it.
    pub fix: String,
}

impl Problem {
    fn new(severity: Severity, kind: Kind, path: &Path, what: String, fix: &str) -> Problem {
        Problem {
            severity,
            kind,
            path: path.to_path_buf(),
            id: None,
            files: Vec::new(),
            what,
            fix: fix.to_string(),
        }
    }

    fn with_id(mut self, id: ObjectId) -> Problem {
        self.id = Some(id);
        self
    }

    /// The human line: what, then what to do.
    pub fn line(&self) -> String {
        format!("{}: {}; {}", self.severity.label(), self.what, self.fix)
    }
}

/// Everything one check found, and what `--repair` did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    /// What was checked (a hub folder, a vault folder).
    pub target: PathBuf,
    pub problems: Vec<Problem>,
    /// Counts of what was looked at.
    pub packs: usize,
    pub objects: usize,
    pub snapshots: usize,
    pub snapshots_kept: usize,
    /// Files removed by `--repair` (temp files, stale locks).
    pub repaired: Vec<PathBuf>,
}

impl Report {
    /// Whether no problem makes `fsck` fail.
    pub fn clean(&self) -> bool {
        !self.problems.iter().any(|p| p.severity.fails())
    }

    fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    /// Merge another check's findings (a device's hub into the device's report).
    pub fn absorb(&mut self, other: Report) {
        self.problems.extend(other.problems);
        self.repaired.extend(other.repaired);
        self.packs += other.packs;
        self.objects += other.objects;
        self.snapshots += other.snapshots;
        self.snapshots_kept += other.snapshots_kept;
    }
}

/// How to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// Temp files and staging younger than this are work in progress, not reported.
    pub grace: Duration,
    /// Remove what is safe to remove: own temp files past the grace nothing else removes,
    /// locks whose process is gone. Never data.
    pub repair: bool,
    /// "Now", for the grace and retention (tests set it).
    pub now: SystemTime,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            grace: crate::hub_gc::DEFAULT_GRACE,
            repair: false,
            now: SystemTime::now(),
        }
    }
}

impl Options {
    fn past_grace(&self, modified: SystemTime) -> bool {
        self.now
            .duration_since(modified)
            .is_ok_and(|age| age >= self.grace)
    }

    fn now_ns(&self) -> i64 {
        self.now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }
}

/// Told how a long check advances (syncd and vault-server draw a bar).
pub trait FsckProgress: Sync {
    /// Starting a phase of `total` steps.
    fn phase(&self, _name: &'static str, _total: u64) {}
    /// `done` steps of the current phase.
    fn advance(&self, _done: u64) {}
}

/// Reports nothing.
pub struct Quiet;
impl FsckProgress for Quiet {}

/// Why a check could not run at all (everything it can report is a [`Problem`] instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsckError {
    #[error(
        "`{0}` is not a hub folder (it has no `vault-hub.json`); give the folder a vault syncs with"
    )]
    NotAHub(PathBuf),
    #[error("{0}")]
    Io(#[from] crate::fsutil::PathIoError),
    #[error("{0}")]
    Hub(#[from] crate::hub::HubError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

/// The own temp files directly in `dir` (never deeper) past the grace, with whether each is.
fn old_temps(dir: &Path, opts: &Options) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(is_own_temp_name))
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && m.modified().is_ok_and(|t| opts.past_grace(t)))
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// Own temp files directly in `dir` past the grace that nothing else removes (a server's data
/// folder: `accounts.json` and the web view's sessions are written through temp files): each a
/// [`Severity::Leftover`], removed with `opts.repair`.
pub fn leftover_temps(dir: &Path, opts: &Options, report: &mut Report) {
    leftover_temps_fixed_by(
        dir,
        opts,
        opts.repair,
        "`fsck --repair` removes it (a copy being written, never the file itself)",
        report,
    );
}

/// [`leftover_temps`], removing them only when `may_remove`, with `fix` as what to do.
pub(crate) fn leftover_temps_fixed_by(
    dir: &Path,
    opts: &Options,
    may_remove: bool,
    fix: &str,
    report: &mut Report,
) {
    for temp in old_temps(dir, opts) {
        if may_remove && remove(&temp) {
            report.repaired.push(temp);
            continue;
        }
        report.push(Problem::new(
            Severity::Leftover,
            Kind::TempFile,
            &temp,
            format!(
                "`{}` was left by an interrupted write and nothing else removes it",
                temp.display()
            ),
            fix,
        ));
    }
}

/// Open the pack store at `dir` the way a check reads it: a pack whose header cannot be read
/// is a [`Severity::Damage`] problem (with `fix` as what to do), and the other packs are still
/// checked.
pub(crate) fn open_store_naming_damaged(
    dir: &Path,
    fix: &str,
    report: &mut Report,
) -> Result<crate::store::PackStore, FsckError> {
    use crate::store::{PackStore, StoreError};
    let mut store = PackStore::open_unloaded(dir)?;
    let skipped = match store.refresh_skipping_damaged() {
        Ok(s) => s,
        Err(e @ StoreError::BadPack { .. }) => vec![e],
        Err(e) => return Err(e.into()),
    };
    for e in skipped {
        if let StoreError::BadPack { path, reason } = &e {
            report.push(Problem::new(
                Severity::Damage,
                Kind::DamagedPack,
                path,
                format!("pack `{}` cannot be read: {reason}", path.display()),
                fix,
            ));
        }
    }
    Ok(store)
}

/// Lock files (`*.lock`) directly in `dir` that are stale by the rule writers break them by
/// ([`crate::refs::staleness`]), and the asides (`*.lock.stale-<hex>`) a writer killed while
/// breaking one left, past the grace.
fn stale_locks(dir: &Path, opts: &Options, report: &mut Report) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".lock") {
            let Some(why) = crate::refs::staleness(&path) else {
                continue;
            };
            if opts.repair && matches!(crate::refs::break_if_stale(&path), Ok(true)) {
                report.repaired.push(path);
                continue;
            }
            report.push(Problem::new(
                Severity::Warning,
                Kind::StaleLock,
                &path,
                format!("lock `{}` is stale ({why})", path.display()),
                "the next writer breaks it by itself; `fsck --repair` removes it now",
            ));
        } else if name.contains(".lock.stale-") {
            let old = fs::symlink_metadata(&path)
                .ok()
                .and_then(|m| m.modified().ok())
                .is_some_and(|t| opts.past_grace(t));
            if !old {
                continue;
            }
            if opts.repair && remove(&path) {
                report.repaired.push(path);
                continue;
            }
            report.push(Problem::new(
                Severity::Leftover,
                Kind::StaleLock,
                &path,
                format!(
                    "`{}` is a stale lock set aside by a writer that stopped before removing it",
                    path.display()
                ),
                "nothing uses it: `fsck --repair` removes it",
            ));
        }
    }
}

/// Remove a file; whether it is gone (removed now, or by someone else meanwhile).
fn remove(path: &Path) -> bool {
    match fs::remove_file(path) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

#[cfg(test)]
mod tests;

/// The human lines of a report: one per problem (the worst first), then what was checked and
/// the verdict.
pub fn summary(report: &Report) -> String {
    let mut problems: Vec<&Problem> = report.problems.iter().collect();
    problems.sort_by_key(|p| std::cmp::Reverse(p.severity));
    let mut out = String::new();
    for p in &problems {
        out.push_str(&p.line());
        out.push('\n');
    }
    for path in &report.repaired {
        out.push_str(&format!("repaired: removed `{}`\n", path.display()));
    }
    let failing = problems.iter().filter(|p| p.severity.fails()).count();
    let mut checked = format!("{} pack(s), {} object(s)", report.packs, report.objects);
    if report.snapshots > 0 {
        checked.push_str(&format!(
            ", {} snapshot(s) ({} with their files kept)",
            report.snapshots, report.snapshots_kept
        ));
    }
    if failing == 0 {
        out.push_str(&format!(
            "clean: `{}` ({checked} checked)\n",
            report.target.display()
        ));
    } else {
        out.push_str(&format!(
            "{failing} problem(s) in `{}` ({checked} checked)\n",
            report.target.display()
        ));
    }
    out
}
