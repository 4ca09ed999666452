//! Snapshots to commits. Each snapshot not yet exported becomes a commit, parents first:
//! its tree the snapshot's files, its parents the commits its parents became, the device
//! (`name <device-id@vault-sync>`) as author and committer, the snapshot's time (UTC) as both
//! dates, and a message saying what changed, with a `Vault-Snapshot:` trailer naming the
//! snapshot. `refs/heads/main` ends at the head's commit.
//!
//! A snapshot whose files the hub no longer holds (thinned by the retention policy) has no
//! tree to commit: its children take its nearest exported ancestors as parents, as `syncd
//! log` compares across it. The history stays a history, and still the same on any device.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use gix::ObjectId as GitId;
use gix::refs::transaction::PreviousValue;
use vault::hub::{Hub, HubError};
use vault::id::ObjectId;
use vault::object::Snapshot;

use crate::ExportError;
use crate::changes;
use crate::map::ExportMap;
use crate::trees::{TreeError, TreeWriter, git_error};

/// The branch the export keeps at the head.
pub const BRANCH: &str = "refs/heads/main";

/// The trailer of each commit's message that names its snapshot.
pub const SNAPSHOT_TRAILER: &str = "Vault-Snapshot";

#[derive(Debug, Clone, Copy)]
pub struct ExportOptions {
    /// Export `.revisions/` (the versions conflicts set aside) too.
    pub include_revisions: bool,
    /// Pack the loose objects once there are this many ([`crate::pack`]).
    pub pack_loose_at: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            include_revisions: false,
            pack_loose_at: crate::pack::PACK_LOOSE_AT,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// The commit `main` points at (none for a hub without snapshots).
    pub head: Option<GitId>,
    /// Commits written by this run.
    pub written: usize,
    /// Snapshots this run found thinned (no files on the hub: no commit of their own).
    pub thinned: usize,
    /// Whether `main` moved.
    pub moved: bool,
    /// Objects in the pack this run wrote (loose ones, and those of the packs it merged).
    pub packed: usize,
}

/// Export the history ending at `head` (read from `hub`) into the bare git repository `dir`
/// (made if it does not exist or is empty).
pub fn export(
    hub: &dyn Hub,
    head: Option<ObjectId>,
    dir: &Path,
    opts: ExportOptions,
) -> Result<ExportReport, ExportError> {
    export_with_progress(hub, head, dir, opts, &mut |_| {})
}

/// How far an export has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportProgress {
    /// Snapshots handled so far, of `total` this run converts.
    pub done: usize,
    pub total: usize,
}

/// [`export`], telling `progress` after each snapshot (a first export of a long history takes
/// a while).
pub fn export_with_progress(
    hub: &dyn Hub,
    head: Option<ObjectId>,
    dir: &Path,
    opts: ExportOptions,
    progress: &mut dyn FnMut(ExportProgress),
) -> Result<ExportReport, ExportError> {
    let repo = open_or_init(dir)?;
    let git_dir = repo.git_dir().to_path_buf();
    if let Some(report) = unchanged(&repo, head, opts)? {
        return Ok(report);
    }
    crate::pack::remove_leftovers(&git_dir);
    let mut map = ExportMap::load(&git_dir, opts.include_revisions);
    // A map whose commits are not in the repository (objects removed) is no guide.
    if map.commits.values().flatten().any(|c| !repo.has_object(c)) {
        map = ExportMap::default();
    }
    let mut report = ExportReport::default();
    let Some(head) = head else {
        map.save(&git_dir, opts.include_revisions)?;
        // An empty repository a dumb-HTTP client can clone.
        crate::dumb::update_server_info(&git_dir, &[], &[])?;
        return Ok(report);
    };
    let (order, mut snapshots) = to_write(hub, head, &map)?;
    let total = order.len();
    for (done, id) in order.into_iter().enumerate() {
        progress(ExportProgress { done, total });
        let Some(snap) = snapshots.get(&id).cloned() else {
            // Not on the hub at all: the history ends here.
            map.commits.insert(id, Vec::new());
            continue;
        };
        let parents = parent_commits(&snap, &map);
        let mut writer = TreeWriter {
            hub,
            repo: &repo,
            include_revisions: opts.include_revisions,
            trees: &mut map.trees,
            files: &mut map.files,
        };
        let tree = match writer.root(snap.tree) {
            Ok(tree) => tree,
            Err(TreeError::Gone) => {
                report.thinned += 1;
                map.commits.insert(id, parents);
                continue;
            }
            Err(TreeError::Failed(e)) => return Err(e),
        };
        let message = message(hub, &snap, id, &mut snapshots, opts)?;
        let who = signature(&snap);
        let commit = gix::objs::Commit {
            tree,
            parents: parents.into_iter().collect(),
            author: who.clone(),
            committer: who,
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        let commit_id = (repo.write_object(&commit))
            .map_err(|e| git_error(&repo, e))?
            .detach();
        map.commits.insert(id, vec![commit_id]);
        map.own.insert(id);
        report.written += 1;
    }
    progress(ExportProgress { done: total, total });
    let head_commit = match map.commits.get(&head).map(Vec::as_slice) {
        Some([one]) if map.own.contains(&head) => *one,
        _ => {
            return Err(ExportError::History(format!(
                "the hub's head {} holds no files",
                head.short()
            )));
        }
    };
    report.head = Some(head_commit);
    let current = (repo.try_find_reference(BRANCH))
        .map_err(|e| git_error(&repo, e))?
        .and_then(|mut r| r.peel_to_id().ok().map(|id| id.detach()));
    if current != Some(head_commit) {
        repo.reference(BRANCH, head_commit, PreviousValue::Any, "vault-sync export")
            .map_err(|e| git_error(&repo, e))?;
        report.moved = true;
    }
    let head_time = match snapshots.get(&head) {
        Some(s) => s.time_ns,
        None => read_snapshot(hub, head)?.map_or(0, |s| s.time_ns),
    };
    let notes = crate::notes::write(&repo, &map, head_time)?;
    // Packed, listed, and only then the loose copies removed: a reader finds every object
    // at every moment.
    let packed = crate::pack::pack_loose(&git_dir, opts.pack_loose_at)?;
    let leaving = packed
        .as_ref()
        .map(|p| p.merged_packs())
        .unwrap_or_default();
    crate::dumb::update_server_info(
        &git_dir,
        &[(BRANCH, head_commit), (crate::notes::NOTES_REF, notes)],
        &leaving,
    )?;
    if let Some(packed) = packed {
        report.packed = packed.objects();
        packed.remove_old()?;
    }
    map.save(&git_dir, opts.include_revisions)?;
    crate::map::save_head(&git_dir, opts.include_revisions, head, head_commit)?;
    Ok(report)
}

/// The report of a run with nothing to do: `main` is where the last export left it, at
/// `head`'s commit. Reads one small file and one ref, so a mirror checked at every fetch
/// costs nothing while the vault does not change.
fn unchanged(
    repo: &gix::Repository,
    head: Option<ObjectId>,
    opts: ExportOptions,
) -> Result<Option<ExportReport>, ExportError> {
    let Some(head) = head else {
        return Ok(None);
    };
    let Some((snapshot, commit)) =
        crate::map::exported_head(repo.git_dir(), opts.include_revisions)
    else {
        return Ok(None);
    };
    if snapshot != head || !repo.has_object(commit) {
        return Ok(None);
    }
    let main = (repo.try_find_reference(BRANCH))
        .map_err(|e| git_error(repo, e))?
        .and_then(|mut r| r.peel_to_id().ok().map(|id| id.detach()));
    Ok((main == Some(commit)).then_some(ExportReport {
        head: Some(commit),
        ..ExportReport::default()
    }))
}

/// The bare repository at `dir`: an earlier export's, or a new one where nothing is.
fn open_or_init(dir: &Path) -> Result<gix::Repository, ExportError> {
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(source) => {
            return Err(ExportError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let git = |e: &dyn std::fmt::Display| ExportError::Git {
        path: dir.to_path_buf(),
        detail: e.to_string(),
    };
    if empty {
        std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        return gix::init_bare(dir).map_err(|e| git(&e));
    }
    if !dir.join(crate::map::FILE).is_file() {
        return Err(ExportError::NotExport(dir.to_path_buf()));
    }
    gix::open_opts(dir, gix::open::Options::isolated()).map_err(|e| git(&e))
}

/// The snapshots from `head` back to those `map` has exported, parents before children,
/// and those of them the hub holds (read).
fn to_write(
    hub: &dyn Hub,
    head: ObjectId,
    map: &ExportMap,
) -> Result<(Vec<ObjectId>, HashMap<ObjectId, Snapshot>), ExportError> {
    let mut order = Vec::new();
    let mut snapshots = HashMap::new();
    let mut seen = HashSet::new();
    let mut stack = vec![(head, false)];
    while let Some((id, parents_done)) = stack.pop() {
        if parents_done {
            order.push(id);
            continue;
        }
        if map.commits.contains_key(&id) || !seen.insert(id) {
            continue;
        }
        stack.push((id, true));
        let Some(snap) = read_snapshot(hub, id)? else {
            continue;
        };
        for p in snap.parents.iter().rev() {
            if !map.commits.contains_key(p) && !seen.contains(p) {
                stack.push((*p, false));
            }
        }
        snapshots.insert(id, snap);
    }
    Ok((order, snapshots))
}

fn read_snapshot(hub: &dyn Hub, id: ObjectId) -> Result<Option<Snapshot>, ExportError> {
    let bytes = match hub.get(&[id]) {
        Ok(mut objects) if objects.len() == 1 => objects.remove(0).bytes,
        Ok(_) => return Err(ExportError::History(format!("snapshot {id}: no answer"))),
        Err(HubError::Missing { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Snapshot::decode(&bytes)
        .map(Some)
        .map_err(|e| ExportError::History(format!("snapshot {id}: {e}")))
}

/// The commits `snap`'s parents became (or stand for them), each once, in order.
fn parent_commits(snap: &Snapshot, map: &ExportMap) -> Vec<GitId> {
    let mut out: Vec<GitId> = Vec::new();
    for p in &snap.parents {
        for c in map.commits.get(p).into_iter().flatten() {
            if !out.contains(c) {
                out.push(*c);
            }
        }
    }
    out
}

/// `name <device-id@vault-sync>` at the snapshot's time, in UTC. Characters a git signature
/// cannot hold (`<`, `>`, line breaks) become spaces.
fn signature(snap: &Snapshot) -> gix::actor::Signature {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if matches!(c, '<' | '>' | '\n' | '\r') {
                    ' '
                } else {
                    c
                }
            })
            .collect::<String>()
            .trim()
            .to_string()
    };
    gix::actor::Signature {
        name: clean(&snap.device_name).into(),
        email: format!("{}@vault-sync", clean(&snap.device_id)).into(),
        time: gix::date::Time {
            seconds: snap.time_ns.div_euclid(1_000_000_000),
            offset: 0,
        },
    }
}

/// What changed since the first parent, and the snapshot's trailer.
fn message(
    hub: &dyn Hub,
    snap: &Snapshot,
    id: ObjectId,
    snapshots: &mut HashMap<ObjectId, Snapshot>,
    opts: ExportOptions,
) -> Result<String, ExportError> {
    let parent_tree = match snap.parents.first() {
        None => None,
        Some(p) => {
            if !snapshots.contains_key(p)
                && let Some(s) = read_snapshot(hub, *p)?
            {
                snapshots.insert(*p, s);
            }
            snapshots.get(p).map(|s| s.tree)
        }
    };
    let first = match changes::diff(hub, parent_tree, snap.tree, opts.include_revisions) {
        Ok(diff) => changes::summary(&snap.device_name, &diff),
        Err(TreeError::Gone) => format!(
            "{}: the files as they were (the snapshot before is no longer kept on the hub)",
            snap.device_name
        ),
        Err(TreeError::Failed(e)) => return Err(e),
    };
    let merge = if snap.parents.len() > 1 {
        format!("\n\nA merge of {} snapshots.", snap.parents.len())
    } else {
        String::new()
    };
    Ok(format!("{first}{merge}\n\n{SNAPSHOT_TRAILER}: {id}\n"))
}
