//! What the web view answers where no page is: everything under `/v/` that no other route
//! claims, and the server's HTML "not found" page for any other path outside the API.
//!
//! Under `/v/` the session comes first, so a visitor without one learns nothing (pages
//! redirect to the login page, files are refused with 401, whatever the path); then the vault,
//! so another account's vault gives exactly the page a vault that does not exist gives.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::session::{refuse_file, to_login, viewer_of};
use crate::{Web, WebError};

/// Most specific routes win over this one (matchit: static, then parameters, then catch-all).
pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/v", any(unclaimed))
        .route("/v/", any(unclaimed))
        .route("/v/{vault}", any(unclaimed))
        .route("/v/{vault}/{*rest}", any(unclaimed))
}

/// The HTML "not found" page of the server, with the web view's security headers: the answer
/// to any path outside `/api/` that nothing serves (the API's own paths keep their JSON errors).
pub fn not_found_page() -> Response {
    let mut res = nothing_here().into_response();
    crate::add_security_headers(res.headers_mut());
    res
}

fn nothing_here() -> WebError {
    WebError::not_found("there is no page at this address; start again from your vaults")
}

/// Whether the rest of a `/v/{vault}/...` path asks for a file's bytes (refused with 401
/// without a session) rather than a page (redirected to the login page).
pub(crate) fn is_file_request(rest: &str) -> bool {
    let after_vault = rest.split_once('/').map_or("", |(_, r)| r);
    after_vault.starts_with("raw/") || after_vault.starts_with("version/")
}

async fn unclaimed(State(web): State<Arc<Web>>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let rest = parts
        .uri
        .path()
        .strip_prefix("/v")
        .unwrap_or_default()
        .trim_start_matches('/');
    let Some(viewer) = viewer_of(&parts, &web) else {
        return if is_file_request(rest) {
            refuse_file()
        } else {
            to_login(&parts)
        };
    };
    let vault = rest.split('/').next().unwrap_or_default();
    let vault = percent_encoding::percent_decode_str(vault).decode_utf8_lossy();
    if vault.is_empty() {
        return nothing_here().into_response();
    }
    match web.open_vault(&viewer, &vault) {
        Err(e) => e.into_response(),
        Ok(_) => nothing_here().into_response(),
    }
}

#[cfg(test)]
mod tests;
