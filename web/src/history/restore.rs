//! What restoring a revision does to the head's files, decided purely: exactly what
//! `syncd restore` does in a device's folder (vault/src/restore.rs), as a new set of files for
//! `hub_write::publish`. The revision's bytes become the current file at the original path
//! (modification time: now, never before the version it replaces, so it wins on every
//! device); the version current before moves to
//! a new revision named after the device that wrote it, never over an existing name (`~N`);
//! the revision itself stays. Nothing changes when the original already holds those bytes.

use vault::hub_write;
use vault::object::{FileMeta, FlatTree};
use vault::paths::VaultPath;
use vault::revisions;

/// What a restore will publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The original already holds the revision's bytes (and mode): nothing to write.
    AlreadyCurrent { original: VaultPath },
    Write {
        /// The head's files with the restore applied.
        files: FlatTree,
        original: VaultPath,
        /// Where the version current before is kept (`None`: there was none).
        kept: Option<VaultPath>,
    },
}

/// Why a restore cannot be planned; nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "`{0}` is not a revision: a revision is a file in `.revisions/` named `<name>.<time>.<device>.<ext>`"
    )]
    NotARevision(String),
    #[error("the revision `{0}` is no longer in the vault")]
    Gone(String),
    #[error("`{path}` cannot be restored: {reason}; nothing was written")]
    Blocked { path: String, reason: &'static str },
}

fn blocked(path: &VaultPath, files: &FlatTree) -> Option<PlanError> {
    let reason = hub_write::clash(files, path)?;
    Some(PlanError::Blocked {
        path: path.to_string(),
        reason,
    })
}

/// Restore `revision` in `files` at `now_ns`. `author` names the device that wrote the
/// current version (asked only when there is one to keep).
pub fn plan_restore(
    files: &FlatTree,
    revision: &VaultPath,
    now_ns: i64,
    author: impl FnOnce(&VaultPath, &FileMeta) -> String,
) -> Result<Plan, PlanError> {
    let info = revisions::parse_revision(revision)
        .ok_or_else(|| PlanError::NotARevision(revision.to_string()))?;
    let rev = *files
        .get(revision)
        .ok_or_else(|| PlanError::Gone(revision.to_string()))?;
    let original = info.original;
    if let Some(e) = blocked(&original, files) {
        return Err(e);
    }
    let current = files.get(&original).copied();
    if current.is_some_and(|c| c.same_content(&rev)) {
        return Ok(Plan::AlreadyCurrent { original });
    }
    let mut out = files.clone();
    let kept = match current {
        None => None,
        Some(meta) => {
            let device = author(&original, &meta);
            let taken = |p: &VaultPath| {
                out.contains_key(p) || hub_write::clash(&out, p) == Some("it is a folder")
            };
            let kept = revisions::revision_path(&original, meta.mtime_ns, &device, &taken);
            if let Some(e) = blocked(&kept, &out) {
                return Err(e);
            }
            out.insert(kept.clone(), meta);
            Some(kept)
        }
    };
    out.insert(
        original.clone(),
        FileMeta {
            id: rev.id,
            size: rev.size,
            mtime_ns: hub_write::write_time(now_ns, current.as_ref()),
            executable: rev.executable,
        },
    );
    Ok(Plan::Write {
        files: out,
        original,
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vault::id::ObjectId;

    fn p(s: &str) -> VaultPath {
        VaultPath::new(s).unwrap()
    }

    fn meta(bytes: &[u8], mtime_ns: i64) -> FileMeta {
        FileMeta {
            id: ObjectId::of(bytes),
            size: bytes.len() as u64,
            mtime_ns,
            executable: false,
        }
    }

    const SEC: i64 = 1_000_000_000;
    const REV: &str = ".revisions/notes/todo.2026-11-23T12-35-14.500Z.phone.md";

    fn head() -> FlatTree {
        [
            (p("notes/todo.md"), meta(b"laptop's", 1_700_000_000 * SEC)),
            (p(REV), meta(b"phone's", 1_600_000_000 * SEC)),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn the_revision_becomes_current_and_the_current_version_a_revision() {
        let files = head();
        let now = 1_800_000_000 * SEC;
        let plan = plan_restore(&files, &p(REV), now, |path, m| {
            assert_eq!(path.as_str(), "notes/todo.md");
            assert_eq!(m.id, ObjectId::of(b"laptop's"));
            "laptop".into()
        })
        .unwrap();
        let Plan::Write {
            files: out,
            original,
            kept,
        } = plan
        else {
            panic!("nothing to write");
        };
        assert_eq!(original, p("notes/todo.md"));
        let kept = kept.unwrap();
        assert_eq!(
            kept.as_str(),
            ".revisions/notes/todo.2023-11-14T22-13-20.000Z.laptop.md"
        );
        assert_eq!(out[&kept], files[&p("notes/todo.md")]);
        assert_eq!(out[&original].id, ObjectId::of(b"phone's"));
        assert_eq!(out[&original].mtime_ns, now);
        assert!(out.contains_key(&p(REV)), "the revision stays");
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn an_existing_revision_name_is_never_replaced() {
        let mut files = head();
        let taken = p(".revisions/notes/todo.2023-11-14T22-13-20.000Z.laptop.md");
        files.insert(taken.clone(), meta(b"older", 1));
        let Plan::Write {
            kept, files: out, ..
        } = plan_restore(&files, &p(REV), 5, |_, _| "laptop".into()).unwrap()
        else {
            panic!("nothing to write");
        };
        assert_eq!(
            kept.unwrap().as_str(),
            ".revisions/notes/todo.2023-11-14T22-13-20.000Z.laptop~2.md"
        );
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn nothing_to_do_when_the_bytes_are_already_current() {
        let mut files = head();
        files.insert(p("notes/todo.md"), meta(b"phone's", 7));
        let plan = plan_restore(&files, &p(REV), 9, |_, _| panic!("no version to keep")).unwrap();
        assert_eq!(
            plan,
            Plan::AlreadyCurrent {
                original: p("notes/todo.md")
            }
        );
    }

    #[test]
    fn a_deleted_original_comes_back_without_a_kept_version() {
        let mut files = head();
        files.remove(&p("notes/todo.md"));
        let Plan::Write {
            kept, files: out, ..
        } = plan_restore(&files, &p(REV), 9, |_, _| panic!("no version to keep")).unwrap()
        else {
            panic!("nothing to write");
        };
        assert_eq!(kept, None);
        assert_eq!(out[&p("notes/todo.md")].id, ObjectId::of(b"phone's"));
    }

    #[test]
    fn refused_restores() {
        let files = head();
        assert!(matches!(
            plan_restore(&files, &p("notes/todo.md"), 1, |_, _| String::new()),
            Err(PlanError::NotARevision(_))
        ));
        assert!(matches!(
            plan_restore(
                &files,
                &p(".revisions/notes/todo.2026-11-23T12-35-14.500Z.other.md"),
                1,
                |_, _| String::new()
            ),
            Err(PlanError::Gone(_))
        ));
        let mut folder = head();
        folder.remove(&p("notes/todo.md"));
        folder.insert(p("notes/todo.md/inside.md"), meta(b"x", 1));
        assert!(matches!(
            plan_restore(&folder, &p(REV), 1, |_, _| String::new()),
            Err(PlanError::Blocked { .. })
        ));
    }
}
