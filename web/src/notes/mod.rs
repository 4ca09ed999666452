//! Folders, notes and files of a vault's head snapshot (docs/web.md "Folders and notes"):
//! `GET /v/{vault}/`, `/v/{vault}/f/{path}/`, `/v/{vault}/n/{path}`, `/v/{vault}/raw/{path}`.
//! Handlers stay thin: the decisions are in [`crate::render`] and [`folder`], the per-head
//! caches in [`index`].

mod folder;
pub(crate) mod index;
mod page;
pub(crate) mod raw;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::session::{Viewer, ViewerForFile};
use crate::{Web, WebError, blocking, urls};

pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/v/{vault}", get(vault_bare))
        .route("/v/{vault}/", get(page::root))
        .route("/v/{vault}/f/{*path}", get(page::folder))
        .route("/v/{vault}/n/{*path}", get(page::note))
        .route("/v/{vault}/raw/{*path}", get(raw_file))
}

/// `/v/{vault}` without its slash: the session first, then the vault (another account's is
/// the same 404 as none), and only then the redirect to the root folder.
async fn vault_bare(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Path(vault): Path<String>,
) -> Result<Redirect, WebError> {
    web.open_vault(&viewer, &vault)?;
    Ok(Redirect::to(&urls::vault(&vault)))
}

/// The current bytes of a file, as [`raw::serving`] says. Its blob id is its ETag: a browser
/// showing the same image again asks with `If-None-Match` and gets a 304 without the bytes
/// (the answer is `private`: only this browser keeps it).
async fn raw_file(
    State(web): State<Arc<Web>>,
    ViewerForFile(viewer): ViewerForFile,
    Path((vault, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let path = urls::parse_path(&path)?;
    let vault = web.open_vault(&viewer, &vault)?;
    let name = path.file_name().to_string();
    let known = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (etag, bytes) = blocking(move || {
        let view = web.head_view(&vault)?;
        let meta = view.files.get(&path).ok_or_else(|| {
            WebError::not_found(format!("there is no file `{path}` in this vault"))
        })?;
        let etag = format!("\"{}\"", meta.id);
        if known.is_some_and(|k| k.split(',').any(|t| t.trim() == etag)) {
            return Ok((etag, None));
        }
        // A large file streams chunk by chunk (bounded memory), announced by its size.
        Ok((etag, Some((meta.size, vault.file_body(meta)?))))
    })
    .await?;
    let serving = raw::serving(&name);
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, "private, no-cache".to_string()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        (header::CONTENT_SECURITY_POLICY, crate::CSP.to_string()),
    ];
    let Some((size, body)) = bytes else {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    };
    Ok((
        common,
        [
            (header::CONTENT_TYPE, serving.content_type),
            (
                header::CONTENT_DISPOSITION,
                raw::disposition(&name, serving.inline),
            ),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        body,
    )
        .into_response())
}
