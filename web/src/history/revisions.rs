//! `GET /v/{vault}/revisions`: the versions kept in `.revisions/` of the head, grouped by the
//! note they belong to, each with a diff against the current version and a Restore button;
//! `POST /v/{vault}/revisions/restore` restores one as `syncd restore` does (see
//! `restore.rs`), published as a snapshot by device `web` from the head the page showed.
//! When the head moved, or the revision is gone, nothing is written and the page says so and
//! shows the vault as it is now.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use vault::hub_write::{self, Author, WriteError};
use vault::id::ObjectId;
use vault::paths::VaultPath;
use vault::revisions::{self, RevisionInfo};

use super::cache::with_history;
use super::linediff::{LineDiff, MAX_DIFF_BYTES, line_diff};
use super::restore::{Plan, PlanError, plan_restore};
use super::{When, now_ns, when};
use crate::layout::Page;
use crate::{HeadView, OpenedVault, Viewer, WEB_DEVICE, Web, WebError, blocking, urls};

/// How many revisions (newest first) get their diff on the page itself; the others link
/// to it.
const INLINE_DIFFS: usize = 20;

/// One kept version.
pub struct RevRow {
    pub path: String,
    pub when: When,
    pub device: String,
    pub size: u64,
    pub view: String,
    pub diff_href: String,
    /// Against the current version (the newest few only).
    pub diff: Option<LineDiff>,
}

/// The revisions of one note.
pub struct Group {
    pub original: String,
    /// The note now, when it still exists.
    pub current: Option<String>,
    pub history: String,
    pub revisions: Vec<RevRow>,
}

/// What a restore did, for the page after it.
pub enum Notice {
    Restored {
        original: String,
        href: String,
        kept: Option<String>,
    },
    AlreadyCurrent {
        original: String,
    },
    /// Nothing was written (the vault changed, the revision went, a folder is in the way).
    NotWritten(String),
}

#[derive(Template)]
#[template(path = "history/revisions.html")]
struct RevisionsPage {
    page: Page,
    notice: Option<Notice>,
    head: String,
    action: String,
    groups: Vec<Group>,
    unknown: Vec<(String, String)>,
}

fn render(
    web: &Web,
    viewer: &Viewer,
    vault: &OpenedVault,
    notice: Option<Notice>,
) -> Result<String, WebError> {
    let head = web.head_view(vault)?;
    let groups = groups(vault, &head)?;
    let head_hex = head.head.map(|h| h.to_hex()).unwrap_or_default();
    let unknown = revisions::unknown_revisions(&head.files)
        .into_iter()
        .map(|p| {
            let href = urls::version(&vault.name, &head_hex, p.as_str(), true);
            (p.to_string(), href)
        })
        .collect();
    let page =
        Page::of(viewer, format!("Revisions of {}", vault.name)).in_vault(&vault.name, "revisions");
    RevisionsPage {
        page,
        notice,
        head: head_hex,
        action: urls::restore(&vault.name),
        groups,
        unknown,
    }
    .render()
    .map_err(WebError::internal)
}

/// The head's revisions by the note they belong to (notes by path, revisions newest first).
fn groups(vault: &OpenedVault, head: &HeadView) -> Result<Vec<Group>, WebError> {
    let head_hex = head.head.map(|h| h.to_hex()).unwrap_or_default();
    let mut by_original: BTreeMap<VaultPath, Vec<RevisionInfo>> = BTreeMap::new();
    let all = revisions::list_revisions(&head.files, None);
    let inline: std::collections::HashSet<VaultPath> = all
        .iter()
        .take(INLINE_DIFFS)
        .map(|r| r.path.clone())
        .collect();
    for r in all {
        by_original.entry(r.original.clone()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (original, revs) in by_original {
        let current = head.files.get(&original);
        let current_bytes = match current {
            Some(m)
                if m.size <= MAX_DIFF_BYTES as u64
                    && revs.iter().any(|r| inline.contains(&r.path)) =>
            {
                Some(vault.blob(m.id)?)
            }
            _ => None,
        };
        let mut rows = Vec::new();
        for r in revs {
            let meta = head.files[&r.path];
            let diff = if inline.contains(&r.path) {
                let old = current_bytes.as_deref().unwrap_or_default();
                Some(if current.is_some_and(|c| c.id == meta.id) {
                    LineDiff::Same
                } else if meta.size > MAX_DIFF_BYTES as u64
                    || current.is_some_and(|c| c.size > MAX_DIFF_BYTES as u64)
                {
                    // Not read at all: a large file may be gigabytes.
                    LineDiff::TooLarge
                } else {
                    line_diff(old, &vault.blob(meta.id)?)
                })
            } else {
                None
            };
            rows.push(RevRow {
                view: urls::version(&vault.name, &head_hex, r.path.as_str(), false),
                diff_href: urls::diff_revision(&vault.name, r.path.as_str()),
                path: r.path.to_string(),
                when: when(r.time_ns),
                device: r.device,
                size: meta.size,
                diff,
            });
        }
        out.push(Group {
            current: current.map(|_| urls::note(&vault.name, original.as_str())),
            history: urls::file_history(&vault.name, original.as_str()),
            original: original.to_string(),
            revisions: rows,
        });
    }
    Ok(out)
}

pub async fn page(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Html<String>, WebError> {
    let vault = web.open_vault(&viewer, &name)?;
    blocking(move || render(&web, &viewer, &vault, None))
        .await
        .map(Html)
}

#[derive(Deserialize)]
pub struct RestoreForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rev: String,
    #[serde(default)]
    head: String,
}

pub async fn restore(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<RestoreForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let vault = web.open_vault(&viewer, &name)?;
    let rev = VaultPath::new(&form.rev).map_err(|e| {
        WebError::bad_request(format!(
            "`{}` is not a revision ({e}); nothing was written",
            form.rev
        ))
    })?;
    if revisions::parse_revision(&rev).is_none() {
        return Err(WebError::bad_request(format!(
            "`{rev}` is not a revision; nothing was written"
        )));
    }
    let seen: Option<ObjectId> = match form.head.as_str() {
        "" => None,
        s => Some(s.parse().map_err(|_| {
            WebError::bad_request("the form names no head of this vault; nothing was written")
        })?),
    };
    blocking(move || {
        let (status, notice) = restore_at(&web, &vault, &rev, seen)?;
        let html = render(&web, &viewer, &vault, Some(notice))?;
        Ok((status, Html(html)).into_response())
    })
    .await
}

/// Restore `rev` on top of `seen` (the head the page showed): the status and what to say.
fn restore_at(
    web: &Web,
    vault: &OpenedVault,
    rev: &VaultPath,
    seen: Option<ObjectId>,
) -> Result<(StatusCode, Notice), WebError> {
    let changed = |what: &str| {
        Ok((
            StatusCode::CONFLICT,
            Notice::NotWritten(format!(
                "{what}, so nothing was written. This is the vault as it is now: look again, then restore if you still want to."
            )),
        ))
    };
    let head = web.head_view(vault)?;
    if head.head != seen {
        return changed("The vault changed since the page was shown");
    }
    let time = now_ns();
    let plan = with_history(vault, |history, _| {
        Ok(plan_restore(&head.files, rev, time, |path, meta| {
            match history.author(head.head, path, meta.id) {
                Ok(Some(name)) => name,
                Ok(None) => WEB_DEVICE.to_string(),
                Err(e) => {
                    tracing::warn!(%path, "web restore: cannot tell which device wrote the current version ({e}); naming it after `web`");
                    WEB_DEVICE.to_string()
                }
            }
        }))
    })
    .map_err(super::history_error)?;
    let (files, original, kept) = match plan {
        Err(PlanError::Gone(_)) => {
            return changed(&format!("The revision `{rev}` is no longer in the vault"));
        }
        Err(e @ PlanError::Blocked { .. }) => {
            return Ok((StatusCode::CONFLICT, Notice::NotWritten(e.to_string())));
        }
        Err(e @ PlanError::NotARevision(_)) => return Err(WebError::bad_request(e.to_string())),
        Ok(Plan::AlreadyCurrent { original }) => {
            return Ok((
                StatusCode::OK,
                Notice::AlreadyCurrent {
                    original: original.to_string(),
                },
            ));
        }
        Ok(Plan::Write {
            files,
            original,
            kept,
        }) => (files, original, kept),
    };
    let author = Author {
        device_id: WEB_DEVICE.to_string(),
        device_name: WEB_DEVICE.to_string(),
    };
    match hub_write::publish(vault.access.hub(), seen, &files, &[], &author, time) {
        Ok(new) => {
            vault.access.published(new);
            Ok((
                StatusCode::OK,
                Notice::Restored {
                    href: urls::note(&vault.name, original.as_str()),
                    original: original.to_string(),
                    kept: kept.map(|k| k.to_string()),
                },
            ))
        }
        Err(WriteError::Moved { .. }) => changed("The vault changed while restoring"),
        Err(e) => Err(e.into()),
    }
}
