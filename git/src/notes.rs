//! `refs/notes/commits`: a git note on every commit naming its snapshot, so `git log
//! --notes` and `git notes show COMMIT` give the id `syncd show --at` and `syncd restore
//! --at` take (the commit message's `Vault-Snapshot:` trailer says the same).
//!
//! The notes are one commit without parents, its tree a note per commit (named by the
//! commit, holding the snapshot id), at the head snapshot's time: a function of the history
//! alone, so two devices' exports agree on it as on the commits. It is replaced, not
//! extended, when the history grows (a client fetches it with `+refs/notes/*:refs/notes/*`).

use gix::ObjectId as GitId;
use gix::objs::tree::{Entry, EntryKind};
use gix::refs::transaction::PreviousValue;

use crate::ExportError;
use crate::map::ExportMap;
use crate::trees::git_error;

/// The ref git reads notes from by default.
pub const NOTES_REF: &str = "refs/notes/commits";

/// Write the notes of every commit `map` knows, and point [`NOTES_REF`] at them.
pub fn write(repo: &gix::Repository, map: &ExportMap, time_ns: i64) -> Result<GitId, ExportError> {
    let mut entries = Vec::with_capacity(map.own.len());
    for snapshot in &map.own {
        let Some([commit]) = map.commits.get(snapshot).map(Vec::as_slice) else {
            continue;
        };
        let blob = repo
            .write_blob(format!("{snapshot}\n"))
            .map_err(|e| git_error(repo, e))?
            .detach();
        entries.push(Entry {
            mode: EntryKind::Blob.into(),
            filename: commit.to_string().into(),
            oid: blob,
        });
    }
    entries.sort_by(|a, b| a.filename.cmp(&b.filename));
    let tree = repo
        .write_object(&gix::objs::Tree { entries })
        .map_err(|e| git_error(repo, e))?
        .detach();
    let who = gix::actor::Signature {
        name: "vault-sync".into(),
        email: "vault-sync@vault-sync".into(),
        time: gix::date::Time {
            seconds: time_ns.div_euclid(1_000_000_000),
            offset: 0,
        },
    };
    let commit = gix::objs::Commit {
        tree,
        parents: Default::default(),
        author: who.clone(),
        committer: who,
        encoding: None,
        message: "The snapshot of each commit\n".into(),
        extra_headers: Vec::new(),
    };
    let id = repo
        .write_object(&commit)
        .map_err(|e| git_error(repo, e))?
        .detach();
    let current = (repo.try_find_reference(NOTES_REF))
        .map_err(|e| git_error(repo, e))?
        .and_then(|mut r| r.peel_to_id().ok().map(|id| id.detach()));
    if current != Some(id) {
        repo.reference(NOTES_REF, id, PreviousValue::Any, "vault-sync export notes")
            .map_err(|e| git_error(repo, e))?;
    }
    Ok(id)
}
