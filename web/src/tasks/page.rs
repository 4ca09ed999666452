//! The tasks page as HTML: the filter form, a notice (a task just changed, or a tick that
//! wrote nothing because the note changed), the first [`SHOWN`] tasks with a form each.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::cache::Row;
use super::filter::{Filters, tasks_url};
use crate::layout::Page;
use crate::session::Viewer;
use crate::vaults::OpenedVault;
use crate::{Web, WebError, urls};

/// Tasks listed on one page; the page says how many more match.
pub const SHOWN: usize = 500;

/// Said above the list.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A tick changed this task (full id) of this note (or found it already so: `written`
    /// false); it is shown whatever the filters.
    Changed {
        path: String,
        id: String,
        written: bool,
    },
    /// A tick wrote nothing: the note changed since the page was shown.
    Stale { path: String },
}

/// One task as the template shows it.
struct RowView {
    id: String,
    short: String,
    path: String,
    line: usize,
    note_href: String,
    blob: String,
    done: bool,
    /// Cancelled tasks are not ticked here (as `syncd task done` refuses them).
    can_toggle: bool,
    status: String,
    description: String,
    due: Option<String>,
    tags: Vec<(String, String)>,
}

impl RowView {
    fn new(vault: &str, filters: &Filters, row: &Row) -> RowView {
        let task = &row.task;
        let tag_filter = |tag: &str| Filters {
            tag: tag.to_string(),
            ..filters.clone()
        };
        RowView {
            id: task.id.as_str().to_string(),
            short: task.id.short().to_string(),
            path: row.path.to_string(),
            line: task.line,
            note_href: urls::note(vault, row.path.as_str()),
            blob: row.blob.to_string(),
            done: task.is_done(),
            can_toggle: !task.is_cancelled(),
            status: match task.status {
                ' ' => "to do".into(),
                '/' => "in progress".into(),
                'x' | 'X' => "done".into(),
                '-' => "cancelled".into(),
                other => format!("status {other}"),
            },
            description: task.description.clone(),
            due: task.planning.due.map(|d| d.to_string()),
            tags: task
                .tags
                .iter()
                .map(|t| (t.clone(), tasks_url(vault, &tag_filter(t), None)))
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "tasks.html")]
struct TasksPage {
    page: Page,
    filters: Filters,
    /// (value, label, selected)
    statuses: Vec<(&'static str, &'static str, bool)>,
    action: String,
    toggle: String,
    error: Option<String>,
    /// The note a tick did not change, and its page.
    stale: Option<(String, String)>,
    changed: Option<RowView>,
    /// The changed task was already in that state; nothing was written.
    unchanged: bool,
    rows: Vec<RowView>,
    more: usize,
}

/// The tasks page of `vault`'s current head (blocking).
pub fn render(
    web: &Web,
    viewer: &Viewer,
    vault: &OpenedVault,
    filters: &Filters,
    notice: Option<Notice>,
    mut status: StatusCode,
) -> Result<Response, WebError> {
    let today = jiff::ZonedDateTime::now().date();
    let tasks = web.head_tasks(vault)?;
    let (mut error, mut rows, mut more) = (None, Vec::new(), 0);
    match filters.query(today) {
        Ok(query) => {
            let selection = tasks.select(&query, SHOWN);
            rows = selection
                .rows
                .iter()
                .map(|r| RowView::new(&vault.name, filters, r))
                .collect();
            more = selection.more;
        }
        Err(e) => {
            error = Some(e);
            status = StatusCode::BAD_REQUEST;
        }
    }
    let (mut changed, mut stale, mut unchanged) = (None, None, false);
    match notice {
        Some(Notice::Changed { path, id, written }) => {
            unchanged = !written;
            changed = tasks
                .find(&path, &id)
                .map(|r| RowView::new(&vault.name, filters, &r));
        }
        Some(Notice::Stale { path }) => {
            stale = Some((urls::note(&vault.name, &path), path));
        }
        None => {}
    }
    let current = filters.status_or_default();
    let html = TasksPage {
        page: Page::of(viewer, "Tasks").in_vault(&vault.name, "tasks"),
        statuses: [("open", "Open"), ("done", "Done"), ("all", "All")]
            .into_iter()
            .map(|(v, l)| (v, l, v == current))
            .collect(),
        filters: filters.clone(),
        action: tasks_url(&vault.name, &Filters::default(), None),
        toggle: format!("{}tasks/toggle", urls::vault(&vault.name)),
        error,
        stale,
        changed,
        unchanged,
        rows,
        more,
    }
    .render()
    .map_err(WebError::internal)?;
    Ok((status, Html(html)).into_response())
}
