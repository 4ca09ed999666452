//! Compaction and garbage collection of a hub folder (a folder hub, or one vault of a
//! vault-server: the same layout), so that a hub that gains a pack on every round keeps few,
//! and objects no kept snapshot reaches (killed uploads, thinned history) are removed.
//!
//! Two modes ([`Mode`]):
//! - **compaction** merges small packs by the geometric rule the device's store uses
//!   ([`crate::store::packs_to_merge`]): the pack count stays logarithmic in the history.
//!   Every object is kept, so it needs no mark and no lock; it runs by itself after a round
//!   publishes to a folder hub with more than [`AUTO_ABOVE`] packs, and in the server.
//! - **gc** marks from the head ([`mark`]) and also drops, from packs older than the grace
//!   period, the objects no kept root reaches.
//!
//! Order of a run, each step durable before the next ([`sweep`]): the new pack is written to a
//! temp file, every object re-hashed on the way, fsynced, renamed to its name, the folder
//! fsynced; then (gc: under the head's lock, after reading head again and marking what it and
//! any new pack add) the replaced packs are moved to `packs/retired/<hash>.<unix secs>.pack`;
//! retired packs and temp files older than the grace period are deleted last. A crash at any
//! point leaves every object in a complete pack in `packs/` (at worst in two).
//!
//! Why a grace period, and why 1 hour by default ([`DEFAULT_GRACE`]): another device may have
//! listed `packs/` a while ago and still be about to open a pack (a hub on a network share, or
//! in a folder another service syncs, where files arrive minutes apart), and a writer stores
//! its packs before it moves head. An hour covers a slow upload of a large file between its
//! pack and its head move, and a sync service's usual delay, while the space of killed
//! uploads and replaced packs comes back the same day.

use crate::vfs as fs;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fsutil::{PathIoError, io_at, is_own_temp_name};
use crate::id::ObjectId;
use crate::store::StoreError;
use crate::store::pack_io::{self, RETIRED_DIR};

pub mod mark;
pub mod plan;
pub mod summary;
mod sweep;

pub use plan::LARGE_PACK_BYTES;
pub use summary::summary;
pub use sweep::run;

/// The grace period when none is given: see the module docs.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// A folder hub compacts by itself after a publishing round once `packs/` holds more than this
/// many files (the device's store uses the same threshold).
pub const AUTO_ABOVE: usize = crate::store::REPACK_ABOVE;

/// Test hook: when this environment variable names a step of a run ([`CRASH_STEPS`]), the
/// process aborts right there, as a `kill -9` would stop it (the crash tests use it; see
/// [`crate::crash_hook`]).
pub const CRASH_ENV: &str = crate::crash_hook::ENV;

/// The steps [`CRASH_ENV`] can name, in the order a run reaches them.
pub const CRASH_STEPS: &[&str] = &[
    "copying",   // half the objects copied into the temp pack
    "written",   // the temp pack complete and fsynced, not renamed
    "committed", // the new pack in place, nothing retired
    "retiring",  // one replaced pack retired, the others not
    "retired",   // every replaced pack retired, nothing deleted
    "deleting",  // one expired retired pack deleted
];

pub(crate) fn crash_point(step: &str) {
    crate::crash_hook::point(step);
}

/// Compaction only, or a full gc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Compact,
    Gc,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub mode: Mode,
    pub grace: Duration,
    /// Say what would be done; change nothing.
    pub dry_run: bool,
    /// Merge only when `packs/` holds more packs than this (0: whenever the rule says).
    pub merge_above: usize,
}

impl Options {
    /// `syncd hub gc` / `vault-server gc`.
    pub fn gc(grace: Duration, dry_run: bool) -> Options {
        Options {
            mode: Mode::Gc,
            grace,
            dry_run,
            merge_above: 0,
        }
    }

    /// The automatic compaction after a publish.
    pub fn auto() -> Options {
        Options {
            mode: Mode::Compact,
            grace: DEFAULT_GRACE,
            dry_run: false,
            merge_above: AUTO_ABOVE,
        }
    }
}

/// What a run did (or, with `dry_run`, would do). `--json` prints it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub grace_secs: u64,
    pub packs_before: usize,
    pub packs_after: usize,
    /// Bytes of the packs in `packs/` before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Packs replaced by the new one (moved to `packs/retired/`), and their bytes: freed when
    /// a later run finds them older than the grace period.
    pub packs_retired: usize,
    pub bytes_retired: u64,
    /// Objects no pack holds any more, and their bytes.
    pub objects_dropped: usize,
    pub bytes_dropped: u64,
    /// Retired packs and temp files deleted now, and the bytes that frees.
    pub retired_deleted: usize,
    pub temps_removed: usize,
    pub bytes_freed: u64,
    /// Snapshots the mark walked (gc only).
    pub snapshots: usize,
    /// Objects the head reaches that the hub lacks (gc only; nothing is removed for them).
    pub missing: usize,
    /// Replaced packs kept in `packs/` because head moved meanwhile to a snapshot needing an
    /// object the new pack left out (a later run handles them).
    pub packs_kept_back: usize,
}

/// Why a run stopped. Nothing was removed that a reader could need.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GcError {
    #[error(
        "`{0}` is not a hub folder (it has no `vault-hub.json`); give the folder a vault syncs with"
    )]
    NotAHub(PathBuf),
    #[error("{0}")]
    Io(#[from] PathIoError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error(
        "object {id} on the hub cannot be read as what it claims to be ({detail}); nothing was removed. `syncd verify` and `syncd sync --full-verify` on a device find and repair damage"
    )]
    Invalid { id: ObjectId, detail: String },
    #[error("{0}")]
    Ref(#[from] crate::refs::RefError),
    #[error(
        "pack `{0}` was replaced by another compaction while this one ran; nothing was removed: run it again"
    )]
    Raced(PathBuf),
    #[error("{0}")]
    Retention(#[from] crate::retention::RetentionError),
}

/// Told how a long run advances (syncd draws a bar).
pub trait GcProgress {
    /// `done` of `total` bytes copied into the new pack.
    fn copying(&self, _done: u64, _total: u64) {}
}

/// Reports nothing.
pub struct Quiet;
impl GcProgress for Quiet {}

/// Whether a folder hub's `packs/` holds more than [`AUTO_ABOVE`] packs smaller than
/// [`LARGE_PACK_BYTES`] (those are never merged), or `packs/retired/` a pack retired longer
/// than [`DEFAULT_GRACE`] ago (else a hub that stopped growing would keep its last
/// compaction's retired packs until it grew again): a listing of each and a stat per pack,
/// the check a round makes after it publishes.
pub fn worth_compacting(hub_root: &Path) -> bool {
    let packs = hub_root.join("packs");
    let Ok(entries) = fs::read_dir(&packs) else {
        return false;
    };
    let many = entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".pack")))
        .filter(|e| e.metadata().is_ok_and(|m| m.len() < LARGE_PACK_BYTES))
        .nth(AUTO_ABOVE)
        .is_some();
    many || retired_expired(
        &packs,
        unix_secs(crate::vfs::now_at(hub_root)),
        DEFAULT_GRACE.as_secs(),
    )
}

/// Whether `packs/retired/` holds a pack retired at least `grace_secs` before `now_secs`.
fn retired_expired(packs: &Path, now_secs: u64, grace_secs: u64) -> bool {
    let Ok(entries) = fs::read_dir(packs.join(RETIRED_DIR)) else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_name()
            .to_str()
            .and_then(pack_io::parse_retired)
            .is_some_and(|(_, secs)| secs.saturating_add(grace_secs) <= now_secs)
    })
}

/// Compact `hub_root` if [`worth_compacting`]; `None` when it was not. For the rounds and
/// the server, which log a failure and carry on (a compaction that fails changes nothing).
pub fn compact_if_worthwhile(hub_root: &Path) -> Result<Option<Report>, GcError> {
    if !worth_compacting(hub_root) {
        return Ok(None);
    }
    run(hub_root, &Options::auto(), &Quiet).map(Some)
}

pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The `.vault-tmp-*` files directly in `dir` (never deeper), with mtime and size.
fn temps_in(dir: &Path, out: &mut Vec<plan::TempFacts>) -> Result<(), PathIoError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_at("listing", dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io_at("listing", dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !is_own_temp_name(&name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(plan::TempFacts {
            path: dir.join(name),
            mtime_secs: meta.modified().map(unix_secs).unwrap_or(0),
            size: meta.len(),
        });
    }
    Ok(())
}

/// The retired packs under `packs/retired/`.
fn retired_in(packs: &Path) -> Result<Vec<plan::RetiredFacts>, PathIoError> {
    let dir = packs.join(RETIRED_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_at("listing", &dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_at("listing", &dir))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some((_, secs)) = pack_io::parse_retired(&name) else {
            continue;
        };
        let size = entry.metadata().map_or(0, |m| m.len());
        out.push(plan::RetiredFacts {
            name,
            retired_secs: secs,
            size,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Everything a plan needs to know of the folder: packs (headers, mtimes, sizes), retired
/// packs, temp files. A pack that vanishes while being read is skipped (another compaction);
/// a damaged one is left out of every plan (never rewritten, never retired).
struct Survey {
    packs: Vec<plan::PackFacts>,
    entries: Vec<Vec<pack_io::PackEntry>>,
    retired: Vec<plan::RetiredFacts>,
    temps: Vec<plan::TempFacts>,
    /// Packs whose header could not be read.
    unreadable: usize,
}

fn survey(root: &Path) -> Result<Survey, GcError> {
    let dir = root.join("packs");
    let mut packs = Vec::new();
    let mut entries = Vec::new();
    let mut unreadable = 0;
    for name in pack_io::pack_names(&dir)? {
        let path = dir.join(&name);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_at("reading", &path)(e).into()),
        };
        let list = match pack_io::read_entries(&path) {
            Ok(l) => l,
            Err(StoreError::Io(e)) if e.source.kind() == io::ErrorKind::NotFound => continue,
            Err(e @ StoreError::BadPack { .. }) => {
                tracing::warn!("{e}");
                unreadable += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        packs.push(plan::PackFacts {
            name,
            size: meta.len(),
            mtime_secs: meta.modified().map(unix_secs).unwrap_or(0),
            objects: list.iter().map(|e| (e.id, e.len)).collect(),
        });
        entries.push(list);
    }
    let mut temps = Vec::new();
    temps_in(&dir, &mut temps)?;
    temps_in(&root.join("refs"), &mut temps)?;
    temps_in(root, &mut temps)?;
    Ok(Survey {
        packs,
        entries,
        retired: retired_in(&dir)?,
        temps,
        unreadable,
    })
}

/// Pack names of `packs/` that the survey did not see (written since).
fn new_packs(root: &Path, seen: &HashSet<&str>) -> Result<Vec<String>, GcError> {
    Ok(pack_io::pack_names(&root.join("packs"))?
        .into_iter()
        .filter(|n| !seen.contains(n.as_str()))
        .collect())
}

#[cfg(test)]
mod tests;
