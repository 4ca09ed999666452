//! The invariants of `design.md`, checked on the simulated world.
//!
//! - No loss: every version a round ever put on the hub is still a file on some device
//!   (`.revisions/` included) or readable from the hub's history (`syncd show`/`restore --at`);
//!   every version a device held when a round began is, after the round (finished, failed or
//!   crashed), still such a file or in the hub's history.
//! - Safety on disk: no vault file holds anything but a version some user wrote (no torn
//!   write, no mix), after any crash.
//! - History: every head the hub ever had is still in its history.
//! - Convergence: once faults are healed and every device has synced in turn, all folders
//!   and the hub's head hold the same files.
//! - Under bit rot on the hub's disk ([`rot`]): the versions whose only copy a flip made
//!   unreadable are the disk's loss and exempt from "no loss", exactly those; so are the
//!   versions whose history copy it made unreadable while a device still held them, once
//!   that device replaces them by a newer version before a full verification stored a good
//!   copy again (the history was their keeper, and the disk lost it). Every other invariant
//!   stands, and at quiescence the hub is whole again (every current file readable) once
//!   devices ran the `--full-verify` the messages ask for.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use unicode_normalization::UnicodeNormalization;

use vault::folder_hub::FolderHub;
use vault::hub::Hub;
use vault::hub_write;
use vault::id::ObjectId;
use vault::ignore_rules::IgnoreRules;
use vault::paths::VaultPath;

use crate::world::World;

/// What a sim's invariant check found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which invariant, for telling two failures apart while shrinking.
    pub kind: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// The suffix another program appends to a file read while it grows.
const GROWN: &[u8] = b"\nmore typed while it was read";

/// What the checker remembers across steps.
#[derive(Default)]
pub struct Knowledge {
    /// Every version ever in a hub head, with a path it had there.
    pub synced: BTreeMap<Vec<u8>, String>,
    /// Every head the hub ever had.
    pub heads: BTreeSet<ObjectId>,
    /// Versions a bit flip left with no readable copy anywhere (the hub's was the only one):
    /// lost by the disk, so exempt from the no-loss checks.
    pub rotted_away: BTreeSet<Vec<u8>>,
    /// Versions whose copy in the hub's history a flip made unreadable while some device
    /// still held them: exempt from the no-loss checks (the history, their keeper once a
    /// newer version is synced over them, is what the disk lost) until a repair makes them
    /// readable again; once on no device either, they move to [`Knowledge::rotted_away`].
    pub rotted_in_history: BTreeSet<Vec<u8>>,
    /// Snapshots a bit flip made unreachable from the hub's head (exempt from "history").
    pub heads_rotted: BTreeSet<ObjectId>,
}

fn short(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s: String = s.chars().take(80).collect();
    format!("{s:?}")
}

/// Whether `content` is something a user wrote (or it grown by another program).
fn is_known(world: &World, content: &[u8]) -> bool {
    let mut c = content;
    loop {
        if world.written.contains(c) {
            return true;
        }
        match c.strip_suffix(GROWN) {
            Some(rest) => c = rest,
            None => return false,
        }
    }
}

/// Whether a vault file at `path` is one sync leaves to itself (its own temp files).
fn is_sync_temp(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(vault::fsutil::is_own_temp_name)
}

/// Every device's files, by content.
fn contents_on_devices(world: &World) -> BTreeSet<Vec<u8>> {
    (0..world.devices.len())
        .flat_map(|d| world.files(d).into_values())
        .collect()
}

/// The hub's head, every version in the history reachable from it, and the snapshots of
/// that history.
pub type History = (Option<ObjectId>, BTreeSet<Vec<u8>>, BTreeSet<ObjectId>);

/// The hub's [`History`], read through the hub as a device would (every object hash-checked).
/// Once a bit has rotted on the hub's disk, what cannot be read is left out (see [`rot`] for
/// what that may excuse); before, anything unreadable is an error.
pub fn hub_history(world: &World) -> Result<History, String> {
    let tolerant = world.counts.bit_flips > 0;
    let hub = match FolderHub::open(&world.hub_dir).and_then(|h| h.head().map(|head| (h, head))) {
        Ok(v) => v,
        Err(_) if tolerant => return Ok((None, BTreeSet::new(), BTreeSet::new())),
        Err(e) => return Err(e.to_string()),
    };
    let (hub, head) = hub;
    let mut versions = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut todo: Vec<ObjectId> = head.into_iter().collect();
    let mut blobs_seen = BTreeSet::new();
    let mut walk = |id: ObjectId, todo: &mut Vec<ObjectId>| -> Result<bool, String> {
        let snap = match hub_write::snapshot(&hub, id) {
            Ok(snap) => snap,
            // A snapshot whose own object rotted is not reached.
            Err(_) if tolerant => return Ok(false),
            Err(e) => return Err(format!("snapshot {}: {e}", id.short())),
        };
        todo.extend(snap.parents.iter().copied());
        let files = if tolerant {
            // A rotted tree hides its own files, not its sibling folders'.
            readable_files(&hub, snap.tree)
        } else {
            match hub_write::files(&hub, snap.tree) {
                Ok(files) => files.iter().map(|(p, m)| (p.to_string(), m.id)).collect(),
                Err(e) => return Err(format!("tree of {}: {e}", id.short())),
            }
        };
        for (_, file) in files {
            if blobs_seen.insert(file) {
                match hub_write::read_file(&hub, file, u64::MAX) {
                    Ok(bytes) => {
                        versions.insert(bytes);
                    }
                    Err(_) if tolerant => {}
                    Err(e) => {
                        return Err(format!(
                            "version {} in snapshot {}: {e}",
                            file.short(),
                            id.short()
                        ));
                    }
                }
            }
        }
        Ok(true)
    };
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        if !walk(id, &mut todo)? {
            seen.remove(&id);
        }
    }
    Ok((head, versions, seen))
}

/// The files (path, id) under the tree `root` whose folders' trees read whole from `hub`
/// (hash-checked): a tree a flip damaged leaves out what is under it, and only that.
fn readable_files(hub: &FolderHub, root: ObjectId) -> Vec<(String, ObjectId)> {
    let mut files = Vec::new();
    let mut todo = vec![(String::new(), root)];
    while let Some((folder, id)) = todo.pop() {
        let Some(tree) = (hub.get(&[id]).ok())
            .and_then(|mut got| got.pop())
            .filter(|o| o.kind == vault::object::Kind::Tree)
            .and_then(|o| vault::object::Tree::decode(&o.bytes).ok())
        else {
            continue;
        };
        for (name, entry) in tree.entries {
            let path = format!("{folder}{name}");
            match entry {
                vault::object::EntryKind::File(meta) => files.push((path, meta.id)),
                vault::object::EntryKind::Dir(dir) => todo.push((format!("{path}/"), dir)),
            }
        }
    }
    files
}

/// Called around a [`crate::ops::Step::BitRot`] with the [`hub_history`] of just before it:
/// the versions the flip made unreadable on the hub that no device holds are the disk's loss
/// (their bytes were only in what rotted, or only reachable through it: a tree, a snapshot, a
/// pack's header or index, the head ref), and so are the snapshots it cut off. Exactly those
/// are exempted from the no-loss checks from now on; returns how many versions.
pub fn rot(world: &World, known: &mut Knowledge, before: &History) -> u64 {
    let after = hub_history(world).unwrap_or_default();
    let on_devices = contents_on_devices(world);
    let mut lost = 0;
    for v in before.1.difference(&after.1) {
        if on_devices.contains(v) {
            known.rotted_in_history.insert(v.clone());
        } else if known.rotted_away.insert(v.clone()) {
            lost += 1;
        }
    }
    for h in before.2.difference(&after.2) {
        known.heads_rotted.insert(*h);
    }
    lost
}

/// Record the hub's head after a round that finished: its versions count as synced.
pub fn record_head(world: &World, known: &mut Knowledge) -> Result<(), Violation> {
    if world.counts.bit_flips > 0 {
        // What rotted is unreadable: record what can be read (what cannot is exempt or,
        // recorded before, still checked by [`nothing_lost`]).
        let (head, _, snapshots) = hub_history(world).unwrap_or_default();
        if let Some(head) = head.filter(|h| snapshots.contains(h)) {
            known.heads.insert(head);
            if let Ok(hub) = FolderHub::open(&world.hub_dir)
                && let Ok(snap) = hub_write::snapshot(&hub, head)
            {
                for (path, id) in readable_files(&hub, snap.tree) {
                    if let Ok(bytes) = hub_write::read_file(&hub, id, u64::MAX) {
                        known.synced.entry(bytes).or_insert(path);
                    }
                }
            }
        }
        return Ok(());
    }
    let hub = FolderHub::open(&world.hub_dir).map_err(|e| Violation {
        kind: "hub unreadable",
        detail: e.to_string(),
    })?;
    let Some(head) = hub.head().map_err(|e| Violation {
        kind: "hub unreadable",
        detail: e.to_string(),
    })?
    else {
        return Ok(());
    };
    known.heads.insert(head);
    let snap = hub_write::snapshot(&hub, head).map_err(|e| Violation {
        kind: "history lost",
        detail: format!("the head {}: {e}", head.short()),
    })?;
    let files = hub_write::files(&hub, snap.tree).map_err(|e| Violation {
        kind: "history lost",
        detail: format!("the head's tree: {e}"),
    })?;
    for (path, meta) in files.iter() {
        let bytes = hub_write::read_file(&hub, meta.id, u64::MAX).map_err(|e| Violation {
            kind: "history lost",
            detail: format!("`{path}` in the head: {e}"),
        })?;
        known
            .synced
            .entry(bytes)
            .or_insert_with(|| path.to_string());
    }
    Ok(())
}

/// No vault file on any device holds a version no user wrote.
pub fn no_torn_files(world: &World) -> Result<(), Violation> {
    for (d, dev) in world.devices.iter().enumerate() {
        for (path, content) in world.files(d) {
            if is_sync_temp(&path) || is_known(world, &content) {
                continue;
            }
            return Err(Violation {
                kind: "torn file",
                detail: format!(
                    "{}: `{}` holds {}, which no one wrote",
                    dev.name,
                    path.display(),
                    short(&content)
                ),
            });
        }
    }
    Ok(())
}

/// Every version in `held` (a device's files before a round) and every version ever synced
/// is still a file somewhere or in the hub's history.
pub fn nothing_lost(
    world: &World,
    known: &Knowledge,
    held: &BTreeMap<PathBuf, Vec<u8>>,
    who: &str,
) -> Result<(), Violation> {
    let on_devices = contents_on_devices(world);
    let (_, history, snapshots) = hub_history(world).map_err(|e| Violation {
        kind: "history lost",
        detail: e,
    })?;
    for head in &known.heads {
        if !snapshots.contains(head) && !known.heads_rotted.contains(head) {
            return Err(Violation {
                kind: "history lost",
                detail: format!(
                    "the hub's head {} is no longer in its history",
                    head.short()
                ),
            });
        }
    }
    for (content, path) in &known.synced {
        if !on_devices.contains(content) && !history.contains(content) && !known.rotted(content) {
            return Err(Violation {
                kind: "synced version lost",
                detail: format!(
                    "{} (once at `{path}`) is on no device and not in the hub's history",
                    short(content)
                ),
            });
        }
    }
    // A version another program appended to while the round read it was replaced by that
    // program (the user's doing), not by sync: its grown successor stands for it.
    let grew = |c: &Vec<u8>| {
        on_devices.iter().chain(history.iter()).any(|e| {
            let mut e = e.as_slice();
            while let Some(rest) = e.strip_suffix(GROWN) {
                if rest == c.as_slice() {
                    return true;
                }
                e = rest;
            }
            false
        })
    };
    for (path, content) in held {
        if is_sync_temp(path) || !is_known(world, content) {
            continue;
        }
        if !on_devices.contains(content)
            && !history.contains(content)
            && !grew(content)
            && !known.rotted(content)
        {
            return Err(Violation {
                kind: "local version lost",
                detail: format!(
                    "{who} held {} at `{}` before the round; it is on no device and not in the hub's history",
                    short(content),
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

impl Knowledge {
    /// Whether a bit flip exempts `content` from the no-loss checks.
    fn rotted(&self, content: &[u8]) -> bool {
        self.rotted_away.contains(content) || self.rotted_in_history.contains(content)
    }
}

/// A version exempted by [`rot`] that is a file on a device or readable from the hub again
/// (a user wrote the same bytes, a template; a repair) is held again: losing it from now on
/// would be sync's doing, so the exemption ends. A version whose history copy rotted ends
/// its exemption once repaired, and is the disk's loss once no device holds it: returns how
/// many such versions were lost.
pub fn end_exemptions(world: &World, known: &mut Knowledge) -> u64 {
    if known.rotted_away.is_empty()
        && known.heads_rotted.is_empty()
        && known.rotted_in_history.is_empty()
    {
        return 0;
    }
    let on_devices = contents_on_devices(world);
    let (_, history, snapshots) = hub_history(world).unwrap_or_default();
    known
        .rotted_away
        .retain(|v| !on_devices.contains(v) && !history.contains(v));
    known.heads_rotted.retain(|h| !snapshots.contains(h));
    known.rotted_in_history.retain(|v| !history.contains(v));
    let gone: Vec<Vec<u8>> = (known.rotted_in_history.iter())
        .filter(|v| !on_devices.contains(*v))
        .cloned()
        .collect();
    for v in &gone {
        known.rotted_in_history.remove(v);
        known.rotted_away.insert(v.clone());
    }
    gone.len() as u64
}

/// A round that failed over a damaged hub must say so in the user's terms: which file, and
/// what to run (`--full-verify` on a device that has it), or that the hub's operator must act.
pub fn damage_explained(message: &str) -> Result<(), Violation> {
    let about_damage = ["damaged", "corrupt", "not valid", "checksum"]
        .iter()
        .any(|w| message.to_lowercase().contains(w));
    if !about_damage || message.contains("--full-verify") || message.contains("operator") {
        return Ok(());
    }
    Err(Violation {
        kind: "damage not explained",
        detail: format!("a round failed over damage without saying what to do: {message}"),
    })
}

/// After a device crashed in a round: every vault file holds what the device held before the
/// round (at that path or another) or a version from the hub's history, never anything else
/// (an empty or half-written file) — design.md's "safety on disk".
pub fn whole_after_crash(
    world: &World,
    dev: usize,
    held: &BTreeMap<PathBuf, Vec<u8>>,
) -> Result<(), Violation> {
    let (_, history, _) = hub_history(world).map_err(|e| Violation {
        kind: "history lost",
        detail: e,
    })?;
    let before: BTreeSet<&Vec<u8>> = held.values().collect();
    for (path, content) in world.files(dev) {
        // A note another program appended to during the round holds what it held plus that
        // program's text: the program's doing.
        let mut own = content.as_slice();
        while let Some(rest) = own.strip_suffix(GROWN) {
            own = rest;
        }
        let own = own.to_vec();
        if is_sync_temp(&path)
            || before.contains(&content)
            || history.contains(&content)
            || before.contains(&own)
            || history.contains(&own)
        {
            continue;
        }
        return Err(Violation {
            kind: "torn file after a crash",
            detail: format!(
                "{} crashed in a round; `{}` now holds {}, neither what it held before nor a version from the hub",
                world.devices[dev].name,
                path.display(),
                short(&content)
            ),
        });
    }
    Ok(())
}

/// The files that sync carries: not ignored, not sync's own temp files.
fn synced_view(
    files: BTreeMap<PathBuf, Vec<u8>>,
    rules: &IgnoreRules,
) -> BTreeMap<PathBuf, Vec<u8>> {
    files
        .into_iter()
        .filter(|(p, _)| {
            let Some(text) = p.to_str() else { return false };
            match VaultPath::new(text) {
                Ok(vp) => !rules.is_ignored(&vp, false) && !is_sync_temp(p),
                Err(_) => false,
            }
        })
        .collect()
}

/// All devices hold the same files as the hub's head.
pub fn converged(world: &World) -> Result<(), Violation> {
    converged_except(world, &Knowledge::default())
}

/// [`converged`], where a path of the head whose version bit rot took with its only copy
/// ([`Knowledge::rotted_away`]) can hold nothing whole on the hub: each device keeps what it
/// had there. Every other file of the head must read back whole: the hub is whole again.
pub fn converged_except(world: &World, known: &Knowledge) -> Result<(), Violation> {
    // A file's id as the vault gives it (a large file's is its chunk list's, not its bytes').
    let lost: BTreeSet<ObjectId> = (known.rotted_away.iter())
        .filter_map(|v| vault::content::content_id(v.as_slice(), v.len() as u64).ok())
        .map(|(id, _)| id)
        .collect();
    let mut lost_paths = BTreeSet::new();
    let rules = IgnoreRules::new(None).map_err(|e| Violation {
        kind: "setup",
        detail: e.to_string(),
    })?;
    let hub = FolderHub::open(&world.hub_dir).map_err(|e| Violation {
        kind: "hub unreadable",
        detail: e.to_string(),
    })?;
    let mut on_hub = BTreeMap::new();
    if let Some(head) = hub.head().map_err(|e| Violation {
        kind: "hub unreadable",
        detail: e.to_string(),
    })? {
        let snap = hub_write::snapshot(&hub, head).map_err(|e| Violation {
            kind: "history lost",
            detail: e.to_string(),
        })?;
        for (path, meta) in hub_write::files(&hub, snap.tree)
            .map_err(|e| Violation {
                kind: "history lost",
                detail: e.to_string(),
            })?
            .iter()
        {
            match hub_write::read_file(&hub, meta.id, u64::MAX) {
                Ok(bytes) => {
                    on_hub.insert(PathBuf::from(path.as_str()), bytes);
                }
                Err(_) if lost.contains(&meta.id) => {
                    lost_paths.insert(PathBuf::from(path.as_str()));
                }
                Err(e) => {
                    return Err(Violation {
                        kind: "hub not whole",
                        detail: format!("`{path}` in the hub's head at quiescence: {e}"),
                    });
                }
            }
        }
    }
    for (d, dev) in world.devices.iter().enumerate() {
        // Where a filesystem takes two spellings of a name (Unicode normalisation) for one
        // file, the device may hold the hub's note under the other spelling: the same note.
        let spelling = |files: BTreeMap<PathBuf, Vec<u8>>| -> BTreeMap<PathBuf, Vec<u8>> {
            if dev.machine.fs.config().names == crate::fs::Names::Exact {
                return files;
            }
            files
                .into_iter()
                .map(|(p, bytes)| {
                    let nfc: String = p.to_string_lossy().nfc().collect();
                    (PathBuf::from(nfc), bytes)
                })
                .collect()
        };
        let mut files = synced_view(world.files(d), &rules);
        files.retain(|p, _| !lost_paths.contains(p));
        let files = spelling(files);
        let on_hub = spelling(on_hub.clone());
        if files != on_hub {
            let differ: Vec<String> = files
                .keys()
                .chain(on_hub.keys())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|p| files.get(*p) != on_hub.get(*p))
                .take(5)
                .map(|p| {
                    format!(
                        "`{}`: device {} hub {}",
                        p.display(),
                        files.get(p).map_or("-".into(), |c| short(c)),
                        on_hub.get(p).map_or("-".into(), |c| short(c))
                    )
                })
                .collect();
            return Err(Violation {
                kind: "not converged",
                detail: format!("{} differs from the hub: {}", dev.name, differ.join("; ")),
            });
        }
    }
    Ok(())
}

/// At quiescence, `vault-server fsck` of the hub and `syncd fsck` of every device (the very
/// checks the commands run) find nothing that fails them: every object the heads reach present
/// and whole, no dangling reference, no temp file or lock left that nothing will ever remove.
pub fn fsck_clean(world: &World) -> Result<(), Violation> {
    use vault::fsck::{self, Quiet};
    let opts = |at: &Path| fsck::Options {
        now: vault::vfs::now_at(at),
        ..fsck::Options::default()
    };
    let failing = |report: fsck::Report| -> Option<String> {
        let lines: Vec<String> = report
            .problems
            .iter()
            .filter(|p| p.severity.fails())
            .map(fsck::Problem::line)
            .collect();
        (!lines.is_empty()).then(|| lines.join("; "))
    };
    let fsck_error = |e: fsck::FsckError| Violation {
        kind: "fsck",
        detail: e.to_string(),
    };
    let hub_report =
        fsck::hub::check(&world.hub_dir, &opts(&world.hub_dir), &Quiet).map_err(fsck_error)?;
    if let Some(lines) = failing(hub_report) {
        return Err(Violation {
            kind: "fsck",
            detail: format!("the hub: {lines}"),
        });
    }
    let hub = FolderHub::open(&world.hub_dir).map_err(|e| Violation {
        kind: "hub unreadable",
        detail: e.to_string(),
    })?;
    for dev in &world.devices {
        let vault = vault::local::LocalVault::open(&dev.vault).map_err(|e| Violation {
            kind: "fsck",
            detail: format!("{}: {e}", dev.name),
        })?;
        let report = fsck::device::check(&vault, Some(&hub), &opts(&dev.vault), &Quiet)
            .map_err(fsck_error)?;
        if let Some(lines) = failing(report) {
            return Err(Violation {
                kind: "fsck",
                detail: format!("{}: {lines}", dev.name),
            });
        }
    }
    Ok(())
}
