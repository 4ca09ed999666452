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
use crate::{ViewerForFile, Web, WebError, blocking, urls};

#[derive(Deserialize)]
pub struct VersionQuery {
    #[serde(default)]
    download: Option<String>,
}

/// The content type of a file named `name`, and whether a browser may show it in place
/// (pure). Only types a browser cannot run are shown in place; notes are plain text.
pub fn content_type(name: &str) -> (&'static str, bool) {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "md" | "markdown" | "txt" | "csv" | "log" => ("text/plain; charset=utf-8", true),
        "png" => ("image/png", true),
        "jpg" | "jpeg" => ("image/jpeg", true),
        "gif" => ("image/gif", true),
        "webp" => ("image/webp", true),
        "avif" => ("image/avif", true),
        "mp3" => ("audio/mpeg", true),
        "ogg" => ("audio/ogg", true),
        "wav" => ("audio/wav", true),
        "mp4" => ("video/mp4", true),
        "webm" => ("video/webm", true),
        "pdf" => ("application/pdf", false),
        "json" => ("application/json", false),
        _ => ("application/octet-stream", false),
    }
}

/// `Content-Disposition` for `name`: RFC 6266 with the UTF-8 name percent-encoded, and a
/// plain ASCII fallback without quotes or controls.
pub fn disposition(name: &str, inline: bool) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        urls::segment(name)
    )
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
            vault.blob(meta.id)
        })
        .await?
    };
    let (kind, safe) = content_type(path.file_name());
    let inline = safe && q.download.is_none();
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (
                header::CONTENT_DISPOSITION,
                disposition(path.file_name(), inline),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_browser_could_run_is_downloaded() {
        for name in [
            "x.html", "x.HTM", "x.svg", "x.js", "x.xhtml", "x", "x.exe", "x.pdf",
        ] {
            assert!(!content_type(name).1, "{name}");
        }
        assert_eq!(content_type("a.MD"), ("text/plain; charset=utf-8", true));
        assert_eq!(content_type("a.png"), ("image/png", true));
    }

    #[test]
    fn names_in_the_disposition_cannot_break_the_header() {
        assert_eq!(
            disposition("a \"b\".md", false),
            "attachment; filename=\"a__b_.md\"; filename*=UTF-8''a%20%22b%22.md"
        );
        assert!(disposition("日記.md", true).starts_with("inline; filename=\"__.md\""));
    }
}
