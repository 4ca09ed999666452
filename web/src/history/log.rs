//! The snapshot log of a vault (`/v/{vault}/history`, newest first, a page at a time) and
//! one file's history (`/v/{vault}/history/{path}`).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use serde::Deserialize;

use vault::history::{FileChange, PathChange};
use vault::id::ObjectId;

use super::cache::{SHOWN_CHANGES, with_history};
use super::{When, history_error, parse_snapshot, when};
use crate::layout::Page;
use crate::{OpenedVault, Viewer, Web, WebError, blocking, urls};

/// Snapshots per page of the log.
pub const PAGE: usize = 50;
/// Most snapshots one file's history lists.
pub const FILE_LIMIT: usize = 500;

/// A link with its text.
#[derive(Debug, Clone)]
pub struct Link {
    pub label: String,
    pub href: String,
}

/// One changed path in a row of the log.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    /// "added", "modified", "deleted", "renamed from", "renamed to"
    pub kind: &'static str,
    pub path: Link,
    /// The other path of a rename.
    pub other: Option<Link>,
    /// The diff of a modification.
    pub diff: Option<String>,
}

/// How a change is said and linked (pure).
pub fn change_row(
    vault: &str,
    snapshot: &str,
    parent: Option<&str>,
    change: &PathChange,
) -> ChangeRow {
    let path = change.path.as_str();
    let link = |p: &str| Link {
        label: p.to_string(),
        href: urls::file_history(vault, p),
    };
    let (kind, other) = match &change.change {
        FileChange::Added {
            renamed_from: Some(from),
            ..
        } => ("renamed from", Some(link(from.as_str()))),
        FileChange::Added { .. } => ("added", None),
        FileChange::Modified { .. } => ("modified", None),
        FileChange::Deleted {
            renamed_to: Some(to),
            ..
        } => ("renamed to", Some(link(to.as_str()))),
        FileChange::Deleted { .. } => ("deleted", None),
    };
    let diff = match (&change.change, parent) {
        (FileChange::Modified { .. }, Some(parent)) => {
            Some(urls::diff(vault, path, parent, Some(snapshot)))
        }
        _ => None,
    };
    ChangeRow {
        kind,
        path: link(path),
        other,
        diff,
    }
}

/// One snapshot of the log.
pub struct LogRow {
    pub id: String,
    pub short: String,
    pub when: When,
    pub device: String,
    /// (id, short id)
    pub parents: Vec<(String, String)>,
    pub merge: bool,
    /// Whether the hub still holds this snapshot's files (not thinned by retention).
    pub kept: bool,
    pub count: usize,
    pub changes: Vec<ChangeRow>,
    pub more: usize,
}

#[derive(Template)]
#[template(path = "history/log.html")]
struct LogPage {
    page: Page,
    rows: Vec<LogRow>,
    /// The next (older) page.
    older: Option<String>,
    newest: Option<String>,
    /// `git clone` URL of the vault's git mirror, when the server keeps one.
    git_clone: Option<String>,
}

/// The mirror's URL as the browser reached the server (its `Host`), or its path alone when
/// the request names no plain host.
fn clone_url(headers: &axum::http::HeaderMap, tls: bool, path: &str) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(host) => format!("{}://{host}{path}", if tls { "https" } else { "http" }),
        None => path.to_string(),
    }
}

#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    before: Option<String>,
}

pub async fn vault_log(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<LogQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Html<String>, WebError> {
    let vault = web.open_vault(&viewer, &name)?;
    let git_clone = (q.before.is_none())
        .then(|| vault.access.git_mirror_path())
        .flatten()
        .map(|path| clone_url(&headers, web.config().tls, &path));
    let before = match q.before.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(parse_snapshot(s)?),
        None => None,
    };
    let rows = blocking(move || log_rows(&vault, before)).await?;
    let older = (rows.len() == PAGE)
        .then(|| rows.last().map(|r| urls::history(&name, Some(&r.id))))
        .flatten();
    let page = Page::of(&viewer, format!("History of {name}")).in_vault(&name, "history");
    let html = LogPage {
        page,
        rows,
        older,
        newest: before.map(|_| urls::history(&name, None)),
        git_clone,
    }
    .render()
    .map_err(WebError::internal)?;
    Ok(Html(html))
}

fn log_rows(vault: &OpenedVault, before: Option<ObjectId>) -> Result<Vec<LogRow>, WebError> {
    let head = vault.access.hub().head()?;
    with_history(vault, |history, summaries| {
        let entries = history.log(head, None, before, PAGE)?;
        let mut rows = Vec::with_capacity(entries.len());
        for e in entries {
            let snap = history.snapshot(e.snapshot)?;
            // A thinned snapshot: listed, marked, no changes and no links into its files.
            let summary = match e.kept {
                true => summaries.of(history, e.snapshot, &snap)?,
                false => None,
            };
            let id = e.snapshot.to_hex();
            let (count, changes) = match &summary {
                Some(summary) => {
                    let base = summary.base.map(|p| p.to_hex());
                    let changes = summary
                        .first
                        .iter()
                        .map(|c| change_row(&vault.name, &id, base.as_deref(), c))
                        .collect();
                    (summary.count, changes)
                }
                None => (0, Vec::new()),
            };
            rows.push(LogRow {
                short: e.snapshot.short(),
                when: when(e.time_ns),
                device: e.device_name,
                merge: e.parents.len() > 1,
                parents: e.parents.iter().map(|p| (p.to_hex(), p.short())).collect(),
                kept: summary.is_some(),
                count,
                changes,
                more: count.saturating_sub(SHOWN_CHANGES),
                id,
            });
        }
        Ok(rows)
    })
    .map_err(history_error)
}

/// One version of a file in its history.
pub struct FileRow {
    pub id: String,
    pub short: String,
    pub when: When,
    pub device: String,
    pub kind: &'static str,
    pub other: Option<Link>,
    /// View and download this version (not for a deletion).
    pub view: Option<String>,
    pub download: Option<String>,
    /// The diff against the version before (the first parent's).
    pub diff: Option<String>,
}

#[derive(Template)]
#[template(path = "history/file.html")]
struct FilePage {
    page: Page,
    path: String,
    vault: String,
    rows: Vec<FileRow>,
    /// Versions to compare (those with content): (snapshot id, label).
    versions: Vec<(String, String)>,
    limited: bool,
}

pub async fn file_log(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path((name, path)): Path<(String, String)>,
) -> Result<Html<String>, WebError> {
    let vault = web.open_vault(&viewer, &name)?;
    let path = urls::parse_path(&path)?;
    let rows = {
        let (vault, path) = (vault.clone(), path.clone());
        blocking(move || {
            let head = vault.access.hub().head()?;
            with_history(&vault, |history, _| {
                history.log(head, Some(&path), None, FILE_LIMIT)
            })
            .map_err(history_error)
        })
        .await?
    };
    if rows.is_empty() {
        return Err(WebError::not_found(format!(
            "`{path}` has never been in this vault's history"
        )));
    }
    let limited = rows.len() == FILE_LIMIT;
    let p = path.as_str();
    let rows: Vec<FileRow> = rows
        .into_iter()
        // A log of one path gives every entry its change.
        .filter_map(|e| e.change.clone().map(|change| (e, change)))
        .map(|(e, change)| {
            let id = e.snapshot.to_hex();
            let row = change_row(
                &name,
                &id,
                None,
                &PathChange {
                    path: path.clone(),
                    change: change.clone(),
                },
            );
            let exists = !matches!(change, FileChange::Deleted { .. });
            FileRow {
                short: e.snapshot.short(),
                when: when(e.time_ns),
                device: e.device_name,
                kind: row.kind,
                other: row.other,
                view: exists.then(|| urls::version(&name, &id, p, false)),
                download: exists.then(|| urls::version(&name, &id, p, true)),
                // A modification only, against the snapshot it was found against (the first
                // parent, or the nearest kept one when retention thinned the parent): an
                // addition has nothing to compare with, even when a thinned parent exists.
                diff: matches!(change, FileChange::Modified { .. })
                    .then(|| e.compared_with.or(e.parents.first().copied()))
                    .flatten()
                    .map(|parent| urls::diff(&name, p, &parent.to_hex(), Some(&id))),
                id,
            }
        })
        .collect();
    let versions = rows
        .iter()
        .filter(|r| r.view.is_some())
        .map(|r| {
            (
                r.id.clone(),
                format!("{} · {} · {}", r.short, r.when.local, r.device),
            )
        })
        .collect();
    let page = Page::of(&viewer, format!("History of {p}"))
        .in_vault(&name, "history")
        .at_path(p);
    let html = FilePage {
        page,
        path: p.to_string(),
        vault: name,
        rows,
        versions,
        limited,
    }
    .render()
    .map_err(WebError::internal)?;
    Ok(Html(html))
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_clone_url_is_where_the_browser_reached_the_server() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(clone_url(&h, true, "/git/a/n.git"), "/git/a/n.git");
        h.insert("host", "notes.example.org:7878".parse().unwrap());
        assert_eq!(
            clone_url(&h, true, "/git/a/n.git"),
            "https://notes.example.org:7878/git/a/n.git"
        );
        assert_eq!(
            clone_url(&h, false, "/git/a/n.git"),
            "http://notes.example.org:7878/git/a/n.git"
        );
        h.insert("host", "evil.org/\"<x".parse().unwrap());
        assert_eq!(clone_url(&h, true, "/git/a/n.git"), "/git/a/n.git");
    }

    use super::*;
    use vault::paths::VaultPath;

    #[test]
    fn changes_are_said_and_linked() {
        let id = ObjectId::of(b"x");
        let modified = PathChange {
            path: VaultPath::new("a b.md").unwrap(),
            change: FileChange::Modified { from: id, to: id },
        };
        let row = change_row("notes", "S", Some("P"), &modified);
        assert_eq!(row.kind, "modified");
        assert_eq!(row.path.href, "/v/notes/history/a%20b.md");
        assert_eq!(
            row.diff.as_deref(),
            Some("/v/notes/diff?path=a%20b.md&from=P&to=S")
        );
        let renamed = PathChange {
            path: VaultPath::new("new.md").unwrap(),
            change: FileChange::Added {
                id,
                renamed_from: Some(VaultPath::new("old.md").unwrap()),
            },
        };
        let row = change_row("notes", "S", Some("P"), &renamed);
        assert_eq!(row.kind, "renamed from");
        assert_eq!(row.other.unwrap().label, "old.md");
        assert!(row.diff.is_none());
    }
}
