//! The check of a device's side of a vault: `.vault/objects` (every pack's header, every
//! object re-hashed), `base` and `graft` (valid ids of snapshots whose trees this device or,
//! when given, its hub holds), the stat cache and task index (a damaged one is only a cache:
//! a warning), and what crashes leave: temp files in the vault folder (the next sync removes
//! them) and in `.vault/` (nothing does), `.vault/staging`, stale locks.

use crate::vfs as fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    FsckError, FsckProgress, Kind, Options, Problem, Report, Severity, remove, stale_locks,
};
use crate::fsutil::is_own_temp_name;
use crate::hub::Hub;
use crate::id::ObjectId;
use crate::local::{BASE_FILE, GRAFT_FILE, LocalVault, OBJECTS_DIR};
use crate::object::{EntryKind, Snapshot, Tree};
use crate::paths::STATE_DIR;
use crate::refs::{RefError, RefFile};
use crate::statcache::StatCache;
use crate::store::PackStore;
use crate::tasks::index::TaskIndex;

/// The staging folder of a round's downloads (`crate::sync`).
const STAGING_DIR: &str = "staging";
/// The task index's file in `.vault/`.
const TASKS_FILE: &str = crate::tasks::index::INDEX_FILE;

/// What to do about a damaged local store: it holds copies of what the hub has.
const LOCAL_STORE_FIX: &str = "move it out of `.vault/objects/`: this device keeps there only copies of trees and snapshots its hub holds, and the next `syncd sync` fetches what it needs again";

/// Check the device state of `vault`. With `hub`, a base or graft this device lacks is looked
/// for there too. Read-only unless `opts.repair`: then own temp files past the grace (in the
/// vault folder and `.vault/`) and `.vault/staging` are removed under the vault lock (never
/// while a sync holds it), and stale locks broken.
pub fn check(
    vault: &LocalVault,
    hub: Option<&dyn Hub>,
    opts: &Options,
    progress: &dyn FsckProgress,
) -> Result<Report, FsckError> {
    let state = vault.state_dir();
    let mut report = Report {
        target: vault.root().to_path_buf(),
        ..Report::default()
    };
    // The refs before the packs: a round stores its objects before it moves base.
    let refs: Vec<(&str, Result<Option<ObjectId>, RefError>)> = [BASE_FILE, GRAFT_FILE]
        .into_iter()
        .map(|file| (file, RefFile::new(state.join(file)).read()))
        .collect();
    let store =
        super::open_store_naming_damaged(&state.join(OBJECTS_DIR), LOCAL_STORE_FIX, &mut report)?;
    report.packs = store.pack_count();
    report.objects = store.len();
    let damaged = super::hub::rehash_all(&store, progress)?;
    let mut damaged: Vec<ObjectId> = damaged.into_iter().collect();
    damaged.sort();
    for id in damaged {
        let pack = store.pack_of(id).unwrap_or(&state).to_path_buf();
        report.push(
            Problem::new(
                Severity::Damage,
                Kind::DamagedObject,
                &pack,
                format!(
                    "object {} in pack `{}` is damaged",
                    id.short(),
                    pack.display()
                ),
                LOCAL_STORE_FIX,
            )
            .with_id(id),
        );
    }

    for ((file, read), fix) in refs.into_iter().zip([
        "delete it: the next `syncd sync` merges this folder with the hub as a new device would (every difference kept, the other version as a revision); nothing is lost",
        "delete it: the next `syncd sync` publishes without joining the old hub's history, which stays on the old hub",
    ]) {
        let path = state.join(file);
        match read {
            Ok(None) => {}
            Ok(Some(id)) => {
                if let Some(problem) = snapshot_held(&store, hub, &path, id, fix) {
                    report.push(problem);
                }
            }
            Err(RefError::Garbage { found, .. }) => report.push(Problem::new(
                Severity::Damage,
                Kind::BadRef,
                &path,
                format!("`{}` holds no object id (found {found:?})", path.display()),
                fix,
            )),
            Err(e) => report.push(Problem::new(
                Severity::Damage,
                Kind::BadRef,
                &path,
                e.to_string(),
                "check the file's permissions",
            )),
        }
    }

    let index = vault.index_path();
    if let (_, Some(why)) = StatCache::load(&index) {
        report.push(Problem::new(
            Severity::Warning,
            Kind::DamagedCache,
            &index,
            why,
            "nothing is lost: it is only a cache, rebuilt by the next `syncd sync`",
        ));
    }
    let tasks = state.join(TASKS_FILE);
    if let (_, Some(why)) = TaskIndex::load(&tasks) {
        report.push(Problem::new(
            Severity::Warning,
            Kind::DamagedCache,
            &tasks,
            why,
            "nothing is lost: it is only a cache, rebuilt by the next `syncd tasks`",
        ));
    }

    leftovers(vault, opts, &mut report);
    Ok(report)
}

/// Whether the snapshot a ref names, and its trees, are held by this device or by `hub`; a
/// problem when neither holds them (or, without a hub, when this device lacks them).
fn snapshot_held(
    store: &PackStore,
    hub: Option<&dyn Hub>,
    path: &Path,
    id: ObjectId,
    fix: &str,
) -> Option<Problem> {
    let lacking = local_lacks(store, id);
    if lacking.is_empty() {
        return None;
    }
    let what = match hub {
        None => format!(
            "`{}` names snapshot {}, which this device's store does not hold whole",
            path.display(),
            id.short()
        ),
        Some(hub) => match hub.missing(&lacking) {
            Ok(m) if m.is_empty() => return None,
            Ok(_) => format!(
                "`{}` names snapshot {}, which neither this device nor its hub holds whole",
                path.display(),
                id.short()
            ),
            Err(e) => format!(
                "`{}` names snapshot {}, which this device does not hold whole, and the hub could not be asked ({e})",
                path.display(),
                id.short()
            ),
        },
    };
    let fix = if hub.is_none() {
        "`syncd fsck --hub` asks the hub for it; if the hub lacks it too, the next `syncd sync` merges as a new device would (nothing is lost)".to_string()
    } else {
        fix.to_string()
    };
    Some(Problem {
        severity: Severity::Warning,
        kind: Kind::UnknownBase,
        path: path.to_path_buf(),
        id: Some(id),
        files: Vec::new(),
        what,
        fix,
    })
}

/// The snapshot `id` and the trees under it that `store` lacks (what it holds is read and
/// decoded; below a missing tree nothing more is known).
fn local_lacks(store: &PackStore, id: ObjectId) -> Vec<ObjectId> {
    let snap = match store.read(id).map(|o| Snapshot::decode(&o.bytes)) {
        Ok(Ok(s)) => s,
        _ => return vec![id],
    };
    let mut lacking = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![snap.tree];
    let mut reader = store.reader();
    while let Some(tree) = stack.pop() {
        if !seen.insert(tree) {
            continue;
        }
        match reader.read(tree).map(|o| Tree::decode(&o.bytes)) {
            Ok(Ok(t)) => stack.extend(t.entries.values().filter_map(|e| match e {
                EntryKind::Dir(sub) => Some(*sub),
                EntryKind::File(_) => None,
            })),
            _ => lacking.push(tree),
        }
    }
    lacking
}

/// Temp files in the vault folder (the next sync removes them) and in `.vault/` (nothing
/// does), `.vault/staging`, stale locks. Removals only under the vault lock, which every
/// writer of temp files there holds.
fn leftovers(vault: &LocalVault, opts: &Options, report: &mut Report) {
    let state = vault.state_dir();
    let lock = if opts.repair {
        match vault.lock(Duration::ZERO) {
            Ok(l) => Some(l),
            Err(e) => {
                report.push(Problem::new(
                    Severity::Warning,
                    Kind::StaleLock,
                    &state.join(crate::local::LOCK_FILE),
                    format!("nothing in the vault folder was repaired: {e}"),
                    "a sync or restore is running; run `syncd fsck --repair` again once it is done",
                ));
                None
            }
        }
    } else {
        None
    };
    let may_remove = lock.is_some();

    for temp in vault_temps(vault.root(), opts) {
        if may_remove && remove(&temp) {
            report.repaired.push(temp);
            continue;
        }
        report.push(Problem::new(
            Severity::Cleanup,
            Kind::TempFile,
            &temp,
            format!("`{}` was left by an interrupted write", temp.display()),
            "the next `syncd sync` removes it",
        ));
    }
    for dir in [state.clone(), state.join(OBJECTS_DIR)] {
        super::leftover_temps_fixed_by(
            &dir,
            opts,
            may_remove,
            "`syncd fsck --repair` removes it (it is no note, only a copy being written)",
            report,
        );
    }
    let staging = state.join(STAGING_DIR);
    if fs::is_dir(&staging) && newest_in(&staging).is_none_or(|t| opts.past_grace(t)) {
        if may_remove && fs::remove_dir_all(&staging).is_ok() {
            report.repaired.push(staging);
        } else {
            report.push(Problem::new(
                Severity::Cleanup,
                Kind::Staging,
                &staging,
                format!(
                    "`{}` holds downloads of an interrupted sync",
                    staging.display()
                ),
                "the next `syncd sync` that downloads removes it",
            ));
        }
    }
    stale_locks(&state, opts, report);
    drop(lock);
}

/// The newest modification time in `dir` and its files (one level), if any.
fn newest_in(dir: &Path) -> Option<std::time::SystemTime> {
    let own = fs::metadata(dir).and_then(|m| m.modified()).ok();
    let files = fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok());
    own.into_iter().chain(files).max()
}

/// Own temp files anywhere in the vault folder outside `.vault/`, past the grace; links are
/// never followed.
fn vault_temps(root: &Path, opts: &Options) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(dir) = folders.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            match entry.kind() {
                fs::Kind::Dir if !(dir == root && name == STATE_DIR) => folders.push(entry.path()),
                fs::Kind::File
                    if name.to_str().is_some_and(is_own_temp_name)
                        && entry
                            .metadata()
                            .ok()
                            .and_then(|m| m.modified().ok())
                            .is_some_and(|t| opts.past_grace(t)) =>
                {
                    out.push(entry.path());
                }
                _ => {}
            }
        }
    }
    out.sort();
    out
}
