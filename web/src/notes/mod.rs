//! Folders, notes and files of a vault's head snapshot (docs/web.md "Folders and notes"):
//! `GET /v/{vault}/`, `/v/{vault}/f/{path}/`, `/v/{vault}/n/{path}`, `/v/{vault}/raw/{path}`.
//! Handlers stay thin: the decisions are in [`crate::render`] and [`folder`], the per-head
//! caches in [`index`].

mod folder;
pub(crate) mod index;
mod page;
mod raw;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::session::ViewerForFile;
use crate::{Web, WebError, blocking, urls};

pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/v/{vault}", get(vault_bare))
        .route("/v/{vault}/", get(page::root))
        .route("/v/{vault}/f/{*path}", get(page::folder))
        .route("/v/{vault}/n/{*path}", get(page::note))
        .route("/v/{vault}/raw/{*path}", get(raw_file))
}

async fn vault_bare(Path(vault): Path<String>) -> Redirect {
    Redirect::to(&urls::vault(&vault))
}

/// The current bytes of a file, as [`raw::serving`] says.
async fn raw_file(
    State(web): State<Arc<Web>>,
    ViewerForFile(viewer): ViewerForFile,
    Path((vault, path)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let path = urls::parse_path(&path)?;
    let vault = web.open_vault(&viewer, &vault)?;
    let name = path.file_name().to_string();
    let bytes = blocking(move || {
        let view = web.head_view(&vault)?;
        let meta = view.files.get(&path).ok_or_else(|| {
            WebError::not_found(format!("there is no file `{path}` in this vault"))
        })?;
        vault.blob(meta.id)
    })
    .await?;
    let serving = raw::serving(&name);
    Ok((
        [
            (header::CONTENT_TYPE, serving.content_type),
            (
                header::CONTENT_DISPOSITION,
                raw::disposition(&name, serving.inline),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CONTENT_SECURITY_POLICY, crate::CSP.to_string()),
        ],
        bytes,
    )
        .into_response())
}
