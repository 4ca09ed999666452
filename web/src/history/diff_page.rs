//! `GET /v/{vault}/diff`: a readable line diff of one file between two snapshots
//! (`?path=P&from=SNAPSHOT&to=SNAPSHOT`, `to` left out: the head), or of the current version
//! against a revision (`?rev=.revisions/...`, what restoring it would change).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;

use vault::history::HistoryError;
use vault::revisions;

use super::cache::with_history;
use super::linediff::{LineDiff, MAX_DIFF_BYTES, line_diff};
use super::{When, named_snapshot, parse_snapshot, when};
use crate::layout::Page;
use crate::{OpenedVault, Viewer, Web, WebError, blocking, urls};

/// One side of a diff.
pub struct Side {
    /// What this side is ("snapshot 1a2b… by phone", "the current version").
    pub label: String,
    pub when: Option<When>,
    /// Its bytes (`None`: the file did not exist there).
    pub download: Option<String>,
}

#[derive(Template)]
#[template(path = "history/diff.html")]
struct DiffPage {
    page: Page,
    path: String,
    history: String,
    old: Side,
    new: Side,
    diff: LineDiff,
}

#[derive(Deserialize)]
pub struct DiffQuery {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    rev: Option<String>,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

pub async fn diff(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Html<String>, WebError> {
    let vault = web.open_vault(&viewer, &name)?;
    let (path, old, new, diff) = if let Some(rev) = nonempty(&q.rev) {
        let rev = urls::parse_path(rev)?;
        let web = web.clone();
        blocking(move || revision_diff(&web, &vault, &rev)).await?
    } else {
        let path = urls::parse_path(nonempty(&q.path).ok_or_else(|| {
            WebError::bad_request("a diff needs the file (`path`) and the versions (`from`, `to`)")
        })?)?;
        let from = parse_snapshot(nonempty(&q.from).ok_or_else(|| {
            WebError::bad_request("a diff needs the version to compare from (`from`)")
        })?)?;
        let to = match nonempty(&q.to) {
            Some(s) => Some(parse_snapshot(s)?),
            None => None,
        };
        blocking(move || snapshot_diff(&vault, path, from, to)).await?
    };
    let page = Page::of(&viewer, format!("Changes of {path}"))
        .in_vault(&name, "history")
        .at_path(&path);
    let html = DiffPage {
        page,
        history: urls::file_history(&name, &path),
        path,
        old,
        new,
        diff,
    }
    .render()
    .map_err(WebError::internal)?;
    Ok(Html(html))
}

type Diffed = (String, Side, Side, LineDiff);

/// `path` from snapshot `from` to snapshot `to` (the head when `None`).
fn snapshot_diff(
    vault: &OpenedVault,
    path: vault::paths::VaultPath,
    from: vault::id::ObjectId,
    to: Option<vault::id::ObjectId>,
) -> Result<Diffed, WebError> {
    let to = match to {
        Some(to) => to,
        None => vault
            .access
            .hub()
            .head()?
            .ok_or_else(|| WebError::not_found("this vault has no snapshots yet"))?,
    };
    let sides = with_history(vault, |history, _| {
        let mut out = Vec::new();
        for id in [from, to] {
            let snap = match named_snapshot(history, id) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            let file = history.file_at(id, &path)?;
            out.push((id, snap, file));
        }
        Ok::<_, HistoryError>(Ok(out))
    })
    .map_err(super::history_error)??;
    let mut bytes = Vec::new();
    let mut labelled = Vec::new();
    // A version too large to diff is not read at all (a large file may be gigabytes).
    let too_large = sides
        .iter()
        .any(|(_, _, f)| f.is_some_and(|m| m.size > MAX_DIFF_BYTES as u64));
    for (id, snap, file) in sides {
        let hex = id.to_hex();
        bytes.push(match file {
            Some(meta) if !too_large => vault.blob(meta.id)?,
            _ => Vec::new(),
        });
        labelled.push(Side {
            label: format!(
                "snapshot {} by {}{}",
                id.short(),
                snap.device_name,
                if file.is_none() {
                    " (the file did not exist there)"
                } else {
                    ""
                }
            ),
            when: Some(when(snap.time_ns)),
            download: file.map(|_| urls::version(&vault.name, &hex, path.as_str(), true)),
        });
    }
    let diff = if too_large {
        LineDiff::TooLarge
    } else {
        line_diff(&bytes[0], &bytes[1])
    };
    let new = labelled.pop().expect("two sides");
    let old = labelled.pop().expect("two sides");
    Ok((path.to_string(), old, new, diff))
}

/// The current version of a revision's note (at the head) against the revision.
fn revision_diff(
    web: &Web,
    vault: &OpenedVault,
    rev: &vault::paths::VaultPath,
) -> Result<Diffed, WebError> {
    let info = revisions::parse_revision(rev)
        .ok_or_else(|| WebError::not_found(format!("`{rev}` is not a revision")))?;
    let head = web.head_view(vault)?;
    let rev_meta = head
        .files
        .get(rev)
        .ok_or_else(|| WebError::not_found(format!("there is no revision `{rev}` now")))?;
    let head_hex = head.head.map(|h| h.to_hex()).unwrap_or_default();
    let current = head.files.get(&info.original);
    let too_large = current
        .into_iter()
        .chain([rev_meta])
        .any(|m| m.size > MAX_DIFF_BYTES as u64);
    let (old_bytes, new_bytes) = if too_large {
        (Vec::new(), Vec::new())
    } else {
        let old = match current {
            Some(meta) => vault.blob(meta.id)?,
            None => Vec::new(),
        };
        (old, vault.blob(rev_meta.id)?)
    };
    let old = Side {
        label: match current {
            Some(_) => "the current version".to_string(),
            None => "the current version (the file does not exist now)".to_string(),
        },
        when: current.map(|m| when(m.mtime_ns)),
        download: current
            .map(|_| urls::version(&vault.name, &head_hex, info.original.as_str(), true)),
    };
    let new = Side {
        label: format!("revision from {}", info.device),
        when: Some(when(info.time_ns)),
        download: Some(urls::version(&vault.name, &head_hex, rev.as_str(), true)),
    };
    Ok((
        info.original.to_string(),
        old,
        new,
        if too_large {
            LineDiff::TooLarge
        } else {
            line_diff(&old_bytes, &new_bytes)
        },
    ))
}
