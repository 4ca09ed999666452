//! The check of a hub folder: `vault-hub.json`, every pack's header, every object re-hashed,
//! `refs/head` and the history behind it, every object a kept snapshot reaches (through the
//! folder hub's own walk, [`FolderHub::walk_kept`]), and what crashes leave (temp files,
//! retired packs, locks).

use crate::vfs as fs;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use rayon::prelude::*;

use super::{
    FsckError, FsckProgress, Kind, Options, Problem, Report, Severity, old_temps, remove,
    stale_locks,
};
use crate::folder_hub::{FolderHub, MARKER_FILE};
use crate::id::ObjectId;
use crate::object::Snapshot;
use crate::refs::{RefError, RefFile};
use crate::retention::{self, Policy, SnapshotInfo};
use crate::store::pack_io::{self, RETIRED_DIR};
use crate::store::{PackStore, StoreError};

/// What a device runs to put back what a hub lacks or holds damaged.
const REUPLOAD: &str = "run `syncd sync --full-verify` on a device that holds the file: it stores a good copy again (`syncd verify --full` on a device names the files)";

/// Check the hub folder `root`. Read-only unless `opts.repair` (then only own temp files past
/// the grace and stale locks are removed).
pub fn check(
    root: &Path,
    opts: &Options,
    progress: &dyn FsckProgress,
) -> Result<Report, FsckError> {
    let mut report = Report {
        target: root.to_path_buf(),
        ..Report::default()
    };
    let marker = root.join(MARKER_FILE);
    if !fs::is_file(&marker) {
        return Err(FsckError::NotAHub(root.to_path_buf()));
    }
    if let Some(problem) = marker_problem(&marker) {
        report.push(problem);
        leftovers(root, opts, &mut report);
        return Ok(report);
    }
    // Head before the packs: every object it names was stored before it moved, so the
    // packs listed after it hold them (a push meanwhile adds packs, never needs them here).
    let head = match RefFile::new(root.join("refs").join("head")).read() {
        Ok(h) => h,
        Err(RefError::Garbage { path, found }) => {
            report.push(Problem::new(
                Severity::Damage,
                Kind::BadRef,
                &path,
                format!("`{}` holds no object id (found {found:?})", path.display()),
                "restore it from a backup; or, if there is none, delete it and run `syncd sync` on the device with the newest files: its snapshot becomes the head",
            ));
            None
        }
        Err(e) => {
            return Err(FsckError::Hub(crate::hub::HubError::Corrupt {
                hub: root.display().to_string(),
                detail: e.to_string(),
            }));
        }
    };
    let hub = FolderHub::open(root)?;
    let fix = format!("move it out of `packs/` (keep a copy), then {REUPLOAD}");
    let mut store = super::open_store_naming_damaged(&root.join("packs"), &fix, &mut report)?;
    report.packs = store.pack_count();
    report.objects = store.len();
    let damaged = rehash_all(&store, progress)?;

    if let Some(head) = head {
        let infos = history(&mut store, root, head, &mut report);
        report.snapshots = infos.len();
        let policy = match retention::load(root) {
            Ok(p) => p,
            Err(e) => {
                report.push(Problem::new(
                    Severity::Damage,
                    Kind::BadMarker,
                    &root.join(MARKER_FILE),
                    e.to_string(),
                    "fix the `retention` field (`syncd hub retention` / `vault-server retention` writes it); every snapshot was checked meanwhile",
                ));
                Policy::All
            }
        };
        let kept = retention::kept(&infos, head, &policy, opts.now_ns());
        // Newest first (the head first): each walked against the one before it.
        let mut order: Vec<&SnapshotInfo> = infos.iter().filter(|s| kept.contains(&s.id)).collect();
        order.sort_by_key(|s| std::cmp::Reverse((s.id == head, s.time_ns)));
        let order: Vec<ObjectId> = order.into_iter().map(|s| s.id).collect();
        report.snapshots_kept = order.len();
        progress.phase("walking snapshots", order.len() as u64);
        let walk = hub.walk_kept(&mut store, &order, &damaged, &mut |n| {
            progress.advance(n as u64)
        })?;
        let blobs_reached: usize = walk.blobs;
        tracing::debug!(blobs = blobs_reached, "fsck walked the kept snapshots");
        reachable_problems(&hub, root, head, &walk, &store, &mut report);
        // Damaged copies no kept snapshot needs: harmless, said so.
        let reached: HashSet<ObjectId> = walk.damaged.iter().map(|(id, _)| *id).collect();
        let seen_snapshots: HashSet<ObjectId> = infos.iter().map(|s| s.id).collect();
        for id in damaged
            .iter()
            .filter(|id| !reached.contains(id) && !seen_snapshots.contains(id))
        {
            let pack = store.pack_of(*id).unwrap_or(root).to_path_buf();
            report.push(
                Problem::new(
                    Severity::Warning,
                    Kind::DamagedObject,
                    &pack,
                    format!(
                        "pack `{}` holds a damaged copy of object {}, which no kept snapshot needs",
                        pack.display(),
                        id.short()
                    ),
                    "nothing is lost: leave it, a later gc drops it",
                )
                .with_id(*id),
            );
        }
    } else if report.objects > 0 {
        tracing::debug!("hub has objects but no head (a first upload cut off)");
    }
    leftovers(root, opts, &mut report);
    Ok(report)
}

/// A problem with `vault-hub.json`, if it cannot be used.
fn marker_problem(marker: &Path) -> Option<Problem> {
    let bad = |what: String| {
        Some(Problem::new(
            Severity::Damage,
            Kind::BadMarker,
            marker,
            what,
            "restore it from a backup, or write {\"format\":2,\"created_ns\":0} into it",
        ))
    };
    let bytes = match fs::read(marker) {
        Ok(b) => b,
        Err(e) => return bad(format!("`{}` cannot be read ({e})", marker.display())),
    };
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(v) => match v.get("format").and_then(|f| f.as_u64()) {
            Some(f) if (1..=u64::from(crate::folder_hub::HUB_FORMAT)).contains(&f) => None,
            Some(f) => bad(format!(
                "`{}` says format {f}, which this version does not know",
                marker.display()
            )),
            None => bad(format!("`{}` has no `format`", marker.display())),
        },
        Err(e) => bad(format!("`{}` is not valid JSON ({e})", marker.display())),
    }
}

/// Every object of `store` whose every copy is damaged: each read in slices and hashed, on
/// all cores.
pub(super) fn rehash_all(
    store: &PackStore,
    progress: &dyn FsckProgress,
) -> Result<HashSet<ObjectId>, FsckError> {
    let mut ids: Vec<ObjectId> = store.ids().collect();
    store.sort_by_location(&mut ids);
    progress.phase("hashing objects", ids.len() as u64);
    let done = std::sync::atomic::AtomicU64::new(0);
    let results: Vec<(ObjectId, Result<(), StoreError>)> = ids
        .par_chunks(64)
        .flat_map_iter(|chunk| {
            let mut reader = store.reader();
            let out: Vec<_> = chunk.iter().map(|id| (*id, reader.check(*id))).collect();
            let n = done.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            progress.advance(n + chunk.len() as u64);
            out
        })
        .collect();
    let mut damaged = HashSet::new();
    for (id, result) in results {
        match result {
            Ok(()) => {}
            Err(StoreError::Corrupt { .. }) => {
                damaged.insert(id);
            }
            // Retired or removed while we read: its objects moved, or nothing needs them.
            Err(StoreError::NotFound { .. } | StoreError::PackGone { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(damaged)
}

/// Every snapshot reachable from `head` through parents, as retention needs them; a head or
/// parent no pack holds, or one that is damaged or not a snapshot, is reported.
fn history(
    store: &mut PackStore,
    root: &Path,
    head: ObjectId,
    report: &mut Report,
) -> Vec<SnapshotInfo> {
    let head_path = root.join("refs").join("head");
    let mut infos = Vec::new();
    let mut seen = HashSet::new();
    // (snapshot, the snapshot naming it as a parent)
    let mut stack: Vec<(ObjectId, Option<ObjectId>)> = vec![(head, None)];
    while let Some((id, child)) = stack.pop() {
        if !seen.insert(id) {
            continue;
        }
        let mut read = store.read(id);
        for _ in 0..4 {
            // A pack retired by a compaction meanwhile: its objects are in the one replacing it.
            if !matches!(read, Err(StoreError::PackGone { .. })) {
                break;
            }
            if store.refresh_skipping_damaged().is_err() {
                break;
            }
            read = store.read(id);
        }
        let bytes = match read {
            Ok(o) => o.bytes,
            Err(StoreError::NotFound { .. } | StoreError::PackGone { .. }) => {
                report.push(match child {
                    None => Problem::new(
                        Severity::Damage,
                        Kind::DanglingHead,
                        &head_path,
                        format!(
                            "the hub's head names snapshot {}, which no pack holds",
                            id.short()
                        ),
                        "run `syncd sync --full-verify` on the device that published last: it uploads what the hub lacks",
                    ),
                    Some(child) => Problem::new(
                        Severity::Damage,
                        Kind::DanglingParent,
                        root,
                        format!(
                            "snapshot {} names parent {}, which no pack holds: the history before it is lost from this hub",
                            child.short(),
                            id.short()
                        ),
                        "the current files are not affected; the history can come back only from a copy of this hub (a backup)",
                    ),
                }
                .with_id(id));
                continue;
            }
            Err(StoreError::Corrupt { pack, .. }) => {
                report.push(
                    Problem::new(
                        Severity::Damage,
                        Kind::DamagedObject,
                        &pack,
                        format!(
                            "snapshot {} in pack `{}` is damaged",
                            id.short(),
                            pack.display()
                        ),
                        "the snapshot can come back only from a copy of this hub (a backup), or is replaced as head by the next `syncd sync`",
                    )
                    .with_id(id),
                );
                continue;
            }
            Err(e) => {
                report.push(Problem::new(
                    Severity::Damage,
                    Kind::DamagedObject,
                    root,
                    format!("snapshot {} cannot be read: {e}", id.short()),
                    "check the hub folder's disk and permissions, then run fsck again",
                ));
                continue;
            }
        };
        match Snapshot::decode(&bytes) {
            Ok(snap) => {
                for p in &snap.parents {
                    stack.push((*p, Some(id)));
                }
                infos.push(SnapshotInfo {
                    id,
                    time_ns: snap.time_ns,
                    parents: snap.parents,
                });
            }
            Err(e) => report.push(
                Problem::new(
                    Severity::Damage,
                    if child.is_none() {
                        Kind::BadSnapshot
                    } else {
                        Kind::InvalidObject
                    },
                    if child.is_none() { &head_path } else { root },
                    format!("object {} is not a readable snapshot ({e})", id.short()),
                    "restore `refs/head` from a backup, or run `syncd sync` on the device with the newest files",
                )
                .with_id(id),
            ),
        }
    }
    infos
}

/// The problems of the walk: missing and damaged objects (with the files that hold them, read
/// from the newest snapshot needing each), and snapshots whose trees are not acceptable.
fn reachable_problems(
    hub: &FolderHub,
    root: &Path,
    head: ObjectId,
    walk: &crate::folder_hub::KeptWalk,
    store: &PackStore,
    report: &mut Report,
) {
    let mut by_snapshot: BTreeMap<ObjectId, Vec<ObjectId>> = BTreeMap::new();
    for (id, snap) in walk.missing.iter().chain(&walk.damaged) {
        by_snapshot.entry(*snap).or_default().push(*id);
    }
    // Naming files re-reads a snapshot's trees: a few snapshots at most.
    let mut files: BTreeMap<ObjectId, Vec<String>> = BTreeMap::new();
    for (snap, ids) in by_snapshot.iter().take(8) {
        if let Ok(held) = hub.files_holding(*snap, ids) {
            for (path, holding) in held {
                for id in holding {
                    files.entry(id).or_default().push(path.to_string());
                }
            }
        }
    }
    let which = |snap: ObjectId| {
        if snap == head {
            "the head".to_string()
        } else {
            format!("snapshot {}", snap.short())
        }
    };
    let named = |id: ObjectId| -> String {
        match files.get(&id) {
            Some(f) if !f.is_empty() => {
                let list: Vec<String> = f.iter().take(3).map(|p| format!("`{p}`")).collect();
                let more = if f.len() > 3 {
                    format!(" and {} more", f.len() - 3)
                } else {
                    String::new()
                };
                format!("object {} of {}{more}", id.short(), list.join(", "))
            }
            _ => format!("object {}", id.short()),
        }
    };
    for (id, snap) in &walk.missing {
        let mut p = Problem::new(
            Severity::Damage,
            Kind::MissingObject,
            root,
            format!("the hub lacks {} (needed by {})", named(*id), which(*snap)),
            REUPLOAD,
        )
        .with_id(*id);
        p.files = files.get(id).cloned().unwrap_or_default();
        report.push(p);
    }
    for (id, snap) in &walk.damaged {
        let pack = store.pack_of(*id).unwrap_or(root).to_path_buf();
        let mut p = Problem::new(
            Severity::Damage,
            Kind::DamagedObject,
            &pack,
            format!(
                "the hub's copy of {} in pack `{}` is damaged (needed by {})",
                named(*id),
                pack.display(),
                which(*snap)
            ),
            REUPLOAD,
        )
        .with_id(*id);
        p.files = files.get(id).cloned().unwrap_or_default();
        report.push(p);
    }
    for (snap, detail) in &walk.invalid {
        report.push(
            Problem::new(
                Severity::Damage,
                Kind::InvalidObject,
                root,
                format!("{} cannot be walked: {detail}", which(*snap)),
                "a device refuses this snapshot; `syncd sync` on a device with the newest files publishes a good one",
            )
            .with_id(*snap),
        );
    }
}

/// Temp files, retired packs and locks a hub's writers leave: old temp files and retired packs
/// are the hub gc's to remove (so a cleanup note); a lock whose writer is gone a warning.
fn leftovers(root: &Path, opts: &Options, report: &mut Report) {
    let packs = root.join("packs");
    for dir in [root.to_path_buf(), packs.clone(), root.join("refs")] {
        for temp in old_temps(&dir, opts) {
            if opts.repair && remove(&temp) {
                report.repaired.push(temp);
                continue;
            }
            report.push(Problem::new(
                Severity::Cleanup,
                Kind::TempFile,
                &temp,
                format!(
                    "`{}` was left by an interrupted upload or write",
                    temp.display()
                ),
                "the hub's gc removes it (`syncd hub gc`, `vault-server gc`, or the compaction after a push); `fsck --repair` removes it now",
            ));
        }
    }
    if let Ok(entries) = fs::read_dir(packs.join(RETIRED_DIR)) {
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        let now = crate::hub_gc::unix_secs(opts.now);
        for name in names {
            let Some((_, secs)) = pack_io::parse_retired(&name) else {
                continue;
            };
            if secs.saturating_add(opts.grace.as_secs()) <= now {
                let path = packs.join(RETIRED_DIR).join(&name);
                report.push(Problem::new(
                    Severity::Cleanup,
                    Kind::RetiredPack,
                    &path,
                    format!("retired pack `{}` is past the grace period", path.display()),
                    "the hub's next gc or compaction deletes it",
                ));
            }
        }
    }
    stale_locks(&root.join("refs"), opts, report);
}
