//! Errors as pages: a status, a title and what to do, in the reader's terms (never a
//! server folder or a pack file; those go to the server's log).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// A page that could not be shown, and why.
#[derive(Debug, Clone)]
pub struct WebError {
    pub status: StatusCode,
    pub title: String,
    pub detail: String,
}

impl WebError {
    pub fn new(status: StatusCode, title: impl Into<String>, detail: impl Into<String>) -> Self {
        WebError {
            status,
            title: title.into(),
            detail: detail.into(),
        }
    }

    /// Nothing here: a missing note, folder or vault, and another account's vault alike.
    pub fn not_found(detail: impl Into<String>) -> Self {
        WebError::new(StatusCode::NOT_FOUND, "Not found", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        WebError::new(StatusCode::BAD_REQUEST, "Bad request", detail)
    }

    /// A form without this session's CSRF token (or with another's).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        WebError::new(StatusCode::FORBIDDEN, "Refused", detail)
    }

    /// Something failed on the server; `detail` goes to the log, the page says only that.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!("web view: {detail}");
        WebError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "the server could not show this page; its log says why. Try again, or tell the server's operator.",
        )
    }
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.title, self.detail)
    }
}

impl From<vault::hub_write::WriteError> for WebError {
    fn from(e: vault::hub_write::WriteError) -> WebError {
        match e {
            vault::hub_write::WriteError::Moved { .. } => {
                WebError::new(StatusCode::CONFLICT, "The vault changed", e.to_string())
            }
            vault::hub_write::WriteError::Blocked { .. } => {
                WebError::new(StatusCode::CONFLICT, "Cannot write", e.to_string())
            }
            other => WebError::internal(other),
        }
    }
}

impl From<vault::hub::HubError> for WebError {
    fn from(e: vault::hub::HubError) -> WebError {
        WebError::internal(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: crate::layout::Page,
    error: &'a WebError,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            page: crate::layout::Page::bare(&self.title),
            error: &self,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.to_string()).into_response(),
        }
    }
}
