//! `GET /v/{vault}/version/{snapshot}/{path}`: a file's bytes as a snapshot holds them, with
//! the rules of current files: a content type from the name, `nosniff` (on every answer),
//! and `Content-Disposition: attachment` for anything a browser could run (HTML, SVG,
//! scripts, anything unknown). `?download=1` always downloads. Without a session: 401.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::cache::with_history;
use super::{named_snapshot, parse_snapshot};
use crate::notes::raw;
use crate::{ViewerForFile, Web, WebError, blocking, urls};

#[derive(Deserialize)]
pub struct VersionQuery {
    #[serde(default)]
    download: Option<String>,
}

pub async fn version(
    State(web): State<Arc<Web>>,
    ViewerForFile(viewer): ViewerForFile,
    Path((name, snapshot, path)): Path<(String, String, String)>,
    Query(q): Query<VersionQuery>,
) -> Result<Response, WebError> {
    let vault = web.open_vault(&viewer, &name)?;
    let snapshot = parse_snapshot(&snapshot)?;
    let path = urls::parse_path(&path)?;
    let bytes = {
        let path = path.clone();
        blocking(move || {
            let file = with_history(&vault, |history, _| {
                Ok(match named_snapshot(history, snapshot) {
                    Ok(_) => Ok(history.file_at(snapshot, &path)?),
                    Err(e) => Err(e),
                })
            })
            .map_err(super::history_error)??;
            let meta = file.ok_or_else(|| {
                WebError::not_found(format!(
                    "there is no file `{path}` in snapshot {}",
                    snapshot.short()
                ))
            })?;
            Ok((meta.size, vault.file_body(&meta)?))
        })
        .await?
    };
    let (size, body) = bytes;
    // The rules of current files (notes/raw.rs), one table for both.
    let serving = raw::serving(path.as_str());
    let inline = serving.inline && q.download.is_none();
    Ok((
        [
            (header::CONTENT_TYPE, serving.content_type),
            (
                header::CONTENT_DISPOSITION,
                raw::disposition(path.file_name(), inline),
            ),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        body,
    )
        .into_response())
}
