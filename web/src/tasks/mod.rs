//! The tasks page (`GET /v/{vault}/tasks`) and ticking a task (`POST /v/{vault}/tasks/toggle`),
//! docs/web.md "Tasks".
//!
//! The tasks are those `syncd tasks` lists, read from the hub's head snapshot with the same
//! parser and filtered and sorted by the same functions ([`cache`], [`filter`]). A tick
//! changes the note exactly as `syncd task done` / `undo` would ([`toggle`]) and publishes it as
//! a snapshot of device `web`, by compare-and-swap from the head the note was read at: when
//! the note (or the head) changed since the page was shown, nothing is written and the page
//! says so and shows the current state.

mod cache;
mod compact;
mod filter;
mod page;
mod toggle;

use std::sync::Arc;

use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use vault::VaultPath;
use vault::hub_write::{self, Author, Edit, WriteError};
use vault::markdown::is_task_source;

pub use cache::TaskCache;
use filter::{Filters, tasks_url};
use page::{Notice, render};
use toggle::Toggle;

use crate::{WEB_DEVICE, Web, WebError, blocking, session::Viewer};

pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/v/{vault}/tasks", get(list))
        .route("/v/{vault}/tasks/toggle", post(tick))
}

/// The page's query: the filters, and the task a tick just changed (shown above the list,
/// whatever the filters, so its new state is visible).
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    #[serde(flatten)]
    filters: Filters,
    /// The changed task's full id.
    #[serde(default)]
    changed: String,
    /// The changed task's note.
    #[serde(default, rename = "in")]
    changed_in: String,
    /// `1`: the task already was in the state asked for; nothing was written.
    #[serde(default)]
    same: String,
}

async fn list(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(params): Query<ListParams>,
) -> Result<Response, WebError> {
    let vault = web.open_vault(&viewer, &name)?;
    blocking(move || {
        let notice = (!params.changed.is_empty()).then(|| Notice::Changed {
            path: params.changed_in.clone(),
            id: params.changed.clone(),
            written: params.same != "1",
        });
        render(
            &web,
            &viewer,
            &vault,
            &params.filters,
            notice,
            StatusCode::OK,
        )
    })
    .await
}

/// A tick's form: which task, in which version of which note, to which state; and the
/// filters of the page it came from.
#[derive(Debug, Default, Deserialize)]
struct TickForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    path: String,
    /// The task's full id (as `syncd task done` takes it).
    #[serde(default)]
    task: String,
    /// The note's blob id when the page was shown.
    #[serde(default)]
    blob: String,
    /// `1` done, `0` not done: the button's value.
    #[serde(default)]
    done: String,
    /// The checkbox (present when ticked), when a script submitted the form on its change.
    #[serde(default)]
    checked: Option<String>,
    #[serde(default)]
    f_status: String,
    #[serde(default)]
    f_due_before: String,
    #[serde(default)]
    f_tag: String,
    #[serde(default)]
    f_path: String,
}

impl TickForm {
    fn filters(&self) -> Filters {
        Filters {
            status: self.f_status.clone(),
            due_before: self.f_due_before.clone(),
            tag: self.f_tag.clone(),
            path: self.f_path.clone(),
        }
    }

    fn wants_done(&self) -> Result<bool, WebError> {
        match self.done.as_str() {
            "1" => Ok(true),
            "0" => Ok(false),
            "" => Ok(self.checked.is_some()),
            other => Err(WebError::bad_request(format!(
                "`{other}` is not a task state; the form sends done=1 or done=0"
            ))),
        }
    }
}

async fn tick(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<TickForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let vault = web.open_vault(&viewer, &name)?;
    let path = VaultPath::new(&form.path)
        .ok()
        .filter(is_task_source)
        .ok_or_else(|| {
            WebError::bad_request(format!(
                "`{}` is not a note of this vault that can hold tasks; nothing was changed",
                form.path
            ))
        })?;
    let done = form.wants_done()?;
    let filters = form.filters();
    blocking(move || {
        let view = web.head_view(&vault)?;
        let stale = |web: &Web| {
            let notice = Notice::Stale {
                path: path.to_string(),
            };
            render(web, &viewer, &vault, &filters, Some(notice), StatusCode::CONFLICT)
        };
        let Some(meta) = view.files.get(&path) else {
            return stale(&web);
        };
        if meta.id.to_string() != form.blob {
            return stale(&web);
        }
        let bytes = vault.blob(meta.id)?;
        let Ok(text) = String::from_utf8(bytes) else {
            return Err(WebError::bad_request(format!(
                "`{path}` is not UTF-8 text, so its tasks cannot be changed safely; nothing was changed"
            )));
        };
        let today = jiff::ZonedDateTime::now().date();
        let back = |task: &vault::markdown::Task, written: bool| {
            let mut url = tasks_url(&vault.name, &filters, None);
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!(
                "changed={}&in={}{}#t-{}",
                task.id.as_str(),
                crate::urls::segment(path.as_str()),
                if written { "" } else { "&same=1" },
                task.id.as_str()
            ));
            Redirect::to(&url).into_response()
        };
        match toggle::toggle(&path, &text, &form.task, done, today) {
            Toggle::Gone => stale(&web),
            Toggle::AlreadyThere(task) => Ok(back(&task, false)),
            Toggle::Refused(why) => Err(WebError::new(
                StatusCode::CONFLICT,
                "Task not changed",
                format!("`{path}`: {why}"),
            )),
            Toggle::Changed { text, task } => {
                let author = Author {
                    device_id: WEB_DEVICE.to_string(),
                    device_name: WEB_DEVICE.to_string(),
                };
                let edit = Edit {
                    path: path.clone(),
                    content: Some(text.into_bytes()),
                };
                let now = hub_write::write_time(
                    jiff::Timestamp::now().as_nanosecond() as i64,
                    Some(meta),
                );
                match hub_write::publish(
                    vault.access.hub(),
                    view.head,
                    &view.files,
                    &[edit],
                    &author,
                    now,
                ) {
                    Ok(new_head) => {
                        vault.access.published(new_head);
                        tracing::info!(user = %vault.user, vault = %vault.name, %path, done, "web: task ticked");
                        Ok(back(&task, true))
                    }
                    Err(WriteError::Moved { .. }) => stale(&web),
                    Err(e) => Err(e.into()),
                }
            }
        }
    })
    .await
}
