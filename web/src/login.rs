//! Logging in and out, and the list of the user's vaults (`/`).
//!
//! The login form carries a CSRF token of its own (there is no session yet): the same random
//! value in a cookie and in the form, which another site can neither read nor set.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::layout::Page;
use crate::session::{Viewer, cookie, session_cookie};
use crate::{LoginRefused, Web, WebError, blocking, urls};

const LOGIN_CSRF_COOKIE: &str = "vault_login_csrf";

pub fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    next: String,
    username: String,
    message: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

/// Only a path on this server is a place to go after logging in (no open redirect): it starts
/// with one `/`, and has no backslash (browsers read `/\\host` as `//host`) and no control
/// character or space (browsers drop tabs and newlines, so `/\t/host` would become `//host`).
pub(crate) fn safe_next(next: &str) -> String {
    let on_this_site = next.starts_with('/')
        && !next.starts_with("//")
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    if on_this_site {
        next.to_string()
    } else {
        "/".to_string()
    }
}

fn login_page(
    web: &Web,
    next: &str,
    username: &str,
    message: Option<String>,
    status: axum::http::StatusCode,
) -> Result<Response, WebError> {
    let csrf = vault::fsutil::random_hex(32);
    let mut page = Page::bare("Log in");
    page.csrf = csrf.clone();
    let html = LoginPage {
        page,
        next: safe_next(next),
        username: username.to_string(),
        message,
    }
    .render()
    .map_err(WebError::internal)?;
    let secure = if web.config().tls { "; Secure" } else { "" };
    let cookie =
        format!("{LOGIN_CSRF_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict{secure}");
    Ok((status, [(header::SET_COOKIE, cookie)], Html(html)).into_response())
}

async fn login_form(
    State(web): State<Arc<Web>>,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    login_page(&web, &q.next, "", None, axum::http::StatusCode::OK)
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// The login form's CSRF cookie, and the browser's session cookie from before this login (it
/// ends when the new session starts: one browser, one session).
struct LoginCookies {
    csrf: Option<String>,
    old_session: Option<String>,
}

impl axum::extract::FromRequestParts<Arc<Web>> for LoginCookies {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &Arc<Web>) -> Result<Self, Self::Rejection> {
        Ok(LoginCookies {
            csrf: cookie(parts, LOGIN_CSRF_COOKIE).map(str::to_string),
            old_session: cookie(parts, crate::session::COOKIE).map(str::to_string),
        })
    }
}

async fn login(
    State(web): State<Arc<Web>>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    cookies: LoginCookies,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    use axum::http::StatusCode;
    if cookies
        .csrf
        .as_deref()
        .is_none_or(|e| e.is_empty() || e != form.csrf)
    {
        return login_page(
            &web,
            &form.next,
            &form.username,
            Some("This login form expired or did not come from this site; log in again.".into()),
            StatusCode::FORBIDDEN,
        );
    }
    let user = form.username.trim().to_string();
    let checked = {
        let web = web.clone();
        let user = user.clone();
        blocking(move || {
            Ok(web
                .backend()
                .check_password(&user, &form.password, addr.ip()))
        })
        .await?
    };
    let refusal = match checked {
        Ok(()) => {
            if let Some(old) = &cookies.old_session {
                web.sessions().end(old);
            }
            let (token, _) = web.sessions().create(&user);
            tracing::info!(%user, "web login");
            let cookie = session_cookie(&token, web.config().tls);
            return Ok((
                [(header::SET_COOKIE, cookie)],
                Redirect::to(&safe_next(&form.next)),
            )
                .into_response());
        }
        Err(LoginRefused::WrongPassword) => (
            StatusCode::UNAUTHORIZED,
            "Wrong username or password.".to_string(),
        ),
        Err(LoginRefused::TooManyAttempts { retry_after }) => {
            let secs = retry_after.as_secs().max(1);
            let message = format!(
                "Too many wrong passwords for this account from this address; wait {secs} s and try again."
            );
            let mut page = login_page(
                &web,
                &form.next,
                &user,
                Some(message),
                StatusCode::TOO_MANY_REQUESTS,
            )?;
            page.headers_mut()
                .insert(header::RETRY_AFTER, axum::http::HeaderValue::from(secs));
            return Ok(page);
        }
        Err(LoginRefused::Unavailable(detail)) => return Err(WebError::internal(detail)),
    };
    login_page(&web, &form.next, &user, Some(refusal.1), refusal.0)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(web): State<Arc<Web>>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    web.sessions().end(&viewer.token);
    tracing::info!(user = %viewer.user, "web logout");
    Ok((
        [(header::SET_COOKIE, session_cookie("", web.config().tls))],
        Redirect::to("/login"),
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "vaults.html")]
struct VaultsPage {
    page: Page,
    vaults: Vec<(String, String)>,
}

async fn home(State(web): State<Arc<Web>>, viewer: Viewer) -> Result<Html<String>, WebError> {
    let names = {
        let web = web.clone();
        let user = viewer.user.clone();
        blocking(move || Ok(web.backend().vault_names(&user))).await?
    };
    let vaults = names
        .into_iter()
        .map(|n| {
            let href = urls::vault(&n);
            (n, href)
        })
        .collect();
    let html = VaultsPage {
        page: Page::of(&viewer, "Your vaults"),
        vaults,
    }
    .render()
    .map_err(WebError::internal)?;
    Ok(Html(html))
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        for ok in [
            "/",
            "/v/notes/",
            "/v/notes/n/a%20b.md?x=https://y",
            "/login",
        ] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "",
            "//evil.example",
            "//evil.example/v/notes/",
            "https://evil.example/",
            "http:/evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\\/evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /evil.example",
            "javascript:alert(1)",
            "evil.example",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }
}
