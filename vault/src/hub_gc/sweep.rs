//! A run: survey, mark (gc), plan, then the steps in their safe order (see the module docs of
//! [`super`]).

use crate::vfs::{self as fs, File};
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;

use super::mark::Mark;
use super::plan::{self, Plan, Rules};
use super::{
    GcError, GcProgress, Mode, Options, Report, Survey, crash_point, new_packs, survey, unix_secs,
};
use crate::folder_hub::MARKER_FILE;
use crate::fsutil::{fsync_dir, io_at};
use crate::id::ObjectId;
use crate::refs::RefFile;
use crate::store::pack_io::{self, PackWriter, RETIRED_DIR};
use crate::store::{PackStore, StoreError};

/// Compact or gc the hub folder at `root` (see [`Options`]); with `dry_run`, only say what
/// would be done.
pub fn run(root: &Path, opts: &Options, progress: &dyn GcProgress) -> Result<Report, GcError> {
    if !fs::metadata(root.join(MARKER_FILE)).is_ok_and(|m| m.is_file()) {
        return Err(GcError::NotAHub(root.to_path_buf()));
    }
    let packs_dir = root.join("packs");
    let now = crate::vfs::now_at(root);
    let now_secs = unix_secs(now);
    let grace_secs = opts.grace.as_secs();
    let s = survey(root)?;
    let head_ref = RefFile::new(root.join("refs").join("head"));

    let young = |p: &plan::PackFacts| p.mtime_secs.saturating_add(grace_secs) > now_secs;
    let mut mark = None;
    let mut head = None;
    if opts.mode == Mode::Gc {
        let policy = crate::retention::load(root)?;
        head = head_ref.read()?;
        let roots: Vec<ObjectId> = s
            .packs
            .iter()
            .filter(|p| young(p))
            .flat_map(|p| p.objects.iter().map(|(id, _)| *id))
            .collect();
        let mut m = Mark::new(PackStore::open(&packs_dir)?);
        let now_ns = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        m.from_roots(head, &roots, &policy, now_ns)?;
        mark = Some(m);
    }
    let rules = Rules {
        live: mark.as_ref().map(|m| &m.live),
        now_secs,
        grace_secs,
        merge_above: opts.merge_above,
    };
    let plan = plan::plan(&s.packs, &s.retired, &s.temps, &rules);
    let mut report = Report {
        dry_run: opts.dry_run,
        grace_secs,
        packs_before: s.packs.len() + s.unreadable,
        bytes_before: s.packs.iter().map(|p| p.size).sum(),
        objects_dropped: plan.dropped,
        bytes_dropped: plan.dropped_bytes,
        snapshots: mark.as_ref().map_or(0, |m| m.snapshots.len()),
        missing: mark.as_ref().map_or(0, |m| m.missing),
        ..Report::default()
    };
    if opts.dry_run {
        return Ok(would(report, &s, &plan));
    }

    // 1. The new pack, durable, every object re-hashed while copied.
    let mut new_name = None;
    if !plan.copy.is_empty() {
        let (id, _) = write_merged(&packs_dir, &s, &plan, progress)?;
        new_name = Some(format!("{}.pack", id.to_hex()));
    }
    let mut retire: Vec<usize> = plan
        .rewrite
        .iter()
        .copied()
        .filter(|&i| Some(&s.packs[i].name) != new_name.as_ref())
        .collect();

    // 2. Retire the replaced packs; when objects are dropped, under the head's lock after
    //    marking what a new head or new packs add (a writer checks its new head under the
    //    same lock, so nothing it relies on goes between its check and its head move).
    if !retire.is_empty() {
        let held = match (&mut mark, plan.dropped > 0) {
            (Some(m), true) => {
                let held = head_ref.hold()?;
                let now_head = held.read()?;
                let seen: HashSet<&str> = s.packs.iter().map(|p| p.name.as_str()).collect();
                let fresh = new_packs(root, &seen)?;
                m.refresh()?;
                if now_head != head
                    && let Some(h) = now_head
                {
                    let found: HashSet<ObjectId> = m.snapshots_from(&[h])?.into_iter().collect();
                    m.trees_of(&found)?;
                }
                let mut roots = Vec::new();
                for name in &fresh {
                    match pack_io::read_entries(&packs_dir.join(name)) {
                        Ok(list) => roots.extend(list.iter().map(|e| e.id)),
                        Err(StoreError::Io(e)) if e.source.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                m.young(&roots)?;
                let before = retire.len();
                retire = keep_back(&s, &plan, &m.live, retire);
                report.packs_kept_back = before - retire.len();
                held.still_ours()?;
                Some(held)
            }
            _ => None,
        };
        let (n, bytes) = retire_packs(&packs_dir, &s, &retire, now_secs)?;
        report.packs_retired = n;
        report.bytes_retired = bytes;
        drop(held);
    }
    crash_point("retired");

    // 3. What is past its grace period.
    for (n, &i) in plan.delete_retired.iter().enumerate() {
        let r = &s.retired[i];
        let path = packs_dir.join(RETIRED_DIR).join(&r.name);
        if remove(&path)? {
            report.retired_deleted += 1;
            report.bytes_freed += r.size;
        }
        if n == 0 {
            crash_point("deleting");
        }
    }
    for &i in &plan.remove_temps {
        let t = &s.temps[i];
        if remove(&t.path)? {
            report.temps_removed += 1;
            report.bytes_freed += t.size;
        }
    }

    let after = pack_io::pack_names(&packs_dir)?;
    report.packs_after = after.len();
    report.bytes_after = after
        .iter()
        .filter_map(|n| fs::metadata(packs_dir.join(n)).ok())
        .map(|m| m.len())
        .sum();
    if report.packs_kept_back > 0 {
        report.objects_dropped = 0;
        report.bytes_dropped = 0;
    }
    Ok(report)
}

/// The report of a dry run: what the plan would change.
fn would(mut report: Report, s: &Survey, plan: &Plan) -> Report {
    let rewritten: u64 = plan.rewrite.iter().map(|&i| s.packs[i].size).sum();
    let new_pack = if plan.copy.is_empty() {
        0
    } else {
        8 + plan.copy_bytes
            + (plan.copy.len() * crate::store::ENTRY_LEN + crate::store::TRAILER_LEN) as u64
    };
    report.packs_after = report.packs_before - plan.rewrite.len() + usize::from(new_pack > 0);
    report.bytes_after = report.bytes_before - rewritten + new_pack;
    report.packs_retired = plan.rewrite.len();
    report.bytes_retired = rewritten;
    report.retired_deleted = plan.delete_retired.len();
    report.temps_removed = plan.remove_temps.len();
    report.bytes_freed = plan
        .delete_retired
        .iter()
        .map(|&i| s.retired[i].size)
        .chain(plan.remove_temps.iter().map(|&i| s.temps[i].size))
        .sum();
    report
}

/// Write the plan's new pack: temp file, objects copied and re-hashed, fsync, rename, fsync.
fn write_merged(
    dir: &Path,
    s: &Survey,
    plan: &Plan,
    progress: &dyn GcProgress,
) -> Result<(ObjectId, std::path::PathBuf), GcError> {
    let mut copier = PackWriter::new(dir)?;
    let mut open: HashMap<usize, File> = HashMap::new();
    let mut done = 0u64;
    let half = plan.copy.len() / 2;
    for (k, &(i, j)) in plan.copy.iter().enumerate() {
        let path = dir.join(&s.packs[i].name);
        if !open.contains_key(&i) {
            if open.len() >= 64 {
                open.clear();
            }
            let file = File::open(&path).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    GcError::Raced(path.clone())
                } else {
                    io_at("opening pack", &path)(e).into()
                }
            })?;
            open.insert(i, file);
        }
        let entry = &s.entries[i][j];
        copier.copy(&open[&i], &path, entry)?;
        done += entry.len;
        progress.copying(done, plan.copy_bytes);
        if k == half {
            crash_point("copying");
        }
    }
    let ready = copier.finish()?;
    crash_point("written");
    let out = ready.commit()?;
    crash_point("committed");
    Ok(out)
}

/// Of the packs to retire, those that hold no object that is live now and that neither the
/// new pack nor a pack that stays holds (a head moved meanwhile may need one).
fn keep_back(s: &Survey, plan: &Plan, live: &HashSet<ObjectId>, retire: Vec<usize>) -> Vec<usize> {
    let rewritten: HashSet<usize> = plan.rewrite.iter().copied().collect();
    let mut held: HashSet<ObjectId> = plan
        .copy
        .iter()
        .map(|&(i, j)| s.packs[i].objects[j].0)
        .collect();
    for (i, p) in s.packs.iter().enumerate() {
        if !rewritten.contains(&i) {
            held.extend(p.objects.iter().map(|o| o.0));
        }
    }
    retire
        .into_iter()
        .filter(|&i| {
            !s.packs[i]
                .objects
                .iter()
                .any(|(id, _)| live.contains(id) && !held.contains(id))
        })
        .collect()
}

/// Move packs to `retired/<hash>.<now>.pack`; returns how many and their bytes. A pack
/// already gone was retired by a concurrent run.
fn retire_packs(
    dir: &Path,
    s: &Survey,
    retire: &[usize],
    now_secs: u64,
) -> Result<(usize, u64), GcError> {
    let retired_dir = dir.join(RETIRED_DIR);
    fs::create_dir_all(&retired_dir).map_err(io_at("creating", &retired_dir))?;
    let (mut n, mut bytes) = (0, 0);
    for (k, &i) in retire.iter().enumerate() {
        let p = &s.packs[i];
        let hash = p.name.strip_suffix(".pack").unwrap_or(&p.name);
        let from = dir.join(&p.name);
        let to = retired_dir.join(pack_io::retired_name(hash, now_secs));
        match fs::rename(&from, &to) {
            Ok(()) => {
                n += 1;
                bytes += p.size;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_at("retiring pack", &from)(e).into()),
        }
        if k == 0 {
            crash_point("retiring");
        }
    }
    fsync_dir(dir).map_err(io_at("syncing", dir))?;
    fsync_dir(&retired_dir).map_err(io_at("syncing", &retired_dir))?;
    Ok((n, bytes))
}

/// Remove a file; `false` when it was gone already.
fn remove(path: &Path) -> Result<bool, GcError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_at("removing", path)(e).into()),
    }
}
