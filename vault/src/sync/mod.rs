//! The sync round: scan, reconcile with the hub's head, apply, upload, compare-and-swap, verify.
//! `docs/sync.md` describes it step by step; this module is its only implementation, and runs
//! against any [`Hub`].
//!
//! - [`round`]: one round and its retries (the algorithm);
//! - [`objects`]: trees and snapshots from the local store or the hub, blobs for apply and for
//!   upload, every byte checked against its id;
//! - [`check`]: read-only questions (`status`, `verify`).

mod check;
pub mod guard;
pub mod mounts;
pub(crate) mod objects;
mod round;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use check::{Change, ChangeKind, Difference, HubDamage, Status, VerifyReport, status, verify};
pub use guard::{GuardReason, GuardedFolder};

use crate::apply::ApplyError;
pub use crate::apply::SkipKind;
use crate::hub::{Hub, HubError};
use crate::id::ObjectId;
use crate::ignore_rules::IgnoreError;
use crate::local::{LocalError, LocalVault};
use crate::object::ObjectError;
use crate::paths::VaultPath;
use crate::progress::Progress;
use crate::reconcile::Conflict;
use crate::scan::{ScanError, ScanScope};
use crate::statcache::StatCacheError;
use crate::store::StoreError;

/// The largest difference between our clock and the hub's that a round accepts. Modification
/// times pick conflict winners, so a device whose clock is far off would win (or lose) wrongly.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// How a round may behave.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Publish deletions even when they look like a vanished folder (see [`SyncError::MassDelete`]).
    pub allow_mass_delete: bool,
    /// How long to wait for another process holding `.vault/lock`.
    pub lock_wait: Duration,
    /// Hash every file instead of trusting the stat cache, and have the hub verify its tree even
    /// when nothing changed (the quiet path otherwise trusts that equal snapshot ids mean equal
    /// trees, and does not notice a hub that lost packs). Repairs what it finds.
    pub full_verify: bool,
    /// How many times the round restarts (a file changed under us, another device pushed first,
    /// verification found a difference) before giving up.
    pub max_attempts: u32,
    /// Told how far the round has got (a bar on a terminal, log lines for a service). Shared,
    /// so options stay cheap to clone and one observer can follow every round of an agent.
    pub progress: Option<Arc<dyn Progress>>,
    /// What changed in the folder since the last round, when a file watcher saw it: the first
    /// scan then looks only there (and trusts the stat cache for the rest), provided the cache
    /// described the whole folder at base; otherwise, or with `full_verify`, it scans all.
    pub scope: Option<ScanScope>,
    /// Fill [`SyncReport::touched`]: an agent needs it to tell the watcher's echo of the
    /// round's own writes from the user's edits; a one-off round has no use for it, and it
    /// costs 10 MiB after a first download of 100,000 files.
    pub report_touched: bool,
    /// Publish this device's copy onto a hub whose head went back (an ancestor of base: a hub
    /// restored from a backup) or sideways (a history without base), instead of refusing with
    /// [`SyncError::HubWentBack`] (`round/ancestry.rs`, docs/sync.md "A hub that went back").
    pub republish: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            allow_mass_delete: false,
            full_verify: false,
            lock_wait: Duration::from_secs(10),
            max_attempts: 8,
            progress: None,
            scope: None,
            report_touched: false,
            republish: false,
        }
    }
}

/// True counts of what a round did (the benchmark and the tests rely on them).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncStats {
    /// Files seen by scans (every scan of every attempt, including verification).
    pub files_scanned: u64,
    /// Files whose content was read: hashed by a scan, read for upload, or used as a local
    /// source of bytes instead of a download.
    pub files_read: u64,
    /// Bytes of file content hashed.
    pub bytes_hashed: u64,
    /// Objects (blobs, trees, snapshots) uploaded to the hub, and their bytes.
    pub objects_sent: u64,
    pub bytes_sent: u64,
    /// Objects downloaded from the hub, and their bytes.
    pub objects_received: u64,
    pub bytes_received: u64,
    /// Changes made to the vault folder.
    pub files_written: u64,
    pub files_deleted: u64,
    pub files_moved: u64,
    /// Conflicts resolved (each kept a revision).
    pub conflicts: u64,
    /// How many attempts the round took (1 unless something changed under it).
    pub attempts: u32,
    /// Wall-clock duration of the whole round, lock wait included.
    pub duration_ms: u64,
    /// The first scan looked only at what [`SyncOptions::scope`] named (false: it walked the
    /// whole folder).
    #[serde(default)]
    pub scan_scoped: bool,
}

/// What a round did, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing changed on either side.
    UpToDate,
    /// The folder took changes from the hub; nothing new was published.
    Pulled,
    /// Local changes were published; the folder was not changed.
    Pushed,
    /// Both: changes came in and a merged snapshot went out.
    Merged,
}

/// The result of a successful (verified) round.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyncReport {
    pub outcome: Outcome,
    /// The snapshot this device is at after the round (its base): the hub's head then, or
    /// an ancestor of it when another device published while the round checked the hub.
    pub head: Option<ObjectId>,
    /// The root tree both sides agree on.
    pub tree: Option<ObjectId>,
    /// Whether this round wrote a new snapshot.
    pub snapshot_created: bool,
    pub conflicts: Vec<Conflict>,
    /// Things to tell the user (skipped files, an unusable stat cache).
    pub warnings: Vec<String>,
    /// What automatic repair had to do to make the two sides agree.
    pub repairs: Vec<String>,
    /// Folders whose deletions the folder guard held back (a drive that is not mounted, a
    /// folder emptied of many notes): the rest of the vault synced, these files stay on the
    /// hub and on other devices until the drive is back or `--allow-mass-delete`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_back: Vec<GuardedFolder>,
    /// Paths this device could not bring to the hub's version (a folder where the hub has a
    /// file, a link in the way, a note it cannot read, ...): left as they are on both sides,
    /// every other change synced. They need the user; each says what to do.
    #[serde(default)]
    pub skipped: Vec<SkippedPath>,
    pub stats: SyncStats,
    /// The paths this round wrote, moved or deleted in the folder, with the stat each was left
    /// with: a file watcher sees these as changes, and the agent tells them from the user's
    /// own by that stat. Empty unless [`SyncOptions::report_touched`]. Not part of the JSON
    /// report.
    #[serde(skip)]
    pub touched: Vec<crate::apply::Done>,
}

/// A path a round left alone because starting over cannot help (see [`SyncReport::skipped`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SkippedPath {
    /// What is in the way in the folder (a note, or a folder or file on the way to the hub's
    /// notes); the hub's version of it and of everything under it is kept as it is.
    pub path: VaultPath,
    pub reason: SkipKind,
    /// For the user: the path, what is in the way, what to do.
    pub message: String,
}

/// What `.vault/last-sync.json` keeps about the last round, for `syncd status`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LastSync {
    /// When the round ended (ns since the Unix epoch).
    pub time_ns: i64,
    /// `None` when the round failed.
    pub report: Option<SyncReport>,
    /// The error the round stopped with.
    pub error: Option<String>,
}

impl LastSync {
    /// Read the record; `None` if there is none or it is unreadable (it is only informative).
    pub fn load(vault: &LocalVault) -> Option<LastSync> {
        let bytes = crate::vfs::read(vault.last_sync_path()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Why a round stopped. Nothing in the folder is lost in any of these cases; where a round
/// stops part-way, what was already written is a consistent state the next round continues from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    #[error(transparent)]
    Local(#[from] LocalError),
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error("this vault's base ref: {0}")]
    Ref(#[from] crate::refs::RefError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Ignore(#[from] IgnoreError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("the local object store of this vault: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    StatCache(#[from] StatCacheError),
    #[error(
        "this machine's clock is {} seconds ({}) {} the clock of the hub `{hub}`, more than the 5 minutes allowed; conflicts are decided by modification time, so syncing now could keep the wrong version. Set the clock (enable NTP: `timedatectl set-ntp true`) and sync again", .skew_secs.unsigned_abs(), human_duration(.skew_secs.unsigned_abs()), if *.skew_secs > 0 { "ahead of" } else { "behind" }
    )]
    ClockSkew { hub: String, skew_secs: i64 },
    #[error(
        "this round would delete {deletes} of the {total} files this device last synced{why}; nothing was changed. If the vault folder is on a drive that is not mounted, or was restored from an old backup, fix that first. If you really deleted them, run `syncd sync --allow-mass-delete`"
    )]
    MassDelete {
        deletes: usize,
        total: usize,
        why: String,
    },
    #[error(
        "this round would delete the files in {}, and the hub changed files there too; nothing was changed. If a drive or share is not mounted, mount it again; if you really deleted them, run `syncd sync --allow-mass-delete`",
        .held.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    FolderGuard { held: Vec<GuardedFolder> },
    #[error(
        "the hub `{hub}` offers history that cannot be used ({detail}); nothing in the vault folder was changed. The hub is damaged or was written by a faulty or hostile client: check it, or point this vault at another hub"
    )]
    BadRemote { hub: String, detail: String },
    #[error(
        "the hub `{hub}` holds a damaged copy of {}{}, and this device has no good copy to repair it with; a device that has it will repair the hub on its next `syncd sync --full-verify` (every other file syncs as usual)",
        .paths.first().map(|p| format!("`{p}`")).unwrap_or_else(|| "some objects".into()),
        if .paths.len() > 1 { format!(" and {} more", .paths.len() - 1) } else { String::new() }
    )]
    HubDamaged {
        hub: String,
        /// The damaged files by path (objects no file holds by their short id).
        paths: Vec<String>,
    },
    /// The hub's head is not base and does not descend from it: the hub went back in time
    /// (`behind`: its head is an ancestor of base), went back and was written to since
    /// (`common`: the newest snapshot both histories hold), or holds another history. Taken
    /// at its word, it would make the notes synced since look deleted; nothing was changed.
    #[error("{}", went_back_message(.hub, .head, .base, .common, *.behind))]
    HubWentBack {
        hub: String,
        head: ObjectId,
        base: ObjectId,
        /// Boxed: the error stays small enough to pass around by value.
        common: Option<Box<ObjectId>>,
        behind: bool,
    },
    #[error(
        "the vault kept changing while syncing ({attempts} attempts); the last reason: {reason}. Nothing was lost; run `syncd sync` again when edits settle"
    )]
    Unsettled { attempts: u32, reason: String },
    #[error(
        "after syncing, the vault folder and the hub `{hub}` still differ (local tree {local}, hub tree {}) in {} path(s), first: {}; automatic repair did not help. Nothing was deleted. Run `syncd verify` for the list, and `syncd sync` again",
        .hub_tree.map(|t| t.short()).unwrap_or_else(|| "none".into()),
        .differences.len(),
        .differences.first().map(String::as_str).unwrap_or("?")
    )]
    VerifyFailed {
        hub: String,
        local: ObjectId,
        hub_tree: Option<ObjectId>,
        differences: Vec<String>,
    },
    #[error("writing `{}`: {source}", .path.display())]
    Record {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The message of [`SyncError::HubWentBack`]: what happened, in the user's terms, and the way
/// forward.
fn went_back_message(
    hub: &str,
    head: &ObjectId,
    base: &ObjectId,
    common: &Option<Box<ObjectId>>,
    behind: bool,
) -> String {
    let (head, base) = (head.short(), base.short());
    let unchanged = "Nothing was changed in the vault folder or on the hub";
    if behind {
        format!(
            "the hub `{hub}` went back in time: its head ({head}) is older than the snapshot this device last synced ({base}). {unchanged}. If the hub was restored from a backup, run `syncd sync --republish` to put this device's copy back on it; if a proxy or cache between this device and the hub answers old data, fix that instead"
        )
    } else if let Some(common) = common {
        format!(
            "the hub `{hub}` no longer holds the snapshot this device last synced ({base}): its head ({head}) continues from an older one ({}) along another line, as after a restore from a backup that other devices have synced with since. {unchanged}. Run `syncd sync --republish` to merge this device's copy into it without deleting anything (differences are kept as conflicts under `.revisions/`)",
            common.short()
        )
    } else {
        format!(
            "the hub `{hub}` holds another history: its head ({head}) shares nothing with the snapshot this device last synced ({base}), so it may be another vault's hub. {unchanged}. Check the hub (`syncd hub show`); to join this vault to that history on purpose, run `syncd sync --republish` (nothing is deleted; differences are kept as conflicts under `.revisions/`)"
        )
    }
}

impl From<ObjectError> for SyncError {
    fn from(e: ObjectError) -> Self {
        SyncError::Hub(HubError::Object(e))
    }
}

/// Run one sync round of `vault` against `hub`: the folder and the hub's head end up with the
/// same verified tree, or an error says why not. Holds `.vault/lock` throughout, and records the
/// outcome in `.vault/last-sync.json`.
pub fn sync(
    vault: &LocalVault,
    hub: &dyn Hub,
    opts: &SyncOptions,
) -> Result<SyncReport, SyncError> {
    let started = std::time::Instant::now();
    let _lock = vault.lock(opts.lock_wait)?;
    let result =
        check_clock(vault.root(), hub).and_then(|()| round::Round::new(vault, hub, opts)?.run());
    if result.as_ref().is_ok_and(|r| r.snapshot_created) {
        // Housekeeping after a publish (a folder hub merging its packs), once the round and
        // everything it held (the scan, the trees, the stat cache: tens of MiB at 100,000
        // files) is gone, so the two never add up.
        hub.after_publish();
    }
    let result = result.map(|mut report| {
        report.stats.duration_ms = started.elapsed().as_millis() as u64;
        report
    });
    let mut result = result;
    // The record never holds the paths the round touched (not serialised, and 10 MiB after a
    // first download of 100,000 files): set aside while the report is copied.
    let touched = result
        .as_mut()
        .map(|r| std::mem::take(&mut r.touched))
        .unwrap_or_default();
    let record = LastSync {
        time_ns: crate::vfs::now_ns_at(vault.root()),
        report: result.as_ref().ok().cloned(),
        error: result.as_ref().err().map(|e| e.to_string()),
    };
    if let Ok(report) = result.as_mut() {
        report.touched = touched;
    }
    let path = vault.last_sync_path();
    let written = serde_json::to_vec_pretty(&record)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::fsutil::write_replace(&path, &bytes));
    match (result, written) {
        (Ok(report), Ok(())) => Ok(report),
        (Ok(_), Err(source)) => Err(SyncError::Record { path, source }),
        (Err(e), _) => Err(e),
    }
}

impl SyncError {
    /// Whether the same round may succeed later without anyone acting: the hub was
    /// unreachable or busy, another syncd held the vault, or edits kept arriving. An agent
    /// retries these with backoff; the others need a person (and say what to do).
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Hub(e) => e.is_transient(),
            SyncError::Local(LocalError::Busy { .. }) | SyncError::Unsettled { .. } => true,
            _ => false,
        }
    }
}

/// Refuse when the hub's clock and ours differ by more than [`MAX_CLOCK_SKEW`].
pub fn check_clock(root: &std::path::Path, hub: &dyn Hub) -> Result<(), SyncError> {
    compare_clocks(&hub.describe(), crate::vfs::now_ns_at(root), hub.time_ns()?)
}

/// `3 h 20 min`, `7 min 5 s`: a skew as a person reads it.
fn human_duration(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} min {} s", s / 60, s % 60),
    }
}

/// [`check_clock`] on two readings (ns since the Unix epoch): ours and the hub's.
pub fn compare_clocks(hub: &str, ours_ns: i64, theirs_ns: i64) -> Result<(), SyncError> {
    // Rounded: the hub's reading is a request's latency old.
    let skew_secs = ((i128::from(ours_ns) - i128::from(theirs_ns) + 500_000_000)
        .div_euclid(1_000_000_000)) as i64;
    if skew_secs.unsigned_abs() > MAX_CLOCK_SKEW.as_secs() {
        return Err(SyncError::ClockSkew {
            hub: hub.to_string(),
            skew_secs,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod migration_tests;
#[cfg(test)]
mod progress_tests;

#[cfg(test)]
mod stuck_tests;

#[cfg(test)]
mod chunked_tests;
