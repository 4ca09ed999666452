//! Browser sessions: a random token in an HttpOnly cookie, known to the server only by its
//! blake3 hash, with the session's CSRF token beside it. Sessions are kept in
//! `DATA/web/sessions.json` (0600, replaced atomically), so they survive a restart of the
//! server; logging out removes the session there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use crate::{Web, WebError};

/// The session cookie's name.
pub const COOKIE: &str = "vault_session";
/// How long a session lasts after its login.
pub const LIFETIME_NS: i64 = 30 * 24 * 3600 * 1_000_000_000;

/// One logged-in browser.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    /// Put in every form and checked on every POST.
    pub csrf: String,
    pub created_ns: i64,
}

/// The sessions of the server, by the hash of their token.
pub struct Sessions {
    file: PathBuf,
    by_hash: Mutex<HashMap<String, Session>>,
}

fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

impl Sessions {
    /// The sessions saved in `folder` (none if the file is missing or unreadable: everyone
    /// logs in again, which loses nothing).
    pub fn open(folder: &Path) -> Sessions {
        let file = folder.join("sessions.json");
        let saved: HashMap<String, Session> = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Sessions {
            file,
            by_hash: Mutex::new(saved),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_hash.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, all: &HashMap<String, Session>) {
        let result = (|| -> std::io::Result<()> {
            if let Some(parent) = self.file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let bytes = serde_json::to_vec(all).map_err(std::io::Error::other)?;
            let mut tmp = vault::fsutil::TempFile::beside(&self.file)?;
            use std::io::Write;
            tmp.file().set_mode(0o600)?;
            tmp.file().write_all(&bytes)?;
            tmp.commit(&self.file)
        })();
        if let Err(e) = result {
            tracing::error!(
                "saving the web sessions in {}: {e}; sessions last until the server stops",
                self.file.display()
            );
        }
    }

    /// A new session for `user`; returns its token (for the cookie only).
    pub fn create(&self, user: &str) -> (String, Session) {
        let token = vault::fsutil::random_hex(32);
        let session = Session {
            user: user.to_string(),
            csrf: vault::fsutil::random_hex(32),
            created_ns: now_ns(),
        };
        let mut all = self.lock();
        let now = now_ns();
        all.retain(|_, s| now - s.created_ns < LIFETIME_NS);
        all.insert(token_hash(&token), session.clone());
        self.save(&all);
        (token, session)
    }

    /// The live session of `token`.
    pub fn get(&self, token: &str) -> Option<Session> {
        let all = self.lock();
        all.get(&token_hash(token))
            .filter(|s| now_ns() - s.created_ns < LIFETIME_NS)
            .cloned()
    }

    /// End the session of `token` (logout).
    pub fn end(&self, token: &str) {
        let mut all = self.lock();
        if all.remove(&token_hash(token)).is_some() {
            self.save(&all);
        }
    }
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value of a session cookie (`token` empty: one that ends it).
pub fn session_cookie(token: &str, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    if token.is_empty() {
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
    } else {
        format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            LIFETIME_NS / 1_000_000_000
        )
    }
}

/// The logged-in user of a page request. Without a session the page redirects to the login
/// page (and back here after it).
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: String,
    pub csrf: String,
    /// The session's token, for logout.
    pub token: String,
}

impl Viewer {
    /// Refuse a form whose CSRF field is not this session's token.
    pub fn check_csrf(&self, field: &str) -> Result<(), WebError> {
        if constant_time_eq(field.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(WebError::forbidden(
                "this form is out of date or did not come from this site; go back, reload the page and try again",
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The viewer of a request, if it carries a live session of an existing user (a session of a
/// removed user ends here).
pub(crate) fn viewer_of(parts: &Parts, web: &Web) -> Option<Viewer> {
    let token = cookie(parts, COOKIE)?;
    let session = web.sessions().get(token)?;
    match web.backend().user_exists(&session.user) {
        Some(true) => {}
        Some(false) => {
            web.sessions().end(token);
            return None;
        }
        // The accounts could not be read: not now, but the session is not ended for it.
        None => return None,
    }
    Some(Viewer {
        user: session.user,
        csrf: session.csrf,
        token: token.to_string(),
    })
}

/// A page asked for without a session: to the login page, and back here after it.
pub(crate) fn to_login(parts: &Parts) -> Response {
    let here = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let next = crate::urls::segment(here);
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// A file asked for without a session: refused, never a login page in place of an image.
pub(crate) fn refuse_file() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        "log in to this server's web view first",
    )
        .into_response()
}

impl FromRequestParts<Arc<Web>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, Response> {
        viewer_of(parts, web).ok_or_else(|| to_login(parts))
    }
}

/// The logged-in user of a file request (`raw/`, downloads): without a session it is refused
/// (401), not redirected, so an embedded image or a script never receives a login page.
#[derive(Debug, Clone)]
pub struct ViewerForFile(pub Viewer);

impl FromRequestParts<Arc<Web>> for ViewerForFile {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, Response> {
        viewer_of(parts, web)
            .map(ViewerForFile)
            .ok_or_else(refuse_file)
    }
}
